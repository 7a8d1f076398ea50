"""Call bursts over real TCP: bounded stages pause the AMI reader, work that can wait is shed,
pops still go first, and every call still gets its call-log record (issue #9)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from telephony import CallRecord, InMemoryCallDirectory
from telephony.bridge import _FEED_SLICE
from telephony.simulator import burst_call


class GatedDirectory(InMemoryCallDirectory):
    """A call log that can be held shut (a database that stalls); slow lookups."""

    def __init__(self, *a: Any, **kw: Any) -> None:
        super().__init__(*a, **kw)
        self.gate = asyncio.Event()
        self.gate.set()

    async def record_calls(self, records: Sequence[CallRecord]) -> None:
        await self.gate.wait()
        await super().record_calls(records)


async def _until(pred: Any, within: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not pred():
        assert loop.time() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


async def test_a_stalled_call_log_pauses_the_reader_and_loses_nothing(rig_factory) -> None:
    rig = await rig_factory(queue_high=40, effects_high=20, call_log_queue=5, call_log_batch=4)
    d = GatedDirectory()
    rig.bridge.directory = rig.tel.directory = d
    d.gate.clear()
    n = 300
    calls = [burst_call(i, ring=None) for i in range(n)]  # 2 events each
    before = rig.bridge.events_processed
    await rig.server.broadcast(b"".join(start + end for start, end in calls))
    b = rig.bridge
    await _until(lambda: b._paused)
    await asyncio.sleep(1.5)  # longer than the watchdog's ping interval (1 s here)
    # Every stage is at its bound, the rest waits in the socket: no unbounded growth.
    assert b._paused and b.pauses >= 1
    assert b.call_log.queued <= 5 and b.call_log.stats()["full_waits"] >= 1
    # The bound, plus the effects of one slice of events (16 events, ~2 effects each).
    assert b._inflight <= 20 + 2 * _FEED_SLICE
    assert b.events_processed - before < n  # most events are still unread
    assert b.connects == 1 and b.status()["connected"]  # paused is not dead: no reconnect
    d.gate.set()
    await _until(lambda: sum(1 for r in d.calls.values() if r.ended_at) == n, 20)
    await rig.settle()
    assert not b._paused and b.events_processed - before == 2 * n
    assert sorted(d.calls) == sorted(f"pbx1:1900000000.{2 * i}" for i in range(n))
    assert max(d.batches) <= 4 and b.call_log.stats()["lost"] == 0
    assert len(rig.rec.of("call_log")) == n  # announced once each, after the commit


async def test_under_a_pop_storm_pops_go_first_and_stale_lookups_are_shed(
        rig_factory) -> None:
    rig = await rig_factory(lookup_slots=1)
    d = InMemoryCallDirectory(delay=0.05)
    rig.bridge.directory = rig.tel.directory = d
    n = 30
    # Each call rings 6001 and hangs up within the same write: by the time its pop runs,
    # the call is over; only the first lookup (a free slot) is worth doing.
    await rig.server.broadcast(b"".join(s + e for s, e in
                                        (burst_call(i, ring="6001") for i in range(n))))
    await _until(lambda: len(rig.rec.of("call_log")) == n)
    await rig.settle()
    b = rig.bridge
    pops = rig.pops()
    assert sorted(p["call_id"] for p in pops) == sorted(
        f"pbx1:1900000000.{2 * i}" for i in range(n))  # every call popped, once
    assert b.prefetch_shed >= n - 2 and b.lookups_shed >= n - 3
    assert d.lookups <= 3  # the database did not do the work nobody needed
    shed = [p for p in pops if p.get("lookup_error") == "lookup skipped: the call had ended"]
    assert len(shed) == b.lookups_shed and all(p["customer"] is None for p in shed)
    for i in range(n):  # per call: the pop, then the update closing it, then the log entry
        call_id = f"pbx1:1900000000.{2 * i}"
        seq = [(e["type"], tuple(e.get("closed_for") or ())) for _, e in rig.rec.events
               if e.get("call_id") == call_id
               and e.get("type") in ("screen_pop", "call_update", "call_log")]
        pop = seq.index(("screen_pop", ()))
        closed = next(k for k, s in enumerate(seq) if s[1] == ("6001",))
        assert pop < closed < seq.index(("call_log", ()))


async def test_a_free_slot_still_prefetches(rig_factory) -> None:
    rig = await rig_factory(lookup_slots=2)
    await rig.server.broadcast(burst_call(1, ring=None)[0])
    await _until(lambda: rig.directory.lookups == 1)
    assert rig.bridge.prefetch_shed == 0
    await rig.server.broadcast(burst_call(1, ring=None)[1])
    await _until(lambda: len(rig.rec.of("call_log")) == 1)
