"""Paused agents' tickets go back to their groups (issue #10), on SQLite and PostgreSQL:
``web.pausewatch.PauseWatch`` over ``moves.release_paused``, with the live queue as the PBX
bridge reports it and an injected clock."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update

from tests.conftest import DbMaker
from tickets import service
from tickets.bus import TOPIC_TICKETS, InProcessBus
from tickets.db import make_engine, make_sessionmaker
from tickets.models import Group, Ticket, TicketEvent, User
from tickets.routing.service import Router, RuleBook
from tickets.schemas import TicketIn, TicketPatch
from web.pausewatch import PauseWatch
from web.settings import to_async_url

T = 1_795_407_721.0
SINCE = "2026-11-23T04:22:01+00:00"  # T
LIMIT = 30 * 60.0
AGENT = service.Actor(id=2, role="agent")


def members(alice_paused: bool, since: str = SINCE) -> list[dict[str, Any]]:
    """The support queue: alice (6001) paused for lunch since ``since``, bob (6002)
    available."""
    return [
        {"pbx": "pbx1", "queue": "support", "interface": "PJSIP/6001", "extension": "6001",
         "name": "Agent 6001", "state": "paused" if alice_paused else "available",
         "reason": "lunch" if alice_paused else None, "paused": alice_paused,
         "paused_reason": "lunch" if alice_paused else "",
         "paused_since": since if alice_paused else None, "status": "not_in_use",
         "in_call": False},
        {"pbx": "pbx1", "queue": "support", "interface": "PJSIP/6002", "extension": "6002",
         "name": "Agent 6002", "state": "available", "reason": None, "paused": False,
         "paused_reason": "", "paused_since": None, "status": "not_in_use",
         "in_call": False}]


async def test_paused_agents_tickets_go_back_and_are_assigned_again(new_db: DbMaker) -> None:
    engine = make_engine(to_async_url(await new_db()))
    sm = make_sessionmaker(engine)
    live: dict[str, Any] = {"paused": True, "since": SINCE}
    router = Router(RuleBook(), presence=lambda q: {
        m["extension"]: m["state"] for m in members(live["paused"])} if q == "support"
        else None)
    bus = InProcessBus()
    sub = bus.subscribe(TOPIC_TICKETS)
    clock = {"now": T}
    watch = PauseWatch(lambda: members(live["paused"], live["since"]), sm, bus, router,
                       LIMIT,
                       clock=lambda: clock["now"])
    try:
        async with sm() as s, s.begin():
            await s.execute(update(Group).where(Group.key.in_(("hotline", "logistics")))
                            .values(assignment="least_loaded"))
            alice = await s.scalar(select(User).where(User.username == "alice"))
            assert alice is not None
            logistics = await s.scalar(select(Group).where(Group.key == "logistics"))
            assert logistics is not None and logistics.queue is None
            await s.refresh(logistics, ["members"])
            logistics.members.append(alice)  # a group with no queue: no presence at all
        ids: dict[str, int] = {}
        async with sm() as s, s.begin():
            for name, group, moves in (
                    ("assigned", "hotline", []), ("assigned2", "hotline", []),
                    ("in_progress", "hotline", ["in_progress"]),
                    ("pending", "hotline", ["in_progress", "pending_customer"]),
                    ("no_queue", "logistics", [])):
                t = await service.create_ticket(s, TicketIn(
                    title=name, group=group, assignee="alice"), AGENT)
                for move in moves:
                    t = await service.update_ticket(s, t.id, TicketPatch(
                        status=move), AGENT)
                ids[name] = t.id
            mine = {t.id: t.status for t in (await s.scalars(select(Ticket).where(
                Ticket.assignee_id == alice.id))).all()}
        unstarted = {i for i, st in mine.items() if st in ("new", "assigned")}
        started = {i for i, st in mine.items() if st not in ("new", "assigned")}
        assert {ids["assigned"], ids["assigned2"], ids["no_queue"]} <= unstarted
        assert {ids["in_progress"], ids["pending"]} <= started

        clock["now"] = T + LIMIT - 1  # 29:59 of lunch: not yet
        assert await watch.check() == []
        clock["now"] = T + 32 * 60 + 5
        done = await watch.check()
        assert [(r.pause.extension, r.why) for r, _ in done] == [
            ("6001", "released: paused 32 min (lunch)")]
        assert set(done[0][1]) == unstarted

        bob = 3
        async with sm() as s:
            rows = {t.id: t for t in (await s.scalars(select(Ticket).where(
                Ticket.id.in_(list(mine))))).all()}
            for i in unstarted:
                t = rows[i]
                if i == ids["no_queue"]:  # nobody else there: it waits, never back to alice
                    assert (t.assignee_id, t.status) == (None, "new")
                else:
                    assert t.assignee_id != alice.id and t.status == "assigned"
            assert rows[ids["assigned"]].assignee_id == bob
            for i in started:  # work under way stays with alice
                assert rows[i].assignee_id == alice.id and rows[i].status == mine[i]
            events = (await s.scalars(select(TicketEvent).where(
                TicketEvent.ticket_id == ids["assigned"]).order_by(TicketEvent.id))).all()
            pool, assigned = events[-2:]
            assert pool.kind == "returned_to_pool" and pool.data == {
                "assignee_id": {"from": alice.id, "to": None},
                "reason": "released: paused 32 min (lunch)"}
            assert assigned.kind == "auto_assigned" and assigned.data["assignee"] == "bob"
            waiting = (await s.scalars(select(TicketEvent).where(
                TicketEvent.ticket_id == ids["no_queue"]).order_by(TicketEvent.id))).all()
            assert [e.kind for e in waiting[-2:]] == ["returned_to_pool",
                                                      "assignment_waiting"]
        # The consoles were told, after the commit: one ticket_updated per ticket moved.
        told = [sub.queue.get_nowait() for _ in range(len(unstarted))]
        assert sub.queue.empty()
        assert {m["ticket"]["id"] for _, m in told} == unstarted  # type: ignore[index]
        assert all(m["type"] == "ticket_updated" for _, m in told)
        assert next(m for _, m in told if m["ticket"]["id"] == ids["assigned"])[
            "ticket"]["assignee_id"] == bob

        # Once per pause: a ticket a person gives alice during the same lunch stays hers.
        async with sm() as s, s.begin():
            kept = await service.create_ticket(s, TicketIn(title="by hand", group="hotline",
                                                           assignee="alice"), AGENT)
        clock["now"] = T + 45 * 60
        assert await watch.check() == []
        async with sm() as s:
            t = await s.get(Ticket, kept.id)
            assert t is not None and t.assignee_id == alice.id
        # Back from lunch (the pause is forgotten), paused again at T + 50 min: a new
        # pause, with its own 30 minutes; then the hand-given ticket goes back too.
        live["paused"] = False
        assert await watch.check() == [] and watch.released == frozenset()
        live.update(paused=True, since="2026-11-23T05:12:01+00:00")
        clock["now"] = T + 79 * 60
        assert await watch.check() == []
        clock["now"] = T + 81 * 60
        again = await watch.check()
        assert [(r.why, ids_) for r, ids_ in again] == [
            ("released: paused 31 min (lunch)", [kept.id])]
        assert watch.released == frozenset({("6001", T + 50 * 60)})
    finally:
        await engine.dispose()


async def test_nothing_is_released_when_the_limit_is_zero(new_db: DbMaker) -> None:
    engine = make_engine(to_async_url(await new_db()))
    sm = make_sessionmaker(engine)
    watch = PauseWatch(lambda: members(True), sm, InProcessBus(), Router(RuleBook()), 0,
                       clock=lambda: T + 86_400)
    try:
        async with sm() as s, s.begin():
            t = await service.create_ticket(s, TicketIn(title="x", group="hotline",
                                                        assignee="alice"), AGENT)
        assert await watch.check() == []
        watch.start()
        assert watch._task is None  # off: no task at all
        async with sm() as s:
            row = await s.get(Ticket, t.id)
            assert row is not None and row.assignee_id == 2 and row.status == "assigned"
    finally:
        await watch.stop()
        await engine.dispose()



async def test_a_release_that_fails_is_tried_at_the_next_check(new_db: DbMaker) -> None:
    engine = make_engine(to_async_url(await new_db()))
    sm = make_sessionmaker(engine)

    def database_away() -> Any:
        raise OSError("connection refused")

    watch = PauseWatch(lambda: members(True), database_away,  # type: ignore[arg-type]
                       InProcessBus(), Router(RuleBook()), LIMIT, clock=lambda: T + LIMIT)
    try:
        async with sm() as s, s.begin():
            t = await service.create_ticket(s, TicketIn(title="x", group="hotline",
                                                        assignee="alice"), AGENT)
        assert await watch.check() == [] and watch.released == frozenset()
        watch.db = sm  # the database is back
        done = await watch.check()
        assert [(r.pause.extension, t.id in ids) for r, ids in done] == [("6001", True)]
        assert watch.released == frozenset({("6001", T)})
    finally:
        await engine.dispose()
