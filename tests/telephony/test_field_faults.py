"""Field faults of issue 8 (sections 2 and 2b), each a kind, on the pure CallTracker.

Late caller ID, queue members that are not ``PJSIP/<ext>``, helper calls Hotline makes for
itself (spy, ASR fork), and a resync after Hotline's own restart. The over-TCP side (bridge,
simulator) is in test_field_faults_tcp.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from telephony.agents import AgentInterfaces, device_of, parse_agent_interfaces
from telephony.ami import parse_message
from telephony.tracker import (
    CallerUpdate,
    CallTracker,
    Persist,
    Prefetch,
    Publish,
    ReadVariables,
    ScreenPop,
)
from tickets.bus import TOPIC_CALLS

T0 = 1_796_055_300.0  # 2026-11-30 16:15:00 UTC
L = "1796055300.50"  # the caller's channel = the call's Linkedid
A1 = "1796055305.51"  # agent 6001's leg
A2 = "1796055305.52"  # agent 6002's leg
KNOWN = "13911112222"  # national form, a known customer (+8613911112222)


def chan(event: str, uid: str, channel: str, num: str = "<unknown>", name: str = "<unknown>",
         linkedid: str = L, state: str = "Down", **extra: Any) -> dict[str, Any]:
    """One AMI event about one channel, with the headers Asterisk 22 puts on every one."""
    return {"Event": event, "Channel": channel, "ChannelState": "0",
            "ChannelStateDesc": state, "CallerIDNum": num, "CallerIDName": name,
            "ConnectedLineNum": "<unknown>", "ConnectedLineName": "<unknown>",
            "Language": "en", "AccountCode": "", "Context": "from-trunk", "Exten": "4008001234",
            "Priority": "1", "Uniqueid": uid, "Linkedid": linkedid, **extra}


def dest(event: dict[str, Any], uid: str, channel: str, ext: str) -> dict[str, Any]:
    """``event`` plus the Dest* headers of an agent leg (AgentCalled, DialBegin...)."""
    return {**event, "DestChannel": channel, "DestChannelStateDesc": "Down",
            "DestCallerIDNum": ext, "DestCallerIDName": f"Agent {ext}",
            "DestConnectedLineNum": "<unknown>", "DestUniqueid": uid, "DestLinkedid": L}


def trunk(event: str, num: str = "<unknown>", name: str = "<unknown>",
          **extra: Any) -> dict[str, Any]:
    return chan(event, L, "PJSIP/trunk-00000031", num, name, **extra)


def agent_called(num: str, uid: str = A1, ext: str = "6001",
                 iface: str | None = None, channel: str | None = None) -> dict[str, Any]:
    return dest(trunk("AgentCalled", num, Queue="support",
                      Interface=iface or f"PJSIP/{ext}", MemberName=f"Agent {ext}"),
                uid, channel or f"PJSIP/{ext}-00000032", ext)


def feed(tracker: CallTracker, events: list[dict[str, Any]],
         t0: float = T0) -> list[Any]:
    out: list[Any] = []
    for i, e in enumerate(events):
        out += tracker.feed(e, t0 + i)
    return out


def of(effects: list[Any], kind: type) -> list[Any]:
    return [e for e in effects if isinstance(e, kind)]


def last_record(effects: list[Any]) -> Any:
    return of(effects, Persist)[-1].record


def agent_leg(uid: str = A1, ext: str = "6001") -> dict[str, Any]:
    return chan("Newchannel", uid, f"PJSIP/{ext}-00000032", ext, f"Agent {ext}",
                Context="from-queue")


# ----------------------------------------------------------------------------- late caller ID
def test_late_caller_id_reaches_the_pop_and_the_call_log() -> None:
    """The issue's instance: Newchannel(<unknown>) → NewCallerid(known customer) → queue →
    AgentCalled PJSIP/6001."""
    tracker = CallTracker("pbx1", region="CN")
    out = feed(tracker, [
        trunk("Newchannel"),
        trunk("NewCallerid", KNOWN, **{"CID-CallingPres": "0 (Presentation Allowed)"}),
        trunk("QueueCallerJoin", KNOWN, Queue="support", Position="1", Count="1"),
        agent_leg(), agent_called(KNOWN)])
    assert not of(out, Prefetch)  # nothing to look up while the number is unknown
    upd = of(out, CallerUpdate)
    assert len(upd) == 1 and upd[0].caller_e164 == "+8613911112222"
    assert upd[0].extensions == ()  # no console shows the call yet: a lookup only
    [pop] = of(out, ScreenPop)
    assert (pop.extension, pop.caller_number, pop.raw_number) == \
        ("6001", "+8613911112222", KNOWN)
    rec = last_record(out)
    assert rec.caller_number == "+8613911112222"
    assert rec.callee_number == "4008001234"  # the DID the caller dialled
    assert tracker.record(tracker.calls[L]).rung == ("6001",)  # logged at answer/end
    assert tracker.live_calls(T0 + 9)[0]["caller_number"] == "+8613911112222"


@pytest.mark.parametrize("late_event", ["NewCallerid", "QueueCallerJoin", "AgentCalled"])
def test_a_number_after_the_pop_updates_the_consoles_that_show_it(late_event: str) -> None:
    tracker = CallTracker("pbx1", region="CN")
    out = feed(tracker, [trunk("Newchannel"), trunk("QueueCallerJoin", Queue="support"),
                         agent_leg(), agent_called("<unknown>")])
    [pop] = of(out, ScreenPop)
    assert pop.caller_number == ""  # popped before the number came
    late = {"NewCallerid": trunk("NewCallerid", KNOWN),
            "QueueCallerJoin": trunk("QueueCallerJoin", KNOWN, Queue="support"),
            "AgentCalled": agent_called(KNOWN, A2, "6002")}[late_event]
    out = tracker.feed(late, T0 + 10)
    [upd] = of(out, CallerUpdate)
    assert upd.extensions[0] == "6001" and upd.caller_number == "+8613911112222"
    assert last_record(out).caller_number == "+8613911112222"
    assert not tracker.feed(trunk("NewCallerid", KNOWN), T0 + 11)  # the same again: nothing


def test_name_only_and_a_number_changed_by_the_dialplan() -> None:
    tracker = CallTracker("pbx1", region="CN")
    out = feed(tracker, [trunk("Newchannel", "02161234567")])
    assert of(out, Prefetch)[0].caller_e164 == "+862161234567"
    out = tracker.feed(trunk("NewCallerid", "02161234567", "王经理"), T0 + 1)
    [upd] = of(out, CallerUpdate)
    assert (upd.caller_number, upd.caller_name) == ("+862161234567", "王经理")
    # Set(CALLERID(num)=13800138000) in the dialplan: a different, better number.
    out = tracker.feed(trunk("NewCallerid", "13800138000", "王经理"), T0 + 2)
    assert of(out, CallerUpdate)[0].caller_e164 == "+8613800138000"
    assert last_record(out).caller_name == "王经理"
    # <unknown> later never erases what we know.
    assert not tracker.feed(trunk("NewCallerid"), T0 + 3)
    assert tracker.calls[L].caller_e164 == "+8613800138000"


def test_agent_side_caller_ids_are_not_the_caller() -> None:
    tracker = CallTracker("pbx1", region="CN")
    feed(tracker, [trunk("Newchannel", KNOWN), agent_leg()])
    out = tracker.feed(chan("Newstate", A1, "PJSIP/6001-00000032", "6001", "Agent 6001",
                            state="Ringing"), T0 + 5)
    assert not of(out, CallerUpdate)
    assert tracker.calls[L].caller_number == KNOWN
    # Outbound calls: the first channel is the agent's phone; its caller ID is not news.
    out = feed(tracker, [chan("Newchannel", "1796055400.60", "PJSIP/6001-00000040", "6001",
                              linkedid="1796055400.60"),
                         chan("NewCallerid", "1796055400.60", "PJSIP/6001-00000040",
                              "Hotline", linkedid="1796055400.60")])
    assert not of(out, CallerUpdate)


# ----------------------------------------------------------------------------- member forms
def test_every_member_form_resolves_to_its_extension() -> None:
    agents = AgentInterfaces(parse_agent_interfaces("DAHDI/1=6004, SIP/alice=6005"))
    cases = {
        ("Local/6001@from-queue/n", "hint:6001@ext-local"): "6001",
        ("Local/agent@from-queue/n", "hint:6001@ext-local"): "6001",  # by StateInterface
        ("SIP/6002", ""): "6002", ("IAX2/6003", ""): "6003", ("PJSIP/6006", ""): "6006",
        ("DAHDI/1", ""): "6004", ("SIP/alice", ""): "6005",
        ("SIP/alice-0000001f", ""): "6005",  # a channel of a mapped device
        ("Local/6001@from-queue-0000002a;1", ""): "6001",  # the queue's Local channel
        ("PJSIP/customer", ""): None, ("PJSIP/trunk-00000031", ""): None,
    }
    for (name, state), ext in cases.items():
        assert agents.extension(name, state or None) == ext, name
    assert agents.interface_of("6005") == "SIP/alice"
    assert device_of("Local/6001@from-queue/n") == "Local/6001@from-queue"


@pytest.mark.parametrize("bad", ["SIP/alice", "SIP/alice=", "=6001", "SIP/alice=abc"])
def test_agent_interfaces_setting_names_the_bad_entry(bad: str) -> None:
    with pytest.raises(ValueError, match="HOTLINE_AGENT_INTERFACES entry 2"):
        parse_agent_interfaces(f"DAHDI/1=6004,{bad}")


def test_freepbx_members_show_their_extension_and_ring_their_console() -> None:
    tracker = CallTracker("pbx1", region="CN")
    member = {"Event": "QueueMember", "Queue": "support", "Name": "Alice",
              "Location": "Local/6001@from-queue/n", "StateInterface": "hint:6001@ext-local",
              "Membership": "static", "Paused": "0", "InCall": "0", "Status": "1",
              "CallsTaken": "0"}
    tracker.resync_queues([member], T0)
    [agent] = tracker.queue_stats(T0)[0]["agents"]
    assert (agent["extension"], agent["interface"]) == ("6001", "Local/6001@from-queue/n")
    assert tracker.book.interfaces_of("6001") == [("support", "Local/6001@from-queue/n")]
    local1 = "Local/6001@from-queue-00000034;1"
    out = feed(tracker, [
        trunk("Newchannel", KNOWN), trunk("QueueCallerJoin", KNOWN, Queue="support"),
        chan("Newchannel", A1, local1, KNOWN, Context="from-queue"),
        agent_called(KNOWN, A1, "6001", iface="Local/6001@from-queue/n", channel=local1),
        # The Local channel's ;2 half dials the phone: the same agent, not a second pop.
        chan("Newchannel", "1796055305.53", "Local/6001@from-queue-00000034;2", KNOWN),
        chan("Newchannel", A2, "PJSIP/6001-00000035", "6001", Context="from-internal"),
        chan("Newstate", A2, "PJSIP/6001-00000035", "6001", state="Ringing"),
        chan("BridgeEnter", L, "PJSIP/trunk-00000031", KNOWN, BridgeUniqueid="b-1"),
        chan("BridgeEnter", A1, local1, KNOWN, BridgeUniqueid="b-1"),
    ])
    assert [p.extension for p in of(out, ScreenPop)] == ["6001"]
    assert tracker.calls[L].agent == "6001" and tracker.calls[L].state == "answered"
    ring = [e.event for e in of(out, Publish) if e.topic == TOPIC_CALLS
            and e.event.get("type") == "call_update" and e.event.get("ringing")]
    assert [r["ringing"] for r in ring] == ["6001"]


# ----------------------------------------------------------------------------- own calls
def _live_spy() -> list[tuple[float, dict[str, Any]]]:
    """The spy leg's events from the live Asterisk 22 session (tests/telephony/data)."""
    text = (Path(__file__).parent / "data" / "f_live_spy.txt").read_text()
    out: list[tuple[float, dict[str, Any]]] = []
    t = 0.0
    for block in text.split("\n\n"):
        lines = [x for x in block.split("\n") if x and not x.startswith("#")]
        if lines and lines[0].startswith("--- "):
            t = float(lines.pop(0)[4:])
        msg = parse_message("\r\n".join(lines)) if lines else None
        if msg is not None:
            out.append((t, msg))
    return out


def _mark(e: dict[str, Any], uid: str = "1796054891.13") -> dict[str, Any]:
    return {k: (v.replace(uid, "hotline-spy-1796054891-7") if isinstance(v, str) else v)
            for k, v in e.items()}


def test_a_spy_marked_as_hotlines_own_is_never_a_call() -> None:
    tracker = CallTracker("pbx1")
    effects = []
    for t, e in _live_spy():
        effects += tracker.feed(_mark(e), t)
        assert tracker.live_calls(t) == []
    assert effects == []  # no pop, no update, nothing logged


def test_an_unmarked_spy_from_the_live_session_is_dropped_at_chanspystart() -> None:
    """An older Hotline (or a supervisor dialling ChanSpy) does not mark the Originate:
    the leg looks like an outbound call until ChanSpyStart says what it is."""
    tracker = CallTracker("pbx1")
    effects: list[Any] = []
    for t, e in _live_spy():
        effects += tracker.feed(e, t)
        if e["Event"] == "ChanSpyStart":
            assert tracker.live_calls(t) == []
    rec = last_record(effects)
    assert rec.direction == "internal" and rec.variables["HOTLINE_PURPOSE"] == "spy"
    assert rec.state == "ended" and not tracker.calls
    closing = [e.event for e in of(effects, Publish) if e.event.get("reason") == "not_a_call"]
    assert len(closing) == 1  # the wallboard drops it once; the Hangup later adds nothing


def test_the_asr_fork_and_marked_helpers_are_never_calls_even_in_a_snapshot() -> None:
    tracker = CallTracker("pbx1", region="CN")
    fork = chan("Newchannel", "1796055301.70", "AudioSocket/127.0.0.1:9092-00000001",
                linkedid="1796055301.70", Context="", Exten="s")
    out = feed(tracker, [trunk("Newchannel", KNOWN), fork,
                         chan("Newstate", "1796055301.70", fork["Channel"], state="Up",
                              linkedid="1796055301.70"),
                         chan("Hangup", "1796055301.70", fork["Channel"],
                              linkedid="1796055301.70", Cause="16")])
    assert [c["linkedid"] for c in tracker.live_calls(T0 + 5)] == [L]
    assert {p.record.call_id for p in of(out, Persist)} == {f"pbx1:{L}"}
    # After a restart, a snapshot lists the helpers: still no call.
    fresh = CallTracker("pbx1", region="CN")
    snap = [{**fork, "Event": "CoreShowChannel", "Duration": "00:00:07", "BridgeId": ""},
            {**chan("CoreShowChannel", "hotline-spy-1796055302-3", "PJSIP/6010-00000009",
                    "6001", "Spy listen", linkedid="hotline-spy-1796055302-3"),
             "Duration": "00:00:05", "BridgeId": ""}]
    assert fresh.resync_channels(snap, T0 + 20) == []
    assert fresh.live_calls(T0 + 20) == []


# ----------------------------------------------------------------------------- resync
def test_a_resync_after_our_restart_dates_the_answer_from_the_pbx() -> None:
    """f_live_session 16:15: caller channel 1796055317.5, agent leg 1796055321.6 (created
    16:15:21), answered 16:15:23 (HoldTime 2). Hotline restarted and resynced at 16:15:35
    and logged that as the answer. The snapshot dates the answer by the agent leg instead
    (no later than the real one; the call log keeps the real one, test_calls_service)."""
    caller, agent = "1796055317.5", "1796055321.6"
    snap = [
        {**chan("CoreShowChannel", caller, "PJSIP/trunk-00000041", KNOWN, linkedid=caller,
                state="Up"), "Duration": "00:00:18", "BridgeId": "br-9",
         "Application": "Queue", "ApplicationData": "support,t,,,120"},
        {**chan("CoreShowChannel", agent, "PJSIP/6001-00000042", "6001", linkedid=caller,
                state="Up"), "Duration": "00:00:14", "BridgeId": "br-9",
         "Application": "AppQueue", "ApplicationData": "(Outgoing Line)"},
    ]
    tracker = CallTracker("pbx1", region="CN")
    now = 1_796_055_335.0
    out = tracker.resync_channels(snap, now)
    call = tracker.calls[caller]
    assert call.started_at == 1_796_055_317.0  # the caller channel's creation
    assert call.answered_at == 1_796_055_321.0  # not the resync time
    assert call.agent == "6001" and call.resynced and call.queue == "support"
    rec = last_record(out)
    assert rec.answered_at is not None and rec.answered_at.timestamp() == 1_796_055_321.0
    assert not of(out, ScreenPop)  # answered: nobody is popped again
    [read] = of(out, ReadVariables)  # what the lost VarSets said, from the channel itself
    assert (read.channel, read.uniqueid) == ("PJSIP/trunk-00000041", caller)
    assert {"ORDER", "HOTLINE_ORDER", "HOTLINE_ASR_UUID"} == set(read.names)
    assert tracker.resync_channels(snap, now + 5) == []  # known calls: nothing to read again


def test_the_agent_interfaces_setting_is_checked_at_startup() -> None:
    from pydantic import ValidationError

    from web.settings import Settings

    assert Settings(agent_interfaces="SIP/alice=6001").agent_interfaces == "SIP/alice=6001"
    with pytest.raises(ValidationError, match="HOTLINE_AGENT_INTERFACES entry 1"):
        Settings(agent_interfaces="SIP/alice")


@pytest.mark.parametrize("raw", ["nan", "inf", "-inf", "1e999", "NaN"])
def test_a_non_finite_header_is_no_number(raw: str) -> None:
    # float() accepts these; a queue_stats carrying one would not be JSON (issue #13).
    from telephony.model import num

    assert num(raw) is None
    assert num(["7", raw]) == 7.0 and num("12.5") == 12.5


def test_an_action_with_a_line_break_is_never_sent() -> None:
    # The last line of defence against AMI injection through text from a request.
    from telephony.ami import encode_action

    assert encode_action({"Action": "QueuePause", "Reason": "lunch"}) == \
        b"Action: QueuePause\r\nReason: lunch\r\n\r\n"
    for bad in ({"Action": "QueuePause", "Reason": "lunch\r\nAction: Hangup"},
                {"Action": "Originate", "Variable": ["A=1", "B=2\nAction: Logoff"]}):
        with pytest.raises(ValueError, match="line break"):
            encode_action(bad)
