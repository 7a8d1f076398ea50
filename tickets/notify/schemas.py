"""API shapes of notification preferences, the outbox (admin) and webhook subscriptions."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, HttpUrl

from tickets.notify.events import EventKind
from tickets.schemas import Flag, In


class PrefItem(In):
    kind: EventKind
    channel: Literal["email", "ws"]
    enabled: Flag


class PrefOut(BaseModel):
    kind: EventKind
    channel: Literal["email", "ws"]
    enabled: bool
    #: What applies without a choice of the user's (tickets.notify.policy.staff_channels).
    default: bool


class PrefsIn(In):
    items: list[PrefItem] = Field(max_length=64)


class PrefsOut(BaseModel):
    items: list[PrefOut]


class OutboxOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    key: str
    kind: str
    channel: str
    ticket_id: int | None
    ticket_number: str | None
    recipient: str
    subject: str
    status: str
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    created_at: datetime
    sent_at: datetime | None


class OutboxPage(BaseModel):
    items: list[OutboxOut]
    total: int


class WebhookIn(In):
    url: HttpUrl = Field(description="http(s) endpoint that receives the signed POSTs")
    secret: str = Field(min_length=16, max_length=200,
                        description="HMAC-SHA256 key (X-Hotline-Signature)")
    kinds: list[EventKind] = Field(default_factory=list, max_length=16,
                                   description="event kinds; empty: every kind")
    active: Flag = True


class WebhookPatch(In):
    url: HttpUrl | None = None
    secret: str | None = Field(default=None, min_length=16, max_length=200)
    kinds: list[EventKind] | None = Field(default=None, max_length=16)
    active: Flag | None = None


class WebhookOut(BaseModel):
    """A subscription; the secret is never shown again."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    url: str
    kinds: list[str]
    active: bool
    created_at: datetime
