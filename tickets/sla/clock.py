"""The clock of one ticket as pure functions: due times, its schedule, what fires now.

Due times are ``created_at`` plus the target plus the business time the ticket spent paused
(waiting for the customer), all in the policy's calendar; so recomputing them (a new priority,
type, policy or flow step) is idempotent, and resuming after a pause is "add the paused
time and recompute". A ticket's *schedule* lists, per target still running, the reminder (at
``reminder_share`` of the target), the breach (the due time) and each escalation step (its
offset after the breach, business time); supervision orders (督办) add their reminder and
deadline. :func:`plan` says which steps fire at ``now`` (each once: the caller passes what
already fired) and the next instant anything is pending: the ticket's ``sla_next_at``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from tickets.sla.calendar import Calendar, add_business
from tickets.sla.policy import Action, Policy

OPEN = frozenset({"new", "assigned", "in_progress", "pending_customer"})
PAUSED = "pending_customer"
TARGETS = ("first_response", "resolution")


def due_times(policy: Policy, cal: Calendar, created_at: datetime,
              paused: timedelta = timedelta(0)) -> tuple[datetime, datetime]:
    """(first response due, resolution due): the targets of ``policy`` in business time of
    ``cal`` after ``created_at``, pushed out by ``paused`` business time."""
    return (add_business(cal, created_at, policy.first_response + paused),
            add_business(cal, created_at, policy.resolution + paused))


@dataclass(frozen=True)
class TicketClock:
    """What the schedule depends on (a ticket's columns)."""

    status: str
    created_at: datetime
    first_responded_at: datetime | None
    first_response_due_at: datetime | None
    due_at: datetime | None
    paused: timedelta = timedelta(0)


@dataclass(frozen=True)
class OrderClock:
    """An open supervision order: reminder at ``share`` of its time, then its deadline."""

    id: int
    created_at: datetime
    deadline_at: datetime


@dataclass(frozen=True)
class Step:
    """One thing that fires: ``target`` (``first_response``, ``resolution``,
    ``order:<id>``), ``step`` (``reminder``, ``breach``, ``escalation:<n>``), when, and for
    an escalation its action (``user``: assign_user's username)."""

    target: str
    step: str
    at: datetime
    action: Action | None = None
    user: str | None = None

    @property
    def key(self) -> tuple[str, str]:
        return (self.target, self.step)


def schedule(policy: Policy, cal: Calendar, t: TicketClock,
             orders: Sequence[OrderClock] = (), order_share: float = 0.8) -> list[Step]:
    """Every step of the ticket's running targets and open orders, in time order. A paused,
    resolved or cancelled ticket has no running target; a first response that happened
    stops that target."""
    steps: list[Step] = []
    running = t.status in OPEN and t.status != PAUSED
    for target, due, stop, share_of in (
            ("first_response", t.first_response_due_at, t.first_responded_at,
             policy.first_response),
            ("resolution", t.due_at, None, policy.resolution)):
        if not running or due is None or stop is not None:
            continue
        remind = add_business(cal, t.created_at, share_of * policy.reminder_share + t.paused)
        if 0 < policy.reminder_share < 1 and remind < due:
            steps.append(Step(target, "reminder", remind))
        steps.append(Step(target, "breach", due))
        for i, esc in enumerate(policy.escalation):
            steps.append(Step(target, f"escalation:{i}", add_business(cal, due, esc.after),
                              esc.action, esc.user))
    if t.status in OPEN:  # orders run while the ticket waits for the customer, too
        for o in orders:
            target = f"order:{o.id}"
            remind = o.created_at + (o.deadline_at - o.created_at) * order_share
            if remind < o.deadline_at:
                steps.append(Step(target, "reminder", remind))
            steps.append(Step(target, "breach", o.deadline_at))
    steps.sort(key=lambda s: s.at)
    return steps


@dataclass(frozen=True)
class Plan:
    """``fire``: steps to carry out now (in time order); ``skip``: reminders passed over
    because their breach is due too (recorded, not told); ``next_at``: the earliest step
    still pending after these, or None."""

    fire: tuple[Step, ...]
    skip: tuple[Step, ...]
    next_at: datetime | None


def plan(steps: Iterable[Step], fired: set[tuple[str, str]], now: datetime) -> Plan:
    """What fires at ``now`` given the steps that already ``fired`` (pure)."""
    pending = [s for s in steps if s.key not in fired]
    due = [s for s in pending if s.at <= now]
    breached = {s.target for s in due if s.step == "breach"}
    fire = tuple(s for s in due if not (s.step == "reminder" and s.target in breached))
    skip = tuple(s for s in due if s.step == "reminder" and s.target in breached)
    later = [s.at for s in pending if s.at > now]
    return Plan(fire, skip, min(later) if later else None)
