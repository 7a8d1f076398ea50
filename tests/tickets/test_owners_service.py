"""tickets.service directly (no HTTP), on SQLite and PostgreSQL: a group alone leaves a
ticket new, an assignee makes it assigned, losing the assignee makes it new again, and
``TicketFilter(unassigned=True)`` finds every ticket nobody owns, and a ticket forwarded to
the next department's queue is new again."""

from __future__ import annotations

import pytest

from tests.conftest import DbMaker
from tickets import service
from tickets.db import make_engine, make_sessionmaker
from tickets.errors import Conflict
from tickets.routing.moves import move_on_flow
from tickets.routing.service import Router, RuleBook
from tickets.schemas import Status, TicketIn, TicketPatch
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


async def test_forward_leaves_the_ticket_new_in_the_next_queue(new_db: DbMaker) -> None:
    """Forwarding hands the ticket to a group with nobody: whatever its owner had made of it
    (assigned, in progress, waiting on the customer), it is new there; history says so."""
    engine = make_engine(to_async_url(await new_db()))
    sm = make_sessionmaker(engine)
    agent = service.Actor(id=2, role="agent")
    try:
        ids: dict[str, int] = {}
        async with sm() as s, s.begin():
            for status in ("new", "assigned", "in_progress", "pending_customer"):
                t = await service.create_ticket(s, TicketIn(  # flow: hotline, after_sales
                    title=status, type="refund", fields={"reason": "late"},
                    assignee=None if status == "new" else "bob"), agent)
                moves: list[Status] = {"in_progress": ["in_progress"], "pending_customer": [
                    "in_progress", "pending_customer"]}.get(status, [])
                for move in moves:
                    t = await service.update_ticket(s, t.id, TicketPatch(status=move), agent)
                assert t.status == status
                ids[status] = t.id
        for status, ticket_id in ids.items():
            async with sm() as s, s.begin():
                t = await move_on_flow(s, Router(RuleBook()), ticket_id, agent, "forward",
                                       note="to after-sales")
                assert (t.status, t.assignee_id, t.flow_step) == ("new", None, 1)
                assert service.ticket_dict(t)["allowed_status"] == ["cancelled", "resolved"]
            async with sm() as s:
                last = (await service.history(s, ticket_id, agent))[-1]
                assert last.kind == "forwarded" and last.data["group"] == "after_sales"
                moved = last.data.get("status")
                assert moved == (None if status == "new" else {"from": status, "to": "new"})
            async with sm() as s, s.begin():  # someone in the new department takes it
                taken = await service.update_ticket(s, ticket_id, TicketPatch(
                    assignee="alice"), agent)
                assert taken.status == "assigned"
        async with sm() as s, s.begin():
            rows, _ = await service.list_tickets(
                s, agent, service.TicketFilter(unassigned=True), limit=500)
            assert not set(ids.values()) & {t.id for t in rows}  # all owned again
    finally:
        await engine.dispose()
