"""Issue #11's "fire once each with two worker processes": two real ``hotline serve``
processes (separate OS processes, separate ports, no shared memory) run their job engines
(procrastinate) against one throwaway PostgreSQL, and a local SMTP server (aiosmtpd, in this
test's event loop) receives what the outbox sends.

The whole path is real: the SLA sweep as the periodic job ``sla_sweep`` (one tick a second
here, ``HOTLINE_SLA_SWEEP_S=1``), ``sla_fired`` claims, the history rows, the outbox rows
written in the sweep's transaction, delivery by each process's outbox loop over SMTP. The
tickets are made with the ticket service and backdated (``created_at`` moved into the past,
the clock recomputed by ``refresh_clock``) so their reminder, breach and escalation are due
the moment they are committed — while both processes are running.

Then one process is killed (SIGKILL) while it is inside an SMTP transaction with messages
it claimed: the other process takes them over once their lease ends
(``HOTLINE_OUTBOX_LEASE_S=3``) and nothing is lost. The receiver holds the DATA of every
message until the kill (a gate): a message whose sender died before the server answered its
DATA is not counted as received (as a real MTA that did not acknowledge it would not
deliver it). A kill *after* the server's 250 but before the sender recorded it would send
it again — delivery is at least once by design, and the ``Message-ID`` / ``X-Hotline-
Delivery`` idempotency key lets a receiver drop that repeat; this test does not provoke it.

Each process gets its own ``HOTLINE_MAIL_FROM`` (worker-a@ / worker-b@), so the envelope
sender tells which process delivered a message.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from datetime import timedelta
from email import message_from_bytes
from email import policy as email_policy
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from aiosmtpd.smtp import SMTP
from sqlalchemy import select, update

from tests.support.servers import free_port
from tickets import service
from tickets.db import make_engine, make_sessionmaker, transaction, utcnow
from tickets.models import Group, Ticket, User, group_members
from tickets.notify.policy import idempotency_key
from tickets.schemas import TicketIn
from tickets.sla import service as sla
from tickets.sla.models import SlaPolicy
from web.settings import to_async_url

pytestmark = [pytest.mark.pg, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
AGENT = service.Actor(id=2, role="agent")
M = timedelta(minutes=1)
#: The normal-priority policy of these tickets (24×7 calendar: no business hours in play).
POLICY = {"calendar_id": 1, "first_response_minutes": 60, "resolution_minutes": 120,
          "reminder_share": 0.5,
          "escalation": [{"after_minutes": 10, "action": "notify_supervisors"}]}
#: Created 40 min ago: the first-response reminder (at 30 min) is due, nothing else.
REMINDER_AGE = 40 * M
REMINDER_STEPS = {("first_response", "reminder")}
#: Created 75 min ago: first-response breach (60) and its escalation (70), the resolution
#: reminder (60); the first-response reminder is passed over (its breach is due too).
BREACH_AGE = 75 * M
BREACH_STEPS = {("first_response", "breach"), ("first_response", "escalation:0"),
                ("resolution", "reminder")}
BREACH_SKIPPED = {("first_response", "reminder")}
HISTORY = {"reminder": "sla_reminder", "breach": "sla_breached"}
WITHIN_S = 20.0


class Inbox:
    """aiosmtpd handler: every message it accepted, by envelope sender; ``gate`` cleared
    holds each DATA unanswered (``held``: the senders waiting) until it is set again or the
    sender hangs up — then the message is not accepted, and not counted."""

    def __init__(self) -> None:
        self.got: list[tuple[str, str, str]] = []  # (envelope sender, Message-ID, key)
        self.gate = asyncio.Event()
        self.gate.set()
        self.held: list[str] = []
        self.hung_up = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        sender = str(envelope.mail_from)
        self.held.append(sender)
        gone = True  # till the gate opens with the sender still there
        try:
            while not self.gate.is_set():
                transport = server.transport
                if transport is None or transport.is_closing():
                    return "421 sender gone"
                await asyncio.sleep(0.01)
            gone = False
        finally:
            self.held.remove(sender)
            self.hung_up += gone
        msg = message_from_bytes(envelope.content, policy=email_policy.default)
        self.got.append((sender, str(msg["Message-ID"]), str(msg["X-Hotline-Delivery"])))
        return "250 OK"

    def keys(self) -> Counter[str]:
        return Counter(key for _, _, key in self.got)


def _env(tmp: Path, name: str, db_url: str, smtp_port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOTLINE_")}
    env.update({
        "PYTHONPATH": str(ROOT), "HOTLINE_DATABASE_URL": db_url,
        "HOTLINE_DATA_DIR": str(tmp / name), "HOTLINE_SECRET_KEY": "two-processes-" + "k" * 32,
        "HOTLINE_AMI_URL": "off", "HOTLINE_SMTP_HOST": "127.0.0.1",
        "HOTLINE_SMTP_PORT": str(smtp_port), "HOTLINE_SMTP_TLS": "none",
        "HOTLINE_MAIL_FROM": f"Hotline <worker-{name}@hotline.test>",
        "HOTLINE_SLA_SWEEP_S": "1", "HOTLINE_SLA_SWEEP_BATCH": "4",
        "HOTLINE_OUTBOX_POLL_S": "0.2", "HOTLINE_OUTBOX_LEASE_S": "3"})
    return env


class Worker:
    """One ``hotline serve`` process (its own port, log file)."""

    def __init__(self, tmp: Path, name: str, db_url: str, smtp_port: int) -> None:
        self.name, self.port = name, free_port()
        self.log = tmp / f"serve-{name}.log"
        self.sender = f"worker-{name}@hotline.test"
        (tmp / name).mkdir()
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "web.cli", "serve", "--port", str(self.port),
                 "--no-migrate"], env=_env(tmp, name, db_url, smtp_port), cwd=tmp,
                stdout=out, stderr=out)

    async def up(self, deadline: float) -> None:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{self.port}") as client:
            while time.monotonic() < deadline:
                assert self.proc.poll() is None, self.log.read_text()[-3000:]
                try:
                    if (await client.get("/healthz")).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.1)
        raise AssertionError(f"worker {self.name} did not start:\n"
                             f"{self.log.read_text()[-3000:]}")

    async def close(self) -> None:
        """Stop it, the event loop going on meanwhile (the SMTP server in it answers the
        QUIT of the process's pooled connections)."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                await asyncio.wait_for(asyncio.to_thread(self.proc.wait), 15)
            except TimeoutError:
                self.proc.kill()
        self.stop()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


async def _until(what: str, check: Callable[[], Awaitable[bool]],
                 within: float = WITHIN_S) -> None:
    deadline = time.monotonic() + within
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {within} s: {what}")
        await asyncio.sleep(0.1)


@pytest.fixture
async def db_url(pg_factory: Any) -> str:
    return str(await pg_factory.new(demo=True))


@pytest.fixture
def workers() -> Iterator[list[Worker]]:
    started: list[Worker] = []
    yield started
    for worker in started:
        worker.stop()


class World:
    """The test's view of the database: makes due tickets, reads what the workers did."""

    def __init__(self, db_url: str) -> None:
        self.url = db_url
        self.engine = make_engine(to_async_url(db_url))
        self.db = make_sessionmaker(self.engine)
        self.book = sla.SlaBook(sla.Site("Asia/Shanghai", "CN"), ttl=0)

    async def prepare(self) -> tuple[int, frozenset[int]]:
        """Demo timers off, staff addresses on, the policy set; alice's id and the hotline
        group's supervisors (who a breach and its escalation tell)."""
        async with transaction(self.db) as s:
            await s.execute(update(Ticket).values(sla_next_at=None))
            for user in (await s.scalars(select(User).where(User.role != "customer"))).all():
                user.email = f"{user.username}@staff.test"
            await s.execute(update(SlaPolicy).where(SlaPolicy.priority == "normal")
                            .values(**POLICY))
            alice = await s.scalar(select(User.id).where(User.username == "alice"))
            staff = select(User.id).where(User.role == "supervisor", User.is_active.is_(True))
            # the group's supervisors; none there (the demo's sue is in no group): all of them
            sups = (await s.scalars(staff.join(
                group_members, group_members.c.user_id == User.id).join(
                Group, Group.id == group_members.c.group_id).where(
                Group.key == "hotline"))).all() or (await s.scalars(staff)).all()
        assert alice is not None and sups, "the demo has alice and a hotline supervisor"
        return alice, frozenset(sups)

    async def due_tickets(self, reminders: int, breaches: int) -> dict[int, set[tuple[str, str]]]:
        """Commit ``reminders`` + ``breaches`` tickets (alice's, group hotline) whose steps are
        due now; ``{ticket id: the steps that must fire}``."""
        now = utcnow()
        out: dict[int, set[tuple[str, str]]] = {}
        async with transaction(self.db) as s:
            for age, steps, n in ((REMINDER_AGE, REMINDER_STEPS, reminders),
                                  (BREACH_AGE, BREACH_STEPS, breaches)):
                for _ in range(n):
                    t = await service.create_ticket(
                        s, TicketIn(title="no hot water", assignee="alice", group="hotline"),
                        AGENT)
                    ticket = await s.get_one(Ticket, t.id)
                    ticket.created_at = now - age
                    await sla.refresh_clock(s, ticket, now=ticket.created_at, rematch=True,
                                            book=self.book)
                    assert ticket.sla_next_at is not None and ticket.sla_next_at <= now
                    out[ticket.id] = set(steps)
        return out

    async def rows(self, sql: str, ids: list[int]) -> list[asyncpg.Record]:
        conn = await asyncpg.connect(self.url)
        try:
            return list(await conn.fetch(sql, ids))
        finally:
            await conn.close()


Due = dict[int, set[tuple[str, str]]]


class Expect:
    """What the due steps must have made, checked against the database and the inbox."""

    def __init__(self, world: World, inbox: Inbox, alice: int, sups: frozenset[int],
                 address: dict[int, str]) -> None:
        self.world, self.inbox = world, inbox
        self.alice, self.sups, self.address = alice, sups, address

    def messages(self, due: Due) -> dict[str, str]:
        """``{outbox key: channel}`` the due steps must make: a reminder to the assignee,
        a breach to the supervisors and the assignee, an escalation to the supervisors;
        each by email and on the console."""
        out: dict[str, str] = {}
        for tid, steps in due.items():
            for target, step in steps:
                if step == "reminder":
                    kind, users = "sla_reminder", {self.alice}
                elif step == "breach":
                    kind, users = "sla_breach", {self.alice, *self.sups}
                else:
                    kind, users = "sla_breach", set(self.sups)
                event = f"{tid}:{target}:{step}"
                for uid in users:
                    out[idempotency_key(kind, event, self.address[uid], "email")] = "email"
                    out[idempotency_key(kind, event, str(uid), "ws")] = "ws"
        return out

    async def settled(self, due: Due) -> None:
        """Until every email of ``due`` arrived and every outbox row is sent; then two more
        sweep ticks (a late duplicate would have had its chance)."""
        want = self.messages(due)
        email_keys = {k for k, ch in want.items() if ch == "email"}

        async def done() -> bool:
            if not email_keys <= set(self.inbox.keys()):
                return False
            rows = await self.world.rows("SELECT status FROM outbox_messages "
                                         "WHERE ticket_id = ANY($1::int[])", sorted(due))
            return len(rows) == len(want) and all(r["status"] == "sent" for r in rows)

        await _until("every message of the due steps delivered", done)
        tick = await _sweep_ticks(self.world)
        await _until("two more sweep ticks", lambda: _more(self.world, tick, 2))

    async def check(self, due: Due) -> None:
        ids, want = sorted(due), self.messages(due)
        # each step in the history exactly once
        history = Counter((r["ticket_id"], r["target"], r["step"]) for r in await self.world.rows(
            "SELECT ticket_id, data::jsonb->>'target' AS target, data::jsonb->>'step' AS step "
            "FROM ticket_events WHERE ticket_id = ANY($1::int[]) "
            "AND kind IN ('sla_reminder', 'sla_breached', 'sla_escalated')", ids))
        assert history == Counter({(t, *st): 1 for t, steps in due.items() for st in steps}), \
            history
        # sla_fired: the fired steps and the passed-over reminders, one row each
        fired = Counter((r["ticket_id"], r["target"], r["step"], r["skipped"])
                        for r in await self.world.rows(
            "SELECT ticket_id, target, step, skipped FROM sla_fired "
            "WHERE ticket_id = ANY($1::int[])", ids))
        assert fired == Counter(
            {(t, *st, False): 1 for t, steps in due.items() for st in steps}
            | {(t, *st, True): 1 for t, steps in due.items() if steps == BREACH_STEPS
               for st in BREACH_SKIPPED}), fired
        # the outbox: one row per (event, recipient, channel), all sent
        outbox = await self.world.rows(
            "SELECT key, channel, status FROM outbox_messages WHERE ticket_id = ANY($1::int[])",
            ids)
        assert Counter(r["key"] for r in outbox) == Counter(want.keys())
        assert {r["key"]: r["channel"] for r in outbox} == want
        assert {r["status"] for r in outbox} == {"sent"}, outbox
        # the SMTP server got each email once (by idempotency key and by Message-ID)
        email_keys = {k for k, ch in want.items() if ch == "email"}
        got = self.inbox.keys()
        assert {k: got[k] for k in email_keys} == dict.fromkeys(email_keys, 1), got
        by_id = Counter(mid for _, mid, key in self.inbox.got if key in email_keys)
        assert set(by_id.values()) == {1} and len(by_id) == len(email_keys), by_id


async def test_reminder_and_breach_fire_once_each_with_two_worker_processes(
        db_url: str, workers: list[Worker], tmp_path: Path) -> None:
    began = time.monotonic()
    world = World(db_url)
    alice, sups = await world.prepare()
    address = {r["id"]: r["email"] for r in await world.rows(
        "SELECT id, email FROM users WHERE id = ANY($1::int[])", [alice, *sups])}
    inbox = Inbox()
    expect = Expect(world, inbox, alice, sups, address)
    smtp_port = free_port()
    smtp = await asyncio.get_running_loop().create_server(
        lambda: SMTP(inbox, hostname="smtp.test"), "127.0.0.1", smtp_port)
    try:
        workers += [Worker(tmp_path, "a", db_url, smtp_port),
                    Worker(tmp_path, "b", db_url, smtp_port)]
        deadline = time.monotonic() + 30
        await asyncio.gather(*(w.up(deadline) for w in workers))
        print(f"\nboth workers up after {time.monotonic() - began:.1f} s")

        # -- both processes running: the steps fire once each, each email arrives once --
        due = await world.due_tickets(reminders=6, breaches=6)
        await expect.settled(due)
        await expect.check(due)
        senders = Counter(s for s, _, _ in inbox.got)
        print(f"phase 1: {len(inbox.got)} emails, by sender {dict(senders)}; "
              f"{time.monotonic() - began:.1f} s since start")

        # -- one process killed inside an SMTP transaction: the other finishes the work --
        inbox.gate.clear()
        before = len(inbox.got)
        due2 = await world.due_tickets(reminders=2, breaches=4)

        async def holding() -> bool:
            return bool(inbox.held)

        await _until("a message held at the SMTP server", holding)
        victim = next(w for w in workers if w.sender == inbox.held[0])
        survivor = next(w for w in workers if w is not victim)
        victim.proc.send_signal(signal.SIGKILL)
        victim.proc.wait(10)

        async def victim_gone() -> bool:
            return victim.sender not in inbox.held

        await _until("the killed process's SMTP sessions closed", victim_gone)
        inbox.gate.set()
        await expect.settled(due2)
        await expect.check(due2)
        await expect.check(due)  # and nothing of the first round came again
        late = Counter(s for s, _, _ in inbox.got[before:])
        assert survivor.proc.poll() is None and inbox.hung_up >= 1
        assert set(late) == {survivor.sender}  # the killed one got nothing through
        retried = Counter(r["channel"] for r in await world.rows(
            "SELECT channel FROM outbox_messages WHERE ticket_id = ANY($1::int[]) "
            "AND attempts > 1", sorted(due2)))
        print(f"phase 2: killed {victim.name} holding {inbox.hung_up} SMTP transaction(s); "
              f"{len(inbox.got) - before} emails after, by sender {dict(late)}; "
              f"taken over after the lease: {dict(retried)}; "
              f"{time.monotonic() - began:.1f} s in all")
        # what the killed process was sending went again, from the survivor
        assert retried["email"] >= 1 and late[survivor.sender] >= 1
    finally:
        await asyncio.gather(*(w.close() for w in workers))
        smtp.close()
        await world.engine.dispose()


async def _sweep_ticks(world: World) -> int:
    """The latest ``sla_sweep`` tick deferred (a Unix time; procrastinate keeps the last)."""
    rows = await world.rows("SELECT coalesce(max(defer_timestamp), 0) AS t FROM "
                            "procrastinate_periodic_defers WHERE periodic_id = 'sla_sweep' "
                            "AND $1::int[] IS NOT NULL", [])
    return int(rows[0]["t"])


async def _more(world: World, tick: int, n: int) -> bool:
    return await _sweep_ticks(world) >= tick + n
