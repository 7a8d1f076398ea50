"""When a queue member's pause began (``paused_since``), from the real Asterisk 22 capture:
``LastPause`` on the events and on a QueueStatus snapshot, the tracker's clock without it."""

from __future__ import annotations

from typing import Any

from telephony.captures import events, timed_messages
from telephony.tracker import CallTracker, Publish
from tickets.bus import TOPIC_QUEUES

T0 = 1_795_407_600.0
LUNCH = 1_795_407_721  # LastPause of 6002's pause in d_actions (QueuePause, reason lunch)
LUNCH_ISO = "2026-11-23T04:22:01+00:00"


def agent_states(effects: list[Any]) -> list[dict[str, Any]]:
    return [e.event for e in effects if isinstance(e, Publish) and e.topic == TOPIC_QUEUES
            and e.event["type"] == "agent_state"]


def member(tracker: CallTracker, extension: str) -> dict[str, Any]:
    return next(a for q in tracker.queue_stats(T0) for a in q["agents"]
                if a["extension"] == extension)


def snapshot(action_id: str) -> list[dict[str, Any]]:
    """The QueueParams/QueueMember rows of one QueueStatus answer of d_actions."""
    return [m for _, m in timed_messages("d_actions")
            if m.get("ActionID") == action_id and m.get("Event") in ("QueueParams",
                                                                     "QueueMember")]


def test_the_pause_dates_from_asterisks_last_pause_and_ends_with_the_unpause() -> None:
    tracker = CallTracker("pbx1", region="US")
    seen: list[dict[str, Any]] = []
    for t, ev in events("d_actions"):
        out = tracker.feed(ev, T0 + t)
        seen.extend(s for s in agent_states(out) if s["extension"] == "6002")
        if ev.get("Event") == "QueueMemberPause" and ev.get("Paused") == "1":
            m = member(tracker, "6002")
            # Asterisk's LastPause, not when we saw the event (a second or so later).
            assert m["paused_since"] == LUNCH_ISO and m["paused_reason"] == "lunch"
    paused = [s for s in seen if s["paused"]]
    assert paused and all(s["paused_since"] == LUNCH_ISO for s in paused)
    # The unpause (its LastPause still says 1795407721) ends the pause.
    assert seen[-1]["paused"] is False and seen[-1]["paused_since"] is None
    assert member(tracker, "6002")["paused_since"] is None
    assert member(tracker, "6001")["paused_since"] is None  # LastPause: 0, never paused


def test_a_snapshot_after_a_reconnect_keeps_the_pause_start() -> None:
    rows = snapshot("qstatus-2")  # taken while 6002 was paused for lunch
    assert any(r.get("LastPause") == str(LUNCH) and r.get("Paused") == "1" for r in rows)
    # Our process restarted 25 minutes later: a fresh tracker learns the pause's real start.
    fresh = CallTracker("pbx1", region="US")
    fresh.resync_queues(rows, LUNCH + 1500.0)
    assert member(fresh, "6002")["paused_since"] == LUNCH_ISO
    # The link dropped and came back: the same snapshot changes nothing and says nothing.
    out = fresh.resync_queues(rows, LUNCH + 1600.0)
    assert member(fresh, "6002")["paused_since"] == LUNCH_ISO
    assert agent_states(out) == []


def test_without_last_pause_the_first_sighting_dates_the_pause() -> None:
    tracker = CallTracker("pbx1", region="US")
    base = {"Queue": "support", "Interface": "PJSIP/6001", "MemberName": "Agent 6001",
            "StateInterface": "PJSIP/6001", "Status": "1", "InCall": "0"}
    # An astdb-persisted pause after an Asterisk restart: Paused 1 with LastPause 0.
    tracker.resync_queues([{"Event": "QueueMember", "Queue": "support",
                            "Location": "PJSIP/6001", "Name": "Agent 6001", "Status": "1",
                            "Paused": "1", "PausedReason": "training", "LastPause": "0"}],
                          T0 + 10)
    assert member(tracker, "6001")["paused_since"] == "2026-11-23T04:20:10+00:00"
    # Later events without a LastPause (a device state change) keep the first sighting.
    out = tracker.feed({"Event": "QueueMemberStatus", **base, "Paused": "1",
                        "Status": "2"}, T0 + 70)
    assert agent_states(out)[-1]["paused_since"] == "2026-11-23T04:20:10+00:00"
    # Unpaused, then paused again: a new pause, dated anew.
    tracker.feed({"Event": "QueueMemberPause", **base, "Paused": "0", "PausedReason": ""},
                 T0 + 100)
    assert member(tracker, "6001")["paused_since"] is None
    tracker.feed({"Event": "QueueMemberPause", **base, "Paused": "1", "PausedReason": "lunch"},
                 T0 + 130)
    assert member(tracker, "6001")["paused_since"] == "2026-11-23T04:22:10+00:00"
