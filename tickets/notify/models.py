"""The notification tables: the outbox, staff mute preferences, webhook subscriptions, and
the two small tables of the in-process job runner (``web/jobs.py``, SQLite only).

One outbox row is one message to one recipient over one channel. ``key`` (unique) is the
idempotency key: the same event told twice writes nothing the second time, and the key
travels with the message (``Message-ID``, ``X-Hotline-Delivery``) so a receiver can drop a
redelivery too. Rows are rendered when written: delivery only sends what is stored.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from tickets.db import Base, JSONType, UTCDateTime, utcnow


class OutboxMessage(Base):
    """A message waiting for (or done with) delivery.

    ``status``: ``pending`` (``next_attempt_at`` says when it may go; a claimed row has it
    pushed ahead by the claim's lease), ``sent`` or ``dead`` (gave up after the configured
    attempts; an admin may retry it). ``channel``: ``email``, ``sms``, ``ws``, ``webhook``.
    ``recipient``: the address, phone number (E.164), user id or subscription id.
    """

    __tablename__ = "outbox_messages"
    __table_args__ = (Index("ix_outbox_messages_status_next", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(32))
    channel: Mapped[str] = mapped_column(String(16))
    ticket_id: Mapped[int | None] = mapped_column(Integer, index=True)
    ticket_number: Mapped[str | None] = mapped_column(String(20))
    user_id: Mapped[int | None] = mapped_column(Integer)
    customer_id: Mapped[int | None] = mapped_column(Integer)
    recipient: Mapped[str] = mapped_column(String(320))
    language: Mapped[str] = mapped_column(String(8), default="zh")
    subject: Mapped[str] = mapped_column(String(300), default="")
    body: Mapped[str] = mapped_column(Text, default="")
    html: Mapped[str | None] = mapped_column(Text)
    payload: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    status: Mapped[str] = mapped_column(String(8), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_error: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class NotificationPref(Base):
    """A staff member's choice for one (event kind, channel); no row: the kind's default."""

    __tablename__ = "notification_prefs"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"),
                                         primary_key=True)
    kind: Mapped[str] = mapped_column(String(32), primary_key=True)
    channel: Mapped[str] = mapped_column(String(16), primary_key=True)
    enabled: Mapped[bool] = mapped_column(Boolean)


class WebhookSubscription(Base):
    """An integrator's endpoint: the kinds it wants (empty: every kind), signed with
    ``secret`` (HMAC-SHA256 of ``timestamp.body``)."""

    __tablename__ = "webhook_subscriptions"

    id: Mapped[int] = mapped_column(primary_key=True)
    url: Mapped[str] = mapped_column(String(500))
    secret: Mapped[str] = mapped_column(String(200))
    kinds: Mapped[list[str]] = mapped_column(JSONType, default=list)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class JobTick(Base):
    """In-process runner (SQLite): the last tick a periodic task ran; claiming a tick is an
    ``UPDATE … WHERE tick < :tick``, so of several processes exactly one runs it."""

    __tablename__ = "hotline_job_ticks"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    tick: Mapped[int] = mapped_column(BigInteger, default=0)


class DeferredJob(Base):
    """In-process runner (SQLite): a task deferred to ``run_at`` (kept across restarts)."""

    __tablename__ = "hotline_jobs"
    __table_args__ = (Index("ix_hotline_jobs_status_run_at", "status", "run_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    task: Mapped[str] = mapped_column(String(100))
    args: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    run_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(8), default="todo")  # todo | failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(String(500))
