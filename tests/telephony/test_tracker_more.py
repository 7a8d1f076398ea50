"""CallTracker rules the captures do not show: ring timeouts, hold, attended transfer,
outbound calls through a trunk. Events are the captured ones, edited."""

from __future__ import annotations

from typing import Any

from telephony.captures import events
from telephony.tracker import CallTracker, Persist, Publish, ScreenPop
from tickets.bus import TOPIC_CALLS

T0 = 1_795_407_600.0
A = "a_inbound_queue_answered"


def feed_all(tracker: CallTracker, msgs: list[dict[str, Any]]) -> list[Any]:
    out: list[Any] = []
    for i, m in enumerate(msgs):
        out += tracker.feed(m, T0 + i)
    return out


def base() -> list[dict[str, Any]]:
    return [dict(m) for _, m in events(A)]


def updates(effects):
    return [e.event for e in effects if isinstance(e, Publish) and e.topic == TOPIC_CALLS]


def test_ring_timeout_closes_pop_and_a_new_ring_pops_again():
    msgs = base()
    called = next(m for m in msgs if m["Event"] == "AgentCalled"
                  and m["Interface"] == "PJSIP/6002")
    cut = msgs.index(called) + 1
    head = msgs[:cut]
    leg = {k: v for k, v in called.items()}
    noanswer = dict(called, Event="AgentRingNoAnswer", RingTime="15")
    dialend = {k: v for k, v in called.items() if k != "Interface"}
    dialend.update(Event="DialEnd", DialStatus="NOANSWER")
    hang = {"Event": "Hangup", "Channel": leg["DestChannel"], "Uniqueid": leg["DestUniqueid"],
            "Linkedid": leg["Linkedid"], "Cause": "19", "Cause-txt": "No answer"}
    new_uid = leg["DestUniqueid"] + "9"
    newchan = {"Event": "Newchannel", "Channel": "PJSIP/6002-000000ff", "Uniqueid": new_uid,
               "Linkedid": leg["Linkedid"], "ChannelStateDesc": "Down", "CallerIDNum": "6002"}
    again = dict(called, DestChannel="PJSIP/6002-000000ff", DestUniqueid=new_uid)
    tracker = CallTracker("pbx1", region="US")
    eff = feed_all(tracker, [*head, noanswer, dialend, hang, newchan, again])
    pops = [e.extension for e in eff if isinstance(e, ScreenPop)]
    assert pops == ["6001", "6002", "6002"]
    closes = [u for u in updates(eff) if u.get("closed_for") == ["6002"]]
    assert len(closes) == 1 and closes[0]["reason"] == "no_answer"


def test_hold_and_unhold():
    msgs = base()
    i = next(i for i, m in enumerate(msgs) if m["Event"] == "HangupRequest")
    agent_leg = next(m for m in msgs if m["Event"] == "BridgeEnter"
                     and m["Channel"].startswith("PJSIP/6001"))
    hold = {k: agent_leg[k] for k in ("Channel", "Uniqueid", "Linkedid")}
    tracker = CallTracker("pbx1", region="US")
    eff = feed_all(tracker, [*msgs[:i], dict(hold, Event="Hold", MusicClass="default"),
                             dict(hold, Event="Hold"), dict(hold, Event="Unhold")])
    states = [u["state"] for u in updates(eff) if "held" in u]
    assert states == ["held", "answered"]


def test_attended_transfer_moves_target_leg_into_the_call():
    msgs = base()
    i = next(i for i, m in enumerate(msgs) if m["Event"] == "HangupRequest")
    talk = msgs[:i]
    tracker = CallTracker("pbx1", region="US")
    eff = feed_all(tracker, talk)
    # 6001 consults 6002: a separate call (own Linkedid) from the agent's phone.
    consult_a = {"Event": "Newchannel", "Channel": "PJSIP/6001-00000077",
                 "Uniqueid": "1795407650.77", "Linkedid": "1795407650.77",
                 "ChannelStateDesc": "Up", "CallerIDNum": "6001"}
    consult_b = {"Event": "Newchannel", "Channel": "PJSIP/6002-00000078",
                 "Uniqueid": "1795407650.78", "Linkedid": "1795407650.77",
                 "ChannelStateDesc": "Down", "CallerIDNum": "6002"}
    xfer = {"Event": "AttendedTransfer", "Result": "Success",
            "OrigTransfererChannel": "PJSIP/6001-00000001",
            "OrigTransfererUniqueid": "1795407643.1", "OrigTransfererLinkedid": "1795407639.0",
            "SecondTransfererChannel": "PJSIP/6001-00000077",
            "SecondTransfererUniqueid": "1795407650.77",
            "TransferTargetChannel": "PJSIP/6002-00000078",
            "TransferTargetUniqueid": "1795407650.78", "TransferTargetLinkedid": "1795407650.77"}
    hangs = [{"Event": "Hangup", "Uniqueid": u, "Cause": "16", "Cause-txt": "Normal Clearing"}
             for u in ("1795407650.77", "1795407643.1", "1795407650.78", "1795407639.0")]
    eff = feed_all(tracker, [consult_a, consult_b, xfer, *hangs])
    recs = {e.record.call_id: e.record for e in eff if isinstance(e, Persist)}
    main = recs["pbx1:1795407639.0"]
    assert main.agents == ("6001", "6002") and main.agent_extension == "6002"
    assert main.state == "ended"
    assert recs["pbx1:1795407650.77"].state == "ended"  # the consultation is its own call
    assert not tracker.calls


def test_outbound_call_through_a_trunk_is_outbound_with_the_dialed_number():
    tracker = CallTracker("pbx1", region="CN")
    evs = [
        {"Event": "Newchannel", "Channel": "PJSIP/6001-00000010", "Uniqueid": "1.10",
         "Linkedid": "1.10", "ChannelStateDesc": "Down", "CallerIDNum": "6001"},
        {"Event": "DialBegin", "Channel": "PJSIP/6001-00000010", "Uniqueid": "1.10",
         "Linkedid": "1.10", "DestChannel": "PJSIP/trunk-00000011", "DestUniqueid": "1.11",
         "DestLinkedid": "1.10", "DialString": "13800138000@trunk"},
        {"Event": "DialEnd", "Channel": "PJSIP/6001-00000010", "Uniqueid": "1.10",
         "Linkedid": "1.10", "DestChannel": "PJSIP/trunk-00000011", "DestUniqueid": "1.11",
         "DestLinkedid": "1.10", "DialStatus": "ANSWER"},
        {"Event": "Hangup", "Uniqueid": "1.11", "Cause": "16"},
        {"Event": "Hangup", "Uniqueid": "1.10", "Cause": "16"},
    ]
    eff = feed_all(tracker, evs)
    rec = [e.record for e in eff if isinstance(e, Persist)][-1]
    assert rec.direction == "outbound" and rec.callee_number == "+8613800138000"
    assert rec.caller_number == "6001"  # click-to-call: the agent is the caller side
    assert rec.agent_extension == "6001" and rec.answered_at is not None
    assert not [e for e in eff if isinstance(e, ScreenPop)]


def test_unknown_channel_events_do_not_invent_calls():
    tracker = CallTracker("pbx1")
    for ev in ({"Event": "VarSet", "Uniqueid": "9.9", "Variable": "HOTLINE_ASR_UUID",
                "Value": "x"}, {"Event": "DTMFEnd", "Uniqueid": "9.9", "Digit": "1"},
               {"Event": "Hangup", "Uniqueid": "9.9"}, {"Event": "Hold", "Uniqueid": "9.9"},
               {"Event": "Cdr", "UniqueID": "9.9"}, {"Event": "Bogus"}, {}):
        assert tracker.feed(ev, T0) == []
    assert tracker.calls == {}


def test_queue_params_seed_counters_from_asterisk():
    tracker = CallTracker("pbx1")
    eff = tracker.resync_queues([
        {"Event": "QueueParams", "Queue": "support", "Completed": "40", "Abandoned": "10",
         "ServiceLevel": "20", "ServicelevelPerf": "75.0"},
        {"Event": "QueueMember", "Queue": "support", "Location": "PJSIP/6001",
         "Name": "Agent 6001", "Status": "1", "Paused": "1", "PausedReason": "lunch",
         "InCall": "0"},
        {"Event": "QueueEntry", "Queue": "support", "Uniqueid": "1.1", "Wait": "30",
         "Position": "1"},
    ], T0)
    stats = [e.event for e in eff if e.event["type"] == "queue_stats"][-1]
    assert stats["abandon_rate"] == 0.2 and stats["service_level"] == 0.6
    assert stats["waiting"] == 1 and stats["longest_wait_s"] == 30
    agent = stats["agents"][0]
    assert agent["extension"] == "6001" and agent["paused"] and agent["paused_reason"] == "lunch"
    assert agent["state"] == "paused" and agent["reason"] == "lunch"
    # The next snapshot has nobody waiting any more.
    eff = tracker.resync_queues([{"Event": "QueueParams", "Queue": "support",
                                  "Completed": "41", "Abandoned": "10"}], T0 + 5)
    assert [e.event for e in eff][-1]["waiting"] == 0


def test_call_first_seen_by_its_second_leg_is_corrected_by_the_first():
    tracker = CallTracker("pbx1", region="US")
    # After a reconnect the first event is about 6002's leg of 6001's click-to-call.
    early = tracker.feed({"Event": "Newstate", "Channel": "PJSIP/6002-00000007",
                  "ChannelStateDesc": "Ringing", "CallerIDNum": "6002",
                  "ConnectedLineNum": "6001", "Uniqueid": "1795407686.7",
                  "Linkedid": "1795407684.6"}, T0)
    assert not [e for e in early if isinstance(e, ScreenPop)]  # unknown direction: wait
    eff = tracker.resync_channels([
        {"Event": "CoreShowChannel", "Channel": "PJSIP/6001-00000006", "Uniqueid":
         "1795407684.6", "Linkedid": "1795407684.6", "ChannelStateDesc": "Up",
         "CallerIDNum": "6001", "Duration": "00:00:03", "BridgeId": ""},
        {"Event": "CoreShowChannel", "Channel": "PJSIP/6002-00000007", "Uniqueid":
         "1795407686.7", "Linkedid": "1795407684.6", "ChannelStateDesc": "Ringing",
         "CallerIDNum": "6002", "Duration": "00:00:01", "BridgeId": ""}], T0 + 1)
    rec = [e.record for e in eff if isinstance(e, Persist)][-1]
    assert rec.direction == "outbound" and rec.agent_extension == "6001"
    assert not [e for e in eff if isinstance(e, ScreenPop)]


def test_inbound_call_first_seen_by_agent_leg_pops_after_the_snapshot():
    tracker = CallTracker("pbx1", region="US")
    early = tracker.feed({"Event": "Newstate", "Channel": "PJSIP/6002-00000002",
                          "ChannelStateDesc": "Ringing", "CallerIDNum": "6002",
                          "ConnectedLineNum": "+15551230001", "Uniqueid": "1795407643.2",
                          "Linkedid": "1795407639.0"}, T0)
    assert not [e for e in early if isinstance(e, ScreenPop)]
    eff = tracker.resync_channels([
        {"Event": "CoreShowChannel", "Channel": "PJSIP/customer-00000000",
         "Uniqueid": "1795407639.0", "Linkedid": "1795407639.0", "ChannelStateDesc": "Up",
         "CallerIDNum": "+15551230001", "CallerIDName": "Jane Doe", "Application": "Queue",
         "ApplicationData": "support,,,,120", "Duration": "00:00:09", "BridgeId": ""},
        {"Event": "CoreShowChannel", "Channel": "PJSIP/6002-00000002",
         "Uniqueid": "1795407643.2", "Linkedid": "1795407639.0",
         "ChannelStateDesc": "Ringing", "CallerIDNum": "6002", "Duration": "00:00:02",
         "BridgeId": ""}], T0 + 1)
    pops = [e for e in eff if isinstance(e, ScreenPop)]
    assert [(p.extension, p.caller_number, p.queue) for p in pops] == [
        ("6002", "+15551230001", "support")]


def _queued_call(suffix: str) -> list[dict[str, Any]]:
    """Capture A up to the agents ringing, with its ids made unique by ``suffix``."""
    msgs = base()
    stop = next(i for i, m in enumerate(msgs) if m["Event"] == "AgentCalled")
    uids = {m["Uniqueid"] for m in msgs[:stop] if "Uniqueid" in m}
    out = []
    for m in msgs[:stop + 1]:
        m = dict(m)
        for k, v in m.items():
            if isinstance(v, str):
                for uid in uids:
                    v = v.replace(uid, uid + suffix)
                m[k] = v
        out.append(m)
    return out


def _members(taken_6001: int) -> list[dict[str, Any]]:
    return [{"Event": "QueueParams", "Queue": "support"},
            *({"Event": "QueueMember", "Queue": "support", "Interface": f"PJSIP/{ext}",
               "Name": ext, "Status": "1", "Paused": "0", "InCall": "0",
               "CallsTaken": str(n)} for ext, n in (("6001", taken_6001), ("6002", 5)))]


def test_calls_gone_at_resync_are_settled_by_callstaken_rises():
    tracker = CallTracker("pbx1", region="US")
    tracker.resync_queues(_members(3), T0)
    for i, m in enumerate(_queued_call("2")):  # the later caller's legs come first
        tracker.feed(m, T0 + 100 + i)
    feed_all(tracker, _queued_call("1"))
    assert len(tracker.calls) == 2
    first_id, second_id = (c.call_id for c in sorted(tracker.calls.values(),
                                                      key=lambda c: c.started_at))
    assert first_id.endswith("1") and second_id.endswith("2")
    gone = tracker.resync_channels([], T0 + 500)  # both calls left while we were away
    assert not tracker.calls and not [e for e in gone if isinstance(e, Persist)]
    eff = tracker.resync_queues(_members(4), T0 + 501)  # 6001 took one call meanwhile
    logged = {e.record.call_id: e.record for e in eff if isinstance(e, Persist)}
    assert logged[first_id].state == "ended"  # the earlier caller was served first
    assert logged[first_id].agent_extension is None  # two calls, one rise: whose is unsure
    assert logged[second_id].state == "abandoned"
    assert tracker.queue_stats(T0)[0]["abandoned"] == 1


def test_calls_gone_at_resync_without_a_queue_snapshot_count_as_abandoned():
    tracker = CallTracker("pbx1", region="US")
    tracker.resync_queues(_members(3), T0)
    feed_all(tracker, _queued_call("1"))
    tracker.resync_channels([], T0 + 500)
    eff = tracker.settle_unknown(T0 + 501)  # QueueStatus failed
    [record] = [e.record for e in eff if isinstance(e, Persist)]
    assert record.state == "abandoned"
    assert tracker.settle_unknown(T0 + 502) == []  # settled once
