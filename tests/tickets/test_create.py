"""A ticket create writes the ticket, its "created" history row and its call link together
(PostgreSQL: one statement of data-modifying CTEs; SQLite: one statement each), all in the
caller's transaction: rolled back, nothing is left."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from tickets import service
from tickets.db import make_engine, make_sessionmaker
from tickets.models import Customer, Ticket, TicketCall, TicketEvent, User
from tickets.schemas import TicketIn
from web.settings import to_async_url


async def test_create_writes_ticket_history_and_call_link(new_db: Any) -> None:
    engine = make_engine(to_async_url(await new_db()))
    sm = make_sessionmaker(engine)
    try:
        async with sm() as s:
            agent = await s.scalar(select(User).where(User.username == "alice"))
            customer_id = await s.scalar(select(Customer.id).limit(1))
        assert agent is not None and customer_id is not None
        actor = service.Actor(id=agent.id, role=agent.role)
        data = TicketIn(title="Drum does not spin", type="repair", customer_id=customer_id,
                        fields={"fault": "drum"}, call_id="pbx1:77.1", tags=["b", "a", "b"])
        async with sm() as s, s.begin():
            made = await service.create_ticket(s, data, actor)
        async with sm() as s:
            row = await s.scalar(select(Ticket).where(Ticket.id == made.id))
            assert row is not None
            assert service.ticket_dict(row) | {"type": None} == \
                service.ticket_dict(made) | {"type": None}
            assert row.tags == ["a", "b"] and row.fields == {"fault": "drum"}
            assert row.created_by_id == agent.id and row.group_id is not None
            events = (await s.scalars(select(TicketEvent)
                                      .where(TicketEvent.ticket_id == made.id))).all()
            assert [(e.kind, e.actor_id) for e in events] == [("created", agent.id)]
            assert events[0].at == row.created_at
            assert events[0].data == {"status": "new", "priority": row.priority,
                                      "type": "repair", "channel": "phone",
                                      "assignee_id": None, "group_id": row.group_id,
                                      "call_id": "pbx1:77.1"}
            links = (await s.scalars(select(TicketCall)
                                     .where(TicketCall.ticket_id == made.id))).all()
            assert [(c.call_id, c.linked_at) for c in links] == [("pbx1:77.1", row.created_at)]

        # without a call: no link; rolled back: nothing at all
        async with sm() as s:
            before = [await s.scalar(select(func.count()).select_from(m))
                      for m in (Ticket, TicketEvent, TicketCall)]
        async with sm() as s:
            await s.begin()
            plain = await service.create_ticket(
                s, TicketIn(title="No call", type="repair", customer_id=customer_id,
                            fields={"fault": "drum"}), actor)
            async with sm() as other:  # not visible before the commit
                assert await other.scalar(select(Ticket).where(Ticket.id == plain.id)) is None
            await s.rollback()
        async with sm() as s:
            assert [await s.scalar(select(func.count()).select_from(m))
                    for m in (Ticket, TicketEvent, TicketCall)] == before
    finally:
        await engine.dispose()
