"""Field dispatch's service: work orders from tickets, who goes (ranking), in which order
(day plans), and the order's life (assignment, status moves, decline, duty). What the
engineer records at the visit (report, photos, signature) is ``dispatch.records``; the
phone's offline queue and its ``op_id`` receipts are ``dispatch.sync``.

Why this shape:

* Every function takes the caller's :class:`AsyncSession` and never commits; the history
  rows (:class:`tickets.models.TicketEvent` on the work order's *ticket*, kinds
  ``work_order_*``) are written in that same transaction, so an order and its story never
  disagree. Each event's ``data`` carries ``work_order_id``, ``number`` and the order's
  ``version`` after the change: the offline sync reads them to tell a dispatcher's change
  from the engineer's own.
* What the web layer must announce after its commit (the ``work_order`` bus message to each
  engineer concerned, ``ticket_updated`` for a ticket resolved by its last visit) is
  collected in :class:`Ctx` (``touched``, ``tickets_changed``): a decline or an engineer
  going off duty moves orders to engineers the caller never named.
* Ranking (``dispatch.assignment.rank``) and the day plan (``dispatch.planning.plan_day``)
  are pure; this module reads rows into :mod:`dispatch.ports` values, calls them and writes
  the outcome. Their times are local wall-clock datetimes of the site's zone
  (:func:`tickets.timeinput.site_timezone`); stored times are UTC.
* ``version`` is bumped by every change a person makes (assignment, status, patch, report,
  files); a re-plan (``plan_seq``, ``planned_arrival``) is derived data and does not bump
  it, so re-planning never turns an engineer's offline change into a conflict.
* Visibility: staff see every order; an engineer only the orders assigned to them; anyone
  else nothing (NotFound, as if it did not exist).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta, tzinfo
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from dispatch import lifecycle
from dispatch.assignment import rank
from dispatch.models import (
    EngineerProfile,
    Equipment,
    WorkOrder,
    WorkOrderFile,
)
from dispatch.planning import plan_day
from dispatch.ports import (
    PRIORITY_WEIGHT,
    DayPlan,
    EngineerState,
    Job,
    PlannedStop,
    Point,
    Ranking,
    Visit,
)
from dispatch.schemas import (
    EngineerIn,
    StatusIn,
    WorkOrderIn,
    WorkOrderOut,
    WorkOrderPatch,
)
from dispatch.travel import straight_line_minutes
from tickets import lifecycle as ticket_lifecycle
from tickets import service as tickets
from tickets.db import utcnow
from tickets.errors import Conflict, Forbidden, Invalid, NotFound
from tickets.models import (
    Customer,
    CustomerPhone,
    Group,
    Ticket,
    TicketEvent,
    TicketType,
    User,
)
from tickets.notify.events import NotificationEvent, Notify
from tickets.notify.outbox import facts_of
from tickets.schemas import TicketPatch
from tickets.service import SYSTEM, Actor
from tickets.timeinput import site_timezone

MANAGER_ROLES = frozenset({"supervisor", "admin"})
#: a last position older than this is stale: the ranking falls back to the base
POSITION_FRESH = timedelta(hours=2)
#: statuses an engineer going off duty hands on (nothing started yet)
NOT_STARTED = frozenset({"assigned", "accepted"})
EVENT_KINDS = ("work_order_created", "work_order_assigned", "work_order_status",
               "work_order_declined", "work_order_reassigned", "work_order_report",
               "work_order_file", "work_order_updated")
#: the solver's budget when assigning an urgent order re-plans the engineer's day (a request
#: waits for it; OR-Tools' guided local search uses all of it)
URGENT_REPLAN_S = 0.3
#: what a photo or signature may be
IMAGE_TYPES = ("image/png", "image/jpeg")


#: ``(start, shift_start, shift_end, visits, time_limit_s) → DayPlan``, awaited: the
#: arguments of :func:`dispatch.planning.plan_day`
Planner = Callable[[Point | None, datetime, datetime, Sequence[Visit], float],
                   Awaitable[DayPlan]]


@dataclass
class Ctx:
    """What a call needs besides the session, and what it leaves for the caller to announce.

    ``touched``: work order id → the engineers to tell of it (the new one, and one who lost
    it); ``tickets_changed``: tickets this call changed (resolved by their last visit).
    ``store``/``max_bytes``: the attachment store and limit (photos, signatures).
    """

    notify: Notify | None = None
    resolve_ticket: bool = True
    store: Path | None = None
    max_bytes: int = 10 * 1024 * 1024
    plan_time_limit_s: float = 1.0
    #: solves a day plan off the event loop (``web.planner.PlannerPool``: OR-Tools holds the
    #: GIL while it searches); None: in this process (tests, the command line)
    planner: Planner | None = None
    touched: dict[int, set[int]] = field(default_factory=dict)
    tickets_changed: set[int] = field(default_factory=set)

    def touch(self, order: WorkOrder, *engineer_ids: int | None) -> None:
        ids = self.touched.setdefault(order.id, set())
        ids.update(e for e in (order.engineer_id, *engineer_ids) if e is not None)


def number(order_id: int) -> str:
    return f"WO-{order_id:06d}"


def is_manager(actor: Actor) -> bool:
    return actor.role in MANAGER_ROLES


def _tz() -> tzinfo:
    return site_timezone()


def local_day(moment: datetime | None) -> date | None:
    return moment.astimezone(_tz()).date() if moment is not None else None


def today() -> date:
    return utcnow().astimezone(_tz()).date()


def order_day(order: WorkOrder) -> date | None:
    """The site-local day an order is for: its window's, else its planned arrival's."""
    return local_day(order.window_start) or local_day(order.planned_arrival)


# --- reading ---------------------------------------------------------------------------------

def may_see(actor: Actor, order: WorkOrder) -> bool:
    """THE work-order visibility rule: staff all; an engineer their own; nobody else."""
    if actor.is_staff:
        return True
    return actor.role == "engineer" and actor.id is not None and order.engineer_id == actor.id


async def get_order(session: AsyncSession, order_id: int, actor: Actor, *,
                    lock: bool = False) -> WorkOrder:
    """The order if ``actor`` may see it (:func:`may_see`), else NotFound. ``lock``: the
    row stays as read until the commit (``FOR UPDATE``; on SQLite, which ignores it and
    reads before its transaction starts, a no-op UPDATE first takes the write turn, as
    :func:`tickets.service.take_write_turn` does: else two requests both pass their checks
    on the same version and both write)."""
    query = select(WorkOrder).where(WorkOrder.id == order_id)
    if lock:
        if (await session.connection()).dialect.name == "sqlite":
            await session.execute(update(WorkOrder).where(WorkOrder.id == order_id)
                                  .values(id=WorkOrder.id)
                                  .execution_options(synchronize_session=False))
        query = query.with_for_update()
    order = await session.scalar(query.execution_options(populate_existing=lock))
    if order is None or not may_see(actor, order):
        raise NotFound(f"work order {order_id} not found")
    return order


def allowed_status(order: WorkOrder, actor: Actor) -> list[str]:
    """The statuses ``actor`` may move ``order`` to through ``…/status`` (assignment has its
    own route): the engineer their moves on their own order, staff the dispatcher's."""
    out = []
    for target in sorted(lifecycle.TRANSITIONS.get(order.status, frozenset())):
        if target == "assigned":
            continue
        mine = lifecycle.is_engineer_move(order.status, target)
        if actor.role == "engineer":
            if mine and order.engineer_id == actor.id:
                out.append(target)
        elif actor.is_staff and not mine:
            if target == "pending" and order.engineer_id is None:
                continue
            out.append(target)
    return out


async def order_dicts(session: AsyncSession, orders: Sequence[WorkOrder], actor: Actor, *,
                      redact: bool = False) -> list[dict[str, Any]]:
    """The API shape (``WorkOrderOut``) of ``orders``, in four queries at most.
    ``redact``: without address, contact and customer (for an engineer who lost it)."""
    if not orders:
        return []
    user_ids = {o.engineer_id for o in orders if o.engineer_id is not None}
    ticket_ids = {o.ticket_id for o in orders}
    names: dict[int, str] = {}
    if user_ids:
        for uid, display, username in (await session.execute(
                select(User.id, User.display_name, User.username)
                .where(User.id.in_(user_ids)))).all():
            names[uid] = display or username
    customers = {row[0]: (row[1], row[2]) for row in (await session.execute(
        select(Ticket.id, Customer.id, Customer.name)
        .join(Customer, Customer.id == Ticket.customer_id, isouter=True)
        .where(Ticket.id.in_(ticket_ids)))).all()}
    equipment_ids = {o.equipment_id for o in orders if o.equipment_id is not None}
    equipment = {e.id: e for e in (await session.scalars(
        select(Equipment).where(Equipment.id.in_(equipment_ids)))).all()} \
        if equipment_ids else {}
    files: dict[int, list[dict[str, Any]]] = {}
    for f in (await session.scalars(select(WorkOrderFile).where(
            WorkOrderFile.work_order_id.in_([o.id for o in orders]))
            .order_by(WorkOrderFile.id))).all():
        files.setdefault(f.work_order_id, []).append({
            "id": f.id, "kind": f.kind, "attachment_id": f.attachment_id,
            "url": f"/api/v1/work_orders/{f.work_order_id}/files/{f.id}"})
    out = []
    for o in orders:
        cid, cname = customers.get(o.ticket_id, (None, None))
        eq = equipment.get(o.equipment_id) if o.equipment_id else None
        hide = redact or not may_see(actor, o)
        out.append({
            "id": o.id, "number": number(o.id), "ticket_id": o.ticket_id,
            "ticket_number": tickets.ticket_number(o.ticket_id), "kind": o.kind,
            "status": o.status, "allowed_status": allowed_status(o, actor),
            "priority": o.priority,
            "engineer": {"id": o.engineer_id, "name": names.get(o.engineer_id, "")}
            if o.engineer_id is not None else None,
            "address": None if hide else o.address, "region": o.region,
            "lat": None if hide else o.lat, "lon": None if hide else o.lon,
            "contact_name": None if hide else o.contact_name,
            "contact_phone": None if hide else o.contact_phone,
            "customer": {"id": cid, "name": cname} if cid is not None and not hide else None,
            "equipment": {"id": eq.id, "serial_number": eq.serial_number, "model": eq.model,
                          "warranty_end": eq.warranty_end} if eq is not None else None,
            "required_skills": list(o.required_skills or []),
            "window_start": o.window_start, "window_end": o.window_end,
            "duration_min": o.duration_min, "parts_planned": list(o.parts_planned or []),
            "parts_used": list(o.parts_used or []), "notes": o.notes or "",
            "fail_reason": o.fail_reason, "signed_by": o.signed_by, "rating": o.rating,
            "plan_seq": o.plan_seq, "planned_arrival": o.planned_arrival,
            "files": [] if hide else files.get(o.id, []),
            "status_times": dict(o.status_times or {}), "version": o.version,
            "created_at": o.created_at, "updated_at": o.updated_at})
    return out


async def order_json(session: AsyncSession, order: WorkOrder, actor: Actor, *,
                     redact: bool = False) -> dict[str, Any]:
    """One order as JSON-ready values (ISO strings), validated by ``WorkOrderOut``."""
    shape = (await order_dicts(session, [order], actor, redact=redact))[0]
    return WorkOrderOut.model_validate(shape).model_dump(mode="json")


@dataclass(frozen=True)
class OrderFilter:
    status: list[str] | None = None
    engineer_id: int | None = None
    day: date | None = None
    unassigned: bool = False
    ticket_id: int | None = None


async def list_orders(session: AsyncSession, actor: Actor, flt: OrderFilter, *,
                      limit: int = 50, offset: int = 0) -> tuple[list[WorkOrder], int]:
    """Orders, soonest window first; an engineer gets only theirs (the filters but the
    ticket ignored), a customer NotFound. ``day``: orders whose window (else planned
    arrival) falls on that site-local day. Invalid for an unknown status."""
    if actor.role == "customer":
        raise NotFound("no work orders")
    query = select(WorkOrder)
    if actor.role == "engineer":
        query = query.where(WorkOrder.engineer_id == (actor.id or -1))
        if flt.ticket_id is not None:
            query = query.where(WorkOrder.ticket_id == flt.ticket_id)
    elif not actor.is_staff:
        raise NotFound("no work orders")
    else:
        if flt.status:
            unknown = sorted(set(flt.status) - set(lifecycle.TRANSITIONS) - {"open"})
            if unknown:
                raise Invalid(f"status: unknown work order status {unknown[0]!r}; one of "
                              f"{sorted(lifecycle.TRANSITIONS)} or 'open'")
            wanted = set(flt.status)
            if "open" in wanted:
                wanted = (wanted - {"open"}) | lifecycle.OPEN
            query = query.where(WorkOrder.status.in_(sorted(wanted)))
        if flt.engineer_id is not None:
            query = query.where(WorkOrder.engineer_id == flt.engineer_id)
        if flt.unassigned:
            query = query.where(WorkOrder.engineer_id.is_(None))
        if flt.ticket_id is not None:
            query = query.where(WorkOrder.ticket_id == flt.ticket_id)
        if flt.day is not None:
            start = datetime.combine(flt.day, time(), _tz())
            end = start + timedelta(days=1)
            query = query.where(
                ((WorkOrder.window_start >= start) & (WorkOrder.window_start < end))
                | (WorkOrder.window_start.is_(None) & (WorkOrder.planned_arrival >= start)
                   & (WorkOrder.planned_arrival < end)))
    total = await session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = await session.scalars(query.order_by(
        WorkOrder.window_start.is_(None), WorkOrder.window_start, WorkOrder.id)
        .limit(limit).offset(offset))
    return list(rows.all()), int(total)


async def ticket_orders(session: AsyncSession, ticket_id: int, actor: Actor) -> list[WorkOrder]:
    """The ticket's orders ``actor`` may see (the ticket itself must be visible to staff;
    an engineer gets their own orders of it)."""
    if actor.is_staff:
        await tickets.get_ticket(session, ticket_id, actor)
    elif actor.role != "engineer":
        raise NotFound(f"ticket {ticket_id} not found")
    rows, _ = await list_orders(session, actor, OrderFilter(ticket_id=ticket_id), limit=500)
    return rows


# --- checks ----------------------------------------------------------------------------------

async def known_skills(session: AsyncSession) -> set[str]:
    """Every skill anyone has or needs: users', groups' and ticket types' required ones."""
    known: set[str] = set()
    for column in (User.skills, Group.skills, TicketType.required_skills):
        for value in (await session.scalars(select(column))).all():
            known.update(value or [])
    return known


async def check_skills(session: AsyncSession, skills: Iterable[str]) -> list[str]:
    wanted = list(dict.fromkeys(skills))
    if wanted:
        unknown = [s for s in wanted if s not in await known_skills(session)]
        if unknown:
            raise Invalid(f"required_skills: unknown skill {unknown[0]!r} (no user, group or "
                          "ticket type has or needs it)")
    return wanted


def _require_staff(actor: Actor) -> None:
    if not actor.is_staff:
        raise Forbidden("only staff may do this")


def check_version(order: WorkOrder, version: int | None) -> None:
    if version is not None and version != order.version:
        raise Conflict(f"work order changed since version {version} (now {order.version}); "
                       "reload and retry")


def record_event(session: AsyncSession, order: WorkOrder, actor: Actor, event_kind: str, /,
                 **data: Any) -> None:
    session.add(TicketEvent(ticket_id=order.ticket_id, actor_id=actor.id, kind=event_kind,
                            data={"work_order_id": order.id, "number": number(order.id),
                                  "version": order.version, **data}))


def bump(order: WorkOrder) -> None:
    order.version += 1
    order.updated_at = utcnow()


def _stamp(order: WorkOrder, status: str, at: datetime | None = None) -> None:
    """Enter ``status``; ``at``: when it happened (an offline change's own time), kept
    between the order's creation and now: a phone's wrong clock cannot put a visit in the
    future or before the order existed."""
    now = utcnow()
    when = min(at, now) if at is not None else now
    if order.created_at is not None and when < order.created_at:
        when = order.created_at
    order.status = status
    order.status_times = {**(order.status_times or {}), status: when.isoformat()}


# --- create and change -----------------------------------------------------------------------

async def create(session: AsyncSession, ticket_id: int, data: WorkOrderIn, actor: Actor,
                 ctx: Ctx) -> WorkOrder:
    """A work order for the ticket (staff). Defaults: the equipment's, else the customer's
    address; the customer's name and first phone as contact; the type's required skills;
    the ticket's priority. History ``work_order_created``; ``auto_assign``: the best
    candidate at once (it stays ``pending`` when none fits, the history says why).
    Raises Forbidden, NotFound (ticket), Conflict (merged ticket), Invalid (equipment of
    another customer, unknown skill)."""
    _require_staff(actor)
    ticket = await tickets.get_writable_ticket(session, ticket_id, actor)
    customer = await session.get(Customer, ticket.customer_id) \
        if ticket.customer_id is not None else None
    equipment = None
    if data.equipment_id is not None:
        equipment = await session.get(Equipment, data.equipment_id)
        if equipment is None or equipment.customer_id != ticket.customer_id:
            raise Invalid(f"equipment_id: no equipment {data.equipment_id} of the ticket's "
                          "customer")
    skills = data.required_skills
    if skills is None:
        skills = (await session.scalar(select(TicketType.required_skills).where(
            TicketType.id == ticket.type_id))) or [] if ticket.type_id else []
    skills = await check_skills(session, skills)
    phone = None
    if customer is not None and data.contact_phone is None:
        phone = await session.scalar(select(CustomerPhone.e164).where(
            CustomerPhone.customer_id == customer.id).order_by(CustomerPhone.id).limit(1))
    now = utcnow()
    order = WorkOrder(
        ticket_id=ticket.id, equipment_id=data.equipment_id, kind=data.kind, status="pending",
        priority=data.priority or ticket.priority,
        address=data.address if data.address is not None else (
            (equipment.address if equipment is not None and equipment.address else None)
            or (customer.address if customer is not None else None) or ""),
        region=data.region if data.region is not None else (
            equipment.region if equipment is not None else None),
        lat=data.lat if data.lat is not None else (equipment.lat if equipment else None),
        lon=data.lon if data.lon is not None else (equipment.lon if equipment else None),
        contact_name=data.contact_name if data.contact_name is not None else (
            customer.name if customer is not None else None),
        contact_phone=data.contact_phone if data.contact_phone is not None else phone,
        required_skills=skills, window_start=data.window_start, window_end=data.window_end,
        duration_min=data.duration_min,
        parts_planned=[p.model_dump() for p in data.parts_planned], parts_used=[],
        notes=data.notes, declined_by=[], created_by_id=actor.id, created_at=now,
        updated_at=now, version=1, status_times={"pending": now.isoformat()})
    session.add(order)
    await session.flush()
    record_event(session, order, actor, "work_order_created", kind=order.kind,
                 window_start=_iso(order.window_start), window_end=_iso(order.window_end),
                 required_skills=skills)
    ctx.touch(order)
    if data.auto_assign:
        try:
            await assign(session, order.id, actor, ctx, auto=True)
        except Conflict as exc:
            record_event(session, order, actor, "work_order_reassigned", from_engineer_id=None,
                         to_engineer_id=None, reason="no_candidate", detail=exc.message)
    await session.flush()
    return order


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


async def patch(session: AsyncSession, order_id: int, data: WorkOrderPatch, actor: Actor,
                ctx: Ctx) -> WorkOrder:
    """A dispatcher's edit (staff; not of a final order: Conflict). ``version``: Conflict
    when stale. History ``work_order_updated`` with ``{field: {from, to}}``."""
    _require_staff(actor)
    order = await get_order(session, order_id, actor, lock=True)
    check_version(order, data.version)
    if order.status in lifecycle.FINAL:
        raise Conflict(f"work order {number(order.id)} is {order.status}: it cannot change")
    changes = data.model_dump(exclude_unset=True, exclude={"version"})
    if "required_skills" in changes and changes["required_skills"] is not None:
        changes["required_skills"] = await check_skills(session, changes["required_skills"])
    start = changes.get("window_start", order.window_start)
    end = changes.get("window_end", order.window_end)
    if (start is None) != (end is None):
        raise Invalid("window_end: a window has both a start and an end, or neither")
    if start is not None and end is not None and end <= start:
        raise Invalid("window_end must be after window_start")
    lat, lon = changes.get("lat", order.lat), changes.get("lon", order.lon)
    if (lat is None) != (lon is None):
        raise Invalid("lon: give both lat and lon, or neither")
    diff: dict[str, Any] = {}
    for name, value in changes.items():
        if value is None and name in ("priority", "duration_min", "required_skills",
                                      "parts_planned", "notes", "address"):
            raise Invalid(f"{name} cannot be null")
        old = getattr(order, name)
        if old != value:
            diff[name] = {"from": _jsonable(old), "to": _jsonable(value)}
            setattr(order, name, value)
    if diff:
        if {"window_start", "window_end", "lat", "lon", "duration_min"} & set(diff):
            order.plan_seq = order.planned_arrival = None
        bump(order)
        record_event(session, order, actor, "work_order_updated", changes=diff)
        ctx.touch(order)
    await session.flush()
    return order


def _jsonable(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


# --- ranking and assignment ------------------------------------------------------------------

async def _profiles(session: AsyncSession) -> list[tuple[User, EngineerProfile]]:
    users = (await session.scalars(select(User).where(User.role == "engineer")
                                   .order_by(User.id))).all()
    profiles = {p.user_id: p for p in (await session.scalars(select(EngineerProfile))).all()}
    return [(u, profiles.get(u.id) or _default_profile(u.id)) for u in users]


def _default_profile(user_id: int) -> EngineerProfile:
    """The model's defaults, for an engineer nobody has described yet (not added)."""
    return EngineerProfile(user_id=user_id, region=None, base_lat=None, base_lon=None,
                           work_start_min=540, work_end_min=1080, work_days=[1, 2, 3, 4, 5, 6],
                           daily_capacity=8, on_duty=True, off_reason=None, last_lat=None,
                           last_lon=None, last_seen_at=None, updated_at=utcnow())


def position_of(profile: EngineerProfile, now: datetime | None = None
                ) -> tuple[Point | None, str, datetime | None]:
    """The engineer's position for ranking: the last one when fresh, else the base."""
    now = now or utcnow()
    if profile.last_lat is not None and profile.last_lon is not None \
            and profile.last_seen_at is not None \
            and now - profile.last_seen_at <= POSITION_FRESH:
        return Point(profile.last_lat, profile.last_lon), "last", profile.last_seen_at
    if profile.base_lat is not None and profile.base_lon is not None:
        return Point(profile.base_lat, profile.base_lon), "base", None
    return None, "none", None


async def _held(session: AsyncSession) -> list[WorkOrder]:
    return list((await session.scalars(select(WorkOrder).where(
        WorkOrder.status.in_(sorted(lifecycle.HELD)),
        WorkOrder.engineer_id.is_not(None)))).all())


async def engineer_states(session: AsyncSession) -> tuple[list[EngineerState], dict[int, str]]:
    """Every engineer as the ranking sees them, and their names by id."""
    held = await _held(session)
    day_today = today()
    booked: dict[int, dict[str, int]] = {}
    load: dict[int, float] = {}
    for o in held:
        assert o.engineer_id is not None
        day = (order_day(o) or day_today).isoformat()
        per = booked.setdefault(o.engineer_id, {})
        per[day] = per.get(day, 0) + 1
        load[o.engineer_id] = load.get(o.engineer_id, 0.0) + PRIORITY_WEIGHT.get(o.priority, 1.0)
    states, names = [], {}
    now = utcnow()
    for user, profile in await _profiles(session):
        position, source, _ = position_of(profile, now)
        names[user.id] = user.display_name or user.username
        states.append(EngineerState(
            user_id=user.id, name=names[user.id], skills=frozenset(user.skills or []),
            region=profile.region, on_duty=bool(profile.on_duty),
            is_active=bool(user.is_active), position=position, position_source=source,
            work_start_min=profile.work_start_min, work_end_min=profile.work_end_min,
            work_days=frozenset(profile.work_days or []),
            daily_capacity=profile.daily_capacity, booked_by_day=booked.get(user.id, {}),
            held_load=load.get(user.id, 0.0), seniority=0))
    return states, names


def job_of(order: WorkOrder) -> Job:
    tz = _tz()
    return Job(work_order_id=order.id,
               position=Point(order.lat, order.lon)
               if order.lat is not None and order.lon is not None else None,
               region=order.region, required_skills=frozenset(order.required_skills or []),
               priority=order.priority, duration_min=order.duration_min,
               window_start=order.window_start.astimezone(tz) if order.window_start else None,
               window_end=order.window_end.astimezone(tz) if order.window_end else None,
               declined_by=frozenset(order.declined_by or []))


async def candidates(session: AsyncSession, order_id: int,
                     actor: Actor) -> tuple[Ranking, dict[int, str]]:
    """Who could take the order, best first, and why the others cannot (staff)."""
    _require_staff(actor)
    order = await get_order(session, order_id, actor)
    return await _ranking(session, order)


async def _ranking(session: AsyncSession, order: WorkOrder,
                   exclude: Iterable[int] = ()) -> tuple[Ranking, dict[int, str]]:
    states, names = await engineer_states(session)
    # the order's own engineer is not booked twice for it
    states = [_without(s, order) for s in states if s.user_id not in set(exclude)]
    day = None if order.window_start is not None else (order_day(order) or today())
    return rank(job_of(order), states, day=day), names


def _without(state: EngineerState, order: WorkOrder) -> EngineerState:
    if order.engineer_id != state.user_id or order.status not in lifecycle.HELD:
        return state
    day = (order_day(order) or today()).isoformat()
    booked = dict(state.booked_by_day)
    booked[day] = max(0, booked.get(day, 0) - 1)
    return EngineerState(**{**state.__dict__, "booked_by_day": booked,
                            "held_load": max(0.0, state.held_load
                                             - PRIORITY_WEIGHT.get(order.priority, 1.0))})


def reasons_json(reasons: Iterable[Any]) -> list[dict[str, Any]]:
    """Ranking reasons (``dispatch.ports.Reason``) as ``[{"code", "params"}]``."""
    return [{"code": r.code, "params": dict(r.params)} for r in reasons]


async def assign(session: AsyncSession, order_id: int, actor: Actor, ctx: Ctx, *,
                 engineer_id: int | None = None, auto: bool = False,
                 reason: str | None = None) -> WorkOrder:
    """Give the order to ``engineer_id`` (a dispatcher's override: any active engineer,
    however ranked) or, ``auto``, to the best-ranked candidate (Conflict when none fits).
    History ``work_order_assigned`` with the rank, score and reasons. An urgent order
    re-plans the engineer's day. Raises Forbidden (not staff), NotFound, Conflict (the
    status machine: a started or final order), Invalid (no such active engineer)."""
    _require_staff(actor)
    order = await get_order(session, order_id, actor, lock=True)
    return await _assign(session, order, actor, ctx, engineer_id=engineer_id, auto=auto,
                         reason=reason)


async def _assign(session: AsyncSession, order: WorkOrder, actor: Actor, ctx: Ctx, *,
                  engineer_id: int | None = None, auto: bool = False,
                  reason: str | None = None) -> WorkOrder:
    lifecycle.check_transition(order.status, "assigned", has_engineer=True)
    ranking, _names = await _ranking(session, order)
    if auto:
        if not ranking.ranked:
            why = sorted({r.code for refused in ranking.refused for r in refused.reasons})
            raise Conflict(f"no engineer fits work order {number(order.id)} "
                           f"({', '.join(why) or 'no engineers'})")
        engineer_id = ranking.ranked[0].user_id
    else:
        user = await session.get(User, engineer_id) if engineer_id is not None else None
        if user is None or user.role != "engineer" or not user.is_active:
            raise Invalid(f"engineer_id: user {engineer_id} is no active engineer")
    position = next((i for i, r in enumerate(ranking.ranked) if r.user_id == engineer_id), None)
    previous = order.engineer_id
    order.engineer_id = engineer_id
    order.plan_seq = order.planned_arrival = None
    _stamp(order, "assigned")
    bump(order)
    data: dict[str, Any] = {"engineer_id": engineer_id, "previous_engineer_id": previous,
                            "auto": auto, "reason": reason}
    if position is not None:
        hit = ranking.ranked[position]
        data.update(rank=position + 1, score=hit.score, distance_km=hit.distance_km,
                    travel_min=hit.travel_min, reasons=reasons_json(hit.reasons))
    else:
        refused = next((r for r in ranking.refused if r.user_id == engineer_id), None)
        data.update(rank=None, reasons=reasons_json(refused.reasons) if refused else [])
    record_event(session, order, actor, "work_order_assigned", **data)
    ctx.touch(order, previous)
    await session.flush()
    await _tell_assigned(session, order, actor, ctx)
    if order.priority == "urgent" and engineer_id is not None:
        day = order_day(order) or today()
        await replan(session, engineer_id, day, ctx, time_limit_s=URGENT_REPLAN_S)
    return order


async def _tell_assigned(session: AsyncSession, order: WorkOrder, actor: Actor,
                         ctx: Ctx) -> None:
    """The engineer and the customer hear of the appointment (the notification outbox)."""
    if ctx.notify is None or order.engineer_id is None:
        return
    ticket = await session.get(Ticket, order.ticket_id)
    if ticket is None:
        return
    when = ""
    if order.window_start is not None and order.window_end is not None:
        tz = _tz()
        start, end = order.window_start.astimezone(tz), order.window_end.astimezone(tz)
        when = f"{start:%Y-%m-%d %H:%M}–{end:%H:%M}"
    engineer = await session.get(User, order.engineer_id)
    await ctx.notify(session, NotificationEvent(
        "work_order", ticket.id, f"work_order:{order.id}:v{order.version}",
        actor_id=actor.id, user_ids=(order.engineer_id,), notify_customer=True,
        data={"ticket": facts_of(ticket), "scheduled_at": when,
              "work_order": number(order.id), "event": "assigned",
              "engineer": _name(engineer)}))


def _name(user: User | None) -> str:
    return (user.display_name or user.username) if user is not None else ""


async def _tell_on_the_way(session: AsyncSession, order: WorkOrder, actor: Actor,
                           ctx: Ctx) -> None:
    """The customer hears that the engineer set off, with an arrival estimate (straight-line
    travel from the engineer's known position, else the planned arrival)."""
    if ctx.notify is None or order.engineer_id is None:
        return
    ticket = await session.get(Ticket, order.ticket_id)
    if ticket is None or ticket.customer_id is None:
        return
    eta: datetime | None = order.planned_arrival
    prof = await session.get(EngineerProfile, order.engineer_id)
    here = position_of(prof)[0] if prof is not None else None
    if here is not None and order.lat is not None and order.lon is not None:
        eta = utcnow() + timedelta(minutes=straight_line_minutes(here, Point(order.lat,
                                                                             order.lon)))
    await ctx.notify(session, NotificationEvent(
        "work_order", ticket.id, f"work_order:{order.id}:en_route:v{order.version}",
        actor_id=actor.id, notify_customer=True,
        data={"ticket": facts_of(ticket), "work_order": number(order.id),
              "event": "en_route",
              "engineer": _name(await session.get(User, order.engineer_id)),
              "eta": f"{eta.astimezone(_tz()):%H:%M}" if eta is not None else ""}))


async def _auto_reassign(session: AsyncSession, order: WorkOrder, actor: Actor, ctx: Ctx,
                         *, from_engineer: int, why: str) -> None:
    """After ``from_engineer`` let go of a pending order: the next best takes it (or it
    waits, pending); history ``work_order_reassigned`` says why."""
    try:
        await _assign(session, order, actor, ctx, auto=True, reason=why)
        to: int | None = order.engineer_id
        detail = None
    except Conflict as exc:
        to, detail = None, exc.message
    record_event(session, order, actor, "work_order_reassigned", from_engineer_id=from_engineer,
                 to_engineer_id=to, reason=why, detail=detail)


# --- status moves ----------------------------------------------------------------------------

def _check_side(order: WorkOrder, target: str, actor: Actor, reason: str | None) -> None:
    """Forbidden unless the move is ``actor``'s side's: the engineer's moves on their own
    order, the dispatcher's (staff) the rest."""
    engineers = lifecycle.is_engineer_move(order.status, target)
    if actor.role == "engineer":
        if not engineers:
            if target in lifecycle.TRANSITIONS.get(order.status, frozenset()):
                raise Forbidden(f"{order.status} → {target} is the dispatcher's move")
            lifecycle.check_transition(order.status, target, has_engineer=True, reason=reason)
    elif actor.is_staff:
        if engineers:
            raise Forbidden(f"{order.status} → {target} is the engineer's move")
    else:
        raise Forbidden("only staff and the order's engineer move work orders")


async def move(session: AsyncSession, order_id: int, data: StatusIn, actor: Actor,
               ctx: Ctx) -> WorkOrder:
    """A status move: the engineer's on their own order (``dispatch.lifecycle``'s
    ENGINEER_MOVES), a dispatcher's the rest (``cancelled`` with a reason, ``pending`` =
    take it back; ``assigned`` goes through :func:`assign`). Raises Invalid (unknown status,
    a reason missing), Forbidden (the other side's move), Conflict (an illegal move, a
    stale ``version``), NotFound."""
    if data.status not in lifecycle.TRANSITIONS:
        raise Invalid(f"status: unknown work order status {data.status!r}; one of "
                      f"{sorted(lifecycle.TRANSITIONS)}")
    order = await get_order(session, order_id, actor, lock=True)
    check_version(order, data.version)
    target = data.status
    if target == "assigned":
        raise Invalid("status: assign through POST /api/v1/work_orders/{id}/assign")
    _check_side(order, target, actor, data.reason)
    has_engineer = order.engineer_id is not None and target != "pending"
    lifecycle.check_transition(order.status, target, has_engineer=has_engineer,
                               reason=data.reason)
    previous, old = order.engineer_id, order.status
    _stamp(order, target, data.at)
    if target == "failed":
        order.fail_reason = (data.reason or "").strip()[:255]
    if target == "cancelled":
        order.fail_reason = (data.reason or "").strip()[:255]
    if target == "pending":
        order.engineer_id = None
        order.plan_seq = order.planned_arrival = None
    bump(order)
    record_event(session, order, actor, "work_order_status", **{"from": old, "to": target},
                 reason=data.reason, at=_iso(data.at))
    if actor.role == "engineer" and data.lat is not None and data.lon is not None:
        await set_position(session, actor, data.lat, data.lon, at=data.at)
    ctx.touch(order, previous)
    await session.flush()
    if target == "en_route":
        await _tell_on_the_way(session, order, actor, ctx)
    if target == "completed":
        await _maybe_resolve(session, order, ctx)
    return order


async def _maybe_resolve(session: AsyncSession, order: WorkOrder, ctx: Ctx) -> None:
    """The ticket's last open work order completed: the ticket resolves (through the
    ticket service, so its history and SLA clock are the ticket's own)."""
    if not ctx.resolve_ticket:
        return
    still_open = await session.scalar(select(func.count()).select_from(WorkOrder).where(
        WorkOrder.ticket_id == order.ticket_id, WorkOrder.id != order.id,
        WorkOrder.status.in_(sorted(lifecycle.OPEN))))
    if still_open:
        return
    ticket = await session.get(Ticket, order.ticket_id)
    if ticket is None or ticket.status not in ticket_lifecycle.OPEN_STATUSES \
            or ticket.merged_into_id is not None:
        return
    await tickets.update_ticket(session, ticket.id, TicketPatch(
        status="resolved", reason=f"work order {number(order.id)} completed"),
        SYSTEM, notify=ctx.notify)
    ctx.tickets_changed.add(ticket.id)


async def decline(session: AsyncSession, order_id: int, actor: Actor, ctx: Ctx,
                  reason: str = "") -> WorkOrder:
    """The engineer declines their order: back to ``pending``, them appended to
    ``declined_by`` (never offered it again automatically), then offered to the next best.
    History ``work_order_declined`` then ``work_order_reassigned``. Raises Forbidden (not
    the engineer), NotFound, Conflict (started: only assigned/accepted may be declined)."""
    if actor.role != "engineer":
        raise Forbidden("only the order's engineer declines it")
    order = await get_order(session, order_id, actor, lock=True)
    if order.status not in NOT_STARTED:
        raise Conflict(f"work order {number(order.id)} is {order.status}: only an assigned "
                       "or accepted order can be declined")
    assert actor.id is not None
    old = order.status
    order.engineer_id = None
    order.declined_by = [*dict.fromkeys([*(order.declined_by or []), actor.id])]
    order.plan_seq = order.planned_arrival = None
    _stamp(order, "pending")
    bump(order)
    record_event(session, order, actor, "work_order_declined", engineer_id=actor.id,
                 reason=reason, **{"from": old})
    ctx.touch(order, actor.id)
    await _auto_reassign(session, order, actor, ctx, from_engineer=actor.id,
                         why="declined")
    await session.flush()
    return order


# --- engineers -------------------------------------------------------------------------------

async def _engineer(session: AsyncSession, user_id: int) -> User:
    user = await session.get(User, user_id)
    if user is None or user.role != "engineer":
        raise NotFound(f"engineer {user_id} not found")
    return user


async def profile(session: AsyncSession, user_id: int, *, create: bool = True
                  ) -> EngineerProfile:
    """The engineer's profile row, created with the defaults when missing (``create``)."""
    found = await session.get(EngineerProfile, user_id)
    if found is None:
        found = _default_profile(user_id)
        if create:
            session.add(found)
            await session.flush()
    return found


async def set_duty(session: AsyncSession, user_id: int, on_duty: bool, actor: Actor,
                   ctx: Ctx, reason: str | None = None) -> list[WorkOrder]:
    """On or off duty (the engineer themself, a supervisor or an admin). Going off duty
    hands their not-yet-started orders (assigned, accepted) to the next best (history
    ``work_order_reassigned``, reason ``off_duty``); returns those orders."""
    if not (is_manager(actor) or (actor.role == "engineer" and actor.id == user_id)):
        raise Forbidden("only the engineer or a supervisor sets their duty")
    await _engineer(session, user_id)
    prof = await profile(session, user_id)
    was = prof.on_duty
    prof.on_duty = on_duty
    prof.off_reason = None if on_duty else (reason or "off")
    prof.updated_at = utcnow()
    await session.flush()
    moved: list[WorkOrder] = []
    if was and not on_duty:
        orders = (await session.scalars(select(WorkOrder).where(
            WorkOrder.engineer_id == user_id,
            WorkOrder.status.in_(sorted(NOT_STARTED))).order_by(
            WorkOrder.window_start.is_(None), WorkOrder.window_start, WorkOrder.id)
            .with_for_update())).all()
        for order in orders:
            old = order.status
            order.engineer_id = None
            order.plan_seq = order.planned_arrival = None
            _stamp(order, "pending")
            bump(order)
            record_event(session, order, actor, "work_order_status",
                               **{"from": old, "to": "pending"},
                               reason=f"off_duty: {prof.off_reason}")
            ctx.touch(order, user_id)
            await _auto_reassign(session, order, actor, ctx, from_engineer=user_id,
                                 why="off_duty")
            moved.append(order)
        await session.flush()
    return moved


async def set_position(session: AsyncSession, actor: Actor, lat: float, lon: float, *,
                       at: datetime | None = None) -> EngineerProfile:
    """The engineer's own last position (WGS84 degrees)."""
    if actor.role != "engineer" or actor.id is None:
        raise Forbidden("only an engineer reports their position")
    if not (-90 <= lat <= 90):
        raise Invalid("lat: between -90 and 90")
    if not (-180 <= lon <= 180):
        raise Invalid("lon: between -180 and 180")
    prof = await profile(session, actor.id)
    prof.last_lat, prof.last_lon = lat, lon
    prof.last_seen_at = min(at, utcnow()) if at is not None else utcnow()
    await session.flush()
    return prof


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _minutes(text: str) -> int:
    hours, mins = text.split(":")
    return int(hours) * 60 + int(mins)


async def put_engineer(session: AsyncSession, user_id: int, data: EngineerIn,
                       actor: Actor) -> User:
    """Replace the engineer's profile (supervisors, admins); ``skills`` set the user's."""
    if not is_manager(actor):
        raise Forbidden("only supervisors and admins edit engineers")
    user = await _engineer(session, user_id)
    prof = await profile(session, user_id)
    prof.region, prof.base_lat, prof.base_lon = data.region, data.base_lat, data.base_lon
    prof.work_start_min, prof.work_end_min = _minutes(data.work_start), _minutes(data.work_end)
    prof.work_days = sorted(set(data.work_days))
    prof.daily_capacity = data.daily_capacity
    prof.updated_at = utcnow()
    if data.skills is not None:
        user.skills = list(dict.fromkeys(data.skills))
    await session.flush()
    return user


async def engineer_dicts(session: AsyncSession, user_ids: Iterable[int] | None = None
                         ) -> list[dict[str, Any]]:
    """Engineers (``EngineerOut``): profile, duty, position, today's load (held orders
    for today) and their open held orders."""
    wanted = set(user_ids) if user_ids is not None else None
    held = await _held(session)
    day_today = today()
    load: dict[int, int] = {}
    open_: dict[int, int] = {}
    for o in held:
        assert o.engineer_id is not None
        open_[o.engineer_id] = open_.get(o.engineer_id, 0) + 1
        if (order_day(o) or day_today) == day_today:
            load[o.engineer_id] = load.get(o.engineer_id, 0) + 1
    out = []
    now = utcnow()
    for user, prof in await _profiles(session):
        if wanted is not None and user.id not in wanted:
            continue
        point, source, seen = position_of(prof, now)
        out.append({
            "id": user.id, "name": user.display_name or user.username,
            "username": user.username, "is_active": bool(user.is_active),
            "skills": list(user.skills or []), "region": prof.region,
            "base_lat": prof.base_lat, "base_lon": prof.base_lon,
            "work_start": _hhmm(prof.work_start_min), "work_end": _hhmm(prof.work_end_min),
            "work_days": list(prof.work_days or []), "daily_capacity": prof.daily_capacity,
            "on_duty": bool(prof.on_duty), "off_reason": prof.off_reason,
            "position": {"lat": point.lat, "lon": point.lon, "at": seen, "source": source}
            if point is not None else None,
            "load_today": load.get(user.id, 0), "open_orders": open_.get(user.id, 0)})
    return out


# --- day plans -------------------------------------------------------------------------------

async def _day_orders(session: AsyncSession, user_id: int, day: date) -> list[WorkOrder]:
    """The engineer's held orders for ``day``: windows on that day; unwindowed ones planned
    for it, or (unplanned) today's."""
    rows = (await session.scalars(select(WorkOrder).where(
        WorkOrder.engineer_id == user_id, WorkOrder.status.in_(sorted(lifecycle.HELD)))
        .order_by(WorkOrder.id))).all()
    return [o for o in rows if (order_day(o) or today()) == day]


def _visit(order: WorkOrder, tz: tzinfo) -> Visit:
    return Visit(work_order_id=order.id,
                 position=Point(order.lat, order.lon)
                 if order.lat is not None and order.lon is not None else None,
                 duration_min=order.duration_min,
                 window_start=order.window_start.astimezone(tz) if order.window_start else None,
                 window_end=order.window_end.astimezone(tz) if order.window_end else None,
                 priority=order.priority)


#: visits already under way: they keep the head of the plan, the rest is planned after them
UNDER_WAY = ("on_site", "en_route")


def _entered(order: WorkOrder, status: str) -> datetime | None:
    """When the order entered ``status`` (``status_times``), or None."""
    raw = (order.status_times or {}).get(status)
    try:
        return datetime.fromisoformat(raw) if isinstance(raw, str) else None
    except ValueError:
        return None


def _under_way(orders: Sequence[WorkOrder], start: Point | None, begin: datetime,
               tz: tzinfo) -> tuple[list[PlannedStop], Point | None, datetime]:
    """The visits under way as the plan's first stops (on site first, then en route), and
    where and when the engineer is free after them: an on-site visit ends its duration
    after arrival (or now, if that is later), an en-route one after the drive and its
    duration. A re-plan never moves the visit the engineer is at or driving to."""
    now = utcnow().astimezone(tz)
    stops: list[PlannedStop] = []
    here, free = start, begin
    for o in sorted(orders, key=lambda o: (o.status != "on_site", o.id)):
        there = Point(o.lat, o.lon) if o.lat is not None and o.lon is not None else None
        since = (_entered(o, o.status) or now).astimezone(tz)
        if o.status == "on_site":
            travel, arrival = 0.0, since
        else:
            travel = straight_line_minutes(here, there) if here and there else 0.0
            arrival = max(now, since + timedelta(minutes=travel))
        stops.append(PlannedStop(work_order_id=o.id, seq=len(stops) + 1, arrival=arrival,
                                 start=arrival, travel_min=round(travel, 3)))
        free = max(free, arrival + timedelta(minutes=o.duration_min), now)
        here = there or here
    return stops, here, free


async def _solve(session: AsyncSession, user_id: int, day: date, time_limit_s: float,
                 ctx: Ctx) -> tuple[DayPlan, list[WorkOrder]]:
    prof = await profile(session, user_id, create=False)
    orders = await _day_orders(session, user_id, day)
    tz = _tz()
    shift_start = datetime.combine(day, time(), tz) + timedelta(minutes=prof.work_start_min)
    shift_end = datetime.combine(day, time(), tz) + timedelta(minutes=prof.work_end_min)
    start, source, _ = position_of(prof)
    if day != today() and source == "last" and prof.base_lat is not None \
            and prof.base_lon is not None:
        start = Point(prof.base_lat, prof.base_lon)
    going = [o for o in orders if o.status in UNDER_WAY]
    rest = [o for o in orders if o.status not in UNDER_WAY]
    fixed: list[PlannedStop] = []
    begin = shift_start
    if going:
        fixed, start, free = _under_way(going, start, shift_start, tz)
        begin = max(shift_start, free)
    visits = [_visit(o, tz) for o in rest]
    if begin >= shift_end:
        plan = DayPlan(stops=[], unplanned=[(v.work_order_id, "no_time_left") for v in visits],
                       travel_min=0.0, solver="none", solve_ms=0.0)
    elif ctx.planner is not None and visits:
        plan = await ctx.planner(start, begin, shift_end, visits, time_limit_s)
    else:
        plan = plan_day(start, begin, shift_end, visits, time_limit_s=time_limit_s)
    if fixed:
        later = [replace(s, seq=s.seq + len(fixed)) for s in plan.stops]
        plan = replace(plan, stops=[*fixed, *later],
                       travel_min=round(plan.travel_min + sum(s.travel_min for s in fixed), 3))
    return plan, orders


async def replan(session: AsyncSession, user_id: int, day: date, ctx: Ctx, *,
                 time_limit_s: float | None = None) -> tuple[DayPlan, list[WorkOrder]]:
    """Solve the engineer's day and store each order's ``plan_seq``/``planned_arrival``
    (None for the unplanned ones). Not a version change (derived data). ``time_limit_s``:
    the solver's budget (default ``ctx.plan_time_limit_s``, at most that)."""
    limit = ctx.plan_time_limit_s if time_limit_s is None \
        else min(time_limit_s, ctx.plan_time_limit_s)
    plan, orders = await _solve(session, user_id, day, limit, ctx)
    by_id = {o.id: o for o in orders}
    for o in orders:
        o.plan_seq = None
        o.planned_arrival = None
    for stop in plan.stops:
        hit = by_id.get(stop.work_order_id)
        if hit is not None:
            hit.plan_seq, hit.planned_arrival = stop.seq, stop.arrival
            ctx.touch(hit)
    await session.flush()
    return plan, orders


async def stored_plan(session: AsyncSession, user_id: int, day: date, ctx: Ctx
                      ) -> tuple[DayPlan, list[WorkOrder]]:
    """The day as last planned when every order of it has a place; otherwise solved now
    (not stored: a read writes nothing)."""
    orders = await _day_orders(session, user_id, day)
    if not orders or any(o.plan_seq is None or o.planned_arrival is None for o in orders):
        return await _solve(session, user_id, day, min(ctx.plan_time_limit_s, 0.1), ctx)
    tz = _tz()
    stops = []
    total = 0.0
    prof = await profile(session, user_id, create=False)
    here, _, _ = position_of(prof)
    for o in sorted(orders, key=lambda o: o.plan_seq or 0):
        there = Point(o.lat, o.lon) if o.lat is not None and o.lon is not None else None
        travel = straight_line_minutes(here, there) if here and there else 0.0
        total += travel
        assert o.planned_arrival is not None and o.plan_seq is not None
        arrival = o.planned_arrival.astimezone(tz)
        begin = max(arrival, o.window_start.astimezone(tz)) if o.window_start else arrival
        stops.append(PlannedStop(work_order_id=o.id, seq=o.plan_seq, arrival=arrival,
                                 start=begin, travel_min=round(travel, 1)))
        here = there or here
    return DayPlan(stops=stops, unplanned=[], travel_min=round(total, 1), solver="stored",
                   solve_ms=0.0), orders


async def plan_dict(session: AsyncSession, user_id: int, day: date, actor: Actor, ctx: Ctx,
                    *, replanned: bool = False) -> dict[str, Any]:
    """The day plan (``PlanOut``) of an engineer (staff; an engineer their own, else
    Forbidden); ``replanned``: solve and store it first."""
    if not (actor.is_staff or (actor.role == "engineer" and actor.id == user_id)):
        raise Forbidden("an engineer reads only their own plan")
    user = await _engineer(session, user_id)
    prof = await profile(session, user_id, create=False)
    if replanned:
        plan, orders = await replan(session, user_id, day, ctx)
    else:
        plan, orders = await stored_plan(session, user_id, day, ctx)
    shapes = {s["id"]: s for s in await order_dicts(session, orders, actor)}
    return {"date": day.isoformat(),
            "engineer": {"id": user.id, "name": user.display_name or user.username,
                         "on_duty": prof.on_duty, "off_reason": prof.off_reason},
            "stops": [{"seq": s.seq, "arrival": s.arrival, "start": s.start,
                       "travel_min": s.travel_min, "work_order": shapes[s.work_order_id]}
                      for s in plan.stops if s.work_order_id in shapes],
            "unplanned": [{"work_order": shapes[oid], "reason": why}
                          for oid, why in plan.unplanned if oid in shapes],
            "travel_min": plan.travel_min, "solver": plan.solver, "solve_ms": plan.solve_ms}


async def board(session: AsyncSession, day: date, actor: Actor, ctx: Ctx) -> dict[str, Any]:
    """The dispatch board of ``day``: orders waiting for an engineer (that day's and
    undated ones), and each engineer with duty, position and plan (supervisors, admins)."""
    if not is_manager(actor):
        raise Forbidden("the board is for supervisors and admins")
    pending = (await session.scalars(select(WorkOrder).where(
        WorkOrder.status == "pending").order_by(
        WorkOrder.window_start.is_(None), WorkOrder.window_start, WorkOrder.id))).all()
    waiting = [o for o in pending if order_day(o) in (None, day)]
    engineers = []
    for eng in await engineer_dicts(session):
        plan = await plan_dict(session, eng["id"], day, actor, ctx)
        engineers.append({"engineer": eng, "on_duty": eng["on_duty"],
                          "position": eng["position"], "plan": plan})
    return {"date": day.isoformat(),
            "unassigned": await order_dicts(session, waiting, actor),
            "engineers": engineers}
