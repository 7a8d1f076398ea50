"""The SLA sweep with 1M open tickets on PostgreSQL: one sweep's cost, and its plan.

Builds a throwaway database (migrated, no demo data) with ``--tickets`` open tickets whose
``sla_next_at`` is spread over the next 30 days, plus ``--due`` tickets already due (a
backlog: their first response was due 2 h ago, so each fires a breach and passes over its
reminder). Prints ``EXPLAIN (ANALYZE, BUFFERS)`` of the sweep's selection (the index on
``sla_next_at`` must be used, no scan of ``tickets``), then runs sweeps of ``--batch``
tickets (each in its own transaction, committed) until the backlog is gone, and prints the
median / p99 wall time per sweep, this process's CPU per sweep, and the machine's load.
The Notify port is a counting fake (the outbox's insert is the notifier's to measure).

Run from the repository root:
    nice .venv/bin/python -m tests.bench.bench_sla [--tickets 1000000] [--due 5000] [--batch 500]
Uses HOTLINE_TEST_PG_URL if set, else a throwaway server from Debian's binaries.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from datetime import UTC, datetime

import asyncpg
from sqlalchemy import select
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncSession

from tests.bench.common import LoadSampler, machine, settle, summary
from tests.support.servers import postgres_server
from tickets.db import make_engine, make_sessionmaker
from tickets.models import Ticket
from tickets.notify.events import NotificationEvent
from tickets.sla.service import Site, SlaBook, sweep
from web.migrate import upgrade
from web.settings import to_async_url


class Count:
    def __init__(self) -> None:
        self.n = 0

    async def __call__(self, session: AsyncSession, event: NotificationEvent) -> None:
        self.n += 1


async def build(server: str, tickets: int, due: int, now: datetime) -> str:
    admin = await asyncpg.connect(server)
    try:
        await admin.execute('DROP DATABASE IF EXISTS "hotline_bench_sla"')
        await admin.execute('CREATE DATABASE "hotline_bench_sla"')
    finally:
        await admin.close()
    url = f"{server.rsplit('/', 1)[0]}/hotline_bench_sla"
    await asyncio.to_thread(upgrade, url)
    conn = await asyncpg.connect(url)
    t0 = time.perf_counter()
    try:
        # normal priority, the seeded policy (id 3: 8 h / 72 h on 24x7, reminder at 80 %)
        await conn.execute("""
            INSERT INTO tickets (title, description, priority, status, channel, fields, tags,
                flow_step, reopen_count, created_at, updated_at, version, sla_policy_id,
                first_response_due_at, due_at, sla_paused_s, sla_next_at)
            SELECT 'bench ' || g, '', 'normal', 'new', 'phone', '{}', '[]', 0, 0,
                c, c, 1, 3, c + interval '8 hours', c + interval '72 hours', 0,
                c + interval '384 minutes'
            FROM (SELECT g, $1::timestamptz - interval '6 hours'
                           + (g % 43200) * interval '1 minute' AS c
                  FROM generate_series(1, $2::int) g) s""", now, tickets - due)
        # the backlog: created 10 h ago, first response due 2 h ago, reminder 3.6 h ago
        await conn.execute("""
            INSERT INTO tickets (title, description, priority, status, channel, fields, tags,
                flow_step, reopen_count, created_at, updated_at, version, sla_policy_id,
                first_response_due_at, due_at, sla_paused_s, sla_next_at)
            SELECT 'due ' || g, '', 'normal', 'new', 'phone', '{}', '[]', 0, 0,
                c, c, 1, 3, c + interval '8 hours', c + interval '72 hours', 0,
                c + interval '384 minutes'
            FROM (SELECT g, $1::timestamptz - interval '10 hours' - g * interval '1 second'
                           AS c FROM generate_series(1, $2::int) g) s""", now, due)
        await conn.execute("VACUUM ANALYZE tickets")
        # the future ones' next step must not be due at ``now`` (only the backlog is)
        left = await conn.fetchval("SELECT count(*) FROM tickets WHERE sla_next_at <= $1", now)
    finally:
        await conn.close()
    print(f"built {tickets} open tickets ({left} due) in {time.perf_counter() - t0:.1f} s",
          flush=True)
    return url


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tickets", type=int, default=1_000_000)
    ap.add_argument("--due", type=int, default=5000)
    ap.add_argument("--batch", type=int, default=500)
    args = ap.parse_args()
    print(machine())
    now = datetime.now(UTC).replace(microsecond=0)
    with postgres_server() as server:
        url = await build(server, args.tickets, args.due, now)
        engine = make_engine(to_async_url(url))
        sm = make_sessionmaker(engine)
        book = SlaBook(Site("Asia/Shanghai", "CN"), ttl=3600)
        query = (select(Ticket).where(Ticket.sla_next_at <= now).order_by(Ticket.sla_next_at)
                 .limit(args.batch).with_for_update(of=Ticket, skip_locked=True))
        sql = str(query.compile(dialect=postgresql.dialect(),
                                compile_kwargs={"literal_binds": True}))
        async with engine.connect() as conn:
            plan = (await conn.exec_driver_sql(
                f"EXPLAIN (ANALYZE, BUFFERS) {sql}")).scalars().all()
            await conn.rollback()
        print("the sweep's selection:\n  " + "\n  ".join(plan), flush=True)
        assert any("ix_tickets_sla_next_at" in line for line in plan), "index not used"
        assert not any("Seq Scan on tickets" in line for line in plan), "a scan of tickets"
        told = Count()
        async with sm() as s, s.begin():  # warm: the book, the statement caches
            await sweep(s, now=now, notify=told, limit=1, book=book)
        settle()
        walls: list[float] = []
        cpus: list[float] = []
        fired = 0
        with LoadSampler("sweeps") as load:
            while True:
                c0, w0 = time.process_time(), time.perf_counter()
                async with sm() as s, s.begin():
                    report = await sweep(s, now=now, notify=told, limit=args.batch, book=book)
                walls.append((time.perf_counter() - w0) * 1000)
                cpus.append((time.process_time() - c0) * 1000)
                fired += report.fired
                if report.tickets < args.batch:
                    walls.pop()  # the last, short one (or the empty one) is not a sweep
                    cpus.pop()
                    break
        print(load.report())
        print(summary(f"sweep of {args.batch} due tickets among {args.tickets} (wall, commit "
                      "included)", walls))
        print(summary("  this process's CPU per sweep", cpus))
        print(f"fired {fired} steps, told {told.n}; "
              f"{1000 * len(walls) * args.batch / sum(walls):.0f} tickets/s swept")
        async with engine.connect() as conn:
            empty = (await conn.exec_driver_sql(
                f"EXPLAIN (ANALYZE) {sql}")).scalars().all()
        print("an empty sweep's selection (nothing due):\n  " + "\n  ".join(empty))
        await engine.dispose()


if __name__ == "__main__":
    asyncio.run(main())
