"""The clock and the sweep against real databases (SQLite and PostgreSQL), clock injected:
reminders, breaches and escalation steps fire once each, are written to the history and
told through the Notify port; a pause pushes the due times out; supervision orders run
their own timer and close when the ticket resolves; two sweeps racing on PostgreSQL fire
every step exactly once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.conftest import DbMaker
from tickets import service
from tickets.db import make_engine, make_sessionmaker
from tickets.models import Customer, Ticket, TicketEvent, User
from tickets.notify.events import NotificationEvent
from tickets.schemas import TicketIn
from tickets.sla import service as sla
from tickets.sla.models import SlaFired, SlaPolicy, SupervisionOrder
from web.settings import to_async_url

AGENT = service.Actor(id=2, role="agent")
M = timedelta(minutes=1)
T0 = datetime(2026, 11, 30, 1, 0, tzinfo=UTC)  # Monday 09:00 in Shanghai
SH = ZoneInfo("Asia/Shanghai")


class Told:
    """The Notify port's in-memory fake: what was asked, in order."""

    def __init__(self) -> None:
        self.events: list[NotificationEvent] = []

    async def __call__(self, session: AsyncSession, event: NotificationEvent) -> None:
        self.events.append(event)

    @property
    def keys(self) -> list[str]:
        return [e.key for e in self.events]


@pytest.fixture
async def sm(new_db: DbMaker) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = make_engine(to_async_url(await new_db()))
    try:
        async with engine.begin() as conn:  # the demo's own timers are not these tests'
            await conn.execute(update(Ticket).values(sla_next_at=None))
        yield make_sessionmaker(engine)
    finally:
        await engine.dispose()


def book() -> sla.SlaBook:
    return sla.SlaBook(sla.Site("Asia/Shanghai", "CN"), ttl=0)


async def _policy(s: AsyncSession, **values: Any) -> None:
    await s.execute(update(SlaPolicy).where(SlaPolicy.priority == "normal").values(**values))


async def _ticket(s: AsyncSession, b: sla.SlaBook, created: datetime, **extra: Any) -> Ticket:
    t = await service.create_ticket(s, TicketIn(title="no hot water", **extra), AGENT)
    ticket = await s.get_one(Ticket, t.id)
    ticket.created_at = created
    await sla.refresh_clock(s, ticket, now=created, rematch=True, book=b)
    await s.flush()
    return ticket


async def _sweep(sm: async_sessionmaker[AsyncSession], b: sla.SlaBook, now: datetime,
                 told: Told, limit: int = 100) -> sla.SweepReport:
    async with sm() as s, s.begin():
        return await sla.sweep(s, now=now, notify=told, limit=limit, book=b)


async def test_reminder_breach_and_escalation_fire_once_each(
        sm: async_sessionmaker[AsyncSession]) -> None:
    b, told = book(), Told()
    async with sm() as s, s.begin():
        await _policy(s, first_response_minutes=60, resolution_minutes=120, calendar_id=1,
                      reminder_share=0.5, escalation=[
                          {"after_minutes": 30, "action": "notify_supervisors"},
                          {"after_minutes": 60, "action": "raise_priority"},
                          {"after_minutes": 90, "action": "assign_group"}])
        ticket = await _ticket(s, b, T0, assignee="alice", group="hotline")
        tid = ticket.id
        assert (ticket.first_response_due_at, ticket.due_at) == (T0 + 60 * M, T0 + 120 * M)
        assert ticket.sla_next_at == T0 + 30 * M
        alice = await s.scalar(select(User.id).where(User.username == "alice"))
        sue = await s.scalar(select(User.id).where(User.username == "sue"))

    assert (await _sweep(sm, b, T0 + 29 * M, told)).tickets == 0  # not yet: index says so
    report = await _sweep(sm, b, T0 + 31 * M, told)
    assert (report.tickets, report.fired) == (1, 1)
    assert told.keys == [f"{tid}:first_response:reminder"]
    assert told.events[0].kind == "sla_reminder" and told.events[0].user_ids == (alice,)
    assert (await _sweep(sm, b, T0 + 31 * M, told)).tickets == 0  # fired: not again

    await _sweep(sm, b, T0 + 61 * M, told)
    assert told.keys[1:] == [f"{tid}:first_response:breach", f"{tid}:resolution:reminder"]
    breach = told.events[1]
    assert breach.kind == "sla_breach" and set(breach.user_ids) == {alice, sue}

    report = await _sweep(sm, b, T0 + 200 * M, told)
    assert told.keys[3:] == [f"{tid}:first_response:escalation:0",
                             f"{tid}:first_response:escalation:1",
                             f"{tid}:resolution:breach",
                             f"{tid}:first_response:escalation:2",
                             f"{tid}:resolution:escalation:0",
                             f"{tid}:resolution:escalation:1"]
    async with sm() as s:
        t = await s.get_one(Ticket, tid)
        assert t.priority == "urgent"  # raised twice (one step per target)
        assert t.assignee_id is None and t.status == "new"  # back to the group
        assert t.sla_breached_at == T0 + 61 * M
        assert t.sla_next_at == T0 + 210 * M  # resolution escalation:2 still to come
        kinds = [k for (k,) in (await s.execute(select(TicketEvent.kind).where(
            TicketEvent.ticket_id == tid).order_by(TicketEvent.id))).all()]
        assert kinds.count("sla_reminder") == 2 and kinds.count("sla_breached") == 2
        assert kinds.count("sla_escalated") == 5
        assert await s.scalar(select(func.count()).select_from(SlaFired).where(
            SlaFired.ticket_id == tid)) == 9
    await _sweep(sm, b, T0 + 300 * M, told)
    assert len(told.keys) == 10 and len(set(told.keys)) == 10
    async with sm() as s:
        assert (await s.get_one(Ticket, tid)).sla_next_at is None  # nothing left


async def test_a_first_response_stops_its_target(sm: async_sessionmaker[AsyncSession]) -> None:
    b, told = book(), Told()
    async with sm() as s, s.begin():
        await _policy(s, first_response_minutes=60, resolution_minutes=120, calendar_id=1)
        ticket = await _ticket(s, b, T0, assignee="alice")
        ticket.first_responded_at = T0 + 10 * M
        await sla.refresh_clock(s, ticket, now=T0 + 10 * M, book=b)
        assert ticket.sla_next_at == T0 + 96 * M  # resolution's reminder at 80 %
    await _sweep(sm, b, T0 + 200 * M, told)
    assert [k.split(":", 1)[1] for k in told.keys] == ["resolution:breach"]


async def test_pending_customer_pauses_in_business_time(
        sm: async_sessionmaker[AsyncSession]) -> None:
    b = book()
    created = datetime(2026, 11, 30, 9, tzinfo=SH)  # Monday 09:00
    async with sm() as s, s.begin():
        await _policy(s, first_response_minutes=60, resolution_minutes=600, calendar_id=2)
        t = await _ticket(s, b, created, assignee="alice")
        assert t.due_at == datetime(2026, 12, 1, 11, 30, tzinfo=SH)
        t.status = "pending_customer"
        await sla.refresh_clock(s, t, now=datetime(2026, 11, 30, 10, tzinfo=SH), book=b)
        assert t.sla_paused_at == datetime(2026, 11, 30, 10, tzinfo=SH)
        assert t.sla_next_at is None  # nothing runs while the customer is asked
        t.status = "in_progress"
        await sla.refresh_clock(s, t, now=datetime(2026, 12, 1, 10, tzinfo=SH), book=b)
        # paused Mon 10:00-12:00, 13:30-18:00 and Tue 09:00-10:00: 7.5 h of business time
        assert t.sla_paused_at is None and t.sla_paused_s == 7.5 * 3600
        assert t.due_at == datetime(2026, 12, 2, 11, 30, tzinfo=SH)
        assert t.first_response_due_at == datetime(2026, 12, 1, 10, tzinfo=SH)


async def test_a_status_change_through_the_service_pauses(
        sm: async_sessionmaker[AsyncSession]) -> None:
    async with sm() as s, s.begin():
        t = await service.create_ticket(s, TicketIn(title="x", assignee="alice"), AGENT)
        assert t.sla_next_at is not None
        from tickets.schemas import TicketPatch
        t = await service.update_ticket(s, t.id, TicketPatch(status="pending_customer"),
                                        AGENT)
        assert t.sla_paused_at is not None and t.sla_next_at is None


async def test_supervision_order_times_out_and_closes_on_resolve(
        sm: async_sessionmaker[AsyncSession]) -> None:
    b, told = book(), Told()
    async with sm() as s, s.begin():
        await _policy(s, first_response_minutes=6000, resolution_minutes=6000, calendar_id=1)
        t = await _ticket(s, b, T0, assignee="alice", group="hotline")
        tid = t.id
        sue = await s.scalar(select(User.id).where(User.username == "sue"))
        order = await sla.order_supervision(s, t, actor_id=sue, note="fix it today",
                                            deadline_at=T0 + 100 * M, now=T0, notify=told,
                                            book=b)
        oid = order.id
        assert t.sla_next_at == T0 + 80 * M
    assert told.events[0].kind == "supervision_order"
    await _sweep(sm, b, T0 + 101 * M, told)
    assert told.keys[1:] == [f"{tid}:order:{oid}:breach"]  # the reminder passed over
    assert sue in told.events[1].user_ids
    async with sm() as s, s.begin():
        t = await s.get_one(Ticket, tid)
        order2 = await sla.order_supervision(s, t, actor_id=sue, note="again",
                                             deadline_at=T0 + 300 * M, now=T0 + 101 * M,
                                             notify=told, book=b)
        t.status = "resolved"
        await sla.refresh_clock(s, t, now=T0 + 102 * M, book=b)
        assert t.sla_next_at is None
    async with sm() as s:
        assert (await s.get_one(SupervisionOrder, order2.id)).status == "done"


@pytest.mark.parametrize("backend", ["pg"], indirect=True)
async def test_two_sweeps_racing_fire_each_step_exactly_once(new_db: DbMaker) -> None:
    """Two engines (separate connections, as two processes have), sweeping the same due
    tickets at once in small batches until nothing is left."""
    url = to_async_url(await new_db())
    engines = [make_engine(url), make_engine(url)]
    makers = [make_sessionmaker(e) for e in engines]
    b = book()
    try:
        async with makers[0]() as s, s.begin():
            await s.execute(update(Ticket).values(sla_next_at=None))  # the demo's timers
            await _policy(s, first_response_minutes=60, resolution_minutes=120, calendar_id=1,
                          escalation=[{"after_minutes": 0, "action": "notify_supervisors"}])
            ids = [(await _ticket(s, b, T0, assignee="alice")).id for _ in range(40)]
        told = [Told(), Told()]

        async def worker(i: int) -> int:
            rounds = 0
            while (await _sweep(makers[i], b, T0 + 500 * M, told[i], limit=7)).tickets:
                rounds += 1
            return rounds

        rounds = await asyncio.gather(worker(0), worker(1))
        keys = told[0].keys + told[1].keys
        # per ticket: first-response breach + escalation, resolution breach + escalation
        # (the reminders were passed over: their breaches were due too)
        assert len(keys) == 40 * 4 and len(set(keys)) == len(keys)
        assert {k.split(":", 1)[0] for k in keys} == {str(i) for i in ids}
        assert all(rounds)  # both really took part
        async with makers[0]() as s:
            assert await s.scalar(select(func.count()).select_from(SlaFired)) == 40 * 6
            assert await s.scalar(select(func.count()).select_from(TicketEvent).where(
                TicketEvent.kind.in_(("sla_breached", "sla_escalated")))) == 40 * 4
    finally:
        for e in engines:
            await e.dispose()


async def test_a_call_back_is_the_first_response_and_customers_see_no_sla_rows(
        sm: async_sessionmaker[AsyncSession]) -> None:
    b, told = book(), Told()
    async with sm() as s, s.begin():
        await _policy(s, first_response_minutes=60, resolution_minutes=120, calendar_id=1)
        customer = Customer(name="Ann")
        s.add(customer)
        await s.flush()
        t = await _ticket(s, b, T0, assignee="alice", customer_id=customer.id)
        tid, cid = t.id, customer.id
    await _sweep(sm, b, T0 + 61 * M, told)  # first response missed: history rows
    async with sm() as s, s.begin():
        t = await service.called_back(s, tid, AGENT, "+8613800000000")
        assert t.first_responded_at is not None
    async with sm() as s:
        kinds = {e.kind for e in await service.history(s, tid, AGENT)}  # type: ignore[union-attr]
        assert {"called_back", "sla_breached"} <= kinds
        mine = await service.history(s, tid, service.Actor(id=None, role="customer",
                                                           customer_id=cid))
        seen = {e["kind"] for e in mine}  # type: ignore[index]
        assert "called_back" in seen and not seen & {"sla_breached", "sla_reminder"}
