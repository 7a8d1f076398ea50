"""Coalescing of status events: first at once, a burst collapses to its latest state."""

from __future__ import annotations

import asyncio
from typing import Any

from telephony.coalesce import Coalescer, status_key


async def test_burst_collapses_to_first_and_latest() -> None:
    sent: list[dict[str, Any]] = []

    async def publish(topic: str, event: dict[str, Any]) -> None:
        sent.append(event)

    c = Coalescer(publish, window=0.05)
    for i in range(10):
        await c.offer("q", "queues", {"n": i})
    assert sent == [{"n": 0}]  # the first one is not delayed
    await asyncio.sleep(0.08)
    assert sent == [{"n": 0}, {"n": 9}] and c.merged == 8
    await asyncio.sleep(0.06)  # quiet again: the next goes at once
    await c.offer("q", "queues", {"n": 10})
    assert sent[-1] == {"n": 10}


async def test_keys_are_independent_and_flush_sends_pending() -> None:
    sent: list[tuple[str, dict[str, Any]]] = []

    async def publish(topic: str, event: dict[str, Any]) -> None:
        sent.append((topic, event))

    c = Coalescer(publish, window=10.0)
    await c.offer("a", "queues", {"k": "a1"})
    await c.offer("b", "queues", {"k": "b1"})
    await c.offer("a", "queues", {"k": "a2"})
    assert [e["k"] for _, e in sent] == ["a1", "b1"] and c.pending == 1
    await c.flush()
    assert [e["k"] for _, e in sent] == ["a1", "b1", "a2"] and c.pending == 0


def test_only_status_events_are_coalesced() -> None:
    assert status_key({"type": "queue_stats", "pbx": "p", "queue": "support"}) == (
        "queue_stats", "p", "support")
    assert status_key({"type": "agent_state", "pbx": "p", "queue": "q",
                       "interface": "PJSIP/6001"}) is not None
    for kind in ("screen_pop", "call_update", "asr_link", "pbx_status", None):
        assert status_key({"type": kind}) is None
