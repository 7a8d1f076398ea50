"""What telephony publishes today matches the message catalogue (tickets/messages.py).

Telephony builds its events with the catalogue's builders (tests/tickets/test_messages.py
scans for hand-built ones); this checks the result end to end: every event the tracker emits
over every recorded Asterisk capture, and what the bridge publishes over a socket, is a
catalogue message, on its catalogue topic.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from telephony import captures
from telephony.captures import events
from telephony.tracker import CallTracker, Publish
from tickets.messages import CATALOGUE, check

T0 = 1_795_407_600.0
NAMES = sorted(p.name.removesuffix(".timeline.jsonl")
               for p in Path(captures.__file__).parent.glob("*.timeline.jsonl"))


def test_there_are_captures() -> None:
    assert len(NAMES) >= 5


@pytest.mark.parametrize("name", NAMES)
def test_tracker_events_are_catalogue_messages(name: str) -> None:
    tracker = CallTracker("pbx1", region="CN")
    for t, ev in events(name):
        for effect in tracker.feed(ev, T0 + t):
            if isinstance(effect, Publish):
                kind = effect.event.get("type")
                assert kind in CATALOGUE, kind
                assert CATALOGUE[kind].topic == effect.topic, kind
                check(effect.event)


def test_every_event_the_tracker_emits_over_the_captures_is_covered() -> None:
    seen = set()
    for name in NAMES:
        tracker = CallTracker("pbx1", region="CN")
        for t, ev in events(name):
            seen |= {e.event.get("type") for e in tracker.feed(ev, T0 + t)
                     if isinstance(e, Publish)}
    assert {"call_update", "queue_stats", "agent_state"} <= seen


async def test_bridge_events_are_catalogue_messages(rig: Any) -> None:
    """The bridge's own messages too: screen_pop, pbx_status, call_log (over a real socket)."""
    await rig.server.play("a_inbound_queue_answered", caller="+15551230001")
    await rig.server.play("b_queue_abandon", caller="+15551230002")
    await rig.wait_idle()
    await rig.settle()
    kinds = set()
    for topic, event in rig.rec.events:
        assert CATALOGUE[event["type"]].topic == topic, event["type"]
        check(event)
        kinds.add(event["type"])
    assert {"screen_pop", "call_update", "pbx_status", "call_log"} <= kinds
