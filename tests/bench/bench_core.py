"""Ticket core benchmark on PostgreSQL: 100k customers / 1M tickets.

Prints ticket-create throughput (through ``tickets.service.create_ticket``, one transaction
per ticket, concurrent sessions) and customer-by-phone lookup latency (any written form →
E.164 → indexed lookup), plus the full screen-pop context query.
Targets (issue #2): ≥ 500 creates/s on PostgreSQL on 2 cores; lookup p99 ≤ 2 ms.

Run from the repository root:
    .venv/bin/python -m tests.bench.bench_core [--customers N] [--tickets N]
Uses HOTLINE_TEST_PG_URL if set, else a throwaway server from Debian's binaries.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time
from datetime import UTC, datetime, timedelta

import asyncpg

from tests.bench.common import LoadSampler, asettle, machine, summary
from tests.support.servers import postgres_server
from tickets import service
from tickets.calls import caller_context
from tickets.customers import find_by_phone
from tickets.db import make_engine, make_read_sessionmaker, make_sessionmaker
from tickets.schemas import TicketIn
from web.demo import load_demo
from web.migrate import upgrade
from web.settings import to_async_url


def phone_of(i: int) -> str:
    return f"+86139{i:08d}"


async def demo_database(server: str, name: str) -> str:
    """A fresh database ``name`` on the PostgreSQL ``server`` URL, migrated, with the demo
    data: its URL (dropped first if a previous run left it)."""
    admin = await asyncpg.connect(server)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    url = f"{server.rsplit('/', 1)[0]}/{name}"
    await asyncio.to_thread(upgrade, url)
    engine = make_engine(to_async_url(url))
    async with make_sessionmaker(engine)() as s, s.begin():
        await load_demo(s)
    await engine.dispose()
    return url


async def populate(url: str, customers: int, tickets: int) -> None:
    conn = await asyncpg.connect(url)
    try:
        t0 = time.perf_counter()
        now = datetime.now(UTC)
        start = await conn.fetchval("SELECT coalesce(max(id), 0) FROM customers") + 1
        await conn.copy_records_to_table(
            "customers", columns=["id", "name", "tier", "language", "created_at"],
            records=((start + i, f"客户{i}", "vip" if i % 50 == 0 else "standard", "zh", now)
                     for i in range(customers)))
        await conn.copy_records_to_table(
            "customer_phones", columns=["customer_id", "e164", "label"],
            records=((start + i, phone_of(i), "mobile") for i in range(customers)))
        await conn.execute("SELECT setval('customers_id_seq', (SELECT max(id) FROM customers))")
        rng = random.Random(1)
        statuses = ["new", "assigned", "in_progress", "resolved", "closed", "closed", "closed"]
        tstart = await conn.fetchval("SELECT coalesce(max(id), 0) FROM tickets") + 1
        batch = 100_000
        for b in range(0, tickets, batch):
            rows = []
            for i in range(b, min(tickets, b + batch)):
                tid = tstart + i
                created = now - timedelta(minutes=rng.randrange(0, 525_600))
                rows.append((tid, f"ticket {i}", "", "normal",
                             statuses[i % len(statuses)], "phone",
                             start + rng.randrange(customers), "{}", "[]", 0, 0, created,
                             created, 1))
            await conn.copy_records_to_table(
                "tickets", columns=["id", "title", "description", "priority",
                                    "status", "channel", "customer_id", "fields", "tags",
                                    "flow_step", "reopen_count", "created_at", "updated_at",
                                    "version"], records=rows)
        await conn.execute("SELECT setval('tickets_id_seq', (SELECT max(id) FROM tickets))")
        await conn.execute("ANALYZE")
        print(f"populated {customers} customers, {tickets} tickets in "
              f"{time.perf_counter() - t0:.1f} s")
    finally:
        await conn.close()


async def bench(url: str, creates: int, workers: int, lookups: int, customers: int) -> None:
    engine = make_engine(to_async_url(url), pool_size=workers)
    sm = make_sessionmaker(engine)
    read = make_read_sessionmaker(engine)  # what screen-pop lookups use
    actor = service.Actor(id=1, role="agent")
    rng = random.Random(2)
    forms = [lambda i: phone_of(i), lambda i: f"139 {i // 10000:04d} {i % 10000:04d}",
             lambda i: f"0086139{i:08d}", lambda i: f"+86 139-{i // 10000:04d}-{i % 10000:04d}"]

    # warm up connections and caches
    async with sm() as s:
        await find_by_phone(s, phone_of(1), "CN")

    await asettle()  # the bulk load leaves PostgreSQL writing (checkpoint, autovacuum)
    lat: list[float] = []
    load = LoadSampler("lookups").start()
    for _ in range(lookups):
        i = rng.randrange(customers)
        raw = rng.choice(forms)(i)
        async with read() as s:
            t = time.perf_counter()
            found = await find_by_phone(s, raw, "CN")
            lat.append((time.perf_counter() - t) * 1000)
        assert found, raw
    print(summary("customer-by-phone lookup (any written form)", lat))
    print(load.stop())

    pop: list[float] = []
    load = LoadSampler("pop contexts").start()
    for _ in range(lookups // 2):
        i = rng.randrange(customers)
        async with read() as s:
            t = time.perf_counter()
            ctx = await caller_context(s, phone_of(i))
            pop.append((time.perf_counter() - t) * 1000)
        assert ctx["customer"] is not None
    print(summary("screen-pop context (customer+tickets+orders+calls)", pop))
    print(load.stop())

    per_worker = creates // workers
    create_lat: list[float] = []

    async def worker(w: int) -> None:
        r = random.Random(w)
        for _ in range(per_worker):
            i = r.randrange(customers)
            t = time.perf_counter()
            async with sm() as s, s.begin():
                await service.create_ticket(s, TicketIn(
                    title="冰箱不制冷 fridge not cooling", type="repair",
                    customer_phone=phone_of(i), fields={"fault": "no cooling"},
                    call_id=f"pbx1:{w}.{i}"), actor, "CN")
            create_lat.append((time.perf_counter() - t) * 1000)

    t0 = time.perf_counter()
    with LoadSampler("creates") as load:
        await asyncio.gather(*(worker(w) for w in range(workers)))
    elapsed = time.perf_counter() - t0
    print(f"ticket create: {per_worker * workers} tickets, {workers} concurrent sessions, "
          f"{per_worker * workers / elapsed:.0f} creates/s (target ≥ 500)")
    print(summary("ticket create latency", create_lat))
    print(load.report())
    await engine.dispose()


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--customers", type=int, default=100_000)
    ap.add_argument("--tickets", type=int, default=1_000_000)
    ap.add_argument("--creates", type=int, default=3000)
    ap.add_argument("--workers", type=int, default=8)
    ap.add_argument("--lookups", type=int, default=5000)
    args = ap.parse_args()
    print("machine:", machine())
    with postgres_server() as server:
        admin = await asyncpg.connect(server)
        # Durability decides commit cost: say which kind of server the figures are from.
        print("postgres:", await admin.fetchval("SHOW server_version"),
              "fsync=" + await admin.fetchval("SHOW fsync"),
              "synchronous_commit=" + await admin.fetchval("SHOW synchronous_commit"))
        await admin.close()
        url = await demo_database(server, "hotline_bench")
        await populate(url, args.customers, args.tickets)
        await bench(url, args.creates, args.workers, args.lookups, args.customers)


if __name__ == "__main__":
    asyncio.run(main())
