"""A fresh database of each backend with two staff members, a group and a customer."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from tests.conftest import DbMaker
from tickets.db import make_engine, make_sessionmaker, transaction
from tickets.models import Customer, CustomerPhone, Group, Ticket, User
from web.settings import to_async_url


@dataclass
class Clock:
    now: datetime = field(default_factory=lambda: datetime(2026, 12, 1, 2, 0, tzinfo=UTC))

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@dataclass
class World:
    url: str
    engine: AsyncEngine
    db: async_sessionmaker[AsyncSession]
    alice: int
    bob: int
    group: int
    customer: int
    ticket: int


@pytest.fixture
async def world(new_db: DbMaker) -> AsyncIterator[World]:
    url = await new_db(demo=False)
    engine = make_engine(to_async_url(url))
    db = make_sessionmaker(engine)
    async with transaction(db) as s:
        alice = User(username="alice", role="agent", password_hash="x", email="alice@example.com",
                     locale="en", display_name="Alice")
        bob = User(username="bob", role="agent", password_hash="x", email=None, locale="zh",
                   display_name="鲍勃")
        s.add_all([alice, bob])
        group = Group(key="support", name="Support", members=[alice, bob])
        customer = Customer(name="王建军", email="wang@example.cn", language="zh",
                            phones=[CustomerPhone(e164="+8613812345678", label="mobile")])
        s.add_all([group, customer])
        await s.flush()
        ticket = Ticket(title="打印机卡纸", status="new", priority="high",
                        customer_id=customer.id, group_id=group.id)
        s.add(ticket)
        await s.flush()
        w = World(url, engine, db, alice.id, bob.id, group.id, customer.id, ticket.id)
    yield w
    await engine.dispose()
