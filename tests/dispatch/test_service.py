"""The work-order service: create, visibility, moves and who may make them, decline and
off duty handing orders on, the offline queue, the ticket resolving after its last visit,
files and bad input. SQLite and PostgreSQL."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from dispatch import records
from dispatch import service as dispatch
from dispatch import sync as offline
from dispatch.models import SyncReceipt, WorkOrder, WorkOrderFile
from dispatch.schemas import ReportIn, StatusIn, SyncOp, WorkOrderIn, WorkOrderPatch
from tests.conftest import DbMaker
from tests.dispatch.world import World, at, new_order, new_ticket, order_in, seed
from tickets import service
from tickets.db import make_engine, make_sessionmaker
from tickets.errors import Conflict, Forbidden, Invalid, NotFound, TooLarge
from tickets.models import Ticket, TicketEvent
from tickets.notify.events import NotificationEvent
from web.settings import to_async_url

#: the smallest PNG (1×1)
PNG = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk"
                       "+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==")


@pytest.fixture
async def w(new_db: DbMaker, tmp_path: Path) -> AsyncIterator[World]:
    engine = make_engine(to_async_url(await new_db(demo=False)))
    try:
        yield await seed(make_sessionmaker(engine), tmp_path)
    finally:
        await engine.dispose()


def status(value: str, **kw: object) -> StatusIn:
    return StatusIn.model_validate({"status": value, **kw})


async def events(w: World, ticket_id: int) -> list[tuple[str, dict[str, object]]]:
    async with w.sm() as s:
        rows = (await s.scalars(select(TicketEvent).where(
            TicketEvent.ticket_id == ticket_id, TicketEvent.kind.like("work_order%"))
            .order_by(TicketEvent.id))).all()
        return [(e.kind, dict(e.data)) for e in rows]


async def load(w: World, order_id: int) -> WorkOrder:
    async with w.sm() as s:
        order = await s.get(WorkOrder, order_id)
        assert order is not None
        return order


async def test_create_takes_defaults_from_ticket_customer_and_type(w: World) -> None:
    tid = await new_ticket(w)
    async with w.sm() as s, s.begin():
        order = await dispatch.create(s, tid, WorkOrderIn(), w.agent, w.ctx())
        shape = await dispatch.order_json(s, order, w.agent)
    assert shape["number"] == f"WO-{order.id:06d}" and shape["ticket_id"] == tid
    assert shape["status"] == "pending" and shape["engineer"] is None
    assert shape["address"] == "上海市黄浦区南京东路 1 号"
    assert shape["contact_name"] == "王伟" and shape["contact_phone"] == "+8613800138000"
    assert shape["required_skills"] == ["hvac"] and shape["priority"] == "normal"
    assert shape["allowed_status"] == ["cancelled"] and shape["version"] == 1
    assert [k for k, _ in await events(w, tid)] == ["work_order_created"]


async def test_auto_assign_picks_the_nearest_and_records_the_rank(w: World) -> None:
    tid = await new_ticket(w)
    async with w.sm() as s, s.begin():
        order = await dispatch.create(s, tid, order_in(auto_assign=True), w.agent, w.ctx())
    assert order.engineer_id == w.eng["near"] and order.status == "assigned"
    kinds = await events(w, tid)
    assert [k for k, _ in kinds] == ["work_order_created", "work_order_assigned"]
    assert kinds[1][1]["rank"] == 1 and kinds[1][1]["auto"] is True


@pytest.mark.parametrize(("field", "values"), [
    ("lat", {"lat": 91, "lon": 121.0}),
    ("lon", {"lat": 31.0, "lon": -181}),
    ("parts_planned", {"parts_planned": [{"name": "fan", "qty": 0}]}),
    ("window_end", {"window_start": "2030-01-08T12:00+08:00",
                    "window_end": "2030-01-08T10:00+08:00"}),
])
def test_bad_input_names_the_field(field: str, values: dict[str, object]) -> None:
    with pytest.raises(ValueError, match=field):
        WorkOrderIn.model_validate(values)


async def test_an_unknown_skill_or_status_is_invalid_naming_the_field(w: World) -> None:
    tid = await new_ticket(w)
    async with w.sm() as s, s.begin():
        with pytest.raises(Invalid, match=r"^required_skills"):
            await dispatch.create(s, tid, order_in(required_skills=["juggling"]), w.agent,
                                  w.ctx())
    oid = await new_order(w, tid)
    async with w.sm() as s, s.begin():
        with pytest.raises(Invalid, match=r"^status"):
            await dispatch.move(s, oid, status("teleported"), w.agent, w.ctx())
        with pytest.raises(Invalid, match=r"^status"):
            await dispatch.list_orders(s, w.agent, dispatch.OrderFilter(status=["nope"]))


async def test_visibility_staff_all_engineer_own_customer_none(w: World) -> None:
    mine = await new_order(w, engineer="near")
    other = await new_order(w, engineer="mid")
    async with w.sm() as s:
        assert (await dispatch.get_order(s, mine, w.actor("near"))).id == mine
        with pytest.raises(NotFound):
            await dispatch.get_order(s, other, w.actor("near"))
        customer = service.Actor(id=None, role="customer", customer_id=w.customer_id)
        with pytest.raises(NotFound):
            await dispatch.get_order(s, mine, customer)
        rows, total = await dispatch.list_orders(s, w.actor("near"), dispatch.OrderFilter(
            engineer_id=w.eng["mid"]))
        assert [r.id for r in rows] == [mine] and total == 1
        rows, total = await dispatch.list_orders(s, w.sup, dispatch.OrderFilter())
        assert total == 2
        day = at(10).date()
        rows, _ = await dispatch.list_orders(s, w.sup, dispatch.OrderFilter(day=day))
        assert len(rows) == 2


async def test_moves_follow_the_machine_and_each_side_makes_its_own(w: World) -> None:
    oid = await new_order(w, engineer="near")
    near, mid = w.actor("near"), w.actor("mid")
    async with w.sm() as s, s.begin():
        with pytest.raises(NotFound):
            await dispatch.move(s, oid, status("accepted"), mid, w.ctx())
        with pytest.raises(Forbidden):
            await dispatch.move(s, oid, status("accepted"), w.agent, w.ctx())
        with pytest.raises(Forbidden):
            await dispatch.move(s, oid, status("cancelled", reason="x"), near, w.ctx())
        with pytest.raises(Conflict):
            await dispatch.move(s, oid, status("completed"), near, w.ctx())
        order = await dispatch.move(s, oid, status("accepted"), near, w.ctx())
        assert dispatch.allowed_status(order, near) == ["en_route"]
        assert dispatch.allowed_status(order, w.agent) == ["cancelled", "pending"]
        await dispatch.move(s, oid, status("en_route", lat=31.1, lon=121.3), near, w.ctx())
        with pytest.raises(Invalid, match="reason"):
            await dispatch.move(s, oid, status("failed"), near, w.ctx())
        with pytest.raises(Conflict):
            await dispatch.move(s, oid, status("accepted", version=1), near, w.ctx())
    order = await load(w, oid)
    assert order.status == "en_route" and set(order.status_times) >= {
        "pending", "assigned", "accepted", "en_route"}
    assert order.version == 4  # created 1, assigned 2, accepted 3, en route 4


async def test_a_decline_goes_to_the_next_best_and_never_back(w: World) -> None:
    oid = await new_order(w, engineer="near")
    async with w.sm() as s, s.begin():
        ctx = w.ctx()
        order = await dispatch.decline(s, oid, w.actor("near"), ctx, "van broke down")
        assert order.engineer_id == w.eng["mid"] and order.status == "assigned"
        assert order.declined_by == [w.eng["near"]]
        assert ctx.touched[oid] == {w.eng["near"], w.eng["mid"]}
    tid = (await load(w, oid)).ticket_id
    kinds = await events(w, tid)
    assert [k for k, _ in kinds][-3:] == ["work_order_declined", "work_order_assigned",
                                          "work_order_reassigned"]
    assert kinds[-1][1]["reason"] == "declined" and kinds[-1][1]["to_engineer_id"] == \
        w.eng["mid"]
    async with w.sm() as s, s.begin():  # mid declines too: far, never near again
        order = await dispatch.decline(s, oid, w.actor("mid"), w.ctx())
        assert order.engineer_id == w.eng["far"]
        with pytest.raises(NotFound):
            await dispatch.decline(s, oid, w.actor("near"), w.ctx())


async def test_going_off_duty_hands_unstarted_orders_on(w: World) -> None:
    waiting = await new_order(w, engineer="near")
    started = await new_order(w, engineer="near")
    async with w.sm() as s, s.begin():
        await dispatch.move(s, started, status("accepted"), w.actor("near"), w.ctx())
        await dispatch.move(s, started, status("en_route"), w.actor("near"), w.ctx())
    async with w.sm() as s, s.begin():
        with pytest.raises(Forbidden):
            await dispatch.set_duty(s, w.eng["near"], False, w.actor("mid"), w.ctx())
        moved = await dispatch.set_duty(s, w.eng["near"], False, w.actor("near"), w.ctx(),
                                        "sick")
        assert [o.id for o in moved] == [waiting]
    assert (await load(w, waiting)).engineer_id == w.eng["mid"]
    assert (await load(w, started)).engineer_id == w.eng["near"]
    kinds = await events(w, (await load(w, waiting)).ticket_id)
    assert ("work_order_reassigned", "off_duty") in [(k, d.get("reason")) for k, d in kinds]


async def test_sync_applies_in_order_and_a_replay_applies_nothing(w: World) -> None:
    oid = await new_order(w, engineer="near")
    near = w.actor("near")
    ops = [SyncOp(op_id="op-1", work_order_id=oid, kind="status", base_version=2,
                  payload={"status": "accepted"}),
           SyncOp(op_id="op-2", work_order_id=oid, kind="status", base_version=2,
                  payload={"status": "en_route"}),
           SyncOp(op_id="op-3", work_order_id=oid, kind="photo", base_version=2,
                  payload={"data_url": "data:image/png;base64,"
                                       + base64.b64encode(PNG).decode()})]
    async with w.sm() as s, s.begin():
        first = await offline.sync(s, ops, near, w.ctx())
    assert [r["outcome"] for r in first] == ["applied"] * 3
    assert first[-1]["work_order"]["status"] == "en_route"
    assert len(first[-1]["work_order"]["files"]) == 1
    async with w.sm() as s, s.begin():
        again = await offline.sync(s, ops, near, w.ctx())
    assert [r["outcome"] for r in again] == ["duplicate"] * 3
    assert again[0]["work_order"] == first[0]["work_order"]
    order = await load(w, oid)
    assert order.version == 5
    async with w.sm() as s:
        assert len((await s.scalars(select(WorkOrderFile))).all()) == 1
        assert len((await s.scalars(select(SyncReceipt))).all()) == 3


async def test_sync_conflicts_after_a_dispatcher_change_or_a_reassignment(w: World) -> None:
    oid = await new_order(w, engineer="near")
    near = w.actor("near")
    async with w.sm() as s, s.begin():  # the dispatcher moves the window: version 3
        await dispatch.patch(s, oid, WorkOrderPatch.model_validate(
            {"window_start": at(14).isoformat(), "window_end": at(16).isoformat()}),
            w.agent, w.ctx())
    op = SyncOp(op_id="c-1", work_order_id=oid, kind="status", base_version=2,
                payload={"status": "accepted"})
    async with w.sm() as s, s.begin():
        [result] = await offline.sync(s, [op], near, w.ctx())
    assert result["outcome"] == "conflict" and result["work_order"]["version"] == 3
    assert (await load(w, oid)).status == "assigned"
    async with w.sm() as s, s.begin():  # reassigned to mid meanwhile
        await dispatch.assign(s, oid, w.agent, w.ctx(), engineer_id=w.eng["mid"])
    op2 = SyncOp(op_id="c-2", work_order_id=oid, kind="status", base_version=3,
                 payload={"status": "accepted"})
    async with w.sm() as s, s.begin():
        [result] = await offline.sync(s, [op2], near, w.ctx())
    assert result["outcome"] == "conflict" and result["work_order"]["address"] is None
    assert (await load(w, oid)).engineer_id == w.eng["mid"]
    # an engineer who never held it learns nothing of it (GET says 404 to them)
    op3 = SyncOp(op_id="c-3", work_order_id=oid, kind="report", payload={})
    async with w.sm() as s, s.begin():
        [result] = await offline.sync(s, [op3], w.actor("far"), w.ctx())
    assert result["outcome"] == "rejected" and result["work_order"] is None
    assert result["detail"] == f"work order {oid} not found"


async def test_the_last_completed_visit_resolves_the_ticket(w: World) -> None:
    tid = await new_ticket(w)
    first = await new_order(w, tid, engineer="near")
    second = await new_order(w, tid, engineer="near")
    near = w.actor("near")

    async def finish(oid: int, ctx: dispatch.Ctx) -> None:
        async with w.sm() as s, s.begin():
            for step in ("accepted", "en_route", "on_site", "completed"):
                await dispatch.move(s, oid, status(step), near, ctx)

    await finish(first, w.ctx())
    async with w.sm() as s:
        assert (await s.get(Ticket, tid)).status != "resolved"  # type: ignore[union-attr]
    ctx = w.ctx()
    await finish(second, ctx)
    assert ctx.tickets_changed == {tid}
    async with w.sm() as s:
        ticket = await s.get(Ticket, tid)
        assert ticket is not None and ticket.status == "resolved"
        moved = (await s.scalars(select(TicketEvent).where(
            TicketEvent.ticket_id == tid, TicketEvent.kind == "status_changed"))).all()
        assert any("completed" in str(e.data.get("reason")) for e in moved)
    # the setting off: the ticket stays as it is
    tid2 = await new_ticket(w)
    only = await new_order(w, tid2, engineer="near")
    await finish(only, w.ctx(resolve_ticket=False))
    async with w.sm() as s:
        assert (await s.get(Ticket, tid2)).status != "resolved"  # type: ignore[union-attr]


async def test_files_are_ticket_attachments_within_the_limit(w: World) -> None:
    oid = await new_order(w, engineer="near")
    near = w.actor("near")
    async with w.sm() as s, s.begin():
        with pytest.raises(Conflict):  # not started yet is fine; pending/cancelled is not
            await records.add_file(s, await new_order(w), w.agent, w.ctx(), kind="photo",
                                    content=PNG, content_type="image/png")
    async with w.sm() as s, s.begin():
        row = await records.add_file(s, oid, near, w.ctx(), kind="signature", content=PNG,
                                      content_type="image/png", signed_by="王伟")
        _, attachment = await records.get_file(s, oid, row.id, near)
        assert attachment.public and attachment.content_type == "image/png"
        with pytest.raises(TooLarge):
            await records.add_file(s, oid, near, w.ctx(max_bytes=10), kind="photo",
                                    content=PNG, content_type="image/png")
        with pytest.raises(Invalid):
            await records.add_file(s, oid, near, w.ctx(), kind="photo", content=b"%PDF",
                                    content_type="application/pdf")
    order = await load(w, oid)
    assert order.signed_by == "王伟"
    assert "work_order_file" in [k for k, _ in await events(w, order.ticket_id)]


async def test_assign_override_and_auto_refusals(w: World) -> None:
    oid = await new_order(w, required_skills=["washer"])
    async with w.sm() as s, s.begin():
        with pytest.raises(Invalid, match="engineer_id"):
            await dispatch.assign(s, oid, w.agent, w.ctx(), engineer_id=w.agent.id)
        order = await dispatch.assign(s, oid, w.agent, w.ctx(), engineer_id=w.eng["far"])
        assert order.engineer_id == w.eng["far"]
        ranking, names = await dispatch.candidates(s, oid, w.agent)
        assert ranking.ranked[0].user_id == w.eng["near"] and names[w.eng["near"]] == "near"
        with pytest.raises(Forbidden):
            await dispatch.assign(s, oid, w.actor("near"), w.ctx(), auto=True)


async def test_an_urgent_assignment_replans_the_engineers_day(w: World) -> None:
    normal = await new_order(w, engineer="near")
    assert (await load(w, normal)).plan_seq is None
    urgent = await new_order(w, priority="urgent", window_start=at(8, 30).isoformat(),
                             window_end=at(9, 30).isoformat(), lat=31.2400, lon=121.4900)
    async with w.sm() as s, s.begin():
        await dispatch.assign(s, urgent, w.agent, w.ctx(), engineer_id=w.eng["near"])
    assert [(await load(w, o)).plan_seq for o in (urgent, normal)] == [1, 2]
    async with w.sm() as s:
        plan = await dispatch.plan_dict(s, w.eng["near"], at(8).date(), w.actor("near"),
                                        w.ctx())
        assert plan["solver"] == "stored"
        assert [st["work_order"]["id"] for st in plan["stops"]] == [urgent, normal]
        with pytest.raises(Forbidden):
            await dispatch.plan_dict(s, w.eng["near"], at(8).date(), w.actor("mid"), w.ctx())


async def test_a_move_racing_a_decline_reads_the_order_after_the_decline(w: World) -> None:
    """Two requests on one order at once: the second reads it only after the first commits
    (SQLite ignores ``FOR UPDATE``: without taking the write turn first, the engineer's
    accept read the order as still theirs and was written over the decline that had just
    handed it to someone else)."""
    import asyncio

    oid = await new_order(w, engineer="near")
    declined = asyncio.Event()

    async def decline() -> None:
        async with w.sm() as s, s.begin():
            await dispatch.decline(s, oid, w.actor("near"), w.ctx(), "van broke down")
            declined.set()
            await asyncio.sleep(0.3)  # still uncommitted while the accept comes in

    async def accept() -> str:
        await declined.wait()
        try:
            async with w.sm() as s, s.begin():
                await dispatch.move(s, oid, status("accepted"), w.actor("near"), w.ctx())
        except NotFound:
            return "not found"
        return "accepted"

    _, outcome = await asyncio.gather(decline(), accept())
    assert outcome == "not found"
    order = await load(w, oid)
    assert order.engineer_id == w.eng["mid"] and order.status == "assigned"
    kinds = await events(w, order.ticket_id)
    versions = [d["version"] for _, d in kinds if _ != "work_order_reassigned"]
    assert versions == sorted(set(versions))  # no two changes made from one version


async def test_the_customer_hears_the_engineer_set_off(w: World) -> None:
    """``en_route`` tells the ticket's customer (the outbox's ``work_order`` event, customer
    audience, with the engineer's name and an arrival estimate from their position)."""
    told: list[NotificationEvent] = []

    async def record(_: AsyncSession, event: NotificationEvent) -> None:
        told.append(event)

    oid = await new_order(w, engineer="near")
    near = w.actor("near")
    async with w.sm() as s, s.begin():
        ctx = w.ctx()
        ctx.notify = record
        await dispatch.move(s, oid, status("accepted"), near, ctx)
        assert told == []
        await dispatch.move(s, oid, status("en_route", lat=31.2304, lon=121.4737), near, ctx)
    [event] = told
    assert event.kind == "work_order" and event.notify_customer and event.user_ids == ()
    assert event.data["event"] == "en_route" and event.data["engineer"]
    assert len(str(event.data["eta"])) == 5  # "HH:MM", site time


async def test_a_replan_keeps_the_visit_under_way_first(w: World) -> None:
    """The engineer is on site at one visit when an urgent one with an earlier window comes
    in: the re-plan keeps the visit they are at as stop 1 and plans the rest after it."""
    current = await new_order(w, engineer="near")
    near = w.actor("near")
    async with w.sm() as s, s.begin():
        for step in ("accepted", "en_route", "on_site"):
            await dispatch.move(s, current, status(step), near, w.ctx())
    urgent = await new_order(w, priority="urgent", window_start=at(8, 30).isoformat(),
                             window_end=at(9, 30).isoformat(), lat=31.2400, lon=121.4900)
    async with w.sm() as s, s.begin():
        await dispatch.assign(s, urgent, w.agent, w.ctx(), engineer_id=w.eng["near"])
    assert [(await load(w, o)).plan_seq for o in (current, urgent)] == [1, 2]


async def test_a_name_without_a_signature_is_not_recorded_as_signed(w: World) -> None:
    oid = await new_order(w, engineer="near")
    near = w.actor("near")
    async with w.sm() as s, s.begin():
        await records.report(s, oid, ReportIn(notes="换电容", signed_by="王伟"), near, w.ctx())
    assert (await load(w, oid)).signed_by is None
    async with w.sm() as s, s.begin():
        await records.add_file(s, oid, near, w.ctx(), kind="signature", content=PNG,
                               content_type="image/png")
        await records.report(s, oid, ReportIn(signed_by="王伟"), near, w.ctx())
    assert (await load(w, oid)).signed_by == "王伟"
