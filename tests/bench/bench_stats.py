"""The live statistics engine's cost under 200 calls/s of AMI events (issue #13: ≤ 10 % of
one core).

Run from the repository root (about 1 minute; ``--quick`` about 15 s):
    .venv/bin/python -m tests.bench.bench_stats [--quick] [--rate 200] [--seconds 30]
        [--agents 4000] [--queues 50]

The traffic: capture ``a_inbound_queue_answered`` (a real Asterisk 22 queue call, ring-all
to two members, answered, ~8 s of talk; 126 events of which most are noise the engine
skips: VarSet, Newexten, DeviceStateChange, RTCP, Cdr) replayed ``rate`` times a second
for ``seconds`` of simulated time, each copy with its own Uniqueids, a queue of ``queues``
and two agents of ``agents``, at the capture's own offsets (so ~3,000 calls are live at
once at 200/s: 4,000 agents, each on about one call at a time). Every event goes through
:meth:`StatsEngine.feed` with its simulated time, one by one in one thread; the push side
is included: every 250 ms of simulated time the messages of everything that changed are
built (what the bridge's coalescer lets out at most), and :meth:`StatsEngine.tick` runs
every 2 s.

Figures: median and p99 per event (a second pass timing each feed with
``perf_counter_ns``; fed events, noise included), and the engine's CPU share at the steady
rate = CPU seconds of the untimed pass (``time.process_time``: feeding + building +
ticking, less the same loop with a feed that does nothing) per call × calls per second, as
% of one core (the stream's tail, the last calls ending after the last one began, is not
idle time to divide by). The event list is built before the measured part; the machine's
load is printed before and during it (tests/bench/common.py).
"""

from __future__ import annotations

import argparse
import heapq
import statistics
import time
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from telephony.captures import events
from telephony.stats import StatsEngine
from tests.bench.common import LoadSampler, machine, pct, settle

_AGENT_KEYS = ("Channel", "DestChannel", "Interface", "MemberName", "StateInterface",
               "ConnectedLineNum", "DestConnectedLineNum", "CallerIDNum", "Exten",
               "DestCallerIDNum", "Peer", "DestExten")


def _template() -> list[tuple[float, dict[str, Any]]]:
    evs = [(t, e) for t, e in events("a_inbound_queue_answered")
           if e.get("Event") not in ("FullyBooted", "SuccessfulAuth")]
    t0 = evs[0][0]
    return [(t - t0, e) for t, e in evs]


def _copy(template: list[tuple[float, dict[str, Any]]], i: int, start: float,
          agents: int, queues: int) -> list[tuple[float, int, dict[str, Any]]]:
    """Call ``i``: the template with unique ids, queue ``q<i % queues>`` and two agents."""
    a1 = 10000 + (2 * i) % agents
    a2 = 10000 + (2 * i + 1) % agents
    q = f"q{i % queues}"
    prefix = f"{1_800_000_000 + i}"
    out = []
    for k, (dt, e) in enumerate(template):
        if e.get("Event") not in StatsEngine.EVENTS:
            out.append((start + dt, i * 1000 + k, e))  # skipped by name: shared, not copied
            continue
        ev = dict(e)
        for key in ("Uniqueid", "Linkedid", "DestUniqueid", "DestLinkedid"):
            v = ev.get(key)
            if isinstance(v, str) and "." in v:
                ev[key] = f"{prefix}.{v.split('.', 1)[1]}"
        for key in _AGENT_KEYS:
            v = ev.get(key)
            if isinstance(v, str):
                # One trunk device; a unique channel suffix per call.
                ev[key] = v.replace("6001", str(a1)).replace("6002", str(a2)).replace(
                    "customer-0000", f"trunk-{i % 65536:04x}")
        if "Queue" in ev:
            ev["Queue"] = q
        out.append((start + dt, i * 1000 + k, ev))
    return out


def build(rate: float, seconds: float, agents: int, queues: int,
          start: float) -> list[tuple[float, dict[str, Any]]]:
    template = _template()
    calls = int(rate * seconds)
    streams = [_copy(template, i, start + i / rate, agents, queues) for i in range(calls)]
    return [(t, e) for t, _, e in heapq.merge(*streams)]


def baseline(stream: list[tuple[float, dict[str, Any]]]) -> float:
    """CPU of the same loop with a feed that does nothing (the harness's own share)."""
    def feed(ev: dict[str, Any], t: float) -> None:
        return None

    next_push = next_tick = stream[0][0]
    cpu0 = time.process_time()
    for t, ev in stream:
        if t >= next_push:
            next_push = t + 0.25
        if t >= next_tick:
            next_tick = t + 2.0
        feed(ev, t)
    return time.process_time() - cpu0


def run(stream: list[tuple[float, dict[str, Any]]], agents: int, queues: int,
        timed: bool) -> dict[str, Any]:
    """One pass on a fresh engine: CPU of the whole pass, and (``timed``) each feed's
    wall time (the timing's own cost stays out of the untimed pass's CPU figure)."""
    eng = StatsEngine("pbx1")
    # The members, as the QueueStatus snapshot after login gives them.
    t_first = stream[0][0]
    for a in range(agents):
        for qi in {(a // 2) % queues, ((a + agents) // 2) % queues}:
            eng.feed({"Event": "QueueMember", "Queue": f"q{qi}",
                      "Interface": f"PJSIP/{10000 + a}", "Name": f"Agent {10000 + a}",
                      "Status": "1", "Paused": "0", "InCall": "0"}, t_first)
    eng.take_changes()
    per_event: list[int] = []
    built = 0
    next_push = t_first + 0.25
    next_tick = t_first + 2.0
    perf = time.perf_counter_ns
    feed = eng.feed
    cpu0 = time.process_time()
    for t, ev in stream:
        if t >= next_push:
            qs, ags = eng.take_changes()
            for name in qs:
                eng.queue_live(name, t)
            for ext in ags:
                eng.agent_message(ext, t)
            built += len(qs) + len(ags)
            next_push = t + 0.25
        if t >= next_tick:
            eng.tick(t)
            next_tick = t + 2.0
        if timed:
            a = perf()
            feed(ev, t)
            per_event.append(perf() - a)
        else:
            feed(ev, t)
    cpu = time.process_time() - cpu0
    today = {q: eng.queue_live(q, stream[-1][0])["windows"]["today"] for q in eng.queues}
    return {"cpu": cpu, "per_event": per_event, "built": built,
            "answered": sum(w["answered"] for w in today.values()),
            "offered": sum(w["offered"] for w in today.values())}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="10 s of traffic (about 15 s)")
    p.add_argument("--rate", type=float, default=200.0, help="calls per second")
    p.add_argument("--seconds", type=float, default=30.0,
                   help="simulated seconds (memory: ~10 MB per second at 200 calls/s)")
    p.add_argument("--agents", type=int, default=4000)
    p.add_argument("--queues", type=int, default=50)
    args = p.parse_args()
    seconds = 10.0 if args.quick else args.seconds
    print(f"machine: {machine()}")
    # Mid-morning in the site's zone: no midnight inside the run.
    start = datetime(2026, 12, 1, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai")).timestamp()
    t = time.monotonic()
    stream = build(args.rate, seconds, args.agents, args.queues, start)
    print(f"stream: {int(args.rate * seconds)} calls at {args.rate:g}/s over {seconds:g} s "
          f"simulated (+ the last calls' ~15 s tail), {len(stream)} events, "
          f"{args.agents} agents, {args.queues} queues (built in "
          f"{time.monotonic() - t:.1f} s)")
    settle(timeout_s=8.0 if args.quick else 20.0)
    with LoadSampler("statistics engine, CPU pass") as load:
        r = run(stream, args.agents, args.queues, timed=False)
    print(load.report())
    loop = min(baseline(stream) for _ in range(3))
    with LoadSampler("statistics engine, timed pass") as load:
        timed = run(stream, args.agents, args.queues, timed=True)
    print(load.report())
    us = [n / 1000 for n in timed["per_event"]]
    calls = int(args.rate * seconds)
    rate = len(stream) / calls * args.rate
    cpu = max(0.0, r["cpu"] - loop)
    share = 100.0 * cpu / calls * args.rate
    print(f"per event: median {statistics.median(us):.2f} µs, p99 {pct(us, 99):.2f} µs, "
          f"max {max(us):.1f} µs ({len(us)} events; {rate:.0f} events/s at {args.rate:g} "
          "calls/s)")
    print(f"messages built (coalesced, 250 ms): {r['built']}; queue calls counted: "
          f"{r['offered']} offered, {r['answered']} answered")
    print(f"harness loop alone: {loop:.2f} s CPU (subtracted)")
    print(f"engine CPU: {cpu:.2f} s for {calls} calls = {1000 * cpu / calls:.3f} ms "
          f"per call = {share:.1f} % of one core at {args.rate:g} calls/s (target <= 10 %: "
          f"{'met' if share <= 10 else 'MISSED'})")


if __name__ == "__main__":
    main()
