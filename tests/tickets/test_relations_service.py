"""tickets.relations against real databases (SQLite and PostgreSQL): a merge carries the
duplicate's comments, attachments and calls over, closes it with a pointer, tells its
customer in their language and leaves it read-only; the refusals; chains follow the pointer;
parent incidents link one level deep and bulk actions reach every open child."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm.exc import StaleDataError

from tests.conftest import DbMaker
from tickets import relations, service
from tickets.db import make_engine, make_sessionmaker
from tickets.errors import Conflict, Forbidden, Invalid, NotFound
from tickets.models import Attachment, Comment, Customer, Ticket, TicketCall
from tickets.routing.moves import move_on_flow
from tickets.routing.service import Router, RuleBook
from tickets.schemas import CommentIn, TicketIn, TicketPatch
from web.settings import to_async_url

AGENT = service.Actor(id=2, role="agent")


@pytest.fixture
async def sm(new_db: DbMaker) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = make_engine(to_async_url(await new_db()))
    try:
        yield make_sessionmaker(engine)
    finally:
        await engine.dispose()


async def _customer(s: AsyncSession, name: str, language: str = "zh") -> int:
    customer = Customer(name=name, language=language)
    s.add(customer)
    await s.flush()
    return customer.id


async def _ticket(s: AsyncSession, title: str, customer_id: int | None,
                  **extra: Any) -> Ticket:
    return await service.create_ticket(s, TicketIn(title=title, customer_id=customer_id,
                                                   **extra), AGENT)


async def _kinds(s: AsyncSession, ticket_id: int) -> list[tuple[str, dict[str, Any]]]:
    return [(e.kind, e.data) for e in await service.history(s, ticket_id, AGENT)]  # type: ignore[union-attr]


async def test_merge_carries_over_closes_points_and_tells_the_customer(
        sm: async_sessionmaker[AsyncSession]) -> None:
    async with sm() as s, s.begin():
        cust = await _customer(s, "Ann Lee", "en")
        dup = await _ticket(s, "fridge again", cust, call_id="pbx1:1.1")
        keep = await _ticket(s, "fridge not cooling", cust, call_id="pbx1:0.9")
        await service.add_comment(s, dup.id, CommentIn(body="photo attached", public=True),
                                  AGENT)
        await service.add_comment(s, dup.id, CommentIn(body="VIP, be nice"), AGENT)
        s.add(Attachment(ticket_id=dup.id, filename="e21.jpg", content_type="image/jpeg",
                         size=3, sha256="0" * 64, storage_key=f"{dup.id}/x-e21.jpg",
                         public=True))
        s.add(TicketCall(ticket_id=dup.id, call_id="pbx1:1.2"))
        s.add(TicketCall(ticket_id=dup.id, call_id="pbx1:0.9"))  # already the target's
    async with sm() as s, s.begin():
        result = await relations.merge(s, dup.id, service.ticket_number(keep.id), AGENT,
                                       note="same fridge")
        assert (result.comments, result.attachments, result.calls) == (2, 1, 2)
        assert result.followed == [] and result.notice is not None
        out = service.ticket_dict(result.ticket)
        assert out["status"] == "closed" and out["merged_into"] == service.ticket_number(keep.id)
        assert out["allowed_status"] == []
    async with sm() as s:
        copies = list((await s.scalars(select(Comment).where(Comment.ticket_id == keep.id)
                                       .order_by(Comment.id))).all())
        assert [(c.body, c.public, c.merged_from_id) for c in copies] == [
            ("photo attached", True, dup.id), ("VIP, be nice", False, dup.id)]
        [copy] = (await s.scalars(select(Attachment).where(Attachment.ticket_id == keep.id))).all()
        assert copy.storage_key == f"{dup.id}/x-e21.jpg" and copy.merged_from_id == dup.id
        calls = set((await s.scalars(select(TicketCall.call_id)
                                     .where(TicketCall.ticket_id == keep.id))).all())
        assert calls == {"pbx1:0.9", "pbx1:1.1", "pbx1:1.2"}
        [notice] = [c for c in await service.comments(s, dup.id, AGENT)
                    if c.body.startswith("Your request")]
        assert notice.public and service.ticket_number(keep.id) in notice.body
        src, dst = service.ticket_number(dup.id), service.ticket_number(keep.id)
        merged = [d for k, d in await _kinds(s, dup.id) if k == "merged"]
        assert merged and merged[0]["into"] == dst and merged[0]["note"] == "same fridge"
        assert merged[0]["status"] == {"from": "new", "to": "closed"}
        merged_in = [d for k, d in await _kinds(s, keep.id) if k == "merged_in"]
        assert merged_in and merged_in[0]["from"] == src and merged_in[0]["comments"] == 2
        detail = await relations.relations(s, await service.get_ticket(s, keep.id, AGENT),
                                           AGENT)
        assert [r["number"] for r in detail["merged"]] == [src]
        # the customer sees where it went: the merged event's "into", not staff-only ones
        customer = service.Actor(id=None, role="customer", customer_id=cust)
        seen = await service.history(s, dup.id, customer)
        assert any(e["kind"] == "merged" and e["data"] == {  # type: ignore[index]
            "into": dst, "status": {"from": "new", "to": "closed"}} for e in seen)
        assert not any(e["kind"] == "merged_in"  # type: ignore[index]
                       for e in await service.history(s, keep.id, customer))
    # read-only from now on: every change is a 409 naming the target
    changes = [
        lambda s: service.update_ticket(s, dup.id, TicketPatch(status="in_progress"), AGENT),
        lambda s: service.update_ticket(s, dup.id, TicketPatch(title="x"), AGENT),
        lambda s: service.add_comment(s, dup.id, CommentIn(body="late"), AGENT),
        lambda s: move_on_flow(s, Router(RuleBook()), dup.id, AGENT, "forward"),
        lambda s: service.link_call(s, dup.id, "pbx1:9.9", AGENT),
        lambda s: relations.merge(s, dup.id, keep.id, AGENT),
        lambda s: relations.link_child(s, keep.id, dup.id, AGENT),
    ]
    for change in changes:
        async with sm() as s, s.begin():
            with pytest.raises(Conflict, match=f"merged into {dst}"):
                await change(s)


async def test_merge_refusals(sm: async_sessionmaker[AsyncSession]) -> None:
    async with sm() as s, s.begin():
        a, b = await _customer(s, "甲"), await _customer(s, "乙")
        mine = await _ticket(s, "one", a)
        also = await _ticket(s, "two", a)
        gone = await _ticket(s, "three", a)
        other = await _ticket(s, "theirs", b)
        await service.update_ticket(s, gone.id, TicketPatch(status="cancelled"), AGENT)
    cases: list[tuple[int, int | str, type[Exception], str]] = [
        (mine.id, mine.id, Conflict, "into itself"),
        (mine.id, gone.id, Conflict, "cancelled"),
        (gone.id, mine.id, Conflict, "cancelled"),
        (mine.id, other.id, Conflict, "different customers"),
        (mine.id, 999_999, NotFound, "ticket 999999 not found"),
        (999_999, mine.id, NotFound, "ticket 999999 not found"),
        (mine.id, "nonsense", Invalid, "into"),
    ]
    for source, into, error, text in cases:
        async with sm() as s, s.begin():
            with pytest.raises(error, match=text):
                await relations.merge(s, source, into, AGENT)
    async with sm() as s, s.begin():
        with pytest.raises(Forbidden):
            await relations.merge(s, mine.id, also.id,
                                  service.Actor(id=None, role="customer", customer_id=a))
    # force: across customers, and the copies are internal (no customer sees another's)
    async with sm() as s, s.begin():
        await service.add_comment(s, mine.id, CommentIn(body="public words", public=True),
                                  AGENT)
    async with sm() as s, s.begin():
        result = await relations.merge(s, mine.id, other.id, AGENT, force=True)
        assert result.notice is not None and "合并" in result.notice.body  # zh customer
    async with sm() as s:
        copied = (await s.scalars(select(Comment).where(Comment.ticket_id == other.id))).all()
        assert [(c.body, c.public) for c in copied] == [("public words", False)]


async def test_a_merged_target_is_followed_to_where_it_went(
        sm: async_sessionmaker[AsyncSession]) -> None:
    async with sm() as s, s.begin():
        cust = await _customer(s, "丙")
        first, second, third = [await _ticket(s, n, cust) for n in ("1", "2", "3")]
    async with sm() as s, s.begin():
        await relations.merge(s, second.id, first.id, AGENT)
    async with sm() as s, s.begin():
        result = await relations.merge(s, third.id, service.ticket_number(second.id), AGENT)
        assert result.into.id == first.id
        assert result.followed == [service.ticket_number(second.id)]
    async with sm() as s, s.begin():  # following back to the ticket itself is refused
        with pytest.raises(Conflict, match="into itself"):
            await relations.merge(s, first.id, second.id, AGENT)


async def test_opposite_merges_at_once_one_wins(sm: async_sessionmaker[AsyncSession]) -> None:
    async with sm() as s, s.begin():
        cust = await _customer(s, "丁")
        a, b = await _ticket(s, "a", cust), await _ticket(s, "b", cust)

    async def merge(source: int, into: int) -> str:
        try:
            async with sm() as s, s.begin():
                await relations.merge(s, source, into, AGENT)
            return "ok"
        except (Conflict, StaleDataError):
            return "refused"

    outcomes = await asyncio.gather(merge(a.id, b.id), merge(b.id, a.id))
    assert sorted(outcomes) == ["ok", "refused"]
    async with sm() as s:
        rows = (await s.scalars(select(Ticket).where(Ticket.id.in_([a.id, b.id])))).all()
        assert sorted(t.merged_into_id is None for t in rows) == [False, True]


async def test_parent_and_children_one_level(sm: async_sessionmaker[AsyncSession]) -> None:
    async with sm() as s, s.begin():
        incident = await _ticket(s, "batch E21 compressors", None)
        kids = [await _ticket(s, f"E21 #{i}", await _customer(s, f"客户{i}"))
                for i in range(3)]
        other = await _ticket(s, "another incident", None)
    num = service.ticket_number
    async with sm() as s, s.begin():
        for kid in kids:
            _, child = await relations.link_child(s, incident.id, kid.id, AGENT)
            assert child is not None and child.parent_id == incident.id
        again = await relations.link_child(s, incident.id, kids[0].id, AGENT)
        assert again[1] is None  # linking again changes nothing
    refused = [
        (incident.id, incident.id, "own child"),
        (kids[0].id, other.id, f"{num(kids[0].id)} is a child of {num(incident.id)}"),
        (other.id, incident.id, f"{num(incident.id)} is the parent of 3"),
        (other.id, kids[1].id, f"already a child of {num(incident.id)}"),
    ]
    for parent_id, child_id, text in refused:
        async with sm() as s, s.begin():
            with pytest.raises(Conflict, match=text):
                await relations.link_child(s, parent_id, child_id, AGENT)
    async with sm() as s, s.begin():
        with pytest.raises(Conflict, match="parent of 3"):  # a parent is not merged away
            await relations.merge(s, incident.id, other.id, AGENT)
        with pytest.raises(Conflict, match=f"child of {num(incident.id)}, not of"):
            await relations.unlink_child(s, other.id, kids[2].id, AGENT)
    async with sm() as s:
        view = await relations.relations(s, await service.get_ticket(s, incident.id, AGENT),
                                         AGENT)
        assert [c["number"] for c in view["children"]] == [num(k.id) for k in kids]
        child_view = await relations.relations(
            s, await service.get_ticket(s, kids[1].id, AGENT), AGENT)
        assert child_view["parent_ticket"]["number"] == num(incident.id)
        # a customer sees only their own tickets among the relations
        cust = service.Actor(id=None, role="customer", customer_id=kids[1].customer_id)
        assert (await relations.relations(s, await service.get_ticket(s, kids[1].id, cust),
                                          cust))["parent_ticket"] is None
        history = await _kinds(s, kids[0].id)
        assert ("parent_linked", {"parent_id": incident.id, "parent": num(incident.id)}) \
            in history
    async with sm() as s, s.begin():
        _, child = await relations.unlink_child(s, incident.id, kids[2].id, AGENT)
        assert child is not None and child.parent_id is None
        assert (await relations.unlink_child(s, incident.id, kids[2].id, AGENT))[1] is None


async def test_bulk_reply_status_and_close_reach_every_open_child(
        sm: async_sessionmaker[AsyncSession]) -> None:
    async with sm() as s, s.begin():
        incident = await _ticket(s, "batch defect", None)
        owned = await _ticket(s, "owned", await _customer(s, "A"), assignee="bob")
        queued = await _ticket(s, "queued", await _customer(s, "B"))
        done = await _ticket(s, "done", await _customer(s, "C"))
        await service.update_ticket(s, done.id, TicketPatch(status="resolved"), AGENT)
        for kid in (owned, queued, done):
            await relations.link_child(s, incident.id, kid.id, AGENT)
    num = service.ticket_number(incident.id)
    async with sm() as s, s.begin():
        result = await relations.bulk(s, incident.id, AGENT, "reply",
                                      body="A fix ships on Friday.")
        assert {t.id for t in result.applied} == {owned.id, queued.id}  # open ones
    async with sm() as s:
        for kid in (owned, queued, incident):
            [c] = [c for c in await service.comments(s, kid.id, AGENT)
                   if c.body == "A fix ships on Friday."]
            assert c.public
        assert ("commented", "parent", num) in [
            (k, "parent", d.get("parent")) for k, d in await _kinds(s, queued.id)]
        assert not [c for c in await service.comments(s, done.id, AGENT)]
    async with sm() as s, s.begin():
        result = await relations.bulk(s, incident.id, AGENT, "status", status="in_progress",
                                      reason="supplier confirmed")
        assert [t.id for t in result.applied] == [owned.id]
        [(skipped, why)] = result.skipped
        assert skipped.id == queued.id and why == (
            "cannot move to in_progress: the ticket has no assignee")
    async with sm() as s:
        moved = [d for k, d in await _kinds(s, owned.id) if k == "status_changed"]
        assert moved[-1] == {"status": {"from": "assigned", "to": "in_progress"},
                             "parent": num, "reason": "supplier confirmed"}
        bulk_rows = [d for k, d in await _kinds(s, incident.id) if k == "bulk_applied"]
        assert bulk_rows[-1]["skipped"][0]["ticket"] == service.ticket_number(queued.id)
    async with sm() as s, s.begin():
        with pytest.raises(Invalid, match="body"):
            await relations.bulk(s, incident.id, AGENT, "reply")
        result = await relations.bulk(s, incident.id, AGENT, "close")
        assert {t.id for t in result.applied} == {owned.id, queued.id, done.id}
        assert {t.status for t in result.applied} == {"closed"}
    async with sm() as s:
        steps = [d["status"]["to"] for k, d in await _kinds(s, queued.id)
                 if k == "status_changed" and d.get("parent") == num]
        assert steps == ["resolved", "closed"]


async def test_a_comment_racing_a_merge_waits_and_is_refused(
        sm: async_sessionmaker[AsyncSession]) -> None:
    """A comment that starts while a merge of its ticket is uncommitted waits for it and
    then gets the 409, rather than landing on the merged ticket after its comments were
    copied (on SQLite too, which ignores FOR UPDATE: service.take_write_turn)."""
    async with sm() as s, s.begin():
        cust = await _customer(s, "戊")
        dup, keep = await _ticket(s, "dup", cust), await _ticket(s, "keep", cust)

    async def comment() -> Comment:
        async with sm() as s, s.begin():
            return await service.add_comment(s, dup.id, CommentIn(body="late"), AGENT)

    async with sm() as s:
        await s.begin()
        await relations.merge(s, dup.id, keep.id, AGENT)
        racing = asyncio.create_task(comment())
        await asyncio.sleep(0.5)
        assert not racing.done()  # it waits for the merge's lock
        await s.commit()
    with pytest.raises(Conflict, match="merged into"):
        await racing
    async with sm() as s:
        bodies = [c.body for c in await service.comments(s, dup.id, AGENT)]
        assert "late" not in bodies
