"""Field faults of issue 8 over real TCP: the bridge against the simulated Asterisk.

Late caller ID reaching pops and consoles, FreePBX-style members paused on their real
interface, a PBX that accepts logins before app_queue is loaded, and the spy on one call.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from telephony import ActionFailed, CallNotFound, PbxConfig, Telephony
from telephony.ami import encode_action

from .conftest import FAST
from .test_field_faults import A1, KNOWN, L, agent_called, agent_leg, chan, trunk

A = "a_inbound_queue_answered"
KNOWN_E164 = "+8613911112222"
CUSTOMER = {"id": 7, "name": "王经理"}


async def known_rig(rig_factory: Any, **opts: Any) -> Any:
    return await rig_factory(region="CN", customers={KNOWN_E164: CUSTOMER}, **opts)


async def test_late_caller_id_pops_with_the_customer(rig_factory: Any) -> None:
    rig = await known_rig(rig_factory)
    result = await rig.server.play(A, caller=KNOWN, late_caller=True)
    await rig.wait_idle()
    call_id = f"pbx1:{result.linkedids[0]}"
    pops = [p for p in rig.pops() if p["call_id"] == call_id]
    assert {p["extension"] for p in pops} == {"6001", "6002"}
    assert all(p["caller_number"] == KNOWN_E164 and p["customer"] == CUSTOMER for p in pops)
    assert rig.directory.calls[call_id].caller_number == KNOWN_E164
    first_write = next(r for r in rig.directory.writes if r.call_id == call_id)
    assert first_write.caller_number == ""  # what Newchannel said: the log caught up


async def test_a_number_after_the_pop_updates_the_console_with_the_customer(
        rig_factory: Any) -> None:
    rig = await known_rig(rig_factory)
    before = [trunk("Newchannel"), trunk("QueueCallerJoin", Queue="support"), agent_leg(),
              agent_called("<unknown>")]
    await rig.server.broadcast(b"".join(encode_action(e) for e in before))
    pop = await rig.rec.wait_for(lambda e: e.get("type") == "screen_pop")
    assert pop["caller_number"] == "" and pop["customer"] is None
    await rig.server.broadcast(encode_action(trunk("NewCallerid", KNOWN)))
    upd = await rig.rec.wait_for(lambda e: e.get("type") == "call_update"
                                 and "customer" in e.get("changed", []))
    assert upd["call_id"] == f"pbx1:{L}" and upd["extensions"] == ["6001"]
    assert (upd["caller_number"], upd["customer"]) == (KNOWN_E164, CUSTOMER)
    assert rig.tel.live_calls()[0]["customer"]["name"] == "王经理"  # the wallboard too
    await rig.server.broadcast(b"".join(encode_action(e) for e in (
        chan("Hangup", A1, "PJSIP/6001-00000032", "6001", Cause="16"),
        trunk("Hangup", KNOWN, Cause="16"))))
    await rig.wait_idle()
    assert rig.directory.calls[f"pbx1:{L}"].caller_number == KNOWN_E164


async def test_freepbx_members_are_paused_and_removed_on_their_own_interface(
        rig_factory: Any) -> None:
    rig = await rig_factory()
    local = "Local/6001@from-queue/n"
    rig.server.use_member_interfaces({"PJSIP/6001": (local, "hint:6001@ext-local")})
    rig.server.cut()  # the bridge reconnects and takes the new QueueStatus
    await rig.rec.wait_for(lambda e: e.get("type") == "agent_state"
                           and e.get("interface") == local)
    await rig.settle()
    agents = {a["interface"]: a for q in rig.tel.queues() for a in q["agents"]}
    assert agents[local]["extension"] == "6001" and "PJSIP/6001" not in agents
    assert await rig.tel.pause_agent("6001", True, "lunch") == [local]
    pause = [a for a in rig.server.actions if a.get("Action") == "QueuePause"][-1]
    assert pause["Interface"] == local
    st = await rig.rec.wait_for(lambda e: e.get("type") == "agent_state"
                                and e.get("extension") == "6001" and e.get("paused"))
    assert st["paused_reason"] == "lunch"
    # A queue call rings the member through its Local interface: 6001 pops all the same.
    result = await rig.server.play(A)
    await rig.wait_idle()
    assert "6001" in {p["extension"] for p in rig.pops()
                      if p["call_id"] == f"pbx1:{result.linkedids[0]}"}
    assert await rig.tel.remove_agent("6001", "support") == local
    assert rig.server.actions[-1]["Interface"] == local
    await rig.rec.wait_for(lambda e: e.get("removed") and e.get("interface") == local)


@pytest.mark.parametrize("boot_wait", [0.2, 5.0])
async def test_a_pbx_restart_before_app_queue_loads_does_not_leave_agents_in_call(
        rig_factory: Any, boot_wait: float) -> None:
    """f_live_session 16:10:21: after ``kill -9`` and a fresh start, QueueStatus answered
    "Invalid/unknown command" until app_queue loaded; FullyBooted came later.

    ``boot_wait`` 0.2: we resync before FullyBooted, QueueStatus fails and is retried;
    5.0: we wait for FullyBooted and resync once, after it."""
    rig = await rig_factory(boot_wait=boot_wait)
    srv = rig.server
    await srv.broadcast(encode_action({
        "Event": "QueueMemberStatus", "Queue": "support", "MemberName": "Agent 6001",
        "Interface": "PJSIP/6001", "StateInterface": "PJSIP/6001", "InCall": "1",
        "Status": "2", "Paused": "0", "CallsTaken": "0"}))
    await rig.rec.wait_for(lambda e: e.get("type") == "agent_state"
                           and e.get("extension") == "6001" and e["state"] == "in_call")
    n_actions = len(srv.actions)
    started = time.monotonic()
    await srv.restart(down_for=0.05, boot_time=0.8)  # the PBX comes back: nobody in a call

    def state_6001() -> str:
        return next(a["state"] for q in rig.tel.queues() for a in q["agents"]
                    if a["extension"] == "6001")

    while state_6001() != "available":
        assert time.monotonic() - started < 5, "agent 6001 stayed in_call after the restart"
        await asyncio.sleep(0.02)
    assert time.monotonic() - started >= 0.8  # not before app_queue could answer
    status = [a for a in srv.actions[n_actions:] if a.get("Action") == "QueueStatus"]
    if boot_wait < 0.8:
        assert len(status) >= 2  # failed while booting, asked again
    else:
        assert len(status) == 1  # waited for FullyBooted, asked once
    assert rig.tel.state()[0]["connected"] is True


async def test_spy_listens_to_the_agent_leg_of_the_call_given(rig_factory: Any) -> None:
    rig = await rig_factory()
    task, result = rig.server.start_play(A, speed=3.0)
    try:
        await rig.rec.wait_for(lambda e: e.get("answered_by") == "6001", within=10)
        call_id = f"pbx1:{result.linkedids[0]}"
        agent_channel = next(x.channel for x in rig.bridge.tracker.calls[
            result.linkedids[0]].live_legs() if x.extension == "6001")
        spy = await rig.tel.spy_call(call_id, "6010", "6001", "whisper")
        sent = next(a for a in rig.server.actions if a.get("Application") == "ChanSpy")
        assert sent["Data"] == f"{agent_channel},qwE" and spy["call_id"] == call_id
        assert sent["ChannelId"].startswith("hotline-spy-")
        await rig.settle()
        # The spy leg (rung, answered, ChanSpyStart) is no call of its own.
        assert [c["call_id"] for c in rig.tel.live_calls()] == [call_id]
        with pytest.raises(CallNotFound):
            await rig.tel.spy_call("pbx1:1796000000.1", "6010", "6001")
        with pytest.raises(ActionFailed, match="not on call"):
            await rig.tel.spy_call(call_id, "6010", "6002")  # 6002 rang, then hung up
        await asyncio.wait_for(result.done.wait(), 20)
        await rig.wait_idle()
    finally:
        task.cancel()
    assert list(rig.directory.calls) == [f"pbx1:{result.linkedids[0]}"]
    assert not [p for p in rig.pops() if p["extension"] == "6010"]


async def test_hotline_restarted_while_a_caller_rings_keeps_the_order_number(
        rig_factory: Any) -> None:
    """The bridge that saw the caller key 478# is gone; a new one finds the call ringing in
    its snapshot and reads ORDER from the channel (Getvar) instead of losing it."""
    rig = await rig_factory()
    await rig.tel.stop()  # Hotline is down while the caller keys the order number
    srv = rig.server
    ring = next(i for i, (_, m) in enumerate(srv.script(A))
                if m.get("DialStatus") == "ANSWER")
    task, result = srv.start_play(A, cut_at=ring, down_events=0)  # waits for a login there
    try:
        tel = Telephony([PbxConfig("pbx1", "127.0.0.1", srv.port, "bridge", "bridgepass")],
                        rig.tel.bus, rig.directory, "US", **FAST)
        await tel.start()
        try:
            await asyncio.wait_for(result.done.wait(), 10)
            bridge = tel.bridges["pbx1"]
            while bridge.tracker.calls:
                await asyncio.sleep(0.01)
            await bridge.drain()
        finally:
            await tel.stop()
    finally:
        task.cancel()
    call_id = f"pbx1:{result.linkedids[0]}"
    getvars = [a["Variable"] for a in srv.actions if a.get("Action") == "Getvar"]
    assert "ORDER" in getvars
    upd = await rig.rec.wait_for(lambda e: e.get("type") == "call_update"
                                 and e.get("call_id") == call_id and e.get("order_number"))
    assert upd["order_number"] == "478"
    assert {p["extension"] for p in rig.pops() if p["call_id"] == call_id} == {"6001", "6002"}
    rec = rig.directory.calls[call_id]
    assert rec.order_number == "478" and rec.agent_extension == "6001"


async def test_pausing_an_agent_no_queue_lists_uses_the_configured_interface(
        rig_factory: Any) -> None:
    rig = await rig_factory(agent_interfaces={"SIP/alice": "6005"})
    # Not a member anywhere (yet): the configured interface, else PJSIP/<ext>, is named,
    # and Asterisk's refusal comes back as it is.
    with pytest.raises(ActionFailed, match="Interface not found"):
        await rig.tel.pause_agent("6005", True, "lunch")
    with pytest.raises(ActionFailed, match="Interface not found"):
        await rig.tel.pause_agent("6007", True)
    sent = [a["Interface"] for a in rig.server.actions if a.get("Action") == "QueuePause"]
    assert sent == ["SIP/alice", "PJSIP/6007"]
    await rig.tel.queue_add("support", "SIP/alice", member_name="Alice")
    await rig.rec.wait_for(lambda e: e.get("type") == "agent_state"
                           and e.get("interface") == "SIP/alice")
    await rig.settle()
    assert await rig.tel.pause_agent("6005", True, "lunch") == ["SIP/alice"]
    st = await rig.rec.wait_for(lambda e: e.get("type") == "agent_state"
                                and e.get("extension") == "6005" and e.get("paused"))
    assert st["interface"] == "SIP/alice"
