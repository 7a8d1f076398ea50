"""Delivering the outbox: claim due rows, send each through its channel's port, record.

One pass (:meth:`Dispatcher.run_once`, run by the job engine's per-process loop) claims up
to ``batch`` due rows in one statement — ``UPDATE … WHERE id IN (SELECT … FOR UPDATE SKIP
LOCKED) RETURNING …`` — which pushes their ``next_attempt_at`` ``lease_s`` ahead and counts
the attempt, and commits at once: another process's claim skips them (PostgreSQL's row
locks while the claim runs, the lease after; SQLite has one writer at a time), and no
transaction stays open while a gateway is slow. Then each is sent (``concurrency`` at once)
and the outcome written: ``sent``; or back to ``pending`` after :func:`policy.backoff_s`;
or ``dead`` after ``max_attempts``. A process that dies mid-send leaves its rows to come
back when the lease ends — so delivery is at least once, and every message carries its
idempotency key (``Message-ID`` / ``X-Hotline-Delivery``) for the receiver to drop a repeat.

A living process never lets a send outlive its lease: once the lease has run out another
process may claim the row and send it too. So a batch sends within :data:`SEND_SHARE` of
the lease (``until``, on the event loop's clock) and then records what it did: rows not
started by then go back due at once with their attempt uncounted, a send cut off is a failed
attempt (its server may have taken it: the at-least-once case above).

The channels are ports (:class:`EmailSender`, :class:`SmsSender`, :class:`WebhookSender`,
:class:`LiveSender`); their adapters live in ``web/notify_adapters.py``, in-memory fakes in
:mod:`tickets.notify.fakes`. Any exception from a port is a failed attempt.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.header import Header
from email.message import Message
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.policy import compat32
from email.utils import formataddr, formatdate, parseaddr
from typing import Any, Protocol

from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tickets.db import Base, transaction, utcnow
from tickets.mail.threading import message_id, thread_root
from tickets.notify.models import OutboxMessage, WebhookSubscription
from tickets.notify.policy import backoff_s, safe_url

log = logging.getLogger(__name__)
_T = Base.metadata.tables["outbox_messages"]
#: Share of the lease a batch may spend sending; the rest is for recording the outcomes.
SEND_SHARE = 0.8
#: While a batch's sends are not all done, what is done is recorded this often (seconds).
RECORD_EVERY_S = 0.5
#: What :meth:`Dispatcher._send` returns for a row it did not start before ``until``.
_NOT_STARTED = "\0not started"


class EmailSender(Protocol):
    async def send(self, message: Message) -> None:
        """Hand ``message`` to the mail server; raise on any failure."""


class SmsSender(Protocol):
    async def send(self, to: str, text: str, key: str) -> None:
        """Send ``text`` to ``to`` (E.164); ``key``: the idempotency key. Raise on failure."""


class WebhookSender(Protocol):
    async def post(self, url: str, body: bytes, headers: dict[str, str]) -> None:
        """POST ``body``; raise unless the endpoint answered 2xx."""


class LiveSender(Protocol):
    async def publish(self, message: dict[str, Any]) -> None:
        """Put ``message`` (a ``notification`` websocket message) on the bus."""


@dataclass
class Ports:
    """The configured channels; None: that channel is off (its rows fail, then die)."""

    email: EmailSender | None = None
    sms: SmsSender | None = None
    webhook: WebhookSender | None = None
    live: LiveSender | None = None


@dataclass(frozen=True)
class Claimed:
    id: int
    key: str
    kind: str
    channel: str
    ticket_number: str | None
    recipient: str
    subject: str
    body: str
    html: str | None
    payload: dict[str, Any] | None
    attempts: int
    #: Event-loop time (``loop.time()``) by which its send must be over (the lease's end,
    #: less the share kept for recording); inf: no limit.
    until: float = math.inf


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """``sha256=<hex>``: HMAC-SHA256 with ``secret`` of ``b"<timestamp>." + body``."""
    mac = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


#: compat32, but headers are not folded at 78 characters: a Message-ID must stay one line
#: (encoded-word headers come folded already, :func:`_header`).
_POLICY = compat32.clone(max_line_length=998)


def _header(value: str) -> str:
    """A header value as ASCII: itself, or RFC 2047 encoded words when it is not ASCII."""
    return value if value.isascii() else Header(value, "utf-8").encode()


def _address(value: str) -> str:
    """``Name <addr>`` with a non-ASCII name encoded (the address itself stays as is)."""
    name, addr = parseaddr(value)
    return formataddr((name, addr), charset="utf-8") if addr else _header(value)


def build_email(msg: Claimed, *, mail_from: str, domain: str, now: datetime) -> Message:
    """The email of an outbox row: threaded on its ticket (``tickets.mail.threading``),
    the idempotency key in ``Message-ID`` and ``X-Hotline-Delivery``, text + HTML (UTF-8).

    Built with the ``compat32`` MIME classes and ready-made ASCII headers: the modern
    ``EmailMessage`` parses every header through the header registry, which was over half of
    the delivery's CPU per message (tests/bench/bench_outbox.py)."""
    text = MIMEText(msg.body, "plain", "utf-8", policy=_POLICY)
    email: Message
    if msg.html:
        email = MIMEMultipart("alternative", policy=_POLICY)
        email.attach(text)
        email.attach(MIMEText(msg.html, "html", "utf-8", policy=_POLICY))
    else:
        email = text
    email["From"] = _address(mail_from)
    email["To"] = _address(msg.recipient)
    email["Subject"] = _header(msg.subject)
    email["Date"] = formatdate(now.timestamp(), usegmt=True)
    if msg.ticket_number:
        email["Message-ID"] = message_id(msg.ticket_number, msg.key, domain)
        root = thread_root(msg.ticket_number, domain)
        email["References"] = root
        email["In-Reply-To"] = root
    else:
        email["Message-ID"] = f"<hotline.{msg.key}@{domain}>"
    email["X-Hotline-Delivery"] = msg.key
    email["Auto-Submitted"] = "auto-generated"  # RFC 3834: auto-responders stay quiet
    return email


class Dispatcher:
    """Delivers due outbox rows. ``clock`` and ``rand`` are injected (tests advance time)."""

    def __init__(self, db: async_sessionmaker[AsyncSession], ports: Ports, *,
                 mail_from: str = "hotline@hotline.local", mail_domain: str = "hotline.local",
                 max_attempts: int = 8, batch: int = 50, concurrency: int = 10,
                 lease_s: float = 120.0, clock: Callable[[], datetime] = utcnow,
                 rand: Callable[[], float] = random.random) -> None:
        self.db = db
        self.ports = ports
        self.mail_from = mail_from
        self.mail_domain = mail_domain
        self.max_attempts = max_attempts
        self.batch = batch
        self.lease_s = lease_s
        self.clock = clock
        self.rand = rand
        self._slots = asyncio.Semaphore(concurrency)

    async def run_once(self) -> int:
        """Deliver every row due now (batch after batch); how many were sent."""
        sent = 0
        while True:
            claimed = await self.claim()
            if not claimed:
                return sent
            sent += await self.deliver(claimed)
            if len(claimed) < self.batch:
                return sent

    async def purge(self, keep_days: float) -> int:
        """Delete sent messages older than ``keep_days`` (dead ones stay for the admins);
        how many were deleted."""
        before = self.clock() - timedelta(days=keep_days)
        async with transaction(self.db) as session:
            result = await session.execute(delete(_T).where(_T.c.status == "sent",
                                                            _T.c.sent_at < before))
        return int(getattr(result, "rowcount", 0) or 0)

    async def claim(self) -> list[Claimed]:
        now = self.clock()
        # taken before the claim: the lease runs from the claim's own clock reading on
        until = asyncio.get_running_loop().time() + self.lease_s * SEND_SHARE
        # A read first: most polls find nothing due, and the claim is a write (on SQLite
        # it would take the database's write turn every poll of every process).
        async with self.db() as session:
            if await session.scalar(select(_T.c.id).where(
                    _T.c.status == "pending", _T.c.next_attempt_at <= now).limit(1)) is None:
                return []
        due = (select(_T.c.id).where(_T.c.status == "pending", _T.c.next_attempt_at <= now)
               .order_by(_T.c.next_attempt_at, _T.c.id).limit(self.batch)
               .with_for_update(skip_locked=True))
        stmt = (update(_T).where(_T.c.id.in_(due))
                .values(next_attempt_at=now + timedelta(seconds=self.lease_s),
                        attempts=_T.c.attempts + 1)
                .returning(_T.c.id, _T.c.key, _T.c.kind, _T.c.channel, _T.c.ticket_number,
                           _T.c.recipient, _T.c.subject, _T.c.body, _T.c.html, _T.c.payload,
                           _T.c.attempts))
        async with transaction(self.db) as session:
            rows = (await session.execute(stmt)).all()
        return sorted((Claimed(**row._mapping, until=until) for row in rows),
                      key=lambda c: c.id)

    async def deliver(self, claimed: list[Claimed]) -> int:
        """Send ``claimed`` and record the outcomes; how many were sent. Outcomes are
        written once the whole batch is done, or every :data:`RECORD_EVERY_S` while some
        sends are slow: a process dying mid-batch sends again only what it did in the last
        moments, not everything the batch had done (a console notification is sent at once,
        an email may wait behind a slow server)."""
        hooks = await self._hooks([c for c in claimed if c.channel == "webhook"])
        running = {asyncio.create_task(self._send(c, hooks)): c for c in claimed}
        sent = 0
        try:
            while running:
                finished, _ = await asyncio.wait(running, timeout=RECORD_EVERY_S)
                if finished:
                    sent += await self._record([(running.pop(t), t.result())
                                                for t in finished])
        finally:
            for task in running:  # cancelled from outside: the rest is the lease's to undo
                task.cancel()
        return sent

    async def _record(self, outcomes: list[tuple[Claimed, str | None]]) -> int:
        now = self.clock()
        done = [c.id for c, err in outcomes if err is None]
        back = [c.id for c, err in outcomes if err == _NOT_STARTED]
        failed = [(c, err) for c, err in outcomes if err is not None and err != _NOT_STARTED]
        async with transaction(self.db) as session:
            if done:
                await session.execute(update(_T).where(_T.c.id.in_(done))
                                      .values(status="sent", sent_at=now, last_error=None))
            if back:  # the lease ran out before their turn: due again, the claim undone
                await session.execute(update(_T).where(_T.c.id.in_(back))
                                      .values(next_attempt_at=now, attempts=_T.c.attempts - 1))
            if failed:
                await session.execute(
                    update(_T).where(_T.c.id == bindparam("b_id")).values(
                        status=bindparam("b_status"), last_error=bindparam("b_error"),
                        next_attempt_at=bindparam("b_next")),
                    [self._failure(c, err, now) for c, err in failed])
        for c, err in failed:
            log.warning("outbox %s via %s: attempt %d failed: %s", c.id, c.channel,
                        c.attempts, err)
        return len(done)

    def _failure(self, c: Claimed, err: str | None, now: datetime) -> dict[str, Any]:
        dead = c.attempts >= self.max_attempts
        wait = 0.0 if dead else backoff_s(c.attempts, self.rand)
        return {"b_id": c.id, "b_status": "dead" if dead else "pending",
                "b_error": (err or "")[:500], "b_next": now + timedelta(seconds=wait)}

    async def _hooks(self, claimed: list[Claimed]) -> dict[str, tuple[str, str]]:
        ids = {int(c.recipient.split(":", 1)[1]) for c in claimed}
        if not ids:
            return {}
        async with self.db() as session:
            rows = await session.execute(
                select(WebhookSubscription.id, WebhookSubscription.url, WebhookSubscription.secret)
                .where(WebhookSubscription.id.in_(ids), WebhookSubscription.active.is_(True)))
            return {f"webhook:{hid}": (url, secret) for hid, url, secret in rows}

    async def _send(self, c: Claimed, hooks: dict[str, tuple[str, str]]) -> str | None:
        """None when sent; else why not (the port's exception, briefly), or
        :data:`_NOT_STARTED` when ``c.until`` came before its turn."""
        started = False
        limit = asyncio.timeout_at(None if math.isinf(c.until) else c.until)
        try:
            async with limit, self._slots:
                started = True
                await self._send_one(c, hooks)
        except TimeoutError as exc:
            if not limit.expired():
                return f"{type(exc).__name__}: {exc}"[:500]  # the port's own timeout
            if not started:
                return _NOT_STARTED
            return f"cut off: the {self.lease_s:g}-s lease was running out"
        except Exception as exc:
            return f"{type(exc).__name__}: {exc}"[:500]
        return None

    async def _send_one(self, c: Claimed, hooks: dict[str, tuple[str, str]]) -> None:
        ports = self.ports
        if c.channel == "email" and ports.email is not None:
            await ports.email.send(build_email(c, mail_from=self.mail_from,
                                               domain=self.mail_domain, now=self.clock()))
        elif c.channel == "sms" and ports.sms is not None:
            await ports.sms.send(c.recipient, c.body, c.key)
        elif c.channel == "ws" and ports.live is not None:
            await ports.live.publish(dict(c.payload or {}))
        elif c.channel == "webhook" and ports.webhook is not None:
            if c.recipient not in hooks:
                raise LookupError(f"{c.recipient} is deleted or inactive")
            url, secret = hooks[c.recipient]
            body = json.dumps(c.payload, ensure_ascii=False, sort_keys=True).encode()
            stamp = int(self.clock().timestamp())
            try:
                await ports.webhook.post(url, body, {
                    "Content-Type": "application/json", "X-Hotline-Event": c.kind,
                    "X-Hotline-Delivery": c.key, "X-Hotline-Timestamp": str(stamp),
                    "X-Hotline-Signature": sign(secret, stamp, body)})
            except Exception as exc:  # httpx names the full URL: its query may hold secrets
                raise WebhookFailed(f"{type(exc).__name__}: "
                                    f"{str(exc).replace(url, safe_url(url))}") from None
        else:
            raise LookupError(f"channel {c.channel} is not configured")


class WebhookFailed(Exception):
    """A webhook POST failed; the message names the endpoint as :func:`safe_url` does."""


async def retry(session: AsyncSession, message_id_: int, now: datetime) -> OutboxMessage | None:
    """An admin's retry: the row (dead or pending) is due now with a fresh attempt count;
    None when there is no such row. A sent row is left alone (ValueError)."""
    row = await session.get(OutboxMessage, message_id_, with_for_update=True)
    if row is None:
        return None
    if row.status == "sent":
        raise ValueError(f"message {message_id_} was sent already")
    row.status = "pending"
    row.attempts = 0
    row.next_attempt_at = now
    await session.flush()
    return row
