"""The SLA clock against the database: policies and calendars cached per process, the clock
started on create and refreshed on change, the sweep that fires reminders, breaches and
escalations, and supervision orders (督办).

Decisions are the pure functions of :mod:`tickets.sla.clock` and :mod:`tickets.sla.policy`;
this module reads rows, hands them over, and carries out what they say, in the caller's
transaction (it never commits). The sweep is a plain async function: whatever runs it
periodically (the job engine) owns the transaction and the clock.

Exactly once: the sweep takes due tickets with ``FOR UPDATE SKIP LOCKED`` on PostgreSQL (two
sweeps never hold the same ticket), and writes each step into ``sla_fired`` (unique ticket,
target, step) with ``ON CONFLICT DO NOTHING`` before acting: a step whose row was already
there is not carried out again, whatever raced.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from tickets import lifecycle
from tickets.db import Base, utcnow
from tickets.models import Customer, Ticket, TicketEvent, TicketType, User, group_members
from tickets.notify.events import NotificationEvent, Notify
from tickets.sla.calendar import (
    Calendar,
    business_between,
    holiday_source,
    twenty_four_seven,
    week_spans,
)
from tickets.sla.clock import (
    OPEN,
    PAUSED,
    OrderClock,
    Plan,
    Step,
    TicketClock,
    due_times,
    plan,
    schedule,
)
from tickets.sla.models import SlaCalendar, SlaFired, SlaPolicy, SupervisionOrder
from tickets.sla.policy import Policy, check_escalation, match, raised

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Site:
    """The site's defaults: zone and holiday region of calendars that name none
    (``HOTLINE_TIMEZONE``, ``HOTLINE_HOLIDAYS``), and the share of a supervision order's
    time at which its assignee is reminded (``HOTLINE_SLA_ORDER_REMINDER``)."""

    timezone: str = "Asia/Shanghai"
    holidays: str = "CN"
    order_share: float = 0.8


def build_calendar(row: SlaCalendar, site: Site) -> Calendar:
    """A stored calendar as a value (rows were checked when saved; ValueError otherwise)."""
    zone = ZoneInfo(row.timezone or site.timezone)
    if row.always_open:
        return twenty_four_seven(zone)
    return Calendar(zone=zone, week=week_spans(row.hours or {}),
                    holidays=holiday_source(row.holidays or site.holidays),
                    closed=frozenset(date.fromisoformat(d) for d in row.closed_days or ()),
                    open_days=frozenset(date.fromisoformat(d) for d in row.open_days or ()))


def to_policy(row: SlaPolicy) -> Policy:
    return Policy(row.id, row.name, row.priority, row.calendar_id,
                  timedelta(minutes=row.first_response_minutes),
                  timedelta(minutes=row.resolution_minutes), row.reminder_share,
                  check_escalation(row.escalation or []), row.type_key, row.customer_tier,
                  row.flow_step, row.enabled)


@dataclass
class _Loaded:
    policies: tuple[Policy, ...] = ()
    by_id: dict[int, Policy] = field(default_factory=dict)
    calendars: dict[int, Calendar] = field(default_factory=dict)
    tiers_matter: bool = False
    at: float = -1e9


class SlaBook:
    """Policies and calendars, cached per process for ``ttl`` seconds (like the routing
    rule book): the admin API invalidates this process's copy; other processes see an edit
    within ``ttl``."""

    def __init__(self, site: Site | None = None, ttl: float = 2.0) -> None:
        self.site = site or Site()
        self.ttl = ttl
        self._loaded = _Loaded()

    def configure(self, site: Site) -> None:
        self.site = site
        self.invalidate()

    def invalidate(self) -> None:
        self._loaded = _Loaded()

    async def load(self, session: AsyncSession) -> _Loaded:
        if time.monotonic() - self._loaded.at <= self.ttl:
            return self._loaded
        policies = tuple(to_policy(r) for r in (await session.scalars(
            select(SlaPolicy).order_by(SlaPolicy.id))).all())
        calendars: dict[int, Calendar] = {}
        for row in (await session.scalars(select(SlaCalendar))).all():
            try:
                calendars[row.id] = build_calendar(row, self.site)
            except ValueError as exc:  # e.g. a region the holidays package dropped
                log.error("SLA calendar %s is unusable, counted as 24x7: %s", row.key, exc)
                calendars[row.id] = twenty_four_seven(self.site.timezone)
        self._loaded = _Loaded(policies, {p.id: p for p in policies if p.id is not None},
                               calendars, any(p.customer_tier for p in policies),
                               time.monotonic())
        return self._loaded

    def calendar(self, loaded: _Loaded, policy: Policy) -> Calendar:
        found = loaded.calendars.get(policy.calendar_id) if policy.calendar_id else None
        return found or twenty_four_seven(self.site.timezone)


#: The process's book; ``web`` configures its site from the settings at startup.
BOOK = SlaBook()


async def _tier(session: AsyncSession, loaded: _Loaded, customer_id: int | None) -> str | None:
    if not loaded.tiers_matter or customer_id is None:
        return None  # no policy asks: no query on the create path
    tier: str | None = await session.scalar(select(Customer.tier).where(
        Customer.id == customer_id))
    return tier


async def start_clock(session: AsyncSession, *, priority: str, type_key: str | None,
                      customer_id: int | None, flow_step: int, created_at: datetime,
                      book: SlaBook = BOOK) -> dict[str, Any]:
    """The clock columns of a new ticket: ``sla_policy_id``, ``first_response_due_at``,
    ``due_at``, ``sla_paused_s`` (0) and ``sla_next_at`` (its first reminder or breach)."""
    loaded = await book.load(session)
    policy = match(loaded.policies, priority=priority, type_key=type_key,
                   customer_tier=await _tier(session, loaded, customer_id),
                   flow_step=flow_step)
    cal = book.calendar(loaded, policy)
    first, due = due_times(policy, cal, created_at)
    steps = schedule(policy, cal, TicketClock("new", created_at, None, first, due))
    return {"sla_policy_id": policy.id, "first_response_due_at": first, "due_at": due,
            "sla_paused_s": 0, "sla_next_at": min((s.at for s in steps), default=None)}


def _clock(ticket: Ticket) -> TicketClock:
    return TicketClock(ticket.status, ticket.created_at, ticket.first_responded_at,
                       ticket.first_response_due_at, ticket.due_at,
                       timedelta(seconds=ticket.sla_paused_s or 0))


async def _policy_of(session: AsyncSession, loaded: _Loaded, ticket: Ticket,
                     rematch: bool) -> Policy:
    kept = loaded.by_id.get(ticket.sla_policy_id) if ticket.sla_policy_id else None
    if kept is not None and kept.enabled and not rematch:
        return kept
    type_key = await session.scalar(select(TicketType.key).where(
        TicketType.id == ticket.type_id)) if ticket.type_id else None
    return match(loaded.policies, priority=ticket.priority, type_key=type_key,
                 customer_tier=await _tier(session, loaded, ticket.customer_id),
                 flow_step=ticket.flow_step)


async def _fired(session: AsyncSession, ticket_ids: list[int]) -> dict[int, set[tuple[str, str]]]:
    out: dict[int, set[tuple[str, str]]] = {i: set() for i in ticket_ids}
    for tid, target, step in (await session.execute(
            select(SlaFired.ticket_id, SlaFired.target, SlaFired.step).where(
                SlaFired.ticket_id.in_(ticket_ids)))).all():
        out[tid].add((target, step))
    return out


async def _open_orders(session: AsyncSession,
                       ticket_ids: list[int]) -> dict[int, list[SupervisionOrder]]:
    out: dict[int, list[SupervisionOrder]] = {i: [] for i in ticket_ids}
    for order in (await session.scalars(select(SupervisionOrder).where(
            SupervisionOrder.ticket_id.in_(ticket_ids),
            SupervisionOrder.status == "open"))).all():
        out[order.ticket_id].append(order)
    return out


def _order_clocks(orders: list[SupervisionOrder]) -> list[OrderClock]:
    return [OrderClock(o.id, o.created_at, o.deadline_at) for o in orders]


async def refresh_clock(session: AsyncSession, ticket: Ticket, *, now: datetime | None = None,
                        rematch: bool = False, actor_id: int | None = None,
                        book: SlaBook = BOOK) -> None:
    """Bring ``ticket``'s clock up to date after a change (call it after any change of
    status, priority, type, flow step or first response; loaded ticket, no commit):

    - entering ``pending_customer`` pauses the clock, leaving it adds the paused business
      time to ``sla_paused_s`` and pushes the due times out by it;
    - ``rematch`` (priority, type, flow step changed) picks the policy again and
      recomputes the due times;
    - a resolved, closed or cancelled ticket closes its open supervision orders;
    - ``sla_next_at`` becomes the earliest step not fired yet (None: nothing pending).
    """
    now = now or utcnow()
    loaded = await book.load(session)
    policy = await _policy_of(session, loaded, ticket, rematch)
    cal = book.calendar(loaded, policy)
    recompute = rematch or policy.id != ticket.sla_policy_id
    if ticket.status == PAUSED and ticket.sla_paused_at is None:
        ticket.sla_paused_at = now
    elif ticket.status != PAUSED and ticket.sla_paused_at is not None:
        paused = business_between(cal, ticket.sla_paused_at, now)
        ticket.sla_paused_s = (ticket.sla_paused_s or 0) + int(paused.total_seconds())
        ticket.sla_paused_at = None
        recompute = True
    if recompute:
        ticket.sla_policy_id = policy.id
        ticket.first_response_due_at, ticket.due_at = due_times(
            policy, cal, ticket.created_at, timedelta(seconds=ticket.sla_paused_s or 0))
    orders = (await _open_orders(session, [ticket.id]))[ticket.id]
    if ticket.status not in OPEN:
        for order in orders:
            order.status, order.closed_at = "done", now
            session.add(TicketEvent(ticket_id=ticket.id, actor_id=actor_id,
                                    kind="supervision_closed",
                                    data={"order_id": order.id, "status": "done"}))
        orders = []
    fired = (await _fired(session, [ticket.id]))[ticket.id]
    steps = schedule(policy, cal, _clock(ticket), _order_clocks(orders),
                     book.site.order_share)
    ticket.sla_next_at = min((s.at for s in steps if s.key not in fired), default=None)


@dataclass
class SweepReport:
    """What one sweep did: tickets it took, steps fired (told and written to the history),
    reminders passed over (their breach was due too), steps another process had already
    fired, and the earliest ``sla_next_at`` left among the tickets it took."""

    tickets: int = 0
    fired: int = 0
    skipped: int = 0
    raced: int = 0
    keys: list[str] = field(default_factory=list)


_FIRED = Base.metadata.tables["sla_fired"]
_TICKETS = Base.metadata.tables["tickets"]
_EVENTS = Base.metadata.tables["ticket_events"]
_FIRED_KEY = ["ticket_id", "target", "step"]
#: Claim a batch of steps: the rows that were not there yet come back (built once per
#: dialect: building a statement per call cost more than running it).
_CLAIM = {name: ins(_FIRED).on_conflict_do_nothing(index_elements=_FIRED_KEY).returning(
    _FIRED.c.ticket_id, _FIRED.c.target, _FIRED.c.step)
    for name, ins in (("postgresql", pg_insert), ("sqlite", sqlite_insert))}
#: The timer's own columns, without touching ``version`` (bookkeeping is not an edit: a
#: console holding the ticket's version is not made stale by a reminder).
_SET_TIMER = (update(_TICKETS).where(_TICKETS.c.id == bindparam("tid"))
              .values(sla_next_at=bindparam("next_at"),
                      sla_breached_at=func.coalesce(_TICKETS.c.sla_breached_at,
                                                    bindparam("breached_at"))))
_INSERT_EVENTS = insert(_EVENTS)


async def _claim(session: AsyncSession, claims: list[tuple[int, Step, bool]],
                 now: datetime) -> set[tuple[int, str, str]]:
    """Insert the ``sla_fired`` rows of ``claims`` (ticket id, step, skipped) in one
    statement; the (ticket, target, step) keys that were new (the others fired before)."""
    if not claims:
        return set()
    conn = await session.connection()
    rows = await conn.execute(_CLAIM[conn.dialect.name], [
        {"ticket_id": tid, "target": st.target, "step": st.step, "at": now, "skipped": skip}
        for tid, st, skip in claims])
    return {(r.ticket_id, r.target, r.step) for r in rows}


async def _supervisors(session: AsyncSession, group_id: int | None) -> tuple[int, ...]:
    """The active supervisors of the group; none there (or no group): every supervisor.
    Remembered for the session's transaction (a sweep asks once per group, not per ticket)."""
    cache: dict[int | None, tuple[int, ...]] = session.info.setdefault("sla_supervisors", {})
    if group_id not in cache:
        cache[group_id] = await _load_supervisors(session, group_id)
    return cache[group_id]


async def _load_supervisors(session: AsyncSession, group_id: int | None) -> tuple[int, ...]:
    query = select(User.id).where(User.role == "supervisor", User.is_active.is_(True))
    if group_id is not None:
        ids = (await session.scalars(query.join(
            group_members, group_members.c.user_id == User.id).where(
            group_members.c.group_id == group_id))).all()
        if ids:
            return tuple(sorted(ids))
    return tuple(sorted((await session.scalars(query)).all()))


def event_key(ticket_id: int, step: Step) -> str:
    """The idempotency key of a step's notification (= its ``sla_fired`` unique key)."""
    return f"{ticket_id}:{step.target}:{step.step}"


@dataclass
class _Batch:
    """What a sweep writes at its end in one statement each: history rows, timer columns."""

    events: list[dict[str, Any]] = field(default_factory=list)
    breached: dict[int, datetime] = field(default_factory=dict)

    def event(self, ticket_id: int, kind: str, data: dict[str, Any], at: datetime) -> None:
        self.events.append({"ticket_id": ticket_id, "actor_id": None, "kind": kind,
                            "at": at, "data": data})


async def _carry_out(session: AsyncSession, ticket: Ticket, step: Step, now: datetime,
                     notify: Notify, orders: dict[int, SupervisionOrder],
                     batch: _Batch) -> None:
    """Write the step to the history, apply an escalation's action, tell who must know."""
    key = event_key(ticket.id, step)
    data: dict[str, Any] = {"target": step.target, "step": step.step,
                            "due_at": step.at.isoformat()}
    if step.target.startswith("order:"):
        order = orders.get(int(step.target.split(":", 1)[1]))
        data.update(order_id=order.id if order else None,
                    note=order.note if order else "",
                    deadline_at=order.deadline_at.isoformat() if order else None)
        overdue = step.step == "breach"
        told = {u for u in (ticket.assignee_id,) if u is not None}
        if overdue:
            told |= set(await _supervisors(session, ticket.group_id))
            if order is not None and order.created_by_id is not None:
                told.add(order.created_by_id)
        users = tuple(sorted(told))
        kind = "supervision_overdue" if overdue else "supervision_reminder"
        batch.event(ticket.id, kind, data, now)
        await notify(session, NotificationEvent("supervision_order", ticket.id, key,
                                                user_ids=users, data={**data, "stage": kind}))
        return
    if step.step == "reminder":
        batch.event(ticket.id, "sla_reminder", data, now)
        await notify(session, NotificationEvent(
            "sla_reminder", ticket.id, key,
            user_ids=(ticket.assignee_id,) if ticket.assignee_id else (), data=data))
        return
    if step.step == "breach":
        batch.breached.setdefault(ticket.id, now)
        batch.event(ticket.id, "sla_breached", data, now)
        breach_to = set(await _supervisors(session, ticket.group_id))
        if ticket.assignee_id:
            breach_to.add(ticket.assignee_id)
        await notify(session, NotificationEvent("sla_breach", ticket.id, key,
                                                user_ids=tuple(sorted(breach_to)), data=data))
        return
    data["action"] = step.action
    escalate_to = set(await _supervisors(session, ticket.group_id))
    if step.action == "raise_priority":
        new = raised(ticket.priority)
        data["priority"] = {"from": ticket.priority, "to": new}
        ticket.priority = new  # the due times stay: the clock is the breached one
    elif step.action == "assign_group":
        data["assignee_id"] = {"from": ticket.assignee_id, "to": None}
        ticket.assignee_id = None
        ticket.status = lifecycle.status_after_assignment(ticket.status, None)
    elif step.action == "assign_user":
        user = await session.scalar(select(User).where(
            User.username == step.user, User.is_active.is_(True),
            User.role.in_(("agent", "supervisor", "admin"))))
        if user is None:
            data["error"] = f"no active staff user {step.user!r}"
        else:
            data["assignee_id"] = {"from": ticket.assignee_id, "to": user.id}
            ticket.assignee_id = user.id
            ticket.status = lifecycle.status_after_assignment(ticket.status, user.id)
            escalate_to.add(user.id)
    ticket.updated_at = now
    batch.event(ticket.id, "sla_escalated", data, now)
    await notify(session, NotificationEvent("sla_breach", ticket.id, key,
                                            user_ids=tuple(sorted(escalate_to)), data=data))


async def sweep(session: AsyncSession, *, now: datetime, notify: Notify, limit: int = 500,
                book: SlaBook = BOOK) -> SweepReport:
    """Fire what is due at ``now`` on at most ``limit`` tickets (``sla_next_at <= now``,
    earliest first, through the index; PostgreSQL: ``FOR UPDATE SKIP LOCKED``), in the
    caller's transaction (the caller commits). Each step is written to ``sla_fired`` first
    (exactly once), then to the history, then told through ``notify``; each ticket's
    ``sla_next_at`` is recomputed. Run it again while ``tickets == limit``."""
    report = SweepReport()
    session.info.pop("sla_supervisors", None)  # fresh per sweep
    query = (select(Ticket).where(Ticket.sla_next_at <= now)
             .order_by(Ticket.sla_next_at).limit(limit)
             .with_for_update(of=Ticket, skip_locked=True))
    tickets = list((await session.scalars(query)).unique().all())
    report.tickets = len(tickets)
    if not tickets:
        return report
    ids = [t.id for t in tickets]
    loaded = await book.load(session)
    fired_by = await _fired(session, ids)
    orders_by = await _open_orders(session, ids)
    decided: list[tuple[Ticket, list[Step], Plan, list[SupervisionOrder]]] = []
    claims: list[tuple[int, Step, bool]] = []
    for ticket in tickets:
        policy = await _policy_of(session, loaded, ticket, False)
        cal = book.calendar(loaded, policy)
        orders = orders_by[ticket.id] if ticket.status in OPEN else []
        steps = schedule(policy, cal, _clock(ticket), _order_clocks(orders),
                         book.site.order_share)
        what = plan(steps, fired_by[ticket.id], now)
        decided.append((ticket, steps, what, orders))
        claims += [(ticket.id, st, True) for st in what.skip]
        claims += [(ticket.id, st, False) for st in what.fire]
    won = await _claim(session, claims, now)
    batch = _Batch()
    timers: list[dict[str, Any]] = []
    for ticket, steps, what, orders in decided:
        by_id = {o.id: o for o in orders}
        report.skipped += sum((ticket.id, *st.key) in won for st in what.skip)
        for st in what.fire:
            if (ticket.id, *st.key) not in won:
                report.raced += 1  # another sweep fired it: not again
                continue
            await _carry_out(session, ticket, st, now, notify, by_id, batch)
            report.fired += 1
            report.keys.append(event_key(ticket.id, st))
        done = fired_by[ticket.id] | {st.key for st in (*what.fire, *what.skip)}
        timers.append({"tid": ticket.id, "breached_at": batch.breached.get(ticket.id),
                       "next_at": min((st.at for st in steps if st.key not in done),
                                      default=None)})
    await session.flush()  # the escalations' changes (ORM, with the version check)
    conn = await session.connection()
    if batch.events:
        await conn.execute(_INSERT_EVENTS, batch.events)
    await conn.execute(_SET_TIMER, timers)
    for ticket in tickets:  # the rows changed underneath the ORM's copies
        session.expire(ticket, ["sla_next_at", "sla_breached_at"])
    return report


# --- supervision orders (督办) ---------------------------------------------------------

async def order_supervision(session: AsyncSession, ticket: Ticket, *, actor_id: int | None,
                            note: str, deadline_at: datetime, now: datetime,
                            notify: Notify, book: SlaBook = BOOK) -> SupervisionOrder:
    """A supervisor orders the (open, locked) ``ticket`` fixed by ``deadline_at``: the order
    row, its history row, a ``supervision_order`` notification (assignee, else the group's
    supervisors) and the ticket's ``sla_next_at`` to include the order's timer."""
    order = SupervisionOrder(ticket_id=ticket.id, created_by_id=actor_id, note=note,
                             deadline_at=deadline_at, status="open", created_at=now)
    session.add(order)
    await session.flush()
    data = {"order_id": order.id, "note": note, "deadline_at": deadline_at.isoformat()}
    session.add(TicketEvent(ticket_id=ticket.id, actor_id=actor_id,
                            kind="supervision_ordered", data=data))
    users = (ticket.assignee_id,) if ticket.assignee_id else await _supervisors(
        session, ticket.group_id)
    await notify(session, NotificationEvent("supervision_order", ticket.id,
                                            f"{ticket.id}:order:{order.id}:ordered",
                                            actor_id=actor_id, user_ids=users,
                                            data={**data, "stage": "supervision_ordered"}))
    await refresh_clock(session, ticket, now=now, actor_id=actor_id, book=book)
    await session.flush()
    return order


async def cancel_supervision(session: AsyncSession, ticket: Ticket, order: SupervisionOrder,
                             *, actor_id: int | None, now: datetime,
                             book: SlaBook = BOOK) -> None:
    """Withdraw an open order (history row; its timer stops)."""
    order.status, order.closed_at = "cancelled", now
    session.add(TicketEvent(ticket_id=ticket.id, actor_id=actor_id, kind="supervision_closed",
                            data={"order_id": order.id, "status": "cancelled"}))
    await session.flush()
    await refresh_clock(session, ticket, now=now, actor_id=actor_id, book=book)
    await session.flush()


async def clock_view(session: AsyncSession, ticket: Ticket, now: datetime,
                     book: SlaBook = BOOK) -> dict[str, Any]:
    """How the ticket stands (for people): policy, calendar, per target its due time and the
    business time left (negative: overdue by), paused or not, breached when."""
    loaded = await book.load(session)
    policy = await _policy_of(session, loaded, ticket, False)
    cal = book.calendar(loaded, policy)
    paused = ticket.sla_paused_at is not None
    targets = []
    for name, due, met in (("first_response", ticket.first_response_due_at,
                            ticket.first_responded_at),
                           ("resolution", ticket.due_at, ticket.resolved_at)):
        if due is None:
            continue
        at = ticket.sla_paused_at if paused and ticket.sla_paused_at else now
        left = None if met is not None or ticket.status not in OPEN else int(
            business_between(cal, at, due).total_seconds())
        targets.append({"target": name, "due_at": due, "met_at": met,
                        "business_seconds_left": left,
                        "breached": (met or at) > due})
    return {"policy_id": policy.id, "policy": policy.name, "calendar_id": policy.calendar_id,
            "business_time": not cal.always_open, "paused": paused,
            "paused_since": ticket.sla_paused_at, "paused_seconds": ticket.sla_paused_s or 0,
            "breached_at": ticket.sla_breached_at, "next_at": ticket.sla_next_at,
            "targets": targets}
