"""Field dispatch: candidate ranking over a fleet, and assignment decisions per second.

Run from the repository root (a few seconds):
    .venv/bin/python -m tests.bench.bench_dispatch [--engineers 200] [--jobs 2000]

The world is ``tests/dispatch/fleet.py``'s (seeded): engineers around Shanghai with skills,
regions, hours, work days, capacities, duty and positions (70 % last known, 20 % base, 10 %
unknown); orders over one working week with 2-hour windows, priorities, skills and regions.

1. **Ranking** (target: ≤ 20 ms for 200 engineers): ``dispatch.assignment.rank`` for each
   order against the whole fleet, timed one by one (``perf_counter_ns``) in one thread;
   median and p99 over the orders.
2. **Assignment decisions/s**: rank, take the best candidate and update the booked state
   (one more order that day, the priority's weight on the load) as the service would, for
   every order in turn, so capacities fill up and refusals grow as the week books up.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from dispatch.assignment import rank  # noqa: E402
from tests.bench.common import LoadSampler, machine, pct, settle  # noqa: E402
from tests.dispatch import fleet  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--engineers", type=int, default=200)
    ap.add_argument("--jobs", type=int, default=2000)
    args = ap.parse_args()
    print(f"machine: {machine()}")
    engineers = fleet.engineers(args.engineers)
    jobs = fleet.jobs(args.jobs)
    for j in jobs[:50]:  # warm-up
        rank(j, engineers)
    settle()

    with LoadSampler("ranking") as load:
        times: list[float] = []
        fit = 0
        for j in jobs:
            t_ns = time.perf_counter_ns()
            r = rank(j, engineers)
            times.append((time.perf_counter_ns() - t_ns) / 1e6)
            fit += len(r.ranked)
    print(load.report())
    print(f"ranking {args.engineers} engineers: n={len(times)} "
          f"median={statistics.median(times):.3f} ms p99={pct(times, 99):.3f} ms "
          f"max={max(times):.3f} ms (fit candidates per order: {fit / len(jobs):.1f}; "
          f"target ≤ 20 ms)")

    state = {e.user_id: e for e in engineers}
    placed = 0
    with LoadSampler("assignment") as load:
        t0 = time.perf_counter()
        for j in jobs:
            r = rank(j, list(state.values()))
            if r.ranked:
                uid = r.ranked[0].user_id
                state[uid] = fleet.book(state[uid], j)
                placed += 1
        elapsed = time.perf_counter() - t0
    print(load.report())
    print(f"assignment (rank + pick + book): {len(jobs) / elapsed:,.0f} decisions/s on one "
          f"core ({elapsed / len(jobs) * 1000:.3f} ms each); placed {placed} of {len(jobs)}")


if __name__ == "__main__":
    main()
