"""Call log upserts and the screen-pop context, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from tickets import service
from tickets.calls import (
    CALL_FIELDS,
    CallFilter,
    caller_context,
    customer_number,
    group_customers,
    list_calls,
    merge_call,
    upsert_call,
    upsert_calls,
)
from tickets.db import make_engine, make_read_sessionmaker, make_sessionmaker
from tickets.messages import PopCustomer, PopOrder, PopTicket
from tickets.models import CallLog, Customer, CustomerPhone, User
from tickets.schemas import TicketIn, TicketPatch
from web.settings import to_async_url


def _keys(shape: type) -> frozenset[str]:
    return frozenset(shape.__required_keys__ | shape.__optional_keys__)


async def test_upsert_is_idempotent_and_never_erases(new_db) -> None:  # type: ignore[no-untyped-def]
    engine = make_engine(to_async_url(await new_db()))
    sm = make_sessionmaker(engine)
    t0 = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
    start = {"pbx": "pbx1", "linkedid": "1.1", "caller_number": "+8613800138000",
             "state": "ringing", "started_at": t0, "queue": "support"}
    try:
        for values in [start, {**start, "state": "answered", "answered_at": t0,
                               "agent_extension": "6001"},
                       {**start, "state": "ended", "ended_at": t0 + timedelta(seconds=9),
                        "talk_s": 9.0, "queue": None},
                       start]:  # a replayed start after a resync
            async with sm() as s, s.begin():
                await upsert_call(s, "pbx1:1.1", values)
        async with sm() as s:
            mine = CallLog.call_id == "pbx1:1.1"  # (the demo data has a call log too)
            assert await s.scalar(select(func.count()).select_from(CallLog).where(mine)) == 1
            row = await s.scalar(select(CallLog).where(mine))
            assert row is not None
            assert row.queue == "support" and row.agent_extension == "6001"
            assert row.talk_s == 9.0 and row.answered_at == t0
            assert row.customer_id is not None and row.agent_id is not None
            # a replayed milestone may re-set state; the final row keeps every time it saw
            assert row.ended_at == t0 + timedelta(seconds=9)
    finally:
        await engine.dispose()


async def test_pop_context_puts_open_tickets_first(new_db) -> None:  # type: ignore[no-untyped-def]
    engine = make_engine(to_async_url(await new_db()))
    sm, read = make_sessionmaker(engine), make_read_sessionmaker(engine)
    agent = service.Actor(id=2, role="agent")
    try:
        async with sm() as s, s.begin():
            old_open = await service.create_ticket(
                s, TicketIn(title="old open", customer_phone="159 2187 6543"), agent)
            for n in range(12):
                t = await service.create_ticket(
                    s, TicketIn(title=f"done {n}", customer_phone="159 2187 6543",
                                assignee="alice"), agent)
                await service.update_ticket(s, t.id, TicketPatch(status="resolved"), agent)
        async with read() as s:
            ctx = await caller_context(s, "+8615921876543")
        assert ctx["customer"]["name"] == "李秀英"
        tickets = ctx["tickets"]
        assert len(tickets) == 10
        flags = [t["open"] for t in tickets]
        assert flags == sorted(flags, reverse=True)  # every open ticket before any done one
        assert f"T-{old_open.id:06d}" in [t["number"] for t in tickets if t["open"]]
        first_done = flags.index(False)
        assert tickets[first_done]["title"] == "done 11"  # then the newest first
        assert ctx["orders"] and {"in_warranty", "warranty_end"} <= set(ctx["orders"][0])
        # Exactly the catalogue's keys (the pop's orders once said "product", which the
        # console, reading the order API's "product_name", showed as nothing).
        assert all(set(o) == _keys(PopOrder) for o in ctx["orders"])
        assert all(set(t) == _keys(PopTicket) for t in tickets)
        assert PopCustomer.__required_keys__ <= set(ctx["customer"]) <= _keys(PopCustomer)
        async with read() as s:
            assert await caller_context(s, "+8613700000000") == {
                "customer": None, "tickets": [], "calls": [], "orders": []}
            assert (await caller_context(s, None))["customer"] is None
    finally:
        await engine.dispose()


async def test_a_resync_after_a_restart_never_moves_the_answer(new_db) -> None:  # type: ignore[no-untyped-def]
    """f_live_session 16:15: answered 16:15:23 after a 2 s wait; Hotline restarted and its
    resync estimated the answer at 16:15:35 (wait 17 s). The first answer stays, with its
    wait, and the talk time runs from it. Digits keyed before the restart stay too."""
    engine = make_engine(to_async_url(await new_db(demo=False)))
    sm = make_sessionmaker(engine)
    t0 = datetime(2026, 11, 30, 16, 15, 0, tzinfo=UTC)
    base = {"pbx": "pbx1", "linkedid": "9.1", "direction": "inbound",
            "caller_number": "+8613911112222", "queue": "support"}
    answered = t0 + timedelta(seconds=23)
    try:
        for values in [
            {**base, "state": "ringing", "started_at": t0 + timedelta(seconds=19),
             "extra": {"dtmf": "478#", "order_number": "478"}},
            {**base, "state": "answered", "started_at": t0 + timedelta(seconds=19),
             "answered_at": answered, "wait_s": 2.0, "agent_extension": "6001"},
            # Hotline restarted: the resync's estimates, and a record with no digits.
            {**base, "state": "answered", "started_at": t0 + timedelta(seconds=20),
             "answered_at": t0 + timedelta(seconds=35), "wait_s": 17.0,
             "agent_extension": "6001", "extra": {"dtmf": ""}},
            {**base, "state": "ended", "started_at": t0 + timedelta(seconds=20),
             "answered_at": t0 + timedelta(seconds=35), "wait_s": 17.0,
             "ended_at": t0 + timedelta(seconds=60), "talk_s": 25.0},
        ]:
            async with sm() as s, s.begin():
                await upsert_call(s, "pbx1:9.1", {k: v for k, v in values.items()
                                                  if not (k == "extra" and not v.get("dtmf"))})
        async with sm() as s:
            row = await s.scalar(select(CallLog))
            assert row is not None
            assert row.started_at == t0 + timedelta(seconds=19)
            assert row.answered_at == answered and row.wait_s == 2.0
            assert row.talk_s == 37.0  # 16:15:23 -> 16:16:00
            assert (row.dtmf, row.order_number) == ("478#", "478")
    finally:
        await engine.dispose()


async def test_a_placed_call_finds_its_customer_on_the_callee_side(new_db) -> None:  # type: ignore[no-untyped-def]
    engine = make_engine(to_async_url(await new_db(demo=False)))
    sm, read = make_sessionmaker(engine), make_read_sessionmaker(engine)
    t0 = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
    try:
        async with sm() as s, s.begin():
            customer = Customer(name="王经理")
            customer.phones.append(CustomerPhone(e164="+862161234567"))
            s.add(customer)
        async with sm() as s, s.begin():
            row = await upsert_call(s, "pbx1:5.1", {
                "pbx": "pbx1", "linkedid": "5.1", "direction": "outbound",
                "caller_number": "6001", "callee_number": "+862161234567",
                "state": "ringing", "started_at": t0, "agent_extension": "6001"})
            assert row["customer_id"] == customer.id
            assert customer_number(row) == "+862161234567"
        async with read() as s:
            ctx = await caller_context(s, "+862161234567")
            flt = await list_calls(s, CallFilter(customer_phone="+862161234567"))
        assert [c["call_id"] for c in ctx["calls"]] == ["pbx1:5.1"]
        assert ctx["calls"][0]["callee_number"] == "+862161234567"
        assert [c.call_id for c in flt] == ["pbx1:5.1"]
    finally:
        await engine.dispose()


async def test_a_batch_merges_each_calls_milestones_in_order(new_db) -> None:  # type: ignore[no-untyped-def]
    """The writer's batch: milestones of two calls interleaved, one call known before and
    one new, in one transaction (the locking SELECT by several ids, one INSERT and one
    UPDATE), the customer and the agent resolved from the final numbers."""
    engine = make_engine(to_async_url(await new_db()))
    sm = make_sessionmaker(engine)
    t0 = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
    known = {"pbx": "pbx1", "linkedid": "7.1", "caller_number": "+8613911112222",
             "state": "ringing", "started_at": t0, "extra": {"dtmf": "1"}}
    fresh = {"pbx": "pbx1", "linkedid": "8.1", "caller_number": "+8613800138000",
             "state": "ringing", "started_at": t0 + timedelta(seconds=1)}
    try:
        async with sm() as s, s.begin():
            await upsert_calls(s, [("pbx1:7.1", known)])
        async with sm() as s, s.begin():
            rows = await upsert_calls(s, [
                ("pbx1:8.1", fresh),
                ("pbx1:7.1", {**known, "state": "answered", "answered_at": t0 + timedelta(
                    seconds=4), "wait_s": 4.0, "agent_extension": "6001",
                    "extra": {"agents": ["6001"]}}),
                ("pbx1:8.1", {**fresh, "state": "abandoned", "queue": "support",
                              "ended_at": t0 + timedelta(seconds=9)}),
                ("pbx1:7.1", {**known, "state": "ended", "started_at": t0 + timedelta(
                    seconds=3), "ended_at": t0 + timedelta(seconds=10), "talk_s": 6.0})])
        assert set(rows) == {"pbx1:7.1", "pbx1:8.1"}
        async with sm() as s:
            by_id = {r.call_id: r for r in await s.scalars(
                select(CallLog).where(CallLog.call_id.in_(["pbx1:7.1", "pbx1:8.1"])))}
            agent = await s.scalar(select(User.id).where(User.extension == "6001"))
            lis = await s.scalar(select(CustomerPhone.customer_id)
                                 .where(CustomerPhone.e164 == "+8613800138000"))
        a, b = by_id["pbx1:7.1"], by_id["pbx1:8.1"]
        assert (a.state, a.started_at, a.answered_at, a.wait_s, a.talk_s) == (
            "ended", t0, t0 + timedelta(seconds=4), 4.0, 6.0)
        assert a.extra == {"dtmf": "1", "agents": ["6001"]}
        assert a.agent_extension == "6001" and a.agent_id == agent is not None
        assert (b.state, b.queue, b.direction, b.ended_at) == (
            "abandoned", "support", "inbound", t0 + timedelta(seconds=9))
        assert b.customer_id == lis is not None and b.agent_id is None and b.extra == {}
        assert rows["pbx1:8.1"]["customer_id"] == lis
    finally:
        await engine.dispose()


# ----------------------------------------------------------------------------- pure rules
T = datetime(2026, 11, 30, 16, 15, 0, tzinfo=UTC)
ROW = {"pbx": "pbx1", "linkedid": "9.1", "direction": "inbound", "caller_number": "+86139",
       "callee_number": "400", "queue": "support", "agent_extension": "6001",
       "state": "answered", "started_at": T, "answered_at": T + timedelta(seconds=2),
       "ended_at": None, "wait_s": 2.0, "talk_s": None, "hangup_cause": None,
       "recording_path": None, "extra": {"dtmf": "478#"}, "customer_id": 5, "agent_id": 2}


def test_merge_call_new_row_takes_the_defaults_for_what_is_missing() -> None:
    values = {"pbx": "pbx1", "linkedid": "1.1", "caller_number": "+86139", "state": "ringing",
              "started_at": T, "queue": None, "extra": {"dtmf": "1"}, "not_a_column": 1}
    row = merge_call(None, values)
    assert set(row) == {*CALL_FIELDS, "extra", "customer_id", "agent_id"}
    assert row["direction"] == "inbound" and row["queue"] is None
    assert row["customer_id"] is None and row["agent_id"] is None
    assert row["extra"] == {"dtmf": "1"} and row["extra"] is not values["extra"]


def test_merge_call_known_row_keeps_what_it_knew() -> None:
    before = {**ROW, "id": 41, "extra": dict(ROW["extra"])}
    row = merge_call(before, {
        "state": "ended", "queue": None, "started_at": T + timedelta(seconds=20),
        "answered_at": T + timedelta(seconds=35), "wait_s": 17.0,  # a resync's estimates
        "ended_at": T + timedelta(seconds=60), "talk_s": 25.0, "hangup_cause": "16",
        "extra": {"agents": ["6001"]}})
    assert "id" not in row and before == {**ROW, "id": 41}  # the input is not changed
    assert row["state"] == "ended" and row["queue"] == "support"  # None never overwrites
    assert row["started_at"] == T  # the first start stays
    assert (row["answered_at"], row["wait_s"]) == (T + timedelta(seconds=2), 2.0)
    assert row["talk_s"] == 58.0  # from the first answer to the end
    assert row["hangup_cause"] == "16" and (row["customer_id"], row["agent_id"]) == (5, 2)
    assert row["extra"] == {"dtmf": "478#", "agents": ["6001"]}


def test_merge_call_first_answer_and_an_end_before_any_answer() -> None:
    ringing = {**ROW, "state": "ringing", "answered_at": None, "wait_s": None}
    answered = merge_call(ringing, {"state": "answered", "wait_s": 3.5,
                                    "answered_at": T + timedelta(seconds=3.5)})
    assert (answered["answered_at"], answered["wait_s"]) == (T + timedelta(seconds=3.5), 3.5)
    ended = merge_call(ringing, {"state": "abandoned", "ended_at": T + timedelta(seconds=9),
                                 "talk_s": None})
    assert ended["talk_s"] is None and ended["answered_at"] is None
    # an end with its own talk time and no new answer keeps that talk time
    assert merge_call(ROW, {"ended_at": T + timedelta(seconds=9), "talk_s": 7.0})[
        "talk_s"] == 7.0
    assert customer_number(ROW) == "+86139"
    assert customer_number({**ROW, "direction": "outbound"}) == "400"


def test_group_customers_one_dict_per_customer_phones_in_row_order() -> None:
    rows = [(3, "李秀英", "vip", "zh", None, None, "note", "+86159"),
            (3, "李秀英", "vip", "zh", None, None, "note", "+86213"),
            (8, "Bob", "standard", "en", "b@x.org", "ACME", None, "+86159")]
    assert group_customers(rows) == [
        {"id": 3, "name": "李秀英", "tier": "vip", "vip": True, "language": "zh",
         "email": None, "company": None, "notes": "note", "phones": ["+86159", "+86213"]},
        {"id": 8, "name": "Bob", "tier": "standard", "vip": False, "language": "en",
         "email": "b@x.org", "company": "ACME", "notes": None, "phones": ["+86159"]}]
    assert group_customers([]) == []
