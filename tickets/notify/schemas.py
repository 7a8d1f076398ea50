"""API shapes of notification preferences, the outbox (admin) and webhook subscriptions."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, HttpUrl, field_validator

from tickets.notify.events import EventKind
from tickets.notify.policy import check_webhook_url
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


def _raw_url(v: object) -> object:
    """Before parsing: no control character (pydantic would silently drop a CR/LF/tab)."""
    if isinstance(v, str) and any(ord(ch) < 32 or ord(ch) == 127 for ch in v):
        raise ValueError("url: no control characters (CR, LF, tab…)")
    return v


def _parsed_url(v: HttpUrl | None) -> HttpUrl | None:
    """After parsing (pydantic already refuses schemes other than http/https; hosts are
    normalised, so ``http://2852039166/`` is 169.254.169.254): ValueError naming ``url``."""
    if v is not None:
        check_webhook_url(v.scheme, v.username, v.password, v.host)
    return v


class WebhookIn(In):
    url: HttpUrl = Field(description="http(s) endpoint that receives the signed POSTs")
    secret: str = Field(min_length=16, max_length=200,
                        description="HMAC-SHA256 key (X-Hotline-Signature)")
    kinds: list[EventKind] = Field(default_factory=list, max_length=16,
                                   description="event kinds; empty: every kind")
    active: Flag = True

    _raw = field_validator("url", mode="before")(_raw_url)
    _parsed = field_validator("url")(_parsed_url)


class WebhookPatch(In):
    url: HttpUrl | None = None
    secret: str | None = Field(default=None, min_length=16, max_length=200)
    kinds: list[EventKind] | None = Field(default=None, max_length=16)
    active: Flag | None = None

    _raw = field_validator("url", mode="before")(_raw_url)
    _parsed = field_validator("url")(_parsed_url)


class WebhookOut(BaseModel):
    """A subscription; the secret is never shown again."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    url: str
    kinds: list[str]
    active: bool
    created_at: datetime
