"""tickets.service directly (no HTTP), on SQLite and PostgreSQL: a group alone leaves a
ticket new, an assignee makes it assigned, losing the assignee makes it new again, and
``TicketFilter(unassigned=True)`` finds every ticket nobody owns."""

from __future__ import annotations

import pytest

from tests.conftest import DbMaker
from tickets import service
from tickets.db import make_engine, make_sessionmaker
from tickets.errors import Conflict
from tickets.schemas import TicketIn, TicketPatch
from web.settings import to_async_url


async def test_owners_and_unassigned_filter(new_db: DbMaker) -> None:
    engine = make_engine(to_async_url(await new_db()))
    sm = make_sessionmaker(engine)
    agent = service.Actor(id=2, role="agent")
    try:
        async with sm() as s, s.begin():
            queued = await service.create_ticket(s, TicketIn(title="q", group="hotline"), agent)
            orphan = await service.create_ticket(s, TicketIn(title="o"), agent)
            owned = await service.create_ticket(s, TicketIn(title="w", assignee="bob"), agent)
        assert (queued.status, orphan.status, owned.status) == ("new", "new", "assigned")
        assert service.ticket_dict(queued)["allowed_status"] == ["cancelled", "resolved"]
        async with sm() as s, s.begin():
            with pytest.raises(Conflict, match="no assignee"):
                await service.update_ticket(s, queued.id, TicketPatch(status="assigned"), agent)
        async with sm() as s, s.begin():
            rows, total = await service.list_tickets(
                s, agent, service.TicketFilter(unassigned=True), limit=200)
            ids = {t.id for t in rows}
            assert {queued.id, orphan.id} <= ids and owned.id not in ids
            assert total == len(rows) and all(t.assignee_id is None for t in rows)
            back = await service.update_ticket(s, owned.id, TicketPatch(assignee=None), agent)
            assert back.status == "new"
            taken = await service.update_ticket(s, queued.id, TicketPatch(assignee="alice"),
                                                agent)
            assert taken.status == "assigned" and taken.group_id is not None
    finally:
        await engine.dispose()
