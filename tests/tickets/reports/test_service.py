"""The reports against hand-computed figures of tests/tickets/reports/seed.py, on SQLite and
PostgreSQL: local-day and local-hour buckets (a ticket at 00:30 Shanghai is the previous
UTC day), every ticket figure and its definition's edge (own call not a second contact, a
call-back is one), filters, calls per queue (short abandons, the SL threshold included at
exactly T), per agent (rang but missed, transfers), and buckets across a DST change."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.conftest import DbMaker
from tests.tickets.reports.seed import local, seed, utc
from tickets import service as ticket_service
from tickets.csat.models import TicketRating
from tickets.db import make_engine, make_sessionmaker
from tickets.models import CallLog, TicketEvent
from tickets.reports import export, service
from tickets.reports.period import Period
from tickets.reports.schemas import CsatFigures, Filters
from tickets.schemas import TicketIn, TicketPatch
from web.settings import to_async_url

SH = ZoneInfo("Asia/Shanghai")
BASE = Filters(period=Period(date(2026, 3, 2), date(2026, 3, 3), SH))


@pytest.fixture
async def world(new_db: DbMaker) -> AsyncIterator[tuple[async_sessionmaker[AsyncSession],
                                                         dict[str, Any]]]:
    engine = make_engine(to_async_url(await new_db(demo=False)))
    sm = make_sessionmaker(engine)
    async with sm() as s, s.begin():
        ids = await seed(s)
    try:
        yield sm, ids
    finally:
        await engine.dispose()


World = tuple[async_sessionmaker[AsyncSession], dict[str, Any]]


async def tickets_report(world: World, **kw: Any) -> Any:
    async with world[0]() as s:
        return await service.ticket_report(s, replace(BASE, **kw), "Asia/Shanghai")


async def test_ticket_figures(world: World) -> None:
    r = await tickets_report(world)
    total = r.total
    assert (total.created, total.solved, total.open, total.cancelled) == (8, 5, 2, 1)
    assert total.first_contact_resolved == 2  # T1 (its own call only), T6 (one call-back)
    assert total.fcr_rate == pytest.approx(2 / 5)
    assert total.first_responded == 4
    assert total.first_response_avg_s == pytest.approx((600 + 1800 + 3600 + 300) / 4)
    assert total.resolution_avg_s == pytest.approx((7200 + 86400 + 14400 + 1800 + 3600) / 5)
    assert (total.breached, total.overdue_rate) == (2, pytest.approx(2 / 8))
    assert (total.reopened, total.reopen_rate) == (2, pytest.approx(2 / 6))
    assert total.csat is None
    days = [(b.bucket_start.isoformat(), b.created, b.solved) for b in r.by_bucket]
    assert days == [("2026-03-02T00:00:00+08:00", 4, 3), ("2026-03-03T00:00:00+08:00", 4, 2)]
    assert [(x.type, x.type_name, x.created) for x in r.by_type] == [
        ("rp_repair", "Repair", 4), ("rp_refund", "Refund", 3), (None, None, 1)]
    assert [(x.channel, x.created) for x in r.by_channel] == [
        ("phone", 6), ("email", 1), ("web", 1)]


async def test_hour_buckets_in_the_site_zone(world: World) -> None:
    r = await tickets_report(world, bucket="hour")
    assert [(b.bucket_start.isoformat(), b.created) for b in r.by_bucket] == [
        ("2026-03-02T00:00:00+08:00", 1), ("2026-03-02T10:00:00+08:00", 1),
        ("2026-03-02T11:00:00+08:00", 1), ("2026-03-02T23:00:00+08:00", 1),
        ("2026-03-03T00:00:00+08:00", 1), ("2026-03-03T09:00:00+08:00", 1),
        ("2026-03-03T10:00:00+08:00", 1), ("2026-03-03T11:00:00+08:00", 1)]
    # one local day: the 00:30 ticket is in, the 23:59 one of the day before is not
    one = await tickets_report(world, period=Period(date(2026, 3, 2), date(2026, 3, 2), SH))
    assert one.total.created == 4


async def test_ticket_filters(world: World) -> None:
    ids = world[1]
    support = (await tickets_report(world, group_id=ids["support"])).total
    assert (support.created, support.solved, support.first_contact_resolved) == (3, 3, 2)
    assert (await tickets_report(world, agent_id=ids["ann"])).total.created == 4
    refund = (await tickets_report(world, type_id=ids["refund"])).total
    assert (refund.created, refund.cancelled, refund.reopened) == (3, 1, 2)
    assert (await tickets_report(world, channel="phone")).total.created == 6
    assert (await tickets_report(world, channel="fax")).total.created == 0
    empty = await tickets_report(world, period=Period(date(2025, 1, 1), date(2025, 1, 31), SH))
    assert empty.total.fcr_rate is None and empty.by_bucket == []


async def queues(world: World, **kw: Any) -> Any:
    async with world[0]() as s:
        return await service.queue_report(s, replace(BASE, **kw), "Asia/Shanghai")


def _q(row: Any) -> tuple[Any, ...]:
    return (row.bucket_start.isoformat(), row.queue, row.offered, row.answered, row.abandoned,
            row.short_abandoned, row.answered_within_sl)


async def test_calls_per_queue_and_day(world: World) -> None:
    r = await queues(world)
    assert [_q(x) for x in r.rows] == [
        ("2026-03-02T00:00:00+08:00", "rp-support", 5, 3, 2, 1, 2),
        ("2026-03-03T00:00:00+08:00", "rp-sales", 2, 1, 0, 0, 1),
        ("2026-03-03T00:00:00+08:00", "rp-support", 1, 1, 0, 0, 1)]
    support = r.rows[0]
    assert support.service_level == pytest.approx(2 / 4)  # wait 20 = T counts
    assert support.abandon_rate == pytest.approx(1 / 4)
    assert support.asa_s == pytest.approx((12 + 30 + 20) / 3)
    assert support.aht_s == pytest.approx((100 + 200 + 60) / 3)
    sales = r.rows[1]  # the time-out is offered, neither answered nor abandoned
    assert (sales.service_level, sales.abandon_rate, sales.aht_s) == (0.5, 0.0, 300)
    assert r.rows[2].aht_s is None  # still talking
    total = r.total
    assert (total.offered, total.answered, total.answered_within_sl) == (8, 5, 4)
    assert total.service_level == pytest.approx(4 / 7)
    assert total.asa_s == pytest.approx((12 + 30 + 20 + 5 + 8) / 5)
    assert total.aht_s == pytest.approx((100 + 200 + 60 + 300) / 4)


async def test_calls_per_hour_thresholds_and_queue_filter(world: World) -> None:
    r = await queues(world, bucket="hour", queues=("rp-support",))
    assert [_q(x) for x in r.rows] == [
        ("2026-03-02T09:00:00+08:00", "rp-support", 4, 2, 2, 1, 1),
        ("2026-03-02T10:00:00+08:00", "rp-support", 1, 1, 0, 0, 1),
        ("2026-03-03T13:00:00+08:00", "rp-support", 1, 1, 0, 0, 1)]
    strict = await queues(world, queues=("rp-support",), sl_threshold_s=12,
                          short_abandon_s=2)
    assert [_q(x)[2:] for x in strict.rows] == [(5, 3, 2, 0, 1), (1, 1, 0, 0, 1)]
    assert (await queues(world, queues=())).rows == []


async def test_agents(world: World) -> None:
    ids = world[1]
    async with world[0]() as s:
        r = await service.agent_report(s, BASE, "Asia/Shanghai")
    got = {x.username: x for x in r.rows}
    assert [x.username for x in r.rows] == ["rp_ann", "rp_ben"]  # rp_sam: nothing to show
    ann, ben = got["rp_ann"], got["rp_ben"]
    assert (ann.calls_offered, ann.calls_answered, ann.calls_missed) == (7, 5, 2)
    assert (ann.talk_s, ann.aht_s) == (650, 162.5)  # the transfer's talk counts for 7001
    assert (ann.tickets_handled, ann.tickets_solved, ann.first_contact_resolved) == (4, 3, 2)
    assert ann.resolution_avg_s == pytest.approx((7200 + 86400 + 1800) / 3)
    assert (ben.calls_offered, ben.calls_answered, ben.calls_missed) == (5, 2, 3)
    assert (ben.talk_s, ben.aht_s, ben.reopened, ben.fcr_rate) == (60, 60, 2, 0)
    assert ann.idle_s is None and ann.csat is None
    async with world[0]() as s:
        only = await service.agent_report(s, replace(BASE, group_id=ids["sales"]), "x")
        one = await service.agent_report(s, replace(BASE, agent_id=ids["ann"]), "x")
    assert [x.username for x in only.rows] == ["rp_ben"]
    assert [(x.username, x.calls_answered) for x in one.rows] == [("rp_ann", 5)]


async def test_summary(world: World) -> None:
    async with world[0]() as s:
        r = await service.summary_report(s, BASE, "Asia/Shanghai")
    assert (r.tickets.created, r.calls.offered, r.calls.answered) == (8, 8, 5)
    assert r.csat == CsatFigures(count=0, average=None, satisfied_share=None)
    assert r.tickets.csat is None


async def test_summary_csat_counts_the_scores_given_in_the_period(world: World) -> None:
    """T1 5 and T6 3 (support), T3 2 (sales) given in the period; T2's 4 the day before
    (left out although T2 is of the period); T9 (created the day before) rated in it: counted."""
    sm, ids = world
    async with sm() as s, s.begin():
        for name, score, at in (("T1", 5, "2026-03-02 09:00"), ("T6", 3, "2026-03-03 23:59"),
                                ("T3", 2, "2026-03-02 12:00"), ("T2", 4, "2026-03-01 23:59"),
                                ("T9", 4, "2026-03-03 08:00")):
            when = local(at)
            s.add(TicketRating(ticket_id=ids[name], score=score, channel="ivr",
                               created_at=when, updated_at=when))
    async with sm() as s:
        everyone = await service.summary_report(s, BASE, "Asia/Shanghai")
        support = await service.summary_report(s, replace(BASE, group_id=ids["support"]),
                                               "Asia/Shanghai")
    assert everyone.csat == CsatFigures(count=4, average=14 / 4, satisfied_share=2 / 4)
    assert everyone.tickets.csat == 14 / 4
    assert support.csat.count == 2 and support.csat.average == 4.0
    assert support.csat.satisfied_share == 0.5
    [sheet] = export.tables(everyone)
    assert ("csat.count", 4) in sheet.rows and ("csat.average", 3.5) in sheet.rows
    assert ("csat.satisfied_share", 0.5) in sheet.rows


async def test_buckets_across_a_dst_change(world: World) -> None:
    """Berlin goes from +01:00 to +02:00 at 2026-03-29 01:00 UTC."""
    berlin = ZoneInfo("Europe/Berlin")
    async with world[0]() as s, s.begin():
        for i, at in enumerate(("2026-03-28 23:30", "2026-03-29 00:30", "2026-03-29 01:30",
                                "2026-03-29 22:30")):
            s.add(CallLog(call_id=f"dst:{i}", pbx="rp", linkedid=str(i), queue="rp-dst",
                          state="abandoned", started_at=utc(at), ended_at=utc(at), wait_s=9,
                          extra={}))
    f = Filters(period=Period(date(2026, 3, 28), date(2026, 3, 30), berlin), queues=("rp-dst",))
    async with world[0]() as s:
        days = await service.queue_report(s, f, "Europe/Berlin")
        hours = await service.queue_report(s, replace(f, bucket="hour"), "Europe/Berlin")
    assert [(x.bucket_start.isoformat(), x.offered) for x in days.rows] == [
        ("2026-03-29T00:00:00+01:00", 3), ("2026-03-30T00:00:00+02:00", 1)]
    assert [(x.bucket_start.isoformat(), x.offered) for x in hours.rows] == [
        ("2026-03-29T00:00:00+01:00", 1), ("2026-03-29T01:00:00+01:00", 1),
        ("2026-03-29T03:00:00+02:00", 1), ("2026-03-30T00:00:00+02:00", 1)]
    assert days.total.bucket_start.isoformat() == "2026-03-28T00:00:00+01:00"


async def test_reopens_counted_as_the_history_records_them(world: World) -> None:
    """Through the ticket service: resolve, reopen, resolve again: one ``reopened`` event,
    and the report counts the ticket reopened (``reopen_count``, written with the event)."""
    ann = ticket_service.Actor(id=world[1]["ann"], role="agent")
    async with world[0]() as s, s.begin():
        made = await ticket_service.create_ticket(s, TicketIn(title="rp reopen", assignee="rp_ann"),
                                           ann)
        for status in ("resolved", "in_progress", "resolved"):
            await ticket_service.update_ticket(s, made.id, TicketPatch(status=status), ann)
    async with world[0]() as s:
        events = await s.scalar(select(func.count()).select_from(TicketEvent).where(
            TicketEvent.ticket_id == made.id, TicketEvent.kind == "reopened"))
    today = datetime.now(SH).date()
    r = await tickets_report(world, period=Period(today, today, SH))
    assert events == 1
    assert (r.total.created, r.total.solved, r.total.reopened) == (1, 1, 1)
    assert r.total.first_contact_resolved == 0  # reopened: not resolved at first contact
