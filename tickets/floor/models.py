"""Floor tables: the call-back of each abandoned call, its attempts, the wallboard settings.

A call-back row exists only once someone acted on an abandoned call (a call-back attempt
or "done"); an abandoned call without one is simply open. It is keyed by the call log's
``call_id`` (unique there), so the list of abandoned calls is the call log joined to this
table, and deleting nothing here ever hides a call. Attempts are their own rows (who, when,
from which phone, what the PBX said): a supervisor sees who already tried.

``wallboard_settings`` is one row (id 1) of thresholds as JSON: only the values someone
changed are meaningful, defaults come from :class:`tickets.floor.schemas.Thresholds`, so a
threshold added later takes its default on existing sites without a data migration.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from tickets.db import Base, JSONType, UTCDateTime, utcnow

#: A call-back's states: still to call (``open``), the caller was reached (``done``).
CALLBACK_STATUSES = ("open", "done")


class Callback(Base):
    """What was done about one abandoned call (``call_log.call_id``)."""

    __tablename__ = "callbacks"

    id: Mapped[int] = mapped_column(primary_key=True)
    call_id: Mapped[str] = mapped_column(
        ForeignKey("call_log.call_id", ondelete="CASCADE"), unique=True)
    status: Mapped[str] = mapped_column(String(16), default="open")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    done_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    note: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class CallbackAttempt(Base):
    """One call-back: who asked, when, which phone rang first, the number dialled, and
    whether the PBX took the Originate (``requested``) or refused it (``failed``)."""

    __tablename__ = "callback_attempts"

    id: Mapped[int] = mapped_column(primary_key=True)
    callback_id: Mapped[int] = mapped_column(
        ForeignKey("callbacks.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    extension: Mapped[str] = mapped_column(String(32))
    number: Mapped[str] = mapped_column(String(40))
    outcome: Mapped[str] = mapped_column(String(16))
    detail: Mapped[str | None] = mapped_column(String(300))


class WallboardSettings(Base):
    """The wallboard's thresholds (one row, id 1); ``version`` guards concurrent edits."""

    __tablename__ = "wallboard_settings"

    id: Mapped[int] = mapped_column(primary_key=True)
    thresholds: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    version: Mapped[int] = mapped_column(Integer, default=1)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"))
