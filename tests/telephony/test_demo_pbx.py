"""The demo PBX: the pure schedule, and the real bridge driven by it over TCP."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator

import pytest

from telephony import InMemoryCallDirectory, Telephony
from telephony.demo_pbx import (
    DEMO_CALLER_NUMBERS,
    DEMO_KEYED_ORDERS,
    ROTATION,
    SCENARIOS,
    DemoPacing,
    DemoPbx,
    DemoSchedule,
    agent_map,
    trunk_form,
)
from telephony.simulator import _Keyed
from tickets.bus import InProcessBus

from .conftest import FAST, Recorder


def test_schedule_first_call_then_jittered_gaps_in_range() -> None:
    sched = DemoSchedule(DemoPacing(first_call_s=2.5, gap_min_s=30, gap_max_s=60),
                         random.Random(7))
    planned = [sched.next_call() for _ in range(40)]
    assert planned[0].delay_s == 2.5
    gaps = [p.delay_s for p in planned[1:]]
    assert all(30 <= g <= 60 for g in gaps)
    assert len({round(g, 3) for g in gaps}) > 30  # jittered, not a fixed beat
    assert [p.scenario.name for p in planned[:8]] == [*ROTATION, *ROTATION]
    # Every demo number calls, in order, then again.
    n = len(DEMO_CALLER_NUMBERS)
    assert [p.caller for p in planned[:n]] == list(DEMO_CALLER_NUMBERS)
    assert planned[n].caller == DEMO_CALLER_NUMBERS[0]


def test_first_call_is_one_alice_answers_from_a_known_number() -> None:
    first = DemoSchedule(DemoPacing()).next_call()
    assert first.delay_s <= 10
    assert first.scenario.answered_by == "6001" and first.caller == "+8613800138000"


def test_rotation_covers_answered_abandoned_transfer_and_both_agents() -> None:
    scenarios = [SCENARIOS[name] for name in ROTATION]
    assert {s.capture for s in scenarios} >= {"a_inbound_queue_answered", "b_queue_abandon",
                                                "e_queue_blind_transfer"}
    assert {s.answered_by for s in scenarios} >= {"6001", "6002", None}


@pytest.mark.parametrize("pacing", [
    {"first_call_s": -1}, {"gap_min_s": 10, "gap_max_s": 5}, {"speed": 0},
])
def test_pacing_refuses_nonsense(pacing: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="demo pacing"):
        DemoPacing(**pacing)


@pytest.mark.parametrize(("e164", "trunk"), [
    ("+8613800138000", "13800138000"),  # mobile: no trunk prefix
    ("+862161234567", "02161234567"),  # Shanghai landline: 0 + area code
    ("+8675586001234", "075586001234"),  # Shenzhen landline
    ("+14155550100", "+14155550100"),  # not Chinese: as is
    ("garbage", "garbage"),
])
def test_trunk_form_is_how_a_chinese_trunk_presents_numbers(e164: str, trunk: str) -> None:
    assert trunk_form(e164) == trunk


def test_agent_map_moves_the_answering_role() -> None:
    answered = SCENARIOS["answered"]
    assert agent_map(answered, None) is None and agent_map(answered, "6001") is None
    assert agent_map(answered, "6002") == {"6001": "6002", "6002": "6001"}  # swap
    assert agent_map(answered, "6010") == {"6001": "6010"}
    assert agent_map(SCENARIOS["abandoned"], "6002") is None  # nobody answers anyway


def test_call_refuses_unknown_scenario_and_bad_extension() -> None:
    demo = DemoPbx()
    with pytest.raises(ValueError, match=r"^scenario: unknown 'nope'"):
        demo.call("nope")
    with pytest.raises(ValueError, match=r"^to: not an extension"):
        demo.call("answered", to="60x1")
    assert demo.calls_started == 0


class DemoRig:
    def __init__(self, demo: DemoPbx, tel: Telephony, rec: Recorder) -> None:
        self.demo, self.tel, self.rec = demo, tel, rec


@pytest.fixture
async def demo_rig() -> AsyncIterator[DemoRig]:
    """The demo PBX at test pace with the real Telephony logged in to it over TCP."""
    demo = DemoPbx(DemoPacing(first_call_s=0.05, gap_min_s=600, gap_max_s=600, speed=40),
                   rng=random.Random(1))
    config = await demo.start()
    assert config.host == "127.0.0.1" and config.port == demo.pbx.port
    assert config.secret == demo.pbx.secret and len(config.secret) >= 24
    bus = InProcessBus()
    rec = Recorder(bus)
    directory = InMemoryCallDirectory(customers={"+8613800138000": {"id": 1, "name": "VIP"}})
    tel = Telephony([config], bus, directory, "CN", **FAST)
    await tel.start()
    try:
        yield DemoRig(demo, tel, rec)
    finally:
        await tel.stop()
        await demo.stop()
        await rec.close()


async def test_the_scheduler_rings_alice_with_a_demo_customer(demo_rig: DemoRig) -> None:
    pop = await demo_rig.rec.wait_for(
        lambda e: e.get("type") == "screen_pop" and e.get("extension") == "6001", 10)
    assert pop["caller_number"] == "+8613800138000"  # the trunk's 13800138000, in E.164
    assert pop["customer"]["name"] == "VIP"
    assert pop["call_id"].startswith("demo:")
    assert demo_rig.tel.state()[0]["connected"]


async def test_ring_now_reaches_the_chosen_agent_with_an_unknown_number(
        demo_rig: DemoRig) -> None:
    await demo_rig.rec.wait_for(lambda e: e.get("type") == "screen_pop", 10)  # first call
    planned = demo_rig.demo.call("answered", to="6002", caller="+8613700001111")
    assert planned.scenario.name == "answered"

    def answered_by_bob(e: dict[str, object]) -> bool:
        return (e.get("type") == "call_update" and e.get("state") == "answered"
                and e.get("answered_by") == "6002")

    update = await demo_rig.rec.wait_for(answered_by_bob, 10)
    pops = [p for p in demo_rig.rec.of("screen_pop") if p["call_id"] == update["call_id"]]
    assert pops and all(p["customer"] is None for p in pops)  # nobody's number: still pops
    assert {p["caller_number"] for p in pops} == {"+8613700001111"}
    assert all(p["order_number"] is None for p in pops)  # nobody's caller keys nothing


async def test_a_demo_caller_keys_their_own_order_number(demo_rig: DemoRig) -> None:
    await demo_rig.rec.wait_for(lambda e: e.get("type") == "screen_pop", 10)  # first call
    demo_rig.demo.call("answered", to="6002", caller="+8615921876543")
    pop = await demo_rig.rec.wait_for(
        lambda e: e.get("type") == "screen_pop" and e.get("caller_number") == "+8615921876543"
        and e.get("extension") == "6002", 10)
    assert pop["order_number"] == DEMO_KEYED_ORDERS["+8615921876543"] == "261103315"
    assert pop["dtmf"].startswith("261103315")


def test_keyed_digits_replace_the_recorded_order_number() -> None:
    recorded = [{"Event": e, "Digit": d, "Direction": "Received"}
                for d in "478#" for e in ("DTMFBegin", "DTMFEnd")]
    recorded += [{"Event": "VarSet", "Variable": "ORDER", "Value": "478"},
                 {"Event": "Newexten", "AppData": "ORDER=478"},
                 {"Event": "VarSet", "Variable": "BRIDGEPEER", "Value": "1.478"}]
    keys = _Keyed("52")
    out = [m for r in recorded for m in keys.apply(r)]
    assert [(m["Event"], m["Digit"]) for m in out if "Digit" in m] == [
        ("DTMFBegin", "5"), ("DTMFEnd", "5"), ("DTMFBegin", "2"), ("DTMFEnd", "2"),
        ("DTMFBegin", "#"), ("DTMFEnd", "#")]
    assert [m.get("Value", m.get("AppData")) for m in out if "Digit" not in m] == [
        "52", "ORDER=52", "1.478"]
    nothing = [m for r in recorded for m in _Keyed("").apply(r)]
    assert [m["Digit"] for m in nothing if "Digit" in m] == ["#", "#"]
    assert _Keyed(None).apply(recorded[0]) == [recorded[0]]
    with pytest.raises(ValueError, match="digits only"):
        _Keyed("47a")


async def test_hang_up_ends_a_demo_call_and_pause_works(demo_rig: DemoRig) -> None:
    pop = await demo_rig.rec.wait_for(
        lambda e: e.get("type") == "screen_pop" and e.get("extension") == "6001", 10)
    await demo_rig.tel.hangup(pop["call_id"])
    await demo_rig.rec.wait_for(lambda e: e.get("type") == "call_update"
                                and e.get("call_id") == pop["call_id"]
                                and e.get("state") in ("ended", "abandoned"), 5)
    await asyncio.sleep(0.3)  # the rest of the capture must not bring the call back
    assert all(c["call_id"] != pop["call_id"] for c in demo_rig.tel.live_calls())
    assert not demo_rig.demo.pbx.channels

    await demo_rig.tel.queue_pause("PJSIP/6002", True, "lunch")
    await demo_rig.rec.wait_for(lambda e: e.get("type") == "agent_state"
                                and e.get("extension") == "6002" and e.get("paused"), 5)
    await demo_rig.tel.queue_pause("PJSIP/6002", False)
    await demo_rig.rec.wait_for(lambda e: e.get("type") == "agent_state"
                                and e.get("extension") == "6002"
                                and e.get("paused") is False, 5)


async def test_an_answered_demo_call_speaks_to_the_asr_server() -> None:
    streams: list[str] = []

    async def speaker(stream_uuid: str) -> None:
        streams.append(stream_uuid)

    demo = DemoPbx(DemoPacing(first_call_s=600, gap_min_s=600, gap_max_s=600, speed=40),
                   speaker=speaker)
    bus = InProcessBus()
    rec = Recorder(bus)
    tel = Telephony([await demo.start()], bus, InMemoryCallDirectory(), "CN", **FAST)
    await tel.start()
    try:
        await demo.pbx.wait_logged_in()
        demo.call("abandoned")  # nobody answers: nobody to speak to
        demo.call("answered")
        link = await rec.wait_for(lambda e: e.get("type") == "asr_link", 10)
        answered = await rec.wait_for(lambda e: e.get("type") == "call_update"
                                      and e.get("state") == "answered", 1)
        assert link["call_id"] == answered["call_id"]
        for _ in range(100):
            if streams:
                break
            await asyncio.sleep(0.01)
        assert streams == [link["uuid"]]
        await rec.wait_for(lambda e: e.get("type") == "call_update"
                           and e.get("state") == "abandoned", 10)
        assert len(rec.of("asr_link")) == 1
    finally:
        await tel.stop()
        await demo.stop()
        await rec.close()


async def test_the_console_transfer_button_moves_a_demo_call_to_bob() -> None:
    """On a recorded call nobody scripted a transfer for, the PBX acts it out: the
    recording stops, bob's phone rings and answers, then the call ends."""
    # speed 4: the recording's talk lasts ~2 s, time enough to press "transfer" in it
    demo = DemoPbx(DemoPacing(first_call_s=0.05, gap_min_s=600, gap_max_s=600, speed=4))
    bus = InProcessBus()
    rec = Recorder(bus)
    tel = Telephony([await demo.start()], bus, InMemoryCallDirectory(), "CN", **FAST)
    await tel.start()
    try:
        answered = await rec.wait_for(lambda e: e.get("type") == "call_update"
                                      and e.get("state") == "answered", 10)
        call_id = answered["call_id"]
        await tel.blind_transfer(call_id, "6002")
        moved = await rec.wait_for(lambda e: e.get("type") == "call_update"
                                   and e.get("call_id") == call_id
                                   and e.get("transfer_to") == "6002", 5)
        assert moved["state"] == "transferred"
        after = len(rec.events)
        await rec.wait_for(lambda e: e.get("type") == "call_update"
                           and e.get("call_id") == call_id
                           and e.get("state") == "ended", 6)
        # bob's phone rang and answered (not in the recording: acted out by the PBX)
        # (bob's screen_pop may land on either side of ``after``: call updates only)
        later = [e for _, e in rec.events[after:] if e.get("call_id") == call_id
                 and e.get("type") == "call_update"]
        assert [(e["type"], e["state"], e.get("answered_by")) for e in later][:2] == [
            ("call_update", "answered", "6002"), ("call_update", "ended", None)]
        assert not demo.pbx.channels  # every leg hung up, the queue's losing one too
        assert all(c["call_id"] != call_id for c in tel.live_calls())
        blind = [a for a in demo.pbx.actions if a.get("Action") == "BlindTransfer"]
        assert blind[-1]["Exten"] == "6002" and blind[-1]["Channel"].startswith("PJSIP/6001-")
    finally:
        await tel.stop()
        await demo.stop()
        await rec.close()
