"""Bridge behaviour around the call directory: slow or failing lookups and call-log writes."""

from __future__ import annotations

import asyncio
from typing import Any

from telephony import CallRecord, InMemoryCallDirectory

A = "a_inbound_queue_answered"


class FlakyDirectory(InMemoryCallDirectory):
    """Slow lookups for one number, failing lookups for another, a call log that fails
    its first writes (a database restarting)."""

    def __init__(self, *a: Any, **kw: Any) -> None:
        super().__init__(*a, **kw)
        self.slow: dict[str, float] = {}
        self.broken: set[str] = set()
        self.write_failures = 0

    async def lookup_caller(self, caller_e164: str | None, raw_number: str) -> dict[str, Any]:
        if caller_e164 in self.broken:
            raise ConnectionError("database unreachable")
        if caller_e164 in self.slow:
            await asyncio.sleep(self.slow[caller_e164])
        return await super().lookup_caller(caller_e164, raw_number)

    async def record_call(self, record: CallRecord) -> None:
        if self.write_failures > 0:
            self.write_failures -= 1
            raise ConnectionError("database restarting")
        await super().record_call(record)


async def test_slow_lookup_delays_only_its_own_call(rig):
    d = FlakyDirectory(customers={"+15551230007": {"id": 7, "name": "Slow"},
                                  "+15551230008": {"id": 8, "name": "Fast"}})
    d.slow["+15551230007"] = 0.6
    rig.bridge.directory = rig.tel.directory = d
    slow = await rig.server.play(A, caller="+15551230007")
    fast = await rig.server.play(A, caller="+15551230008")
    await rig.wait_idle()
    await asyncio.sleep(0.7)
    await rig.settle()
    order = [p["call_id"] for p in rig.pops()]
    slow_id, fast_id = f"pbx1:{slow.linkedids[0]}", f"pbx1:{fast.linkedids[0]}"
    assert order.index(fast_id) < order.index(slow_id)  # the fast call did not wait
    assert {p["customer"]["name"] for p in rig.pops()} == {"Slow", "Fast"}
    # And the slow call's own order held: its pops before its closing update.
    seq = [(e["type"], tuple(e.get("closed_for") or ())) for _, e in rig.rec.events
           if e.get("call_id") == slow_id and e.get("type") in ("screen_pop", "call_update")]
    assert seq.index(("screen_pop", ())) < seq.index(("call_update", ("6002",)))


async def test_failed_lookup_still_pops_and_failed_writes_are_retried(rig):
    d = FlakyDirectory()
    d.broken.add("+15551230001")
    d.write_failures = 3
    rig.bridge.directory = rig.tel.directory = d
    result = await rig.server.play(A)
    await rig.wait_idle()
    for _ in range(100):
        if d.calls and next(iter(d.calls.values())).ended_at:
            break
        await asyncio.sleep(0.02)
    pops = rig.pops()
    assert len(pops) == 2 and all(p["customer"] is None for p in pops)
    assert all(p["lookup_error"] == "lookup failed: ConnectionError" for p in pops)
    rec = d.calls[f"pbx1:{result.linkedids[0]}"]
    assert rec.state == "ended" and rec.agent_extension == "6001"


async def test_queue_stats_ticker_while_callers_wait(rig_factory):
    rig = await rig_factory(stats_interval=0.05, status_window=0.02)
    task, _ = rig.server.start_play(A, speed=2.0)
    try:
        await rig.rec.wait_for(lambda e: e.get("type") == "queue_stats" and e["waiting"] == 1,
                               within=10)
        n = len(rig.rec.of("queue_stats"))
        await asyncio.sleep(0.3)
        waits = [s["longest_wait_s"] for s in rig.rec.of("queue_stats")[n:] if s["waiting"]]
        assert len(waits) >= 3 and waits[-1] > waits[0]
    finally:
        task.cancel()


async def test_transient_lookup_failure_is_retried_at_pop_time(rig):
    class OnceBroken(FlakyDirectory):
        async def lookup_caller(self, caller_e164, raw_number):
            if self.lookups == 0:
                self.lookups += 1
                raise ConnectionError("database restarting")
            return await super().lookup_caller(caller_e164, raw_number)

    d = OnceBroken(customers={"+15551230001": {"id": 1, "name": "Jane Doe"}})
    rig.bridge.directory = rig.tel.directory = d
    await rig.server.play(A)
    await rig.wait_idle()
    pops = rig.pops()
    assert len(pops) == 2 and all(p["customer"] == {"id": 1, "name": "Jane Doe"} for p in pops)
    assert d.lookups == 2  # the failed prefetch, then one shared retry for both pops
