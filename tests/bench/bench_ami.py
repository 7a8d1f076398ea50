"""AMI benchmark: events/s through the bridge vs bare panoramisk, and screen-pop latency.

Run: ``.venv/bin/python tests/bench/bench_ami.py [--calls N] [--runs R] [--pop-seconds S]``

1. Throughput. One byte stream made of the real capture ``a_inbound_queue_answered``
   repeated as distinct calls (ids rewritten). *Bare*: panoramisk's ``AMIProtocol`` parses it
   and dispatches to a Manager with no callbacks. *Bridge*: our protocol parses it, the
   ordered queue feeds the CallTracker, the effects run (bus publish, call-log upserts into
   the in-memory directory). Same chunks (64 KiB, like TCP reads), one core, R runs of
   each, interleaved (bare first in even runs, bridge first in odd ones), each after a
   ``gc.collect()``; the figures are medians. Events per CPU second are printed beside the
   wall-clock rate: on a shared machine a wall-clock run includes time spent descheduled,
   the CPU figure does not (on a quiet machine the two agree).
2. Pop latency over real TCP: the fake Asterisk plays inbound queue calls at ~20 calls/s; the
   latency is from the moment it writes the AgentCalled bytes to the moment the
   ``screen_pop`` reaches a bus subscriber (the websocket hop is web/'s and not included).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from panoramisk import Manager  # noqa: E402
from panoramisk.ami_protocol import AMIProtocol  # noqa: E402

from telephony import InMemoryCallDirectory, PbxConfig, Telephony  # noqa: E402
from telephony.ami import encode_action  # noqa: E402
from telephony.bridge import HotlineAMIProtocol, PbxBridge  # noqa: E402
from telephony.simulator import FakeAsterisk  # noqa: E402
from tests.bench.common import LoadSampler, machine, settle  # noqa: E402
from tickets.bus import TOPIC_CALLS, InProcessBus  # noqa: E402

CHUNK = 65536


def build_stream(calls: int) -> tuple[bytes, int]:
    """The capture's events repeated as ``calls`` distinct calls, as one byte stream."""
    fake = FakeAsterisk()
    script = [m for _, m in fake.script("a_inbound_queue_answered") if "Event" in m]
    parts = [b"Asterisk Call Manager/11.0.0\r\n"]
    n = 0
    for _ in range(calls):
        rewrite, _ids = fake._rewriter(None)
        for m in script:
            parts.append(encode_action(rewrite(m)))
            n += 1
    return b"".join(parts), n


def chunks(stream: bytes) -> list[bytes]:
    return [stream[i:i + CHUNK] for i in range(0, len(stream), CHUNK)]


def bench_bare(parts: list[bytes]) -> tuple[float, float, list[float]]:
    """``(wall s, CPU s, per-read wall s)`` of panoramisk parsing and dispatching it all."""
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    manager = Manager(loop=loop)
    proto = AMIProtocol()
    proto.connection_made(_NullTransport())
    proto.factory = manager
    lat = []
    gc.collect()  # the previous run's garbage is not this run's
    c0, t0 = time.thread_time(), time.perf_counter()
    for c in parts:
        s = time.perf_counter()
        proto.data_received(c)
        lat.append(time.perf_counter() - s)
    total, cpu = time.perf_counter() - t0, time.thread_time() - c0
    loop.close()
    return total, cpu, lat


async def _bench_bridge(parts: list[bytes]) -> tuple[float, float, list[float], int]:
    """``(wall s, CPU s, per-read wall s, calls logged)`` of the bridge doing it all."""
    bus = InProcessBus()
    directory = InMemoryCallDirectory()
    bridge = PbxBridge(PbxConfig("pbx1", "127.0.0.1", 1, "u", "p"), bus, directory,
                       region="US", queue_high=10**9)
    bridge.manager.loop = asyncio.get_running_loop()
    bridge.call_log.start()  # without its writer, drain() waits for ever
    bridge._consumer = asyncio.create_task(bridge._consume())
    proto = HotlineAMIProtocol(bridge._sink)
    proto.connection_made(_NullTransport())
    proto.factory = bridge.manager
    bridge.protocol = proto
    lat = []
    gc.collect()
    c0, t0 = time.thread_time(), time.perf_counter()
    for c in parts:
        s = time.perf_counter()
        proto.data_received(c)
        await bridge.drain()  # parse + tracker + effects for this read, before the next
        lat.append(time.perf_counter() - s)
    total, cpu = time.perf_counter() - t0, time.thread_time() - c0
    bridge._consumer.cancel()
    for t in list(bridge._lane_tasks.values()):
        t.cancel()
    await bridge.call_log.stop()
    return total, cpu, lat, len(directory.calls)


def bench_bridge(parts: list[bytes]) -> tuple[float, float, list[float], int]:
    return asyncio.run(_bench_bridge(parts))


class _NullTransport:
    def write(self, data: bytes) -> None:
        pass

    def close(self) -> None:
        pass

    def abort(self) -> None:
        pass

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, round(p / 100 * (len(s) - 1)))]


async def pop_latency(seconds: float, rate: float, lookup_delay: float) -> list[float]:
    server = FakeAsterisk()
    await server.start()
    sent: dict[tuple[str, str], float] = {}
    orig_broadcast = server.broadcast

    async def broadcast(data: bytes) -> None:
        await orig_broadcast(data)
        if data.startswith(b"Event: AgentCalled\r\n"):
            head = dict(line.split(": ", 1) for line in data.decode().split("\r\n")
                        if ": " in line)
            sent[(head["Linkedid"], head["Interface"].split("/")[1])] = time.perf_counter()

    server.broadcast = broadcast  # type: ignore[method-assign]
    bus = InProcessBus()
    customers = {f"+1555{n:07d}": {"id": n, "name": f"C{n}"} for n in range(100_000)}
    directory = InMemoryCallDirectory(customers=customers, delay=lookup_delay)
    tel = Telephony([PbxConfig("pbx1", "127.0.0.1", server.port, "bridge", "bridgepass")],
                    bus, directory, "US")
    sub = bus.subscribe(TOPIC_CALLS)
    lat: list[float] = []

    async def collect() -> None:
        async for _, e in sub:
            if e.get("type") == "screen_pop":
                key = (e["call_id"].split(":", 1)[1], e["extension"])
                if key in sent:
                    lat.append(time.perf_counter() - sent[key])

    collector = asyncio.create_task(collect())
    await tel.start()
    await server.wait_logged_in()
    plays = []
    t_end = time.perf_counter() + seconds
    i = 0
    while time.perf_counter() < t_end:
        caller = f"+1555{i % 100_000:07d}"
        plays.append(server.start_play("a_inbound_queue_answered", speed=20.0,
                                       caller=caller)[1])
        i += 1
        await asyncio.sleep(1 / rate)
    for r in plays:
        await r.done.wait()
    await asyncio.sleep(0.2)
    await tel.stop()
    await server.stop()
    collector.cancel()
    return lat


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=800)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--pop-seconds", type=float, default=8.0)
    ap.add_argument("--rate", type=float, default=20.0)
    args = ap.parse_args()
    print(f"machine: {machine()}")
    stream, n_events = build_stream(args.calls)
    parts = chunks(stream)
    print(f"stream: {n_events} events, {len(stream) / 1e6:.1f} MB, {len(parts)} reads of "
          f"{CHUNK} B, {args.calls} calls")
    rates: dict[str, list[float]] = {"bare": [], "bridge": []}
    cpu_rates: dict[str, list[float]] = {"bare": [], "bridge": []}
    lats: dict[str, list[float]] = {"bare": [], "bridge": []}
    pair_ratios, cpu_ratios = [], []
    settle()  # building the stream
    load = LoadSampler("the throughput runs").start()
    for run in range(args.runs):
        # A and B interleaved, first one then the other first: neither always runs on the
        # heels of the other (caches, allocator, a neighbour's burst).
        for side in (("bare", "bridge") if run % 2 == 0 else ("bridge", "bare")):
            if side == "bare":
                t, cpu, lat = bench_bare(parts)
            else:
                t, cpu, lat, logged = bench_bridge(parts)
                assert logged == args.calls, f"bridge logged {logged} calls, not {args.calls}"
            rates[side].append(n_events / t)
            cpu_rates[side].append(n_events / cpu)
            lats[side] += lat
        pair_ratios.append(rates["bridge"][-1] / rates["bare"][-1])
        cpu_ratios.append(cpu_rates["bridge"][-1] / cpu_rates["bare"][-1])
    load.stop()
    per_read = n_events / len(parts)
    for side, label in (("bare", "bare panoramisk parse "), ("bridge", "bridge parse+tracker  ")):
        r, lat = rates[side], lats[side]
        print(f"{label}: median {statistics.median(r):>9,.0f} ev/s  (min {min(r):,.0f}; "
              f"per CPU second {statistics.median(cpu_rates[side]):,.0f}); per 64 KiB "
              f"read: median {statistics.median(lat) * 1e3:.2f} ms, p99 "
              f"{pct(lat, 99) * 1e3:.2f} ms (~{per_read:.0f} events)")
    bm, gm = statistics.median(rates["bare"]), statistics.median(rates["bridge"])
    print(f"ratio bridge/bare     : {gm / bm:.2f}x (medians of {args.runs} interleaved runs; "
          f"per pair {' '.join(f'{x:.2f}' for x in pair_ratios)}; on CPU time "
          f"{statistics.median(cpu_ratios):.2f}x)   (targets: >= 20,000 ev/s, >= 0.8x)")
    print(load.report())
    for delay in (0.0, 0.005):
        settle()
        with LoadSampler(f"pop latency, lookup delay {delay * 1e3:g} ms") as load:
            lat = asyncio.run(pop_latency(args.pop_seconds, args.rate, delay))
        print(load.report())
        if not lat:
            print("pop latency: no pops measured")
            continue
        print(f"pop latency AMI bytes -> bus ({args.rate:g} calls/s, {len(lat)} pops, "
              f"100k customers, lookup delay {delay * 1e3:g} ms): median "
              f"{statistics.median(lat) * 1e3:.2f} ms, p99 {pct(lat, 99) * 1e3:.2f} ms, "
              f"max {max(lat) * 1e3:.2f} ms")


if __name__ == "__main__":
    main()
