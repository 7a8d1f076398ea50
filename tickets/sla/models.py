"""SLA tables: calendars and policies (admins edit), fired steps, supervision orders (督办).

``sla_fired`` has a unique key (ticket, target, step): a sweep inserts the row before it
acts, so a step fires exactly once even when two sweeps race for the same ticket (the loser's
insert conflicts and it does nothing). The SLA columns of a ticket live on
:class:`tickets.models.Ticket` (``sla_*``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from tickets.db import Base, JSONType, UTCDateTime, utcnow


class SlaCalendar(Base):
    """Working hours per weekday (``{"mon": ["09:00-12:00", "13:30-18:00"], …}``), the
    zone (None: the site's ``HOTLINE_TIMEZONE``), the holiday region (None: the site's
    ``HOTLINE_HOLIDAYS``; ``none``: no public holidays), the site's closed days and extra
    working days (ISO dates), or 24×7 (``always_open``: the rest is ignored)."""

    __tablename__ = "sla_calendars"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(128))
    timezone: Mapped[str | None] = mapped_column(String(64))
    holidays: Mapped[str | None] = mapped_column(String(16))
    hours: Mapped[dict[str, list[str]]] = mapped_column(JSONType, default=dict)
    closed_days: Mapped[list[str]] = mapped_column(JSONType, default=list)
    open_days: Mapped[list[str]] = mapped_column(JSONType, default=list)
    always_open: Mapped[bool] = mapped_column(Boolean, default=False)
    version: Mapped[int] = mapped_column(Integer, default=1)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SlaPolicy(Base):
    """Targets for tickets of a ``priority`` (and, when set, a type, a customer tier, a flow
    step: the most specific enabled match wins), in minutes of business time of
    ``calendar``; a reminder at ``reminder_share`` of each target; ``escalation``: ordered
    steps after a breach (``[{"after_minutes": 30, "action": "notify_supervisors"}, …]``,
    actions in :data:`tickets.sla.policy.ACTIONS`)."""

    __tablename__ = "sla_policies"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    priority: Mapped[str] = mapped_column(String(16))
    type_key: Mapped[str | None] = mapped_column(String(64))
    customer_tier: Mapped[str | None] = mapped_column(String(16))
    flow_step: Mapped[int | None] = mapped_column(Integer)
    calendar_id: Mapped[int] = mapped_column(ForeignKey("sla_calendars.id"))
    first_response_minutes: Mapped[int] = mapped_column(Integer)
    resolution_minutes: Mapped[int] = mapped_column(Integer)
    reminder_share: Mapped[float] = mapped_column(Float, default=0.8)
    escalation: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    version: Mapped[int] = mapped_column(Integer, default=1)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SlaFired(Base):
    """A reminder, breach or escalation step that fired (or was passed over): once each."""

    __tablename__ = "sla_fired"
    __table_args__ = (UniqueConstraint("ticket_id", "target", "step",
                                       name="uq_sla_fired_step"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    #: ``first_response``, ``resolution`` or ``order:<id>``
    target: Mapped[str] = mapped_column(String(32))
    #: ``reminder``, ``breach`` or ``escalation:<n>`` (0-based)
    step: Mapped[str] = mapped_column(String(32))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    skipped: Mapped[bool] = mapped_column(Boolean, default=False)


class SupervisionOrder(Base):
    """督办: a supervisor orders the ticket fixed by ``deadline_at`` (``note`` says what is
    expected). ``status``: open → done (the ticket resolved) or cancelled (by a manager)."""

    __tablename__ = "supervision_orders"

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"),
                                           index=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id",
                                                                 ondelete="SET NULL"))
    note: Mapped[str] = mapped_column(Text)
    deadline_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(16), default="open")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
