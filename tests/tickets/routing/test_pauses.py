"""The pure decision of which paused agents' tickets to release (tickets.routing.pauses)."""

from __future__ import annotations

from typing import Any

from telephony.captures import timed_messages
from telephony.tracker import CallTracker
from tickets.routing.pauses import Pause, Release, due, forget, paused_agents

T = 1_795_407_721.0  # 6002's lunch pause in the d_actions capture (LastPause)
LIMIT = 30 * 60.0


def member(ext: str, paused: bool, since: str | None = None, reason: str = "",
           queue: str = "support", pbx: str = "pbx1") -> dict[str, Any]:
    return {"pbx": pbx, "queue": queue, "interface": f"PJSIP/{ext}", "extension": ext,
            "name": ext, "state": "paused" if paused else "available",
            "reason": reason or None, "paused": paused, "paused_reason": reason,
            "paused_since": since, "status": "not_in_use", "in_call": False}


def test_who_is_paused_reads_every_membership() -> None:
    agents = paused_agents([
        member("6001", True, "2026-11-23T04:22:01+00:00", "lunch"),
        member("6002", True, "2026-11-23T04:00:00+00:00", "training"),
        member("6002", False, queue="sales"),  # still takes sales calls: not paused
        member("6003", True, "2026-11-23T04:00:00+00:00", "lunch"),
        member("6003", True, "2026-11-23T04:10:00+00:00", "meeting", queue="sales"),
        member("6004", True, None),  # no start known: no limit to measure
        {**member("", True, "2026-11-23T04:00:00+00:00"), "extension": None},
    ])
    assert agents == {
        "6001": Pause("6001", T, "lunch"),
        # paused everywhere only since the later of the two pauses
        "6003": Pause("6003", T - 22 * 60 - 1 + 10 * 60, "meeting"),
    }


def test_released_after_the_limit_once_per_pause() -> None:
    paused = {"6001": Pause("6001", T, "lunch")}
    released: frozenset[tuple[str, float]] = frozenset()
    now_due, released = due(paused, T + LIMIT - 1, LIMIT, released)
    assert now_due == [] and released == frozenset()
    now_due, released = due(paused, T + LIMIT, LIMIT, released)
    assert now_due == [Release(Pause("6001", T, "lunch"), LIMIT)]
    assert now_due[0].why == "released: paused 30 min (lunch)"
    for later in (LIMIT + 30, LIMIT + 3600):  # the same pause: never again
        again, released = due(paused, T + later, LIMIT, released)
        assert again == [] and released == {("6001", T)}
    # Unpaused: forgotten. Paused again 5 min later: a new pause, its own 30 minutes.
    _, released = due({}, T + 4000, LIMIT, released)
    assert released == frozenset()
    second = {"6001": Pause("6001", T + 4300, "")}
    assert due(second, T + 4300 + LIMIT - 1, LIMIT, released)[0] == []
    now_due, released = due(second, T + 4300 + 32 * 60 + 59, LIMIT, released)
    assert [r.why for r in now_due] == ["released: paused 32 min"]


def test_limit_zero_is_off_and_a_failed_release_is_tried_again() -> None:
    paused = {"6001": Pause("6001", T, "lunch"), "6002": Pause("6002", T - 60, "")}
    assert due(paused, T + 86_400, 0, frozenset()) == ([], frozenset())
    now_due, released = due(paused, T + LIMIT, LIMIT, frozenset())
    assert [r.pause.extension for r in now_due] == ["6002", "6001"]  # longest paused first
    released = forget(released, [now_due[1]])
    again, released = due(paused, T + LIMIT + 30, LIMIT, released)
    assert [r.pause.extension for r in again] == ["6001"]
    assert released == {("6001", T), ("6002", T - 60)}


def test_the_pause_survives_a_resync_from_last_pause() -> None:
    """The real QueueStatus snapshot of d_actions, applied by a tracker that has just
    started (our restart) 31 minutes into the pause, and again after a reconnect: the
    pause keeps Asterisk's start, so it is due at once and released only once."""
    rows = [m for _, m in timed_messages("d_actions")
            if m.get("ActionID") == "qstatus-2" and m.get("Event") in ("QueueParams",
                                                                       "QueueMember")]
    tracker = CallTracker("pbx1", region="US")
    tracker.resync_queues(rows, T + 31 * 60)
    members = [a for q in tracker.queue_stats(T + 31 * 60) for a in q["agents"]]
    now_due, released = due(paused_agents(members), T + 31 * 60, LIMIT, frozenset())
    assert [(r.pause, r.why) for r in now_due] == [
        (Pause("6002", T, "lunch"), "released: paused 31 min (lunch)")]
    tracker.resync_queues(rows, T + 33 * 60)  # the link dropped and came back
    members = [a for q in tracker.queue_stats(T + 33 * 60) for a in q["agents"]]
    assert due(paused_agents(members), T + 33 * 60, LIMIT, released)[0] == []
