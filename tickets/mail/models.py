"""The table of received mail: one row per Message-ID, written before anything else.

The row is the ingester's idempotency key and its log at once. It is inserted first with
``ON CONFLICT DO NOTHING``: of two deliveries of one message (an MTA retrying after a lost
``250``, two MX hosts, an IMAP poll overlapping the SMTP receiver) exactly one inserts and goes
on to create the ticket; the other finds the row and stops. On PostgreSQL the second insert
waits on the unique index until the first transaction ends, so a rolled-back first attempt
leaves the message free to be taken again.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, func
from sqlalchemy.orm import Mapped, mapped_column

from tickets.db import Base, UTCDateTime, utcnow
from tickets.models import Customer

#: What became of a received message.
OUTCOMES = ("new_ticket", "comment", "reopened", "unverified", "ignored_auto", "rejected",
            "pending")


class MailMessage(Base):
    __tablename__ = "mail_messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[str] = mapped_column(String(255), unique=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sender: Mapped[str] = mapped_column(String(255), default="")
    subject: Mapped[str] = mapped_column(String(255), default="")
    size: Mapped[int] = mapped_column(Integer, default=0)
    #: one of :data:`OUTCOMES`; ``reason`` says why (auto-reply kind, rejection, ...)
    outcome: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(String(500))
    ticket_id: Mapped[int | None] = mapped_column(
        ForeignKey("tickets.id", ondelete="SET NULL"), index=True)
    customer_id: Mapped[int | None] = mapped_column(
        ForeignKey("customers.id", ondelete="SET NULL"))
    comment_id: Mapped[int | None] = mapped_column(
        ForeignKey("comments.id", ondelete="SET NULL"))


#: Senders are matched to customers by address, case-insensitively.
Index("ix_customers_email_lower", func.lower(Customer.__table__.c.email))
