"""Preventive maintenance: due dates (month ends, leap years, usage multiples, the lead-time
horizon) and generation on SQLite and PostgreSQL — each due order (with its ticket and
history row) created once across two runs and across two concurrent runs."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from dispatch.equipment import EquipmentIn, create_equipment
from dispatch.maintenance import (
    ScheduleIn,
    add_months,
    create_order,
    create_schedule,
    due_dates,
    generate_due,
    take_write_turn,
)
from dispatch.models import Equipment, MaintenanceSchedule, WorkOrder
from tests.conftest import DbMaker
from tickets.customers import create_customer
from tickets.db import make_engine, make_sessionmaker
from tickets.models import Ticket, TicketEvent, User
from tickets.schemas import CustomerIn, PhoneIn
from web.settings import to_async_url

TZ = ZoneInfo("Asia/Shanghai")


def schedule(**kw: object) -> MaintenanceSchedule:
    values: dict[str, object] = dict(id=1, name="s", model="LT-HP250", customer_id=None,
                                     every_months=None, every_usage=None, lead_days=14,
                                     required_skills=[], duration_min=60, active=True)
    values.update(kw)
    return MaintenanceSchedule(**values)


def unit(**kw: object) -> Equipment:
    values: dict[str, object] = dict(id=1, customer_id=7, model="LT-HP250",
                                     serial_number="S1", install_date=date(2025, 1, 31),
                                     usage=0)
    values.update(kw)
    return Equipment(**values)


# ------------------------------------------------------------------------------- pure
@pytest.mark.parametrize(("start", "months", "expected"), [
    (date(2023, 1, 31), 1, date(2023, 2, 28)),
    (date(2023, 1, 31), 2, date(2023, 3, 31)),
    (date(2023, 1, 31), 3, date(2023, 4, 30)),
    (date(2023, 11, 30), 3, date(2024, 2, 29)),  # into a leap February
    (date(2024, 1, 31), 1, date(2024, 2, 29)),
    (date(2024, 2, 29), 12, date(2025, 2, 28)),
    (date(2024, 2, 29), 48, date(2028, 2, 29)),
    (date(2024, 8, 31), 6, date(2025, 2, 28)),
    (date(2025, 12, 15), 1, date(2026, 1, 15)),
])
def test_add_months_clamps_to_the_month_end(start: date, months: int, expected: date) -> None:
    assert add_months(start, months) == expected


def test_month_dates_count_from_the_install_date_not_the_last_due_date() -> None:
    s = schedule(every_months=1, lead_days=70)
    # 31 Jan install: 28 Feb, then 31 Mar (not 28 Mar), 30 Apr
    assert due_dates(s, unit(), date(2026, 2, 20)) == [date(2026, 2, 28), date(2026, 3, 31),
                                                       date(2026, 4, 30)]


def test_month_dates_within_today_and_the_lead_time() -> None:
    s = schedule(every_months=3, lead_days=14)
    e = unit(install_date=date(2024, 2, 29))  # quarterly: 29 May, 29 Aug, 29 Nov, 28 Feb …
    assert due_dates(s, e, date(2025, 2, 14)) == [date(2025, 2, 28)]
    assert due_dates(s, e, date(2025, 2, 13)) == []  # 15 days ahead: not yet
    assert due_dates(s, e, date(2025, 2, 28)) == [date(2025, 2, 28)]  # the day itself
    assert due_dates(s, e, date(2025, 3, 1)) == []  # past: not back-filled
    assert due_dates(schedule(every_months=3, lead_days=0), e, date(2028, 2, 29)) == \
        [date(2028, 2, 29)]  # a leap year again: 16 quarters later
    # the install date itself is not a visit
    assert due_dates(schedule(every_months=1, lead_days=5), unit(install_date=date(2026, 3, 2)),
                     date(2026, 3, 1)) == []
    # no install date: no calendar
    assert due_dates(s, unit(install_date=None), date(2025, 2, 14)) == []
    # an install date in the far future (a typo for the API's unbounded date): nothing due,
    # and no step past the year 9999 (ValueError failed the whole hourly job)
    assert due_dates(schedule(every_months=1), unit(install_date=date(9999, 12, 31)),
                     date(2026, 12, 1)) == []


def test_matching_and_inactive_schedules() -> None:
    today = date(2026, 2, 20)
    e = unit()
    monthly = dict(every_months=1, lead_days=14)
    assert due_dates(schedule(**monthly, model="other"), e, today) == []
    assert due_dates(schedule(**monthly, model=None, customer_id=7), e, today) != []
    assert due_dates(schedule(**monthly, customer_id=8), e, today) == []  # both must match
    assert due_dates(schedule(**monthly, active=False), e, today) == []


def test_usage_multiples() -> None:
    s = schedule(every_usage=500)
    today = date(2026, 2, 20)
    assert due_dates(s, unit(usage=499), today) == []
    assert due_dates(s, unit(usage=500), today) == [today]
    assert due_dates(s, unit(usage=999), today, usage_orders=1) == []
    assert due_dates(s, unit(usage=1000), today, usage_orders=1) == [today]
    assert due_dates(s, unit(usage=1600), today, usage_orders=3) == []


# --------------------------------------------------------------------------- database
@dataclass
class World:
    engine: AsyncEngine
    sm: async_sessionmaker[AsyncSession]
    customer: int


@pytest.fixture
async def world(new_db: DbMaker) -> AsyncIterator[World]:
    engine = make_engine(to_async_url(await new_db(demo=False)))
    sm = make_sessionmaker(engine)
    async with sm() as s, s.begin():
        c = await create_customer(s, CustomerIn(
            name="浦江物业", phones=[PhoneIn(number="139 1111 2222", label="mobile")],
            address="浦东新区"), "CN")
        cid = c.id
    try:
        yield World(engine, sm, cid)
    finally:
        await engine.dispose()


async def _fleet(w: World) -> None:
    async with w.sm() as s, s.begin():
        # a known skill: a schedule may only require skills someone has or needs
        s.add(User(username="hvac-engineer", role="engineer", password_hash="x",
                   skills=["hvac"]))
        for i, (model, install, usage) in enumerate([
                ("LT-HP250", date(2025, 11, 30), 0), ("LT-HP250", date(2025, 12, 10), 0),
                ("LT-HP250", None, 0), ("LT-DW13", date(2025, 11, 30), 0),
                ("LT-MDV160", date(2020, 1, 1), 700)]):
            await create_equipment(s, EquipmentIn(
                customer_id=w.customer, serial_number=f"SN{i}", model=model,
                install_date=install, region="浦东", lat=31.22, lon=121.54, usage=usage))
        await create_schedule(s, ScheduleIn(name="quarterly", model="LT-HP250",
                                            every_months=3, lead_days=14,
                                            required_skills=["hvac"], duration_min=90))
        await create_schedule(s, ScheduleIn(name="by hours", model="LT-MDV160",
                                            every_usage=500))


async def _count(w: World) -> int:
    async with w.sm() as s:
        return int(await s.scalar(select(func.count()).select_from(WorkOrder)) or 0)


async def test_generation_creates_each_due_order_once_across_runs(world: World) -> None:
    await _fleet(world)
    today = date(2026, 2, 20)  # SN0 due 28 Feb (30 Nov + 3 months, clamped); SN1 10 Mar
    async with world.sm() as s, s.begin():
        assert await generate_due(s, today, tz=TZ) == 2  # SN0 by the calendar, SN4 by usage
    async with world.sm() as s, s.begin():
        assert await generate_due(s, today, tz=TZ) == 0
    async with world.sm() as s, s.begin():
        assert await generate_due(s, date(2026, 2, 25), tz=TZ) == 1  # SN1 enters the horizon
    async with world.sm() as s:
        orders = (await s.scalars(select(WorkOrder).order_by(WorkOrder.id))).all()
        serial = {e.id: e.serial_number for e in (await s.scalars(select(Equipment))).all()}
        got = [(serial[o.equipment_id or 0], o.due_on) for o in orders]
        assert got == [("SN0", date(2026, 2, 28)), ("SN4", date(2026, 2, 20)),
                       ("SN1", date(2026, 3, 10))]
        wo = orders[0]
        assert (wo.kind, wo.status, wo.priority, wo.required_skills, wo.duration_min,
                wo.region, wo.contact_name, wo.contact_phone, wo.engineer_id) == (
            "maintenance", "pending", "normal", ["hvac"], 90, "浦东", "浦江物业",
            "+8613911112222", None)
        ticket = await s.get(Ticket, wo.ticket_id)
        assert ticket is not None
        assert (ticket.channel, ticket.customer_id, ticket.tags, ticket.created_by_id) == (
            "api", world.customer, ["maintenance"], None)
        assert "SN0" in ticket.title and "2026-02-28" in ticket.description
        event = await s.scalar(select(TicketEvent).where(
            TicketEvent.ticket_id == wo.ticket_id, TicketEvent.kind == "work_order_created"))
        assert event is not None and event.data["due_on"] == "2026-02-28"
        assert await s.scalar(select(func.count()).select_from(Ticket)) == 3
    # usage passes the next multiple: one more order for it
    async with world.sm() as s, s.begin():
        mdv = await s.scalar(select(Equipment).where(Equipment.serial_number == "SN4"))
        assert mdv is not None
        mdv.usage = 1000
    async with world.sm() as s, s.begin():
        assert await generate_due(s, date(2026, 2, 26), tz=TZ) == 1
    async with world.sm() as s, s.begin():
        assert await generate_due(s, date(2026, 2, 27), tz=TZ) == 0


async def test_two_concurrent_runs_create_each_order_once(world: World) -> None:
    await _fleet(world)
    today = date(2026, 2, 25)

    async def run() -> int:
        async with world.sm() as s, s.begin():
            return await generate_due(s, today, tz=TZ)

    results = await asyncio.gather(run(), run())
    assert sum(results) == 3, results
    assert await _count(world) == 3
    async with world.sm() as s:  # no orphan ticket from the run that lost
        assert await s.scalar(select(func.count()).select_from(Ticket)) == 3


async def test_the_unique_key_catches_a_race_past_the_check(world: World) -> None:
    """A writer that read "nothing there yet" before another committed the same order: its
    insert hits the unique key, its savepoint (with its ticket) rolls back, the first stands."""
    await _fleet(world)
    async with world.sm() as s, s.begin():
        assert await generate_due(s, date(2026, 2, 20), tz=TZ) == 2
    async with world.sm() as s, s.begin():
        await take_write_turn(s)
        sched = await s.scalar(select(MaintenanceSchedule).where(
            MaintenanceSchedule.name == "quarterly"))
        eq = await s.scalar(select(Equipment).where(Equipment.serial_number == "SN0"))
        assert sched is not None and eq is not None
        assert await create_order(s, sched, eq, date(2026, 2, 28)) is False
        assert await create_order(s, sched, eq, date(2026, 5, 30)) is True  # still usable
    assert await _count(world) == 3
    async with world.sm() as s:
        assert await s.scalar(select(func.count()).select_from(Ticket)) == 3
