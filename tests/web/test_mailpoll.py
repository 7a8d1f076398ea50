"""IMAP polling (web/mailpoll.py) against aioimaplib's IMAP test server, on SQLite and
PostgreSQL: messages in the folder become tickets and replies and are deleted once
committed; a failed ingest leaves the message for the next pass; a message taken before a
crash is not taken twice."""

from __future__ import annotations

import asyncio
import email
from collections.abc import AsyncIterator
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aioimaplib.imap_testing_server import Mail, MockImapServer
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.conftest import DbMaker, login, make_settings, running_app
from tickets import service
from tickets.bus import InProcessBus
from tickets.db import make_engine, make_sessionmaker
from tickets.mail.ingest import IngestResult, ingest
from tickets.mail.models import MailMessage
from tickets.mail.threading import subject_tag
from tickets.models import Comment, Ticket
from web.mailin import MailHandler, mail_config
from web.mailpoll import ImapPoller, parse_imap_url
from web.services import Services
from web.settings import to_async_url

BOX = "support@hotline.example.cn"


def message(subject: str, body: str, mid: str, sender: str = "li.na@example.cn",
            auto: bool = False) -> bytes:
    m = EmailMessage()
    m["From"], m["To"], m["Subject"], m["Message-ID"] = sender, BOX, subject, mid
    if auto:
        m["Auto-Submitted"] = "auto-replied"
    m.set_content(body)
    return m.as_bytes()


@dataclass
class Imap:
    server: MockImapServer
    port: int

    def deliver(self, raw: bytes) -> None:
        self.server.receive(Mail(email.message_from_bytes(raw)), imap_user=BOX)

    def left(self) -> int:
        return len(self.server._server_state.get_mailbox_messages(BOX, "INBOX"))


@pytest.fixture
async def imap() -> AsyncIterator[Imap]:
    server = MockImapServer()
    listening = await server.run_server(host="127.0.0.1", port=0)
    try:
        yield Imap(server, listening.sockets[0].getsockname()[1])
    finally:
        listening.close()
        await listening.wait_closed()


@pytest.fixture
async def handler(new_db: DbMaker, tmp_path: Path) -> AsyncIterator[MailHandler]:
    settings = make_settings(await new_db(demo=False), tmp_path)
    engine = make_engine(to_async_url(settings.database_url))
    try:
        yield MailHandler(make_sessionmaker(engine), InProcessBus(), mail_config(settings),
                          settings.mail_address_list)
    finally:
        await engine.dispose()


def poller(imap: Imap, handler: MailHandler) -> ImapPoller:
    target = parse_imap_url(f"imap://{BOX}:secret-pw@127.0.0.1:{imap.port}/INBOX")
    return ImapPoller(target, handler, interval_s=60, max_bytes=1 << 20, timeout_s=5)


async def count(sm: async_sessionmaker[AsyncSession], model: type) -> int:
    async with sm() as s:
        return int(await s.scalar(select(func.count()).select_from(model)) or 0)


async def test_messages_become_tickets_and_replies_and_leave_the_folder(
        imap: Imap, handler: MailHandler) -> None:
    imap.deliver(message("热水器不加热", "昨天开始不加热", "<p1@example.cn>"))
    poll = poller(imap, handler)
    assert await poll.poll_once() == 1 and imap.left() == 0
    async with handler.db() as s:
        ticket = (await s.scalars(select(Ticket))).one()
    assert (ticket.channel, ticket.title) == ("email", "热水器不加热")
    imap.deliver(message(f"Re: {subject_tag(service.ticket_number(ticket.id))}", "还是不行",
                         "<p2@example.cn>"))
    imap.deliver(message("Out of office", "away", "<p3@example.cn>", auto=True))
    assert await poll.poll_once() == 2 and imap.left() == 0
    assert await count(handler.db, Ticket) == 1 and await count(handler.db, Comment) == 1
    assert handler.stats.outcomes == {"new_ticket": 1, "comment": 1, "ignored_auto": 1}
    assert poll.state()["taken"] == 3 and "secret-pw" not in str(poll.state())


async def test_a_failed_ingest_leaves_the_message_for_the_next_pass(
        imap: Imap, handler: MailHandler) -> None:
    async def failing(session: AsyncSession, raw: bytes, *a: Any, **kw: Any) -> IngestResult:
        await ingest(session, raw, *a, **kw)
        raise OperationalError("COMMIT", {}, ConnectionResetError("database went away"))

    imap.deliver(message("门禁坏了", "刷卡没反应", "<f1@example.cn>"))
    poll = poller(imap, handler)
    handler.ingest_fn = failing
    assert await poll.poll_once() == 0 and imap.left() == 1
    assert await count(handler.db, Ticket) == 0 and await count(handler.db, MailMessage) == 0
    handler.ingest_fn = ingest
    assert await poll.poll_once() == 1 and imap.left() == 0
    assert await count(handler.db, Ticket) == 1


async def test_a_message_taken_before_a_crash_is_not_taken_twice(
        imap: Imap, handler: MailHandler) -> None:
    raw = message("空调漏水", "室内机滴水", "<c1@example.cn>")
    await handler.take(raw, None)  # committed, then the process died before the delete
    imap.deliver(raw)
    assert await poller(imap, handler).poll_once() == 1 and imap.left() == 0
    assert await count(handler.db, Ticket) == 1
    assert handler.stats.outcomes == {"new_ticket": 1, "duplicate": 1}


def test_imap_url() -> None:
    t = parse_imap_url("imaps://support%40example.com:p%40ss@mail.example.com/Hotline")
    assert (t.host, t.port, t.ssl, t.user, t.password, t.mailbox) == (
        "mail.example.com", 993, True, "support@example.com", "p@ss", "Hotline")
    assert "p@ss" not in repr(t)
    plain = parse_imap_url("imap://u:p@127.0.0.1:1143")
    assert (plain.port, plain.ssl, plain.mailbox) == (1143, False, "INBOX")
    for bad in ("pop3://u:p@h", "imaps://host-only", "imaps://u:p@/INBOX"):
        with pytest.raises(ValueError, match="HOTLINE_IMAP_URL"):
            parse_imap_url(bad)


async def test_the_app_polls_when_imap_url_is_set(imap: Imap, new_db: DbMaker,
                                                  tmp_path: Path) -> None:
    imap.deliver(message("Fridge noisy", "It hums all night.", "<a1@example.com>",
                         sender="ann@example.com"))
    settings = make_settings(await new_db(), tmp_path, imap_interval_s=1,
                             imap_url=f"imap://{BOX}:pw@127.0.0.1:{imap.port}/INBOX")
    async with running_app(settings) as (app, client):
        services: Services = app.state.services
        assert services.imap is not None
        for _ in range(50):
            if imap.left() == 0:
                break
            await asyncio.sleep(0.1)
        async with services.db() as s:
            ticket = (await s.scalars(select(Ticket).where(
                Ticket.title == "Fridge noisy"))).one()
        assert ticket.channel == "email"
        ready = (await client.get("/readyz", headers=await login(client, "admin"))).json()
        assert ready["imap"]["taken"] == 1 and ready["mail"] == {"enabled": False}
    assert services.imap is None
