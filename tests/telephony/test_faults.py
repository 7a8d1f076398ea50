"""Fault tests over real TCP: link cuts, restarts, bad logins, bad bytes, floods."""

from __future__ import annotations

import asyncio
import logging
import random
from collections import Counter

import pytest

from telephony import PbxUnavailable

A = "a_inbound_queue_answered"


def index_of(rig, name, pred, nth=0):
    hits = [i for i, (_, m) in enumerate(rig.server.script(name)) if pred(m)]
    return hits[nth]


def final_writes(rig):
    return Counter(r.call_id for r in rig.directory.writes if r.ended_at is not None)


def assert_queue_call_ok(rig, call_id, answered=True):
    pops = Counter(p["extension"] for p in rig.pops() if p["call_id"] == call_id)
    assert pops == {"6001": 1, "6002": 1}, pops  # each rung leg popped exactly once
    closed = [x for u in rig.rec.of("call_update") if u["call_id"] == call_id
              for x in (u.get("closed_for") or [])]
    assert Counter(closed) == {"6002": 1} if answered else {"6001": 1, "6002": 1}
    assert final_writes(rig)[call_id] == 1  # ended exactly once in the call log
    rec = rig.directory.calls[call_id]
    if answered:
        assert rec.agent_extension == "6001" and rec.answered_at is not None
        assert rec.state == "ended"


@pytest.mark.parametrize("where", ["before_answer", "during_talk", "before_hangup"])
async def test_cut_mid_call(rig, where):
    if where == "before_answer":  # the answer happens while we are away
        cut = index_of(rig, A, lambda m: m.get("DialStatus") == "ANSWER")
        down = index_of(rig, A, lambda m: m.get("Event") == "BridgeEnter", 1) - cut + 1
    elif where == "during_talk":
        cut = index_of(rig, A, lambda m: m.get("Event") == "BridgeEnter", 1) + 1
        down = 3
    else:  # the whole end of the call happens while we are away
        cut = index_of(rig, A, lambda m: m.get("Event") == "HangupRequest")
        down = 10_000
    result = await rig.server.play(A, cut_at=cut, down_events=down)
    await rig.server.wait_logged_in()
    await rig.wait_idle()
    call_id = f"pbx1:{result.linkedids[0]}"
    assert_queue_call_ok(rig, call_id)
    assert rig.bridge.connects == 2
    if where == "before_hangup":
        assert "hangup event missed" in rig.directory.calls[call_id].hangup_cause
    assert list(rig.directory.calls) == [call_id]


async def test_queue_call_answered_and_ended_while_down_is_not_abandoned(rig):
    # Both phones ring, then the link drops: the answer, the talk and the hangup all
    # happen while we are away. The channels are gone at resync, but 6001's CallsTaken
    # rose by one: the call was answered (by 6001), not abandoned.
    first_call = await rig.server.play(A)  # CallsTaken is known before the cut
    cut = index_of(rig, A, lambda m: m.get("DialStatus") == "ANSWER")
    result = await rig.server.play(A, cut_at=cut, down_events=10_000)
    await rig.server.wait_logged_in()
    await rig.wait_idle()
    call_id = f"pbx1:{result.linkedids[0]}"
    assert final_writes(rig)[call_id] == 1
    rec = rig.directory.calls[call_id]
    assert rec.state == "ended" and rec.agent_extension == "6001", rec
    assert rec.answered_at is None  # when it was answered is not knowable
    assert "hangup event missed" in rec.hangup_cause
    closed = [x for u in rig.rec.of("call_update") if u["call_id"] == call_id
              for x in (u.get("closed_for") or [])]
    assert Counter(closed) == {"6001": 1, "6002": 1}  # both ringing cards closed
    stats = [e for e in rig.rec.of("queue_stats") if e["queue"] == "support"][-1]
    assert stats["abandoned"] == 0 and stats["completed"] == 2
    assert rig.directory.calls[f"pbx1:{first_call.linkedids[0]}"].state == "ended"


async def test_queue_call_abandoned_while_down_is_abandoned(rig):
    await rig.server.play(A)
    join = index_of(rig, "b_queue_abandon", lambda m: m.get("Event") == "QueueCallerJoin")
    result = await rig.server.play("b_queue_abandon", cut_at=join + 2, down_events=10_000)
    await rig.server.wait_logged_in()
    await rig.wait_idle()
    rec = rig.directory.calls[f"pbx1:{result.linkedids[0]}"]
    assert rec.state == "abandoned" and rec.agent_extension is None
    assert final_writes(rig)[rec.call_id] == 1
    stats = [e for e in rig.rec.of("queue_stats") if e["queue"] == "support"][-1]
    assert stats["abandoned"] == 1


async def test_server_restart_loses_calls_and_bridge_recovers(rig):
    _task, result = rig.server.start_play(A, speed=3.0)
    await rig.rec.wait_for(lambda e: e.get("answered_by") == "6001", within=10)
    call_id = f"pbx1:{result.linkedids[0]}"
    await rig.server.restart(down_for=0.1)
    await rig.server.wait_logged_in()
    await rig.wait_idle()
    assert final_writes(rig)[call_id] == 1
    assert rig.directory.calls[call_id].state == "ended"
    states = [e["state"] for e in rig.rec.of("pbx_status")]
    assert "disconnected" in states and states[-1] == "connected"
    second = await rig.server.play(A)
    await rig.wait_idle()
    assert_queue_call_ok(rig, f"pbx1:{second.linkedids[0]}")
    assert rig.tel.state()[0]["connected"] is True


async def test_wrong_secret_is_surfaced_and_retried(rig_factory, caplog):
    caplog.set_level(logging.DEBUG)
    rig = await rig_factory(secret="not-the-secret", connect=False)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 5
    while rig.server.failed_logins < 3:
        assert loop.time() < deadline, "the bridge stopped retrying"
        await asyncio.sleep(0.01)
    st = rig.tel.state()[0]
    assert st["connected"] is False and st["state"] in ("login_failed", "connecting")
    assert rig.bridge.last_error == "login failed: Authentication failed"
    assert "not-the-secret" not in caplog.text
    assert any(e["state"] == "login_failed" for e in rig.rec.of("pbx_status"))
    with pytest.raises(PbxUnavailable, match="login failed"):
        await rig.tel.queue_pause("PJSIP/6001", True)
    rig.server.secret = "not-the-secret"  # the admin fixes manager.conf
    await rig.server.wait_logged_in()
    await asyncio.wait_for(rig.bridge._resynced.wait(), 5)
    assert rig.tel.state()[0]["connected"] is True


async def test_garbage_bytes_between_messages(rig):
    junk = {
        4: b"\x00\xff\xfe garbage without a colon\r\n\r\n",
        9: b"%%%%\r\nnot: an event\r\n\r\n\xc3\x28\xa0\xa1\r\n\r\n",
        15: bytes(random.Random(3).randrange(1, 256) for _ in range(3000)).replace(
            b"\r\n\r\n", b"") + b"\r\n\r\n",
    }
    result = await rig.server.play(A, extra=junk)
    await rig.wait_idle()
    assert_queue_call_ok(rig, f"pbx1:{result.linkedids[0]}")
    assert rig.bridge.protocol.parser.garbage >= 3
    assert rig.bridge.connects == 1


async def test_half_frames(rig):
    rig.server.fragment = 37  # every write cut into 37-byte TCP pieces
    result = await rig.server.play(A)
    await rig.wait_idle()
    assert_queue_call_ok(rig, f"pbx1:{result.linkedids[0]}")


async def test_one_megabyte_header_and_oversized_message(rig):
    script = rig.server.script(A)
    chan = next(m for _, m in script if m.get("Event") == "Newchannel")
    big = b"x" * 1_000_000
    result = await rig.server.play(A, extra={
        6: b"Event: VarSet\r\nChannel: %s\r\nUniqueid: UID\r\nVariable: HOTLINE_NOTE\r\n"
           b"Value: " % chan["Channel"].encode() + big + b"\r\n\r\n",
        8: b"Event: Huge\r\nValue: " + b"y" * 5_000_000 + b"\r\n\r\n",
    })
    await rig.wait_idle()
    assert_queue_call_ok(rig, f"pbx1:{result.linkedids[0]}")
    parser = rig.bridge.protocol.parser
    assert parser.oversized == 1  # the 5 MB one, skipped whole
    assert rig.bridge.connects == 1


async def test_event_flood_with_back_pressure(rig_factory):
    rig = await rig_factory(queue_high=2000)
    await rig.server.flood(60_000)
    result = await rig.server.play(A)
    await rig.wait_idle(within=30)
    assert rig.bridge.events_processed >= 60_000
    assert_queue_call_ok(rig, f"pbx1:{result.linkedids[0]}")
    assert rig.bridge.queue.qsize() == 0 and not rig.bridge._paused
    assert rig.bridge.pauses >= 1  # the socket was paused while the queue was deep


async def test_silent_link_declared_dead_by_watchdog(rig_factory):
    rig = await rig_factory(ping_interval=0.3, ping_timeout=0.3)
    rig.server.silent = True
    await rig.rec.wait_for(lambda e: e.get("type") == "pbx_status"
                           and e["state"] == "disconnected", within=5)
    assert "Ping" in (rig.bridge.last_error or "")
    rig.server.silent = False
    await rig.rec.wait_for(lambda e: e.get("type") == "pbx_status"
                           and e["state"] == "connected" and e["connects"] >= 2, within=5)


@pytest.mark.parametrize("cuts", [25, pytest.param(100, marks=pytest.mark.slow)])
async def test_random_link_cuts_every_call_logged_exactly_once(rig, cuts):
    rnd = random.Random(cuts)
    results = []
    done_cutting = asyncio.Event()

    async def cutter():
        for _ in range(cuts):
            await asyncio.sleep(rnd.uniform(0.005, 0.06))
            rig.server.cut()
            await rig.server.wait_logged_in(within=10)
        done_cutting.set()

    async def caller():
        while not done_cutting.is_set():
            await rig.server.wait_logged_in(within=10)
            name = rnd.choice([A, "b_queue_abandon"])
            results.append((name, rig.server.start_play(name, speed=50.0)[1]))
            await asyncio.sleep(rnd.uniform(0.01, 0.08))

    await asyncio.gather(cutter(), caller())
    for _, r in results:
        await asyncio.wait_for(r.done.wait(), 20)
    await rig.server.wait_logged_in()
    await rig.wait_idle(within=20)
    expected = {f"pbx1:{r.linkedids[0]}" for _, r in results}
    assert set(rig.directory.calls) == expected
    assert set(final_writes(rig).values()) == {1}
    assert set(final_writes(rig)) == expected
    logged = Counter(e["call_id"] for e in rig.rec.of("call_log"))
    assert set(logged) == expected and set(logged.values()) == {1}
    per_leg = Counter((p["call_id"], p["extension"]) for p in rig.pops())
    assert set(per_leg.values()) <= {1}
    for rec in rig.directory.calls.values():
        assert rec.state in ("ended", "abandoned") and rec.ended_at is not None
    assert rig.bridge.connects >= cuts
    assert len(expected) >= cuts // 5 and rig.pops()


async def test_periodic_resync_ends_a_call_whose_hangup_was_lost(rig_factory):
    rig = await rig_factory(resync_interval=0.2)
    # A channel the PBX never had (as if its Hangup got lost): the next snapshot ends it.
    await rig.server.send_raw(
        b"Event: Newchannel\r\nChannel: PJSIP/customer-0000abcd\r\nChannelState: 4\r\n"
        b"ChannelStateDesc: Ring\r\nCallerIDNum: +15551230001\r\nCallerIDName: Jane\r\n"
        b"Uniqueid: 1795400001.1\r\nLinkedid: 1795400001.1\r\n\r\n")
    await rig.rec.wait_for(lambda e: e.get("call_id") == "pbx1:1795400001.1"
                           and e.get("state") == "ended", within=3)
    await rig.settle()
    rec = rig.directory.calls["pbx1:1795400001.1"]
    assert rec.ended_at is not None and "hangup event missed" in rec.hangup_cause
    assert rig.bridge.connects == 1
