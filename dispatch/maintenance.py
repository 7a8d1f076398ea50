"""Preventive maintenance: when each schedule's visits fall due, and generating their work
orders (each with a ticket) ahead of time, exactly once.

Why this shape:

* :func:`due_dates` is pure (schedule, equipment, today → dates), so the calendar rules are
  unit-tested without a database: every ``every_months`` months counted *from the install
  date* (not chained from the last due date, so a 31 January install is due 28/29 February,
  31 March, 30 April, …), or, for usage-based schedules, as soon as the usage reading passes
  the next multiple of ``every_usage``.
* The horizon is ``[today, today + lead_days]``: a date enters it ``lead_days`` ahead and stays
  in it until it passes, so an hourly job engine would have to be stopped for ``lead_days``
  to miss one, and creating a schedule never back-fills years of past visits.
* :func:`generate_due` is the job engine's periodic task body. Idempotent: the unique
  ``(schedule_id, equipment_id, due_on)`` of ``work_orders`` lets one order per due date in;
  each order and its ticket are written in a savepoint, and a duplicate (another tick,
  another process racing this one) rolls back just that savepoint. On SQLite the
  transaction first takes the database's write turn (a no-op UPDATE, as
  ``tickets.service.take_write_turn`` does), so the savepoints nest inside a real
  transaction and what is read next stays current.
* Usage-based orders are counted: the *n*-th order of a (schedule, equipment) covers the
  *n*-th multiple, due the day it is found (``due_on`` = today). A reading that jumps over
  several multiples at once is caught up one order per day (there is no column for "the
  usage last maintained at"; a later migration could add one).
"""

from __future__ import annotations

import calendar
import logging
from datetime import date, datetime, tzinfo
from typing import Annotated

from pydantic import Field, StringConstraints, model_validator
from sqlalchemy import and_, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from dispatch.models import Equipment, MaintenanceSchedule, WorkOrder
from dispatch.schemas import Duration
from dispatch.service import check_skills
from tickets import service as tickets
from tickets.errors import Invalid
from tickets.models import Customer, CustomerPhone, TicketEvent
from tickets.schemas import DbId, In, Out, RequiredLabel, Tag, TicketIn

log = logging.getLogger(__name__)


class ScheduleIn(In):
    """A schedule: ``model`` or ``customer_id`` (or both: both must match), ``every_months``
    or ``every_usage`` (not both)."""

    name: RequiredLabel
    model: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1,
                                            max_length=64)] | None = None
    customer_id: DbId | None = None
    every_months: Annotated[int, Field(ge=1, le=120, strict=True)] | None = None
    every_usage: Annotated[int, Field(ge=1, le=1_000_000_000, strict=True)] | None = None
    lead_days: Annotated[int, Field(ge=0, le=365, strict=True)] = 14
    required_skills: list[Tag] = Field(default_factory=list, max_length=20)
    duration_min: Duration = 60
    active: Annotated[bool, Field(strict=True)] = True

    @model_validator(mode="after")
    def _one_target_one_period(self) -> ScheduleIn:
        if self.model is None and self.customer_id is None:
            raise ValueError("model: give a model or a customer_id (or both)")
        if (self.every_months is None) == (self.every_usage is None):
            raise ValueError("every_months: give every_months or every_usage (one of them)")
        return self


class ScheduleOut(Out):
    id: int
    name: str
    model: str | None
    customer_id: int | None
    every_months: int | None
    every_usage: int | None
    lead_days: int
    required_skills: list[str]
    duration_min: int
    active: bool
    created_at: datetime


# ------------------------------------------------------------------------------ pure
def add_months(day: date, months: int) -> date:
    """``day`` plus calendar months; a day past the target month's end becomes its last day
    (31 Jan + 1 → 28/29 Feb)."""
    month0 = day.month - 1 + months
    year, month = day.year + month0 // 12, month0 % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def due_dates(schedule: MaintenanceSchedule, equipment: Equipment, today: date, *,
              usage_orders: int = 0) -> list[date]:
    """The due dates of ``schedule`` for ``equipment`` to create orders for on ``today``,
    ascending.

    Month-based: ``install_date + k × every_months`` (k ≥ 1, each from the install date,
    end-of-month clamped) within ``[today, today + lead_days]``; none without an install
    date. Usage-based: ``[today]`` when ``usage // every_usage`` exceeds ``usage_orders`` (the
    orders already generated for this pair), else none. A schedule that does not match the
    equipment (model, customer) or is inactive: none.
    """
    if not schedule.active or not matches(schedule, equipment):
        return []
    if schedule.every_months:
        return _month_dates(equipment.install_date, schedule.every_months, today,
                            schedule.lead_days or 0)
    if schedule.every_usage:
        return [today] if (equipment.usage or 0) // schedule.every_usage > usage_orders else []
    return []


def matches(schedule: MaintenanceSchedule, equipment: Equipment) -> bool:
    """Whether ``schedule`` covers ``equipment`` (every target given must match)."""
    return ((schedule.model is None or schedule.model == equipment.model)
            and (schedule.customer_id is None or schedule.customer_id == equipment.customer_id))


def _month_dates(install: date | None, every: int, today: date, lead_days: int) -> list[date]:
    horizon = date.fromordinal(today.toordinal() + lead_days)
    if install is None or install > horizon:  # (an install in 9999: no year 10000 to step to)
        return []
    months_since = (today.year - install.year) * 12 + today.month - install.month
    k = max(1, months_since // every - 1)  # a step or so before today
    out: list[date] = []
    while True:
        due = add_months(install, k * every)
        if due > horizon:
            return out
        if due >= today:
            out.append(due)
        k += 1


# --------------------------------------------------------------------------- service
async def create_schedule(session: AsyncSession, data: ScheduleIn) -> MaintenanceSchedule:
    """A new schedule (flushed). Invalid: unknown ``customer_id``, an unknown skill."""
    if data.customer_id is not None and await session.get(Customer, data.customer_id) is None:
        raise Invalid(f"customer_id: no customer {data.customer_id}")
    await check_skills(session, data.required_skills)
    row = MaintenanceSchedule(**data.model_dump())
    row.required_skills = sorted(set(data.required_skills))
    session.add(row)
    await session.flush()
    return row


async def list_schedules(session: AsyncSession) -> list[MaintenanceSchedule]:
    return list((await session.scalars(select(MaintenanceSchedule)
                                       .order_by(MaintenanceSchedule.id))).all())


async def generate_due(session: AsyncSession, today: date | None = None, *,
                       tz: tzinfo) -> int:
    """Create the maintenance work orders due within each active schedule's lead time (see
    :func:`due_dates`), each with a ticket (channel ``api``, created by the system, tag
    ``maintenance``) and the history row ``work_order_created``. ``today``: the local date
    (default: now in ``tz``). Returns how many orders were created; one already there (an
    earlier tick, a concurrent call) is skipped. The caller commits."""
    if today is None:
        today = datetime.now(tz).date()
    await take_write_turn(session)
    schedules = (await session.scalars(select(MaintenanceSchedule).where(
        MaintenanceSchedule.active.is_(True)).order_by(MaintenanceSchedule.id))).all()
    created = 0
    for schedule in schedules:
        created += await _generate_for(session, schedule, today)
    return created


async def take_write_turn(session: AsyncSession) -> None:
    """On SQLite, open the transaction and take the database's write turn (a no-op UPDATE)
    so the savepoints of :func:`generate_due` nest inside it and its reads stay current;
    nothing on PostgreSQL."""
    if (await session.connection()).dialect.name == "sqlite":
        await session.execute(update(MaintenanceSchedule).where(MaintenanceSchedule.id == -1)
                              .values(id=MaintenanceSchedule.id))


async def _generate_for(session: AsyncSession, schedule: MaintenanceSchedule,
                        today: date) -> int:
    query = select(Equipment).order_by(Equipment.id)
    if schedule.model is not None:
        query = query.where(Equipment.model == schedule.model)
    if schedule.customer_id is not None:
        query = query.where(Equipment.customer_id == schedule.customer_id)
    if schedule.every_months:
        query = query.where(Equipment.install_date.is_not(None))
    else:
        query = query.where(Equipment.usage >= schedule.every_usage)
    equipment = (await session.scalars(query)).all()
    if not equipment:
        return 0
    ids = [e.id for e in equipment]
    # what exists already: due dates from today on (months), counts (usage)
    existing: set[tuple[int, date]] = set()
    counts: dict[int, int] = {}
    orders = and_(WorkOrder.schedule_id == schedule.id, WorkOrder.equipment_id.in_(ids))
    if schedule.every_months:
        existing = {(eid, d) for eid, d in (await session.execute(
            select(WorkOrder.equipment_id, WorkOrder.due_on).where(
                orders, WorkOrder.due_on >= today))).all()
            if eid is not None and d is not None}
    else:
        counts = {eid: n for eid, n in (await session.execute(
            select(WorkOrder.equipment_id, func.count()).where(orders)
            .group_by(WorkOrder.equipment_id))).all() if eid is not None}
    created = 0
    for eq in equipment:
        for due in due_dates(schedule, eq, today, usage_orders=counts.get(eq.id, 0)):
            if (eq.id, due) in existing:
                continue
            if await create_order(session, schedule, eq, due):
                created += 1
    return created


async def create_order(session: AsyncSession, schedule: MaintenanceSchedule,
                        eq: Equipment, due: date) -> bool:
    """One maintenance order due ``due`` and its ticket, in a savepoint; False (and nothing
    written) when the order exists already. On SQLite call :func:`take_write_turn` first."""
    customer = await session.get(Customer, eq.customer_id)
    phone = await session.scalar(select(CustomerPhone.e164).where(
        CustomerPhone.customer_id == eq.customer_id).order_by(CustomerPhone.id).limit(1))
    period = (f"every {schedule.every_months} months" if schedule.every_months
              else f"every {schedule.every_usage} (usage {eq.usage})")
    try:
        async with session.begin_nested():
            ticket = await tickets.create_ticket(session, TicketIn(
                title=f"Maintenance {schedule.name}: {eq.model} {eq.serial_number}"[:200],
                description=(f"Preventive maintenance ({period}) of {eq.model}, serial "
                             f"{eq.serial_number}, due {due.isoformat()}.\n"
                             f"预防性维护（{schedule.name}），设备 {eq.model} / "
                             f"{eq.serial_number}，到期 {due.isoformat()}。"),
                channel="api", customer_id=eq.customer_id, priority="normal",
                tags=["maintenance"]), tickets.SYSTEM)
            wo = WorkOrder(
                ticket_id=ticket.id, equipment_id=eq.id, kind="maintenance",
                status="pending", priority="normal",
                address=eq.address or (customer.address if customer else "") or "",
                region=eq.region, lat=eq.lat, lon=eq.lon,
                contact_name=customer.name if customer else None, contact_phone=phone,
                required_skills=list(schedule.required_skills or []),
                duration_min=schedule.duration_min, schedule_id=schedule.id, due_on=due,
                parts_planned=[], parts_used=[], declined_by=[], status_times={})
            session.add(wo)
            await session.flush()
            session.add(TicketEvent(ticket_id=ticket.id, actor_id=None,
                                    kind="work_order_created",
                                    data={"work_order_id": wo.id, "kind": "maintenance",
                                          "schedule_id": schedule.id,
                                          "equipment_id": eq.id,
                                          "due_on": due.isoformat()}))
            await session.flush()
    except IntegrityError:
        log.info("maintenance order of schedule %s for equipment %s due %s exists already",
                 schedule.id, eq.id, due)
        return False
    return True
