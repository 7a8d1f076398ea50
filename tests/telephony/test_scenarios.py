"""Scenario tests: the real captures replayed over TCP through the whole bridge."""

from __future__ import annotations

import asyncio

import pytest

from telephony import ActionFailed, ActionTimeout, CallNotFound, PbxUnavailable


async def test_queue_answer_pops_both_agents_and_closes_loser(rig):
    result = await rig.server.play("a_inbound_queue_answered")
    await rig.wait_idle()
    call_id = f"pbx1:{result.linkedids[0]}"
    pops = rig.pops()
    assert sorted(p["extension"] for p in pops) == ["6001", "6002"]
    for p in pops:
        assert p["call_id"] == call_id and p["pbx"] == "pbx1"
        assert p["caller_number"] == "+15551230001" and p["queue"] == "support"
        assert p["customer"] == {"id": 1, "name": "Jane Doe"}
        assert [t["number"] for t in p["tickets"]] == ["T-11"]
    updates = [u for u in rig.rec.of("call_update") if u["call_id"] == call_id]
    answered = [u for u in updates if u.get("answered_by")]
    assert len(answered) == 1 and answered[0]["answered_by"] == "6001"
    assert answered[0]["closed_for"] == ["6002"]
    assert set(answered[0]["extensions"]) == {"6001", "6002"}
    # The pop for a leg is always published before the update that closes it.
    kinds = [(e["type"], e.get("extension"), tuple(e.get("closed_for") or ()))
             for _, e in rig.rec.events if e.get("call_id") == call_id]
    assert kinds.index(("screen_pop", "6002", ())) < next(
        i for i, k in enumerate(kinds) if "6002" in k[2])
    assert updates[-1]["state"] == "ended"
    rec = rig.directory.calls[call_id]
    assert rec.state == "ended" and rec.agent_extension == "6001" and rec.queue == "support"
    assert rec.dtmf == "478#" and rec.order_number == "478"
    assert rig.directory.lookups == 1  # prefetched once for both pops
    [log_event] = [e for e in rig.rec.of("call_log") if e["call_id"] == call_id]
    assert log_event["state"] == "ended" and log_event["agents"] == ["6001"]
    assert log_event["ended_at"].endswith("+00:00") and log_event["extensions"] == ["6001"]
    assert rig.tel.live_calls() == []
    q = rig.tel.queues()[0]
    assert q["queue"] == "support" and q["completed"] >= 1 and q["waiting"] == 0
    assert {a["extension"] for a in q["agents"]} == {"6001", "6002"}


async def test_live_calls_while_ringing_and_queue_waiting(rig):
    script = rig.server.script("a_inbound_queue_answered")
    ringing = next(i for i, (_, m) in enumerate(script) if m.get("Event") == "DialState")
    task, _result = rig.server.start_play("a_inbound_queue_answered", speed=3.0)
    try:
        await rig.rec.wait_for(lambda e: e.get("type") == "screen_pop"
                               and e["extension"] == "6002", within=10)
        live = rig.tel.live_calls()
        assert len(live) == 1 and live[0]["state"] == "queued"
        assert set(live[0]["ringing"]) >= {"6001"}
        q = rig.tel.queues()[0]
        assert q["waiting"] == 1 and q["longest_wait_s"] >= 0
        assert ringing > 0
    finally:
        task.cancel()


async def test_abandon(rig):
    result = await rig.server.play("b_queue_abandon")
    await rig.wait_idle()
    call_id = f"pbx1:{result.linkedids[0]}"
    assert sorted(p["extension"] for p in rig.pops()) == ["6001", "6002"]
    closed = [x for u in rig.rec.of("call_update") for x in (u.get("closed_for") or [])]
    assert sorted(closed) == ["6001", "6002"]
    rec = rig.directory.calls[call_id]
    assert rec.state == "abandoned" and rec.answered_at is None and rec.wait_s == 7
    stats = rig.rec.of("queue_stats")[-1]
    assert stats["abandon_rate"] > 0 and stats["waiting"] == 0


async def test_blind_transfer_via_action(rig):
    _task, result = rig.server.start_play("e_queue_blind_transfer")
    upd = await rig.rec.wait_for(lambda e: e.get("type") == "call_update"
                                 and e.get("answered_by") == "6001")
    call_id = upd["call_id"]
    await rig.tel.blind_transfer(call_id, "6002", context="internal")
    await asyncio.wait_for(result.done.wait(), 5)
    await rig.wait_idle()
    sent = [a for a in rig.server.actions if a.get("Action") == "BlindTransfer"]
    assert sent[-1]["Channel"].startswith("PJSIP/6001-") and sent[-1]["Exten"] == "6002"
    assert [p["extension"] for p in rig.pops()] == ["6001", "6002", "6002"]
    rec = rig.directory.calls[call_id]
    assert rec.agents == ("6001", "6002") and rec.transferred_to == "6002"
    assert any(u["state"] == "transferred" for u in rig.rec.of("call_update"))


async def test_originate_success_and_busy(rig):
    res = await rig.tel.originate("6001", "6002", wait=True)
    assert res["channel"].startswith("PJSIP/6001-") and res["call_id"].startswith("pbx1:")
    await rig.wait_idle()
    rec = rig.directory.calls[res["call_id"]]
    assert rec.direction == "internal" and rec.agent_extension == "6001"
    assert rig.pops() == []  # no pop for the agent's own outgoing call
    rig.server.originate_outcome = "busy"
    with pytest.raises(ActionFailed) as err:
        await rig.tel.originate("6001", "6002", wait=True)
    assert "reason 0" in str(err.value)
    await rig.wait_idle()
    assert sum(1 for r in rig.directory.calls.values() if r.answered_at is None) == 1
    with pytest.raises(ValueError):
        await rig.tel.originate("60a1", "6002")


async def test_dtmf_updates(rig):
    await rig.server.play("a_inbound_queue_answered")
    await rig.wait_idle()
    digits = [u["dtmf"] for u in rig.rec.of("call_update") if "dtmf" in u]
    assert digits == ["4", "47", "478", "478#"]


async def test_actions_and_errors(rig):
    srv, tel = rig.server, rig.tel
    await tel.queue_pause("PJSIP/6002", True, "lunch", queue="support")
    st = await rig.rec.wait_for(lambda e: e.get("type") == "agent_state"
                                and e["extension"] == "6002" and e["paused"])
    assert st["paused_reason"] == "lunch"
    with pytest.raises(ActionFailed) as err:
        await tel.queue_pause("PJSIP/9999", True)
    assert err.value.message == "Interface not found"
    await tel.queue_add("support", "PJSIP/6003", member_name="Agent 6003")
    with pytest.raises(ActionFailed, match="Already there"):
        await tel.queue_add("support", "PJSIP/6003")
    await tel.queue_remove("support", "PJSIP/6003")
    with pytest.raises(ActionFailed, match="Not there"):
        await tel.queue_remove("support", "PJSIP/6003")
    with pytest.raises(ActionFailed, match="No such channel"):
        await tel.hangup("PJSIP/customer-deadbeef")
    with pytest.raises(ActionFailed, match="no live call"):
        await tel.hangup("pbx1:123.4")
    with pytest.raises(PbxUnavailable):
        await tel.hangup("pbx9:123.4")
    with pytest.raises(CallNotFound, match="no live call"):  # spying needs the call
        await tel.spy_call("pbx1:123.4", "6010", "6001", "whisper")
    with pytest.raises(ValueError):
        await tel.spy_call("pbx1:123.4", "6010", "6001", "shout")
    with pytest.raises(ActionFailed, match="Invalid/unknown command"):
        await rig.bridge.action({"Action": "NoSuchAction"})
    srv.silent = True
    with pytest.raises(ActionTimeout):
        await rig.bridge.action({"Action": "Ping"}, timeout=0.1)
    srv.silent = False


async def test_hangup_and_recording_during_live_call(rig):
    _task, result = rig.server.start_play("d_actions")
    upd = await rig.rec.wait_for(lambda e: e.get("type") == "call_update"
                                 and e.get("answered_by") == "6001")
    call_id = upd["call_id"]
    path = await rig.tel.start_recording(call_id)
    assert path.endswith(".wav")
    await rig.rec.wait_for(lambda e: e.get("recording_path") == path)
    await rig.tel.stop_recording(call_id)
    await rig.tel.hangup(call_id)
    await asyncio.wait_for(result.done.wait(), 5)
    await rig.wait_idle()
    rec = rig.directory.calls[call_id]
    assert rec.state == "ended" and rec.recording_path == path
    hang = [a for a in rig.server.actions if a.get("Action") == "Hangup"]
    assert hang[-1]["Channel"].startswith("PJSIP/customer-")


async def test_asr_link_published(rig):
    script = rig.server.script("a_inbound_queue_answered")
    newchan = next(m for _, m in script if m.get("Event") == "Newchannel")
    first_play = await rig.server.play("a_inbound_queue_answered", extra={
        3: ("Event: VarSet\r\nPrivilege: dialplan,all\r\nChannel: {}\r\nUniqueid: {}\r\n"
            "Linkedid: {}\r\nVariable: HOTLINE_ASR_UUID\r\nValue: 5f0c1c8e-0d4c-4d43-9b54-"
            "2a7d1f6a9e10\r\n\r\n").format(newchan["Channel"], "{uid}", "{uid}").encode()})
    await rig.wait_idle()
    # The VarSet above names a channel id nobody created: it must not invent a call.
    assert len(rig.directory.calls) == 1
    # Now a real one, on the live channel of a second call.
    task, _result = rig.server.start_play("a_inbound_queue_answered", speed=2.0)
    try:
        first_id = f"pbx1:{first_play.linkedids[0]}"
        await rig.rec.wait_for(lambda e: e.get("type") == "call_update"
                               and e.get("state") == "queued"
                               and e["call_id"] != first_id, within=10)
        live = rig.tel.live_calls()[0]
        ch = next(c for c in rig.server.channels.values()
                  if c["Uniqueid"] == live["linkedid"])
        await rig.server.send_raw(
            f"Event: VarSet\r\nChannel: {ch['Channel']}\r\nUniqueid: {ch['Uniqueid']}\r\n"
            f"Linkedid: {ch['Linkedid']}\r\nVariable: HOTLINE_ASR_UUID\r\n"
            f"Value: 5f0c1c8e-0d4c-4d43-9b54-2a7d1f6a9e10\r\n\r\n".encode())
        link = await rig.rec.wait_for(lambda e: e.get("type") == "asr_link")
        assert link == {"type": "asr_link", "uuid": "5f0c1c8e-0d4c-4d43-9b54-2a7d1f6a9e10",
                        "call_id": live["call_id"], "pbx": "pbx1"}
    finally:
        task.cancel()
