"""Ticket search (``q``) through tickets.service directly, on SQLite and PostgreSQL: what an
agent wrote anywhere on the ticket finds it — title, description, a comment, the customer's
name or phone written any way, the order number — in Chinese and English, Latin letters in
any case; ``%`` and ``_`` are literal, not wildcards."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.conftest import DbMaker
from tickets import service
from tickets.customers import create_customer
from tickets.db import make_engine, make_sessionmaker
from tickets.models import Ticket
from tickets.schemas import CommentIn, CustomerIn, TicketIn
from web.settings import to_async_url

AGENT = service.Actor(id=2, role="agent")
MARK = "qsx"  # in every title: the tickets of this test, apart from the demo's


@dataclass
class World:
    sm: async_sessionmaker[AsyncSession]
    ids: dict[str, int]

    async def find(self, q: str, actor: service.Actor = AGENT) -> set[str]:
        async with self.sm() as s:
            rows, total = await service.list_tickets(s, actor, service.TicketFilter(q=q),
                                                     limit=200)
        assert total == len(rows)
        names = {v: k for k, v in self.ids.items()}
        return {names[t.id] for t in rows if t.id in names}


@pytest.fixture
async def world(new_db: DbMaker) -> AsyncIterator[World]:
    engine = make_engine(to_async_url(await new_db()))
    sm = make_sessionmaker(engine)
    ids: dict[str, int] = {}
    async with sm() as s, s.begin():
        wang = await create_customer(s, CustomerIn(name="王经理", phones=["021-6123 4567"]),
                                     "CN")
        acme = await create_customer(s, CustomerIn(name="ACME Cooling Ltd",
                                                   phones=["+86 186 1234 5678"]), "CN")
        specs = {
            "title": TicketIn(title=f"{MARK} 空调不制冷 E21", customer_id=acme.id),
            "description": TicketIn(title=f"{MARK} a", description="Display shows error F07, "
                                    "50%_off coupon"),
            "comment": TicketIn(title=f"{MARK} b"),
            "private": TicketIn(title=f"{MARK} c"),
            "customer": TicketIn(title=f"{MARK} d", customer_id=wang.id),
            "order": TicketIn(title=f"{MARK} e", order_number="SO-77-XQ"),
            "plain": TicketIn(title=f"{MARK} f", description="nothing special here"),
        }
        for key, data in specs.items():
            ids[key] = (await service.create_ticket(s, data, AGENT)).id
        await service.add_comment(s, ids["comment"], CommentIn(body="客户说 王经理 会回电 code "
                                                                     "Q9", public=True), AGENT)
        await service.add_comment(s, ids["private"], CommentIn(body="internal: refund Z88"),
                                  AGENT)
    try:
        yield World(sm, ids)
    finally:
        await engine.dispose()


@pytest.mark.parametrize(("q", "expected"), [
    ("E21", {"title"}),
    ("e21", {"title"}),                      # Latin letters: any case
    ("空调", {"title"}),
    ("f07", {"description"}),
    ("ERROR", {"description"}),
    ("q9", {"comment"}),                     # a comment's text
    ("王经理", {"customer", "comment"}),      # the customer's name, and a comment naming him
    ("acme cooling", {"title"}),             # the customer's name, English, any case
    ("so-77-xq", {"order"}),                 # the order number
    ("02161234567", {"customer"}),           # the phone, written any way …
    ("+86 21 6123 4567", {"customer"}),
    ("0086 21-61234567", {"customer"}),
    ("186 1234 5678", {"title"}),            # … or a run of its digits
    ("z88", {"private"}),                    # staff see internal comments
])
async def test_search_finds_what_agents_wrote(world: World, q: str,
                                              expected: set[str]) -> None:
    assert await world.find(q) == expected


@pytest.mark.parametrize("q", ["%", "_", "%_", "50%", "\\"])
async def test_like_wildcards_are_literal(world: World, q: str) -> None:
    found = await world.find(q)
    assert found == ({"description"} if q in {"%", "_", "%_", "50%"} else set())


async def test_ticket_number_and_no_match(world: World) -> None:
    number = service.ticket_dict(await _ticket(world, "plain"))["number"]
    assert await world.find(number) == {"plain"}
    assert await world.find("nowhere-to-be-found") == set()


async def test_customers_search_public_comments_only(world: World) -> None:
    customer_id = (await _ticket(world, "customer")).customer_id
    portal = service.Actor(id=None, role="customer", customer_id=customer_id)
    assert await world.find("z88", portal) == set()       # an internal comment stays internal
    assert await world.find("王经理", portal) == {"customer"}  # own ticket only


async def _ticket(world: World, key: str) -> Ticket:
    async with world.sm() as s:
        return await service.get_ticket(s, world.ids[key], service.SYSTEM)
