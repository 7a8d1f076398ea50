"""Notification events: the typed vocabulary domains use to ask for a notification.

A domain service (tickets, SLA, dispatch) builds a :class:`NotificationEvent` and hands it to
the :class:`Notify` port *inside its own transaction*; the port writes outbox rows in that same
transaction, so a rolled-back change never notifies and a committed one always will.
Who receives what, in which language and over which channel is decided behind the port.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

EventKind = Literal[
    "ticket_created",       # a new ticket (customer: confirmation; group: new work)
    "ticket_assigned",      # assignee set or changed (the new assignee)
    "status_changed",       # status moved (customer on resolve/reopen; assignee)
    "public_comment",       # a public reply (customer when staff wrote, assignee when customer did)
    "sla_reminder",         # a share of an SLA target used up (assignee)
    "sla_breach",           # an SLA target missed (escalation recipients)
    "supervision_order",    # 督办: a supervisor ordered the ticket fixed by a deadline
    "work_order",           # a field work order assigned / changed (engineer, customer)
]

EVENT_KINDS: tuple[EventKind, ...] = (
    "ticket_created", "ticket_assigned", "status_changed", "public_comment",
    "sla_reminder", "sla_breach", "supervision_order", "work_order",
)


@dataclass(frozen=True)
class NotificationEvent:
    """One thing that happened, to be told.

    ``key`` makes the event idempotent: the outbox drops a second event with the same kind and
    key (e.g. ``"sla_breach:123:resolution:1"``), so a retried job cannot notify twice.
    ``user_ids`` names staff recipients explicitly (e.g. the group's supervisors for an
    escalation); empty means the kind's default audience. ``data`` carries what templates show
    (JSON-serialisable: strings, numbers, ISO datetimes).
    """

    kind: EventKind
    ticket_id: int | None
    key: str
    actor_id: int | None = None
    user_ids: tuple[int, ...] = ()
    notify_customer: bool = False
    data: dict[str, Any] = field(default_factory=dict)


class Notify(Protocol):
    """The port: record ``event`` for delivery in ``session``'s transaction (never commits)."""

    async def __call__(self, session: AsyncSession, event: NotificationEvent) -> None: ...
