"""API shapes of the email channel: the log of received messages (supervisors, admins)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from tickets.schemas import Out

Outcome = Literal["new_ticket", "comment", "reopened", "unverified", "ignored_auto",
                  "rejected"]


class MailMessageOut(Out):
    id: int
    message_id: str
    received_at: datetime
    sender: str
    subject: str
    size: int
    outcome: str
    reason: str | None
    ticket_id: int | None
    customer_id: int | None
    comment_id: int | None


class MailMessagePage(Out):
    items: list[MailMessageOut]
    total: int
    limit: int
    offset: int
