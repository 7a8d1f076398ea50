"""A small world for the IVR and CSAT tests: two customers with phones, a group answering
the ``support`` queue, and a few tickets (no demo data: ids and figures are ours)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tickets import service
from tickets.customers import create_customer
from tickets.models import Group
from tickets.schemas import CustomerIn, TicketIn, TicketPatch

AGENT = service.Actor(id=None, role="agent")


@dataclass
class World:
    sm: async_sessionmaker[AsyncSession]
    wang: int  # customer, +8613800138000, zh
    smith: int  # customer, +8613911112222, en
    support: int  # group "support" (queue "support")


async def seed(sm: async_sessionmaker[AsyncSession]) -> World:
    async with sm() as s, s.begin():
        wang = await create_customer(s, CustomerIn(name="王伟", phones=["138 0013 8000"]), "CN")
        smith = await create_customer(s, CustomerIn(name="John Smith", language="en",
                                                    phones=["139 1111 2222"]), "CN")
        group = Group(key="ivr_support", name="Support", name_zh="客服组", queue="ivr_q",
                      skills=[])
        s.add(group)
        await s.flush()
        return World(sm, wang.id, smith.id, group.id)


async def ticket(sm: async_sessionmaker[AsyncSession], title: str, customer_id: int | None,
                 *, status: str | None = None, group: str | None = None,
                 call_id: str | None = None) -> int:
    """A new ticket, moved on to ``status`` (``resolved`` / ``closed``) when given."""
    async with sm() as s, s.begin():
        t = await service.create_ticket(s, TicketIn(title=title, customer_id=customer_id,
                                                    group=group, call_id=call_id), AGENT)
        for step in {"resolved": ["resolved"], "closed": ["resolved", "closed"]}.get(
                status or "", []):
            await service.update_ticket(s, t.id, TicketPatch(status=step), AGENT)
        return t.id

