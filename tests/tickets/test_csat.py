"""CSAT: rate, re-rate, the history row, the checks, the summary; SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from tests.conftest import DbMaker
from tests.tickets.ivr_world import World, seed, ticket
from tickets import service
from tickets.csat import service as csat
from tickets.csat.models import TicketRating
from tickets.db import make_engine, make_sessionmaker, utcnow
from tickets.errors import Conflict, Invalid, NotFound
from tickets.models import Ticket, TicketEvent
from web.settings import to_async_url


@pytest.fixture
async def world(new_db: DbMaker) -> AsyncIterator[World]:
    engine = make_engine(to_async_url(await new_db(demo=False)))
    try:
        yield await seed(make_sessionmaker(engine))
    finally:
        await engine.dispose()


async def test_a_rating_is_stored_replaced_and_in_the_history(world: World) -> None:
    tid = await ticket(world.sm, "broken fridge", world.wang, status="resolved")
    async with world.sm() as s, s.begin():
        first = await csat.rate(s, tid, 2, "ivr", call_id="pbx1:1.1")
    async with world.sm() as s, s.begin():
        await csat.rate(s, tid, 5, "portal", comment="fixed fast",
                        actor=service.Actor(id=None, role="customer", customer_id=world.wang))
    async with world.sm() as s:
        row = await csat.get(s, tid)
        assert row is not None and row.id == first.id  # one row per ticket
        assert (row.score, row.channel, row.call_id, row.comment) == (5, "portal", None,
                                                                      "fixed fast")
        events = (await s.scalars(select(TicketEvent).where(
            TicketEvent.ticket_id == tid, TicketEvent.kind == "rated")
            .order_by(TicketEvent.id))).all()
        assert [e.data for e in events] == [
            {"score": 2, "channel": "ivr", "previous": None, "call_id": "pbx1:1.1"},
            {"score": 5, "channel": "portal", "previous": 2}]


@pytest.mark.parametrize("score", [0, 6, -1, True, 4.5, "5"])
async def test_a_score_outside_1_to_5_is_refused(world: World, score: object) -> None:
    tid = await ticket(world.sm, "t", world.wang, status="resolved")
    async with world.sm() as s, s.begin():
        with pytest.raises(Invalid):
            await csat.rate(s, tid, score, "ivr")  # type: ignore[arg-type]


async def test_only_solved_visible_tickets_on_known_channels_are_rated(world: World) -> None:
    open_id = await ticket(world.sm, "still open", world.wang)
    solved = await ticket(world.sm, "solved", world.wang, status="closed")
    async with world.sm() as s, s.begin():
        with pytest.raises(Conflict):
            await csat.rate(s, open_id, 4, "ivr")
        with pytest.raises(Invalid):
            await csat.rate(s, solved, 4, "fax")
        with pytest.raises(NotFound):  # another customer's ticket: as if it did not exist
            await csat.rate(s, solved, 4, "portal", actor=service.Actor(
                id=None, role="customer", customer_id=world.smith))
        with pytest.raises(NotFound):
            await csat.rate(s, 999_999, 4, "ivr")
    async with world.sm() as s:
        assert await csat.get(s, solved) is None


async def test_summary_counts_a_periods_ratings_once_each(world: World) -> None:
    ids = [await ticket(world.sm, f"t{n}", world.wang, status="resolved",
                        group="ivr_support" if n < 3 else None) for n in range(4)]
    for tid, score in zip(ids, [5, 4, 1, 3], strict=True):
        async with world.sm() as s, s.begin():
            await csat.rate(s, tid, score, "ivr")
    async with world.sm() as s, s.begin():
        await csat.rate(s, ids[2], 2, "ivr")  # re-rated: counted once, with 2
    now = utcnow()
    async with world.sm() as s:
        got = await csat.summary(s, now - timedelta(hours=1), now + timedelta(seconds=1))
        assert got == csat.CsatSummary(4, (5 + 4 + 2 + 3) / 4, 2 / 4)
        grouped = await csat.summary(s, now - timedelta(hours=1), now + timedelta(seconds=1),
                                     [Ticket.group_id == world.support])
        assert grouped == csat.CsatSummary(3, (5 + 4 + 2) / 3, 2 / 3)
        none = await csat.summary(s, now + timedelta(hours=1), now + timedelta(hours=2))
        assert none == csat.CsatSummary(0, None, None)


async def test_the_database_refuses_a_score_outside_1_to_5(world: World) -> None:
    """The service checks; the table does too (a row written by other means)."""
    tid = await ticket(world.sm, "t", world.wang, status="resolved")
    with pytest.raises(IntegrityError):
        async with world.sm() as s, s.begin():
            s.add(TicketRating(ticket_id=tid, score=9, channel="ivr"))
