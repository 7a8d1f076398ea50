"""The IVR's ticket services: who calls, their tickets, the PIN rule, message and call-back
tickets, the ticket to rate, journeys and the pop's ``ivr``; SQLite and PostgreSQL."""

from __future__ import annotations

import io
import wave
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update

from tests.conftest import DbMaker
from tests.tickets.ivr_world import World, seed, ticket
from tickets.csat import service as csat
from tickets.db import make_engine, make_sessionmaker
from tickets.errors import Invalid
from tickets.ivr import service as ivr
from tickets.models import Attachment, Order, Ticket, TicketCall, TicketType
from web.settings import to_async_url

WAV_TYPES = ["audio/wav"]


@pytest.fixture
async def world(new_db: DbMaker) -> AsyncIterator[World]:
    engine = make_engine(to_async_url(await new_db(demo=False)))
    try:
        yield await seed(make_sessionmaker(engine))
    finally:
        await engine.dispose()


def _wav() -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\x00\x10" * 800)
    return out.getvalue()


async def _pin(world: World, ticket_id: int) -> str | None:
    async with world.sm() as s:
        return await s.scalar(select(Ticket.pin).where(Ticket.id == ticket_id))


async def test_every_new_ticket_gets_a_six_digit_pin(world: World) -> None:
    pins = [await _pin(world, await ticket(world.sm, f"t{n}", world.wang)) for n in range(5)]
    assert all(p is not None and len(p) == 6 and p.isdigit() for p in pins)
    assert len(set(pins)) > 1  # random, not a constant


async def test_identify_matches_the_number_as_the_pop_does(world: World) -> None:
    async with world.sm() as s:
        wang = await ivr.identify(s, "+8613800138000")
        assert wang == ivr.IvrCaller(world.wang, "王伟", "zh")
        assert await ivr.identify(s, "13800138000") == wang  # written another way
        smith = await ivr.identify(s, "013911112222", default_language="zh")
        assert smith is not None and smith.language == "en"
        assert await ivr.identify(s, "anonymous") is None
        assert await ivr.identify(s, "+8613700000000") is None
        assert await ivr.identify(s, "") is None


async def test_open_tickets_newest_first_with_group_names_and_due(world: World) -> None:
    old = await ticket(world.sm, "old", world.wang, group="ivr_support")
    await ticket(world.sm, "closed", world.wang, status="closed")
    done = await ticket(world.sm, "resolved", world.wang, status="resolved")
    new = await ticket(world.sm, "new", world.wang)
    await ticket(world.sm, "someone else's", world.smith)
    due = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)
    async with world.sm() as s, s.begin():
        await s.execute(update(Ticket).where(Ticket.id == old).values(due_at=due))
    async with world.sm() as s:
        found = await ivr.open_tickets(s, world.wang)
        assert [t.ticket_id for t in found] == [new, done, old]
        assert found[2].group == {"zh": "客服组", "en": "Support"}
        assert found[2].promised_at == due and found[2].number == f"T-{old:06d}"
        assert found[0].group is None and found[1].status == "resolved"
        assert [t.ticket_id for t in await ivr.open_tickets(s, world.wang, limit=1)] == [new]


async def test_a_done_ticket_has_no_promised_time_to_read(world: World) -> None:
    """A resolved ticket was read as "resolved, expected by November 8th": its old due time."""
    done = await ticket(world.sm, "resolved", world.wang, status="resolved")
    due = datetime(2026, 11, 8, 9, 0, tzinfo=UTC)
    async with world.sm() as s, s.begin():
        await s.execute(update(Ticket).where(Ticket.id == done).values(due_at=due))
    async with world.sm() as s:
        [found] = await ivr.open_tickets(s, world.wang)
        assert found.status == "resolved" and found.promised_at is None
        typed = await ivr.ticket_by_number(s, str(done), customer_id=world.wang, pin=None)
        assert typed is not None and typed.promised_at is None


async def test_the_pin_rule(world: World) -> None:
    mine = await ticket(world.sm, "mine", world.wang)
    theirs = await ticket(world.sm, "theirs", world.smith)
    anon = await ticket(world.sm, "no customer", None)
    pin = await _pin(world, theirs)
    assert pin is not None
    wrong = f"{(int(pin) + 1) % 10 ** 6:06d}"
    async with world.sm() as s, s.begin():
        # a ticket from before PINs: only its customer hears it
        await s.execute(update(Ticket).where(Ticket.id == anon).values(pin=None))
    async with world.sm() as s:
        n = str(mine)
        assert not await ivr.needs_pin(s, n, customer_id=world.wang)
        assert (await ivr.ticket_by_number(s, n, customer_id=world.wang, pin=None)
                ).ticket_id == mine  # type: ignore[union-attr]
        # another customer's ticket: PIN needed, and only the right one opens it
        t = str(theirs)
        assert await ivr.needs_pin(s, t, customer_id=world.wang)
        assert await ivr.needs_pin(s, t, customer_id=None)
        assert await ivr.ticket_by_number(s, t, customer_id=world.wang, pin=None) is None
        assert await ivr.ticket_by_number(s, t, customer_id=world.wang, pin=wrong) is None
        got = await ivr.ticket_by_number(s, t, customer_id=None, pin=pin)
        assert got is not None and got.ticket_id == theirs and got.title == "theirs"
        # "0000123" typed with leading zeros is the same ticket
        assert await ivr.ticket_by_number(s, t.zfill(7), customer_id=world.smith,
                                          pin=None) is not None
        # not found and wrong PIN look the same; a missing number needs a PIN too
        assert await ivr.needs_pin(s, "9999999", customer_id=world.wang)
        assert await ivr.ticket_by_number(s, "9999999", customer_id=None, pin=pin) is None
        # no PIN stored: nobody else gets in, whatever they type
        assert await ivr.ticket_by_number(s, str(anon), customer_id=None, pin="") is None
        assert await ivr.ticket_by_number(s, str(anon), customer_id=None, pin=None) is None
        for junk in ("", "12a", "12345678901", "0", "#"):
            assert await ivr.ticket_by_number(s, junk, customer_id=None, pin=pin) is None
            assert await ivr.needs_pin(s, junk, customer_id=world.wang)


async def test_a_message_ticket_carries_transcript_recording_and_prefill(
        world: World, tmp_path: Path) -> None:
    async with world.sm() as s, s.begin():
        s.add(TicketType(key="repair", name="Repair", name_zh="维修", fields=[],
                         keywords={"zh": ["坏了", "维修"]}))
        s.add(Order(number="SO20261201", customer_id=world.wang, product_name="冰箱",
                    purchased_at=datetime(2026, 10, 1, tzinfo=UTC)))
        s.add(Order(number="SO99990000", customer_id=world.smith, product_name="TV",
                    purchased_at=datetime(2026, 10, 1, tzinfo=UTC)))
    wav = _wav()
    said = "我的冰箱坏了，订单号 SO20261201，请尽快来维修，谢谢你们的帮助和支持，我们下午都在家"
    async with world.sm() as s, s.begin():
        made = await ivr.create_message_ticket(
            s, customer_id=world.wang, caller="13800138000", call_id="pbx1:77.1",
            transcript=said,
            wav=wav, store=tmp_path, max_bytes=10_000_000, allowed_types=WAV_TYPES,
            ticket_type="repair", order_numbers=["SO99990000", "SO20261201"])
    assert made.status == "new" and made.title == said[:40] and len(said) > 40
    async with world.sm() as s:
        t = await s.get(Ticket, made.ticket_id)
        assert t is not None and t.channel == "ivr" and t.customer_id == world.wang
        assert t.type is not None and t.type.key == "repair"
        # another customer's order is never taken: it would move the ticket to them
        assert t.order_number == "SO20261201" and t.call_id == "pbx1:77.1"
        assert t.description == said and t.pin is not None
        [att] = (await s.scalars(select(Attachment).where(
            Attachment.ticket_id == t.id))).all()
        assert (att.filename, att.content_type, att.public) == ("message.wav", "audio/wav",
                                                                False)
        assert (tmp_path / att.storage_key).read_bytes() == wav
        assert await s.scalar(select(TicketCall.call_id).where(
            TicketCall.ticket_id == t.id)) == "pbx1:77.1"


async def test_an_unknown_callers_message_without_words(world: World, tmp_path: Path) -> None:
    async with world.sm() as s, s.begin():
        made = await ivr.create_message_ticket(
            s, customer_id=None, caller="+8613700000000", call_id=None, transcript="  ",
            wav=_wav(), store=tmp_path, max_bytes=10_000_000, allowed_types=WAV_TYPES,
            ticket_type="no_such_type", order_numbers=["SO99990000"])
    assert made.title == ivr.MESSAGE_TITLE
    async with world.sm() as s:
        t = await s.get(Ticket, made.ticket_id)
        assert t is not None and t.customer_id is None and t.type_id is None
        assert "+8613700000000" in t.description and t.order_number == "SO99990000"


async def test_a_callback_ticket(world: World) -> None:
    async with world.sm() as s, s.begin():
        made = await ivr.request_callback(s, customer_id=world.wang, caller="13800138000",
                                          call_id="pbx1:9.9", hour=14, support_queue="ivr_q")
        asap = await ivr.request_callback(s, customer_id=None, caller="anonymous",
                                          call_id=None, hour=None, support_queue="nowhere")
        with pytest.raises(Invalid):
            await ivr.request_callback(s, customer_id=None, caller="1", call_id=None, hour=24)
    assert made.title == "回电请求 / Call-back request +8613800138000"
    assert made.group == {"zh": "客服组", "en": "Support"}
    async with world.sm() as s:
        t = await s.get(Ticket, made.ticket_id)
        assert t is not None and t.channel == "ivr" and t.tags == ["callback"]
        assert t.fields == {"callback_number": "+8613800138000", "callback_hour": 14}
        assert t.group_id == world.support and t.customer_id == world.wang
        other = await s.get(Ticket, asap.ticket_id)
        assert other is not None and other.group_id is None
        assert other.fields == {"callback_number": "anonymous", "callback_hour": None}


async def test_a_callback_ticket_takes_the_callback_type(world: World) -> None:
    async with world.sm() as s, s.begin():
        s.add(TicketType(key="callback", name="Call-back", fields=[]))
    async with world.sm() as s, s.begin():
        made = await ivr.request_callback(s, customer_id=None, caller="13911112222",
                                          call_id=None, hour=9)
    async with world.sm() as s:
        t = await s.get(Ticket, made.ticket_id)
        assert t is not None and t.type is not None and t.type.key == "callback"
        assert t.fields["callback_hour"] == 9


async def test_the_ticket_to_rate(world: World) -> None:
    linked = await ticket(world.sm, "the call's", world.smith, status="resolved",
                          call_id="pbx1:5.5")
    older = await ticket(world.sm, "older", world.wang, status="resolved")
    newer = await ticket(world.sm, "newer", world.wang, status="closed")
    stale = await ticket(world.sm, "long ago", world.wang, status="resolved")
    await ticket(world.sm, "open", world.wang)
    now = datetime.now(UTC)
    async with world.sm() as s, s.begin():
        for tid, ago in ((older, 3), (newer, 1), (stale, 20)):
            await s.execute(update(Ticket).where(Ticket.id == tid)
                            .values(resolved_at=now - timedelta(days=ago)))
    async with world.sm() as s:
        # survey mode: the call's own resolved ticket, whoever calls
        got = await ivr.ratable_ticket(s, call_id="pbx1:5.5", customer_id=None)
        assert got is not None and got.ticket_id == linked
        got = await ivr.ratable_ticket(s, call_id="pbx1:nothing", customer_id=world.wang)
        assert got is not None and got.ticket_id == newer
        assert await ivr.ratable_ticket(s, call_id=None, customer_id=None) is None
    async with world.sm() as s, s.begin():
        await csat.rate(s, newer, 5, "ivr")
    async with world.sm() as s:
        got = await ivr.ratable_ticket(s, call_id=None, customer_id=world.wang)
        assert got is not None and got.ticket_id == older  # newer is rated, stale too old
    async with world.sm() as s, s.begin():
        await csat.rate(s, older, 4, "ivr")
    async with world.sm() as s:
        assert await ivr.ratable_ticket(s, call_id=None, customer_id=world.wang) is None


async def test_journeys_for_the_pop(world: World) -> None:
    t0 = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
    steps = [{"at_s": 3.04, "kind": "menu", "detail": "1"},
             {"at_s": 12.5, "kind": "status", "detail": "T-000123"},
             {"at_s": 20.0, "kind": "invalid", "detail": "7"},
             {"at_s": 40.2, "kind": "agent", "detail": "0"}]
    async with world.sm() as s, s.begin():
        await ivr.record_journey(s, call_id="pbx1:3.3", call_ref="sip-1", caller="1380",
                                 started_at=t0, ended_at=t0 + timedelta(seconds=41),
                                 outcome="hangup", steps=steps[:1], language="zh")
        await ivr.record_journey(s, call_id="pbx1:3.3", call_ref="sip-2", caller="1380",
                                 started_at=t0, ended_at=t0 + timedelta(seconds=41),
                                 outcome="agent", steps=steps, language="en")
        with pytest.raises(Invalid):
            await ivr.record_journey(s, call_id=None, call_ref="x", caller="1", started_at=t0,
                                     ended_at=t0, outcome="exploded", steps=[], language="zh")
    async with world.sm() as s:
        pop = await ivr.journey_for_call(s, "pbx1:3.3")
        assert await ivr.journey_for_call(s, "pbx1:none") is None
    assert pop == {"outcome": "agent", "summary":
                   "checked T-000123 · 1 invalid/timeout · pressed 0 after 40 s",
                   "steps": [{"at_s": 3.0, "kind": "menu", "detail": "1"},
                             {"at_s": 12.5, "kind": "status", "detail": "T-000123"},
                             {"at_s": 20.0, "kind": "invalid", "detail": "7"},
                             {"at_s": 40.2, "kind": "agent", "detail": "0"}]}


def test_journey_language_follows_key_9() -> None:
    nine = {"kind": "menu", "detail": "9"}
    assert ivr.journey_language("zh", []) == "zh"
    assert ivr.journey_language("zh", [nine]) == "en"
    assert ivr.journey_language("en", [nine, {"kind": "menu", "detail": "1"}, nine]) == "en"


def test_summary_words() -> None:
    assert ivr.journey_summary("hangup", [
        {"at_s": 5, "kind": "message", "detail": "T-000009"}]) == "left message T-000009 · hangup"
    assert ivr.journey_summary("busy", []) == "busy"
    assert ivr.journey_summary("agent", [
        {"at_s": 3, "kind": "timeout", "detail": ""}, {"at_s": 9, "kind": "invalid", "detail": "7"},
        {"at_s": 18.6, "kind": "agent", "detail": "strikes"}]) == \
        "2 invalid/timeout · agent (strikes) after 19 s"
