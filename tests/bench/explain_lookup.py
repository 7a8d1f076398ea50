"""The screen pop's caller lookup, statement by statement, with PostgreSQL's plans.

Issue #19 asks for the lookup's plan on 100k customers / 1M tickets: this builds that data
(``bench_core.populate``, plus ``--calls`` call-log rows so the recent-calls query has
something to search), runs :func:`tickets.calls.caller_context` for random callers while
recording every statement it sends, and prints each statement once with
``EXPLAIN (ANALYZE, BUFFERS)`` for the last caller, then the lookup's latency.

Run from the repository root:
    .venv/bin/python -m tests.bench.explain_lookup [--customers N] [--tickets N] [--calls N]
Uses HOTLINE_TEST_PG_URL if set, else a throwaway server from Debian's binaries.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from sqlalchemy import event

from tests.bench.bench_core import demo_database, phone_of, populate
from tests.bench.common import machine, summary
from tests.support.servers import postgres_server
from tickets.calls import caller_context
from tickets.db import make_engine, make_read_sessionmaker
from web.settings import to_async_url


async def add_calls(url: str, calls: int, customers: int) -> None:
    """``calls`` finished calls from random customers (the recent-calls query's data)."""
    conn = await asyncpg.connect(url)
    rng = random.Random(7)
    now = datetime.now(UTC)
    try:
        await conn.copy_records_to_table(
            "call_log", columns=["call_id", "pbx", "linkedid", "direction", "caller_number",
                                 "callee_number", "state", "started_at", "extra"],
            records=((f"pbx1:bench.{k}", "pbx1", f"bench.{k}", "inbound",
                      phone_of(rng.randrange(customers)), "400", "completed",
                      now - timedelta(seconds=k), "{}") for k in range(calls)))
        await conn.execute("ANALYZE")
    finally:
        await conn.close()


async def explain(url: str, lookups: int, customers: int) -> None:
    engine = make_engine(to_async_url(url))
    read = make_read_sessionmaker(engine)
    seen: dict[str, tuple[Any, ...]] = {}

    @event.listens_for(engine.sync_engine, "before_cursor_execute")
    def record(conn: Any, cursor: Any, statement: str, params: Any, context: Any,
               executemany: bool) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            seen[statement] = tuple(params or ())

    rng = random.Random(5)
    lat: list[float] = []
    cpu0 = time.process_time()
    for _ in range(lookups):
        async with read() as s:
            t = time.perf_counter()
            ctx = await caller_context(s, phone_of(rng.randrange(customers)))
            lat.append((time.perf_counter() - t) * 1000)
        assert ctx["customer"] is not None
    # The client's CPU per lookup (this process only: steadier than latency on a busy
    # machine); it is what a lookup takes from the event loop the consoles share.
    cpu_ms = (time.process_time() - cpu0) * 1000 / lookups
    await engine.dispose()
    print(f"caller_context sends {len(seen)} distinct SELECTs per lookup:")
    conn = await asyncpg.connect(url)
    try:
        for k, (statement, params) in enumerate(seen.items(), 1):
            print(f"\n--- statement {k}\n{statement}\n--- params {params}")
            for row in await conn.fetch("EXPLAIN (ANALYZE, BUFFERS) " + statement, *params):
                print("    " + row[0])
    finally:
        await conn.close()
    print()
    print(summary(f"caller_context, {lookups} random callers, one at a time", lat))
    print(f"client CPU per lookup (session, SQLAlchemy, asyncpg): {cpu_ms:.2f} ms; "
          f"load avg {os.getloadavg()[0]:.2f}")


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--customers", type=int, default=100_000)
    ap.add_argument("--tickets", type=int, default=1_000_000)
    ap.add_argument("--calls", type=int, default=100_000)
    ap.add_argument("--lookups", type=int, default=500)
    args = ap.parse_args()
    print("machine:", machine())
    with postgres_server() as server:
        url = await demo_database(server, "hotline_bench_explain")
        await populate(url, args.customers, args.tickets)
        await add_calls(url, args.calls, args.customers)
        print(f"data: {args.customers:,} customers, {args.tickets:,} tickets, "
              f"{args.calls:,} calls; load avg {os.getloadavg()[0]:.2f}")
        await explain(url, args.lookups, args.customers)


if __name__ == "__main__":
    asyncio.run(main())
