"""``ticket_ratings``: a ticket's CSAT score, one row per ticket (``ticket_id`` unique).

A re-rating replaces the row's score rather than adding a row, so a report counts each
ticket once; every rating is still in the ticket's history (a ``rated`` event), so nothing
said is lost. ``call_id`` ties an IVR survey's score to the call it followed.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from tickets.db import Base, UTCDateTime, utcnow

#: Where a score came from.
RATING_CHANNELS = ("ivr", "portal", "email", "web")


class TicketRating(Base):
    """The customer's 1–5 score of how a ticket was handled (5: very satisfied)."""

    __tablename__ = "ticket_ratings"
    __table_args__ = (CheckConstraint("score BETWEEN 1 AND 5", name="score"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(
        ForeignKey("tickets.id", ondelete="CASCADE"), unique=True)
    score: Mapped[int] = mapped_column(Integer)
    channel: Mapped[str] = mapped_column(String(16))
    call_id: Mapped[str | None] = mapped_column(String(96))
    comment: Mapped[str | None] = mapped_column(String(1000))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: indexed: a period's ratings (the reports' CSAT) are read by when they were given
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
