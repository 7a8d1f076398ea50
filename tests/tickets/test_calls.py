"""Call log upserts and the screen-pop context, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from tickets import service
from tickets.calls import CallFilter, caller_context, customer_number, list_calls, upsert_call
from tickets.db import make_engine, make_read_sessionmaker, make_sessionmaker
from tickets.messages import PopCustomer, PopOrder, PopTicket
from tickets.models import CallLog, Customer, CustomerPhone
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
