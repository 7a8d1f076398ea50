"""The SMTP receiver: mail to the support address becomes tickets, nothing is lost.

An ``aiosmtpd`` server on this process's own event loop (not aiosmtpd's ``Controller``,
which runs a loop in another thread where the database engine cannot be used). Point an MTA
(Postfix ``transport_maps``/``relayhost``, Exim, a forwarder) or a mail provider's inbound
relay at ``HOTLINE_MAIL_LISTEN``. The SMTP answers are the delivery guarantee:

- ``RCPT TO`` another address than ``HOTLINE_MAIL_ADDRESSES`` → ``550`` (no open relay,
  no back-scatter for addresses we do not serve);
- more than ``HOTLINE_MAIL_MAX_BYTES`` of ``DATA`` → ``552`` (aiosmtpd counts as it reads);
- each message is ingested (``tickets.mail.ingest``) in one transaction, and ``250`` is
  answered only *after* the commit; any failure before it (database down, a deadlock, a
  bug) rolls back and answers ``451``, so the sending MTA keeps the message and retries.
  A retry after a commit whose ``250`` was lost is a duplicate Message-ID and is dropped.

Consoles hear of the new or changed ticket after the commit, as for any API change.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from email.utils import parseaddr
from typing import Any, Literal

from aiosmtpd.smtp import SMTP, Envelope, Session
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tickets import messages, service
from tickets.bus import TOPIC_TICKETS, Bus
from tickets.mail.ingest import IngestResult, MailConfig, ingest
from tickets.notify.events import Notify
from tickets.routing.service import Router
from tickets.schemas import TicketOut
from web.settings import Settings
from web.uow import UnitOfWork

log = logging.getLogger(__name__)

Ingest = Callable[..., Awaitable[IngestResult]]


def mail_config(settings: Settings) -> MailConfig:
    """The ingester's settings from the process's."""
    return MailConfig(domain=settings.mail_domain, store=settings.data_dir / "attachments",
                      attachment_max_bytes=settings.attachment_max_bytes,
                      attachment_types=tuple(settings.attachment_types),
                      # ours: what we receive at and what notifications come from
                      own_addresses=tuple({*settings.mail_address_list,
                                           parseaddr(settings.mail_from)[1].lower()} - {""}),
                      reopen_days=settings.mail_reopen_days, region=settings.default_region)


@dataclass
class MailStats:
    """Counters for ``/readyz``: by outcome, and the temporary failures (451)."""

    outcomes: dict[str, int] = field(default_factory=dict)
    temporary_failures: int = 0
    refused_recipients: int = 0
    last_error: str | None = None


class MailHandler:
    """aiosmtpd handler: checks recipients, ingests each message in its own transaction.

    ``ingest_fn`` is :func:`tickets.mail.ingest.ingest` (a test passes one that fails)."""

    def __init__(self, db: async_sessionmaker[AsyncSession], bus: Bus, cfg: MailConfig,
                 addresses: list[str], router: Router | None = None,
                 ingest_fn: Ingest = ingest, notify: Notify | None = None) -> None:
        self.db = db
        self.bus = bus
        self.cfg = cfg
        self.addresses = frozenset(a.lower() for a in addresses)
        self.router = router
        self.ingest_fn = ingest_fn
        self.notify = notify
        self.stats = MailStats()

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope,
                          address: str, rcpt_options: list[str]) -> str:
        if address.strip().lower() not in self.addresses:
            self.stats.refused_recipients += 1
            return "550 5.1.1 Recipient address rejected: no such mailbox here"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or envelope.content or b""
        if isinstance(raw, str):  # only with decode_data=True, which we never set
            raw = raw.encode("utf-8", "surrogateescape")
        try:
            await self.take(bytes(raw), envelope.mail_from)
        except Exception:
            log.warning("inbound mail from %s not taken, the sender will retry: %s",
                        envelope.mail_from, self.stats.last_error)
            return "451 4.3.0 Temporary failure, please try again later"
        return "250 2.0.0 OK"

    async def take(self, raw: bytes, mail_from: str | None) -> IngestResult:
        """Ingest one message and commit (the SMTP receiver and the IMAP poller alike);
        raises whatever made it fail, after counting it (nothing is written then)."""
        try:
            result = await self._ingest(raw, mail_from)
        except Exception as exc:
            self.stats.temporary_failures += 1
            first = str(exc).splitlines()[0][:200] if str(exc) else ""
            self.stats.last_error = f"{type(exc).__name__}: {first}" if first \
                else type(exc).__name__
            raise
        self.stats.outcomes[result.outcome] = self.stats.outcomes.get(result.outcome, 0) + 1
        log.info("inbound mail %s from %s: %s%s", result.message_id, mail_from,
                 result.outcome, f" ({result.reason})" if result.reason else "")
        return result

    async def _ingest(self, raw: bytes, mail_from: str | None) -> IngestResult:
        """One transaction: ingest, queue the console messages, commit (then they go)."""
        async with self.db() as session:
            uow = UnitOfWork(session, self.bus)
            result = await self.ingest_fn(session, raw, self.cfg, envelope_from=mail_from,
                                          router=self.router, notify=self.notify)
            if result.ticket is not None:
                _announce(uow, result)
            await uow.commit()
            return result


def _announce(uow: UnitOfWork, result: IngestResult) -> None:
    """Queue ``ticket_created`` / ``ticket_updated`` (and routing's notices) for the commit."""
    assert result.ticket is not None
    out = TicketOut.model_validate(service.ticket_dict(result.ticket)).model_dump(mode="json")
    kind: Literal["ticket_created", "ticket_updated"] = (
        "ticket_created" if result.created else "ticket_updated")
    uow.publish(TOPIC_TICKETS, messages.ticket_changed(kind, out))
    for routed in result.routed:
        if routed.notify_user_ids:
            uow.publish(TOPIC_TICKETS, messages.ticket_notice(
                user_ids=routed.notify_user_ids, ticket=out, rules=[
                    f.rule_name for f in routed.outcome.fired
                    if any(c.field == "notify" and not c.skipped for c in f.changes)]))


class MailReceiver:
    """The listening SMTP server (:meth:`start` / :meth:`stop`) and its handler."""

    def __init__(self, handler: MailHandler, host: str, port: int, *, max_bytes: int,
                 hostname: str) -> None:
        self.handler = handler
        self.host = host
        self.port = port
        self.max_bytes = max_bytes
        self.hostname = hostname
        self._server: asyncio.AbstractServer | None = None

    def _protocol(self) -> SMTP:
        return SMTP(self.handler, data_size_limit=self.max_bytes, enable_SMTPUTF8=True,
                    hostname=self.hostname, ident="Hotline", timeout=120)

    async def start(self) -> None:
        """Listen; ``port`` 0 picks a free port (then :attr:`port` is the one bound)."""
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(self._protocol, host=self.host, port=self.port)
        self.port = int(self._server.sockets[0].getsockname()[1])
        log.info("SMTP receiver listening on %s:%d for %s", self.host, self.port,
                 ", ".join(sorted(self.handler.addresses)))

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    def state(self) -> dict[str, Any]:
        stats = self.handler.stats
        return {"enabled": True, "listening": self._server is not None,
                "address": f"{self.host}:{self.port}",
                "recipients": sorted(self.handler.addresses), "outcomes": stats.outcomes,
                "temporary_failures": stats.temporary_failures,
                "refused_recipients": stats.refused_recipients,
                "last_error": stats.last_error}


def make_handler(settings: Settings, db: async_sessionmaker[AsyncSession], bus: Bus,
                 router: Router | None, notify: Notify | None = None) -> MailHandler:
    """The one handler the SMTP receiver and the IMAP poller share."""
    return MailHandler(db, bus, mail_config(settings), settings.mail_address_list, router,
                       notify=notify)


def make_receiver(settings: Settings, handler: MailHandler) -> MailReceiver | None:
    """The receiver ``HOTLINE_MAIL_LISTEN`` asks for, or None when it is off."""
    where = settings.mail_listen_host_port
    if where is None:
        return None
    return MailReceiver(handler, where[0], where[1], max_bytes=settings.mail_max_bytes,
                        hostname=settings.mail_domain)
