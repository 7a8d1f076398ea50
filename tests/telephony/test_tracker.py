"""CallTracker fed with the real Asterisk 22 captures (pure: no sockets, no clock)."""

from __future__ import annotations

import random
from typing import Any

from telephony.ami import FrameParser, classify, iter_messages
from telephony.captures import capture_bytes, events, timed_messages
from telephony.tracker import (
    CallTracker,
    JourneyPrefetch,
    Persist,
    Prefetch,
    Publish,
    ScreenPop,
)
from tickets.bus import TOPIC_ASR, TOPIC_CALLS

T0 = 1_795_407_600.0


def run(name: str, tracker: CallTracker | None = None, items=None):
    tracker = tracker or CallTracker("pbx1", region="US")
    effects: list[Any] = []
    for t, ev in items if items is not None else events(name):
        effects.extend(tracker.feed(ev, T0 + t))
    return tracker, effects


def pops(effects):
    return [e for e in effects if isinstance(e, ScreenPop)]


def updates(effects):
    return [e.event for e in effects if isinstance(e, Publish) and e.topic == TOPIC_CALLS]


def final_records(effects):
    recs: dict[str, Any] = {}
    for e in effects:
        if isinstance(e, Persist):
            recs[e.record.call_id] = e.record
    return recs


def test_parser_handles_real_read_boundaries_and_banner():
    msgs = timed_messages("d_actions")
    assert msgs[0][1]["Response"] == "Success"
    assert msgs[0][1]["Message"] == "Authentication accepted"
    whole = list(iter_messages(capture_bytes("d_actions")))
    assert [m for _, m in msgs] == whole
    cmd = next(m for m in whole if m.get("ActionID") == "cmd-1")
    assert isinstance(cmd["Output"], list) and len(cmd["Output"]) == 2
    assert cmd["Output"][1].startswith("PJSIP/customer-00000009!")
    # Empty values survive as empty strings.
    assert any(m.get("AccountCode") == "" for m in whole)


def test_parser_byte_by_byte_equals_whole():
    data = capture_bytes("a_inbound_queue_answered")
    p = FrameParser()
    out = []
    for i in range(len(data)):
        out.extend(p.feed(data[i:i + 1]))
    assert out == list(iter_messages(data))
    assert p.banner == "11.0.0"


def test_parser_survives_garbage_and_oversize():
    p = FrameParser(max_message=1000)
    out = p.feed(b"\x00\xff garbage\r\n\r\nEvent: A\r\nX: 1\r\n\r\n")
    assert out == [{"Event": "A", "X": "1"}]
    assert p.garbage == 1
    big = b"Event: Big\r\nValue: " + b"x" * 5000 + b"\r\n\r\n"
    out = p.feed(big[:700]) + p.feed(big[700:3000]) + p.feed(big[3000:]) + p.feed(
        b"Event: After\r\n\r\n")
    assert out == [{"Event": "After"}]
    assert p.oversized == 1


def test_parser_blank_lines_cut_the_same_in_any_reads():
    # Overlapping ends (a message followed by blank lines) are cut left to right, as a
    # reader scanning from the start would, whatever the read boundaries.
    data = (b"Event: A\r\n\r\n\r\n\r\n\r\nEvent: B\r\nX: 1\r\n\r\n\r\n"
            b"Event: C\r\n\r\n")
    whole = FrameParser()
    expected = whole.feed(data)
    assert [m["Event"] for m in expected] == ["A", "B", "C"]
    for cut in range(1, len(data)):
        p = FrameParser()
        assert p.feed(data[:cut]) + p.feed(data[cut:]) == expected, cut
        assert p.garbage == whole.garbage and not p._buf


def test_classify_by_event_first():
    busy = [m for _, m in timed_messages("c2_originate_busy")]
    orig = next(m for m in busy if m.get("Event") == "OriginateResponse")
    assert orig["Response"] == "Failure" and classify(orig) == "event"
    assert classify({"Response": "Success"}) == "response"


def test_queue_answered_pops_both_and_closes_loser():
    tracker, effects = run("a_inbound_queue_answered")
    p = pops(effects)
    assert [x.extension for x in p] == ["6001", "6002"]
    assert all(x.caller_number == "+15551230001" and x.queue == "support" for x in p)
    assert all(x.call_id == "pbx1:1795407639.0" for x in p)
    answered = [u for u in updates(effects) if u.get("answered_by")]
    assert len(answered) == 1
    assert answered[0]["answered_by"] == "6001" and answered[0]["closed_for"] == ["6002"]
    assert set(answered[0]["extensions"]) == {"6001", "6002"}
    recs = final_records(effects)
    rec = recs["pbx1:1795407639.0"]
    assert rec.state == "ended" and rec.agent_extension == "6001" and rec.queue == "support"
    assert rec.dtmf == "478#" and rec.order_number == "478"
    assert rec.wait_s == 2 and rec.talk_s is not None and 7 <= rec.talk_s <= 10
    assert rec.hangup_cause == "16 Normal Clearing"
    assert rec.caller_name == "Jane Doe" and rec.direction == "inbound"
    assert tracker.calls == {} and tracker.channels == {}
    assert next(e for e in effects if isinstance(e, Prefetch)).caller_e164 == "+15551230001"
    # the IVR journey is read once, when the call joins the queue: before any pop
    kinds = [type(e).__name__ for e in effects if isinstance(e, JourneyPrefetch | ScreenPop)]
    assert kinds == ["JourneyPrefetch", "ScreenPop", "ScreenPop"]
    stats = tracker.queue_stats(T0 + 100)[0]
    assert stats["completed"] == 1 and stats["waiting"] == 0 and stats["service_level"] == 1.0


def test_abandon():
    tracker, effects = run("b_queue_abandon")
    assert [x.extension for x in pops(effects)] == ["6001", "6002"]
    closed = [x for u in updates(effects) for x in u.get("closed_for") or []]
    assert sorted(closed) == ["6001", "6002"]  # each pop closed exactly once
    assert updates(effects)[-1]["state"] == "abandoned"
    rec = final_records(effects)["pbx1:1795407663.3"]
    assert rec.state == "abandoned" and rec.agent_extension is None and rec.wait_s == 7
    assert rec.answered_at is None and rec.ended_at is not None
    assert tracker.queue_stats(T0)[0]["abandon_rate"] == 1.0


def test_originate_no_pop_and_internal_call():
    _tracker, effects = run("c_originate_click_to_call")
    assert pops(effects) == []
    rec = final_records(effects)["pbx1:1795407684.6"]
    assert rec.direction == "internal" and rec.callee_number == "6002"
    assert rec.caller_number == "6001"
    assert rec.agent_extension == "6001" and rec.answered_at is not None
    assert rec.state == "ended"


def test_originate_busy_ends_unanswered():
    _, effects = run("c2_originate_busy")
    rec = final_records(effects)["pbx1:1795407705.8"]
    assert rec.state == "ended" and rec.answered_at is None
    assert rec.hangup_cause == "17 User busy"


def test_blind_transfer_pops_target_and_records_both_agents():
    _, effects = run("e_queue_blind_transfer")
    assert [x.extension for x in pops(effects)] == ["6001", "6002", "6002"]
    states = [u["state"] for u in updates(effects)]
    assert "transferred" in states
    rec = final_records(effects)["pbx1:1795407733.12"]
    assert rec.agents == ("6001", "6002") and rec.agent_extension == "6002"
    assert rec.transferred_to == "6002" and rec.state == "ended"


def test_d_actions_with_list_items_in_stream_is_consistent():
    # Feed everything, CoreShowChannel list items included: they must change nothing.
    items = [(t, m) for t, m in timed_messages("d_actions") if "Event" in m]
    tracker, effects = run("d_actions", items=items)
    assert [x.extension for x in pops(effects)] == ["6001", "6002"]
    recs = final_records(effects)
    assert list(recs) == ["pbx1:1795407714.9"]
    assert recs["pbx1:1795407714.9"].state == "ended"
    agents = {a["extension"]: a for a in tracker.queue_stats(T0)[0]["agents"]}
    assert agents["6002"]["paused"] is False  # paused for lunch, then unpaused


def test_duplicates_are_idempotent():
    base = events("a_inbound_queue_answered")
    doubled = [x for pair in zip(base, base, strict=True) for x in pair]
    _, once = run("a", items=base)
    _, twice = run("a", items=doubled)
    assert len(pops(twice)) == 2
    assert final_records(once)["pbx1:1795407639.0"].state == "ended"
    assert final_records(twice)["pbx1:1795407639.0"].agents == ("6001",)
    # A late event for the ended call does not resurrect it.
    tracker, _ = run("a", items=base)
    assert tracker.feed(base[-3][1], T0 + 99) == []
    assert tracker.calls == {}


def test_loser_hangup_before_answer_events():
    base = [m for _, m in events("a_inbound_queue_answered")]
    loser = next(i for i, m in enumerate(base)
                 if m["Event"] == "Hangup" and m["Channel"].startswith("PJSIP/6002"))
    ans = next(i for i, m in enumerate(base) if m["Event"] == "DialEnd"
               and m["DialStatus"] == "ANSWER")
    moved = base[:ans] + [base[loser]] + [m for i, m in enumerate(base[ans:], ans)
                                          if i != loser]
    _, effects = run("a", items=[(float(i), m) for i, m in enumerate(moved)])
    ups = updates(effects)
    closes = [u for u in ups if u.get("closed_for") == ["6002"]]
    assert len(closes) == 1
    assert final_records(effects)["pbx1:1795407639.0"].agent_extension == "6001"


def test_asr_link_on_varset():
    tracker = CallTracker("pbx1")
    ev = next(dict(m) for _, m in events("a_inbound_queue_answered")
              if m["Event"] == "Newchannel")
    tracker.feed(ev, T0)
    var = dict(ev, Event="VarSet", Variable="HOTLINE_ASR_UUID",
               Value="0b6b2f0e-8a53-4a0e-a6a4-5f3a0c7d7d01")
    out = tracker.feed(var, T0 + 1)
    assert out == [Publish(TOPIC_ASR, {"type": "asr_link",
                                       "uuid": "0b6b2f0e-8a53-4a0e-a6a4-5f3a0c7d7d01",
                                       "call_id": "pbx1:1795407639.0", "pbx": "pbx1"},
                           "pbx1:1795407639.0")]
    assert tracker.feed(var, T0 + 2) == []


def test_resync_after_missing_the_answer_and_the_end():
    base = [m for _, m in events("a_inbound_queue_answered")]
    ring_end = next(i for i, m in enumerate(base) if m["Event"] == "DialState")
    tracker = CallTracker("pbx1", region="US")
    eff: list[Any] = []
    for m in base[:ring_end + 1]:
        eff += tracker.feed(m, T0)
    assert len(pops(eff)) == 2
    # Link down; meanwhile 6001 answered (snapshot from d_actions shape).
    snap = [m for _, m in timed_messages("d_actions") if m.get("Event") == "CoreShowChannel"]
    fix = {"1795407714.9": "1795407639.0", "1795407718.10": "1795407643.1"}
    snap2 = []
    for m in snap:
        m = dict(m)
        m["Uniqueid"] = fix[m["Uniqueid"]]
        m["Linkedid"] = "1795407639.0"
        snap2.append(m)
    eff2 = tracker.resync_channels(snap2, T0 + 10)
    assert pops(eff2) == []
    ups = updates(eff2)
    assert any(u.get("answered_by") == "6001" for u in ups)
    assert any(u.get("closed_for") == ["6002"] for u in ups)
    # Resync twice: nothing new.
    assert [e for e in tracker.resync_channels(snap2, T0 + 11)
            if not isinstance(e, Publish) or e.event.get("type") != "queue_stats"] == []
    # Then everything hung up while down: the call ends exactly once.
    eff3 = tracker.resync_channels([], T0 + 20)
    recs = final_records(eff3)
    assert list(recs) == ["pbx1:1795407639.0"] and recs["pbx1:1795407639.0"].state == "ended"
    assert tracker.resync_channels([], T0 + 21) == []


def test_resync_pops_ringing_leg_of_unknown_call_once():
    tracker = CallTracker("pbx1", region="US")
    snap = [
        {"Event": "CoreShowChannel", "Channel": "PJSIP/customer-00000001",
         "ChannelStateDesc": "Up", "CallerIDNum": "+15551230009", "CallerIDName": "X",
         "Uniqueid": "1795400000.1", "Linkedid": "1795400000.1", "Application": "Queue",
         "ApplicationData": "support,,,,120", "Duration": "00:00:05", "BridgeId": ""},
        {"Event": "CoreShowChannel", "Channel": "PJSIP/6002-00000002",
         "ChannelStateDesc": "Ringing", "CallerIDNum": "6002",
         "ConnectedLineNum": "+15551230009", "Uniqueid": "1795400000.2",
         "Linkedid": "1795400000.1", "Application": "AppQueue",
         "ApplicationData": "(Outgoing Line)", "Duration": "00:00:01", "BridgeId": ""},
    ]
    eff = tracker.resync_channels(snap, T0)
    p = pops(eff)
    assert [x.extension for x in p] == ["6002"] and p[0].caller_number == "+15551230009"
    assert p[0].queue == "support"
    assert pops(tracker.resync_channels(snap, T0 + 1)) == []
    live = tracker.live_calls(T0 + 1)
    assert live[0]["state"] == "queued" and live[0]["ringing"] == ["6002"]


def test_random_cut_and_resync_never_duplicates():
    rnd = random.Random(7)
    for _ in range(30):
        base = [m for _, m in events("e_queue_blind_transfer")]
        tracker = CallTracker("pbx1", region="US")
        eff: list[Any] = []
        cut = rnd.randrange(len(base))
        resume = rnd.randrange(cut, len(base) + 1)
        for m in base[:cut]:
            eff += tracker.feed(m, T0)
        # While down, nothing of this call is visible in the snapshot only if it ended.
        if resume >= len(base):
            eff += tracker.resync_channels([], T0 + 1)
        for m in base[resume:]:
            eff += tracker.feed(m, T0 + 2)
        eff += tracker.resync_channels([], T0 + 3)
        recs = [e.record for e in eff if isinstance(e, Persist)]
        finals = [r for r in recs if r.ended_at is not None]
        ids = {r.call_id for r in recs}
        assert len(ids) <= 1
        if recs:
            assert len(finals) == 1, (cut, resume)
        per_leg = [(p.call_id, p.extension) for p in pops(eff)]
        assert len(per_leg) <= 3
