"""Outbox throughput: messages/s delivered to a local SMTP server, and the cost per message.

Run from the repository root (about a minute):
    .venv/bin/python -m tests.bench.bench_outbox [--db pg|sqlite] [--messages 2000]
        [--concurrency 10] [--batch 50] [--processes 1]

Set-up, all real: a throwaway PostgreSQL server (or a temporary SQLite file), migrated;
``--messages`` pending email rows written through the real ``Outbox`` (one ``sla_breach``
event each, to an agent with an address); an aiosmtpd server (its ``Sink`` handler) in its
own process on loopback, so its CPU is not this process's. Then the real ``Dispatcher`` with
the real ``SmtpSender`` (aiosmtplib, its pool of kept connections) delivers them all:
``run_once`` until nothing is due. ``--processes N`` runs N delivery processes against the
same database at once (each with its own engine; the rows are claimed ``FOR UPDATE SKIP
LOCKED``), and checks afterwards that every message was sent exactly once by its count.

Printed: the machine and the load before/during the measured part (``common``), messages/s
(wall clock), per-message SMTP send time (median, p99; from a timing wrapper around the
sender), and this process's CPU time per message.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import sys
import tempfile
import time
from contextlib import ExitStack
from email.message import Message
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, select  # noqa: E402

from tests.bench.common import LoadSampler, machine, settle, stop_process, summary  # noqa: E402
from tests.support.db import PostgresFactory, SqliteFactory  # noqa: E402
from tests.support.servers import free_port, postgres_server  # noqa: E402
from tickets.db import make_engine, make_sessionmaker, transaction  # noqa: E402
from tickets.models import Ticket, User  # noqa: E402
from tickets.notify.delivery import Dispatcher, Ports  # noqa: E402
from tickets.notify.events import NotificationEvent  # noqa: E402
from tickets.notify.models import OutboxMessage  # noqa: E402
from tickets.notify.outbox import Outbox  # noqa: E402
from web.notify_adapters import SmtpSender  # noqa: E402
from web.settings import to_async_url  # noqa: E402


class Timed:
    """The SMTP port, timing each send (seconds, wall clock)."""

    def __init__(self, inner: SmtpSender) -> None:
        self.inner = inner
        self.times: list[float] = []

    async def send(self, message: Message) -> None:
        t0 = time.perf_counter()
        await self.inner.send(message)
        self.times.append(time.perf_counter() - t0)


async def fill(url: str, n: int) -> None:
    engine = make_engine(to_async_url(url))
    db = make_sessionmaker(engine)
    async with transaction(db) as s:
        user = User(username="bench", role="agent", password_hash="x",
                    email="bench@example.com", locale="en")
        s.add(user)
        await s.flush()
        ticket = Ticket(title="Bench ticket", status="open", priority="high",
                        assignee_id=user.id)
        s.add(ticket)
        await s.flush()
        uid, tid = user.id, ticket.id
    outbox = Outbox(channels=("email",))
    for start in range(0, n, 500):
        async with transaction(db) as s:
            for i in range(start, min(n, start + 500)):
                await outbox(s, NotificationEvent("sla_breach", tid, f"bench:{i}",
                                                  user_ids=(uid,),
                                                  data={"target": "resolution"}))
    await engine.dispose()


async def deliver(url: str, port: int, concurrency: int, batch: int
                  ) -> tuple[int, list[float], float]:
    engine = make_engine(to_async_url(url))
    sender = Timed(SmtpSender("127.0.0.1", port, tls="none", timeout_s=30))
    d = Dispatcher(make_sessionmaker(engine), Ports(email=sender), batch=batch,
                   concurrency=concurrency, mail_domain="bench.test")
    cpu0 = time.process_time()
    sent = 0
    while True:
        n = await d.run_once()
        sent += n
        if n == 0:
            break
    cpu = time.process_time() - cpu0
    await sender.inner.close()
    await engine.dispose()
    return sent, sender.times, cpu


def _worker(url: str, port: int, concurrency: int, batch: int,
            out: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    out.put(asyncio.run(deliver(url, port, concurrency, batch)))


async def count(url: str) -> tuple[int, int]:
    engine = make_engine(to_async_url(url))
    async with make_sessionmaker(engine)() as s:
        sent = await s.scalar(select(func.count()).where(OutboxMessage.status == "sent"))
        other = await s.scalar(select(func.count()).where(OutboxMessage.status != "sent"))
    await engine.dispose()
    return int(sent or 0), int(other or 0)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--db", choices=["pg", "sqlite"], default="pg")
    ap.add_argument("--messages", type=int, default=2000)
    ap.add_argument("--concurrency", type=int, default=10)
    ap.add_argument("--batch", type=int, default=50)
    ap.add_argument("--processes", type=int, default=1)
    args = ap.parse_args()
    print(f"bench_outbox: {machine()}")
    with ExitStack() as stack:
        if args.db == "pg":
            server = stack.enter_context(postgres_server())
            url = asyncio.run(PostgresFactory(server).new(False))
        else:
            tmp = Path(stack.enter_context(tempfile.TemporaryDirectory()))
            url = asyncio.run(SqliteFactory(tmp).new(False))
        asyncio.run(fill(url, args.messages))
        port = free_port()
        import subprocess
        smtp = subprocess.Popen([sys.executable, "-m", "aiosmtpd", "-n", "-l",
                                 f"127.0.0.1:{port}", "-c", "aiosmtpd.handlers.Sink"])
        stack.callback(stop_process, smtp)
        time.sleep(1.0)
        print(f"{args.messages} pending emails on {args.db}; aiosmtpd (Sink) in its own "
              f"process; {args.processes} delivery process(es), concurrency "
              f"{args.concurrency}, batch {args.batch}")
        settle()
        with LoadSampler() as load:
            t0 = time.perf_counter()
            if args.processes == 1:
                results = [asyncio.run(deliver(url, port, args.concurrency, args.batch))]
            else:
                ctx = multiprocessing.get_context("spawn")
                q = ctx.Queue()
                procs = [ctx.Process(target=_worker, args=(url, port, args.concurrency,
                                                           args.batch, q))
                         for _ in range(args.processes)]
                for p in procs:
                    p.start()
                results = [q.get() for _ in procs]
                for p in procs:
                    p.join()
            wall = time.perf_counter() - t0
        print(load.report())
        sent = sum(r[0] for r in results)
        times = [t * 1000 for r in results for t in r[1]]
        cpu = sum(r[2] for r in results)
        in_db, left = asyncio.run(count(url))
        print(f"delivered {sent} in {wall:.2f} s: {sent / wall:.0f} messages/s; "
              f"rows sent {in_db}, not sent {left}"
              + ("" if sent == in_db == args.messages else "  ** MISMATCH **"))
        print(summary("SMTP send per message", times))
        print(f"delivery CPU per message: {cpu / max(sent, 1) * 1000:.3f} ms "
              f"({args.processes} process(es))")


if __name__ == "__main__":
    main()
