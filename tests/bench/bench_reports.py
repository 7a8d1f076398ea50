"""The reports on 1M tickets and 300k calls (PostgreSQL): each report's latency.

Builds a throwaway database (migrated, no demo data) with ``--tickets`` tickets created
over the last 365 days (10 types, 5 channels, 10 groups, 200 agents; 60 % solved, some
reopened, breached, with linked calls and call-backs; one history event each) and
``--calls`` inbound queue calls over the last 120 days (10 queues; 80 % answered, each
ringing two agents). Prints ``EXPLAIN ANALYZE`` of the 30-day ticket statement (the
period must come through ``ix_tickets_created_at``), then runs every report ``--runs``
times for the last 30 days (day buckets) and for yesterday (hour buckets), through
:mod:`tickets.reports.service` as the API calls it (statement, rows, Python objects), and
prints median / p99 per report with the machine's load. Target: each ≤ 500 ms.

Run from the repository root:
    nice .venv/bin/python -m tests.bench.bench_reports [--tickets 1000000] [--calls 300000]
    nice .venv/bin/python -m tests.bench.bench_reports --quick   # 100k / 30k, under a minute
Uses HOTLINE_TEST_PG_URL if set, else a throwaway server from Debian's binaries.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncSession

from tests.bench.common import LoadSampler, machine, settle, summary
from tests.support.servers import postgres_server
from tickets.db import make_engine, make_sessionmaker
from tickets.reports import service
from tickets.reports.period import Period
from tickets.reports.schemas import Filters
from web.migrate import upgrade
from web.settings import to_async_url

ZONE = "Asia/Shanghai"
AGENTS, GROUPS, TYPES = 200, 10, 10

SEED = [
    # agents 1..AGENTS with extensions 1000.., groups with a queue each, members
    """INSERT INTO users (id, username, display_name, role, password_hash, extension, locale,
           skills, is_active, seniority, created_at)
       SELECT g, 'agent' || g, 'Agent ' || g, 'agent', 'x', (999 + g)::text, 'zh', '[]', true,
           0, now() FROM generate_series(1, $1::int) g""",
    """INSERT INTO groups (id, key, name, skills, queue, assignment, vip_to_senior)
       SELECT g, 'g' || g, 'Group ' || g, '[]', 'q' || g, 'manual', false
       FROM generate_series(1, $1::int) g""",
    """INSERT INTO group_members (group_id, user_id)
       SELECT 1 + (g % $1::int), g FROM generate_series(1, $2::int) g""",
    """INSERT INTO ticket_types (id, key, name, default_priority, fields, flow,
           required_steps, required_skills, keywords, active)
       SELECT g, 'type' || g, 'Type ' || g, 'normal', '[]', '[]', '[]', '[]', '{}', true
       FROM generate_series(1, $1::int) g""",
]

TICKETS = """
INSERT INTO tickets (id, title, description, type_id, priority, status, channel, assignee_id,
    group_id, fields, tags, call_id, flow_step, reopen_count, created_at, updated_at, version,
    sla_paused_s, first_responded_at, resolved_at, closed_at, sla_breached_at)
SELECT g, 'bench ' || g, '', 1 + g % $3::int, 'normal',
    (ARRAY['closed', 'closed', 'resolved', 'resolved', 'resolved', 'resolved', 'new',
           'in_progress', 'pending_customer', 'cancelled'])[1 + g % 10],
    (ARRAY['phone', 'phone', 'email', 'web', 'ivr'])[1 + g % 5],
    1 + g % $4::int, 1 + g % $5::int, '{}', '[]',
    CASE WHEN g % 5 < 2 THEN 'b:' || g END, 0, CASE WHEN g % 17 = 0 THEN 1 ELSE 0 END,
    c, c, 1, 0, c + (g % 3600) * interval '1 second',
    CASE WHEN g % 10 < 6 THEN c + (g % 200000) * interval '1 second' END,
    CASE WHEN g % 10 < 2 THEN c + interval '3 days' END,
    CASE WHEN g % 13 = 0 THEN c + interval '8 hours' END
FROM (SELECT g, $1::timestamptz - interval '365 days'
             + g * (interval '365 days' / $2::int) AS c
      FROM generate_series(1, $2::int) g) s
"""
EXTRA = [
    "INSERT INTO ticket_events (ticket_id, at, kind, data) "
    "SELECT id, created_at, 'created', '{}' FROM tickets",
    "INSERT INTO ticket_events (ticket_id, at, kind, data) "
    "SELECT id, created_at + interval '1 hour', 'called_back', '{}' FROM tickets "
    "WHERE id % 11 = 0",
    "INSERT INTO ticket_calls (ticket_id, call_id, linked_at) "
    "SELECT id, 'x:' || id, created_at FROM tickets WHERE id % 7 = 0",
]
CALLS = """
INSERT INTO call_log (call_id, pbx, linkedid, direction, caller_number, queue,
    agent_extension, state, started_at, answered_at, ended_at, wait_s, talk_s, extra)
SELECT 'c:' || g, 'pbx1', g::text, 'inbound', '+861380000' || (g % 10000), 'q' || (1 + g % 10),
    CASE WHEN g % 10 < 8 THEN a END,
    CASE WHEN g % 10 < 8 THEN 'ended' ELSE 'abandoned' END, c,
    CASE WHEN g % 10 < 8 THEN c + (g % 60) * interval '1 second' END,
    c + (g % 60 + 30 + g % 600) * interval '1 second', g % 60,
    CASE WHEN g % 10 < 8 THEN 30 + g % 600 END,
    jsonb_build_object('agents', CASE WHEN g % 10 < 8 THEN jsonb_build_array(a)
                                      ELSE '[]'::jsonb END,
                       'rung', jsonb_build_array(b, a))
FROM (SELECT g, $1::timestamptz - interval '120 days' + g * (interval '120 days' / $2::int)
             AS c, (1000 + g % $3::int)::text AS a, (1000 + (g + 7) % $3::int)::text AS b
      FROM generate_series(1, $2::int) g) s
"""


async def build(server: str, tickets: int, calls: int, now: datetime) -> str:
    admin = await asyncpg.connect(server)
    try:
        await admin.execute('DROP DATABASE IF EXISTS "hotline_bench_reports"')
        await admin.execute('CREATE DATABASE "hotline_bench_reports"')
    finally:
        await admin.close()
    url = f"{server.rsplit('/', 1)[0]}/hotline_bench_reports"
    await asyncio.to_thread(upgrade, url)
    conn = await asyncpg.connect(url)
    t0 = time.perf_counter()
    try:
        await conn.execute(SEED[0], AGENTS)
        await conn.execute(SEED[1], GROUPS)
        await conn.execute(SEED[2], GROUPS, AGENTS)
        await conn.execute(SEED[3], TYPES)
        await conn.execute(TICKETS, now, tickets, TYPES, AGENTS, GROUPS)
        for sql in EXTRA:
            await conn.execute(sql)
        await conn.execute(CALLS, now, calls, AGENTS)
        for table in ("users", "tickets", "ticket_events", "ticket_calls", "call_log"):
            await conn.execute(f"VACUUM ANALYZE {table}")
    finally:
        await conn.close()
    print(f"built {tickets} tickets and {calls} calls in {time.perf_counter() - t0:.1f} s",
          flush=True)
    return url


Report = Callable[[AsyncSession, Filters, str], Awaitable[Any]]
REPORTS: dict[str, Report] = {"tickets": service.ticket_report,
                              "agents": service.agent_report,
                              "queues": service.queue_report,
                              "summary": service.summary_report}


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tickets", type=int, default=1_000_000)
    ap.add_argument("--calls", type=int, default=300_000)
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--quick", action="store_true", help="100k tickets, 30k calls, 8 runs")
    args = ap.parse_args()
    if args.quick:
        args.tickets, args.calls, args.runs = 100_000, 30_000, 8
    print(machine())
    zone = ZoneInfo(ZONE)
    now = datetime.now(zone)
    today = now.date()
    month = Filters(period=Period(today - timedelta(days=29), today, zone))
    day = Filters(period=Period(today - timedelta(days=1), today - timedelta(days=1), zone),
                  bucket="hour")
    with postgres_server() as server:
        url = await build(server, args.tickets, args.calls, now)
        engine = make_engine(to_async_url(url))
        sm = make_sessionmaker(engine)  # a transaction per run, as an API request has
        sql = str(service.ticket_statement(month, "postgresql").compile(
            dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}))
        async with engine.connect() as conn:  # the reports' settings (service._dialect)
            await conn.exec_driver_sql("SET LOCAL jit = off")
            await conn.exec_driver_sql("SET LOCAL work_mem = '32MB'")
            plan = (await conn.exec_driver_sql(f"EXPLAIN ANALYZE {sql}")).scalars().all()
        print("the 30-day ticket statement:\n  " + "\n  ".join(plan), flush=True)
        assert any("ix_tickets_created_at" in line for line in plan), "index not used"
        cases = [(f"{name} 30 days", fn, month) for name, fn in REPORTS.items()]
        cases += [(f"{name} 1 day (hours)", fn, day) for name, fn in REPORTS.items()
                  if name != "summary"]
        cases.append(("agents 30 days, one group", service.agent_report,
                      replace(month, group_id=3)))
        async with sm() as s:  # warm: statement caches, the server's buffers
            for _, fn, f in cases:
                await fn(s, f, ZONE)
        settle(timeout_s=5 if args.quick else 20)
        results: list[tuple[str, list[float]]] = []
        with LoadSampler("reports") as load:
            for name, fn, f in cases:
                walls = []
                for _ in range(args.runs):
                    async with sm() as s:
                        t0 = time.perf_counter()
                        await fn(s, f, ZONE)
                        walls.append((time.perf_counter() - t0) * 1000)
                results.append((name, walls))
        print(load.report())
        for name, walls in results:
            print(summary(f"{name} ({args.tickets} tickets, {args.calls} calls)", walls))
        worst = max(sorted(w)[len(w) // 2] for _, w in results)
        print(f"slowest median {worst:.1f} ms: target each <= 500 ms "
              f"{'met' if worst <= 500 else 'MISSED'}")
        await engine.dispose()


if __name__ == "__main__":
    asyncio.run(main())
