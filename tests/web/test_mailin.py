"""The SMTP receiver through real SMTP conversations (smtplib → aiosmtpd on a free port), on
SQLite and PostgreSQL: mail makes tickets, replies thread, robots make nothing, a message
is taken once, size and recipient limits answer 552/550, and a database failure is a 451
with nothing written (the sender retries and then it is taken)."""

from __future__ import annotations

import asyncio
import base64
import smtplib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import make_msgid
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.conftest import DbMaker, make_settings
from tickets import service
from tickets.bus import TOPIC_TICKETS, InProcessBus
from tickets.db import make_engine, make_sessionmaker
from tickets.mail.ingest import IngestResult, ingest
from tickets.mail.models import MailMessage
from tickets.mail.threading import message_id, subject_tag
from tickets.models import Attachment, Comment, Customer, Ticket, User
from tickets.notify.events import NotificationEvent
from tickets.routing.service import Router, RuleBook
from web.mailin import MailHandler, MailReceiver, mail_config
from web.settings import to_async_url

SUPPORT = "support@hotline.example.cn"
DOMAIN = "hotline.example.cn"
PNG = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAE"
                       "hQGAhKmMIQAAAABJRU5ErkJggg==")


@dataclass
class Rig:
    sm: async_sessionmaker[AsyncSession]
    receiver: MailReceiver
    bus: InProcessBus
    store: Path
    #: what the ingester asked the Notify port to tell (in the delivery's transaction)
    told: list[NotificationEvent]

    def send(self, raw: bytes, *, rcpt: str = SUPPORT, mail_from: str = "zhou.min@example.cn"
             ) -> tuple[int, bytes]:
        """One SMTP conversation; the answer to DATA (or to RCPT when refused)."""
        with smtplib.SMTP("127.0.0.1", self.receiver.port, timeout=10) as client:
            client.ehlo("mx.example.cn")
            code, msg = client.mail(mail_from)
            assert code == 250, msg
            code, msg = client.rcpt(rcpt)
            if code != 250:
                return code, msg
            return client.data(raw)

    async def asend(self, raw: bytes, **kw: Any) -> tuple[int, bytes]:
        return await asyncio.to_thread(self.send, raw, **kw)

    async def count(self, model: type) -> int:
        async with self.sm() as s:
            return int(await s.scalar(select(func.count()).select_from(model)) or 0)


@pytest.fixture
async def rig(new_db: DbMaker, tmp_path: Path) -> AsyncIterator[Rig]:
    settings = make_settings(await new_db(demo=False), tmp_path, mail_domain=DOMAIN,
                             mail_addresses=f"{SUPPORT}, Help@Hotline.example.cn",
                             mail_max_bytes=200_000)
    engine = make_engine(to_async_url(settings.database_url))
    sm = make_sessionmaker(engine)
    bus = InProcessBus()
    told: list[NotificationEvent] = []

    async def notify(session: AsyncSession, event: NotificationEvent) -> None:
        told.append(event)

    handler = MailHandler(sm, bus, mail_config(settings), settings.mail_address_list,
                          Router(RuleBook()), notify=notify)
    receiver = MailReceiver(handler, "127.0.0.1", 0, max_bytes=settings.mail_max_bytes,
                            hostname=DOMAIN)
    await receiver.start()
    try:
        yield Rig(sm, receiver, bus, settings.data_dir / "attachments", told)
    finally:
        await receiver.stop()
        await engine.dispose()


def compose(subject: str, body: str, *, sender: str = "周敏 <zhou.min@example.cn>",
            mid: str | None = None, headers: dict[str, str] | None = None,
            png: bool = False) -> bytes:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = SUPPORT
    msg["Subject"] = subject
    msg["Message-ID"] = mid or make_msgid(domain="example.cn")
    for k, v in (headers or {}).items():
        msg[k] = v
    msg.set_content(body)
    if png:
        msg.add_attachment(PNG, maintype="image", subtype="png", filename="故障照片.png")
    return msg.as_bytes(policy=SMTP_POLICY)  # CRLF line ends, as on the wire


async def test_mail_makes_a_ticket_and_a_reply_threads_onto_it(rig: Rig) -> None:
    sub = rig.bus.subscribe(TOPIC_TICKETS)
    code, _ = await rig.asend(compose("洗衣机不转", "滚筒不转，显示 E21。", png=True))
    assert code == 250
    async with rig.sm() as s:
        ticket = (await s.scalars(select(Ticket))).one()
        customer = await s.get(Customer, ticket.customer_id)
        att = (await s.scalars(select(Attachment))).one()
    assert (ticket.channel, ticket.title, ticket.description) == (
        "email", "洗衣机不转", "滚筒不转，显示 E21。")
    assert customer is not None and (customer.name, customer.email) == (
        "周敏", "zhou.min@example.cn")
    assert (att.filename, att.content_type) == ("故障照片.png", "image/png")
    assert (rig.store / att.storage_key).read_bytes() == PNG
    topic, announced = await asyncio.wait_for(anext(aiter(sub)), 2)
    await sub.close()
    assert topic == TOPIC_TICKETS and announced["type"] == "ticket_created"
    assert announced["ticket"]["channel"] == "email"

    number = service.ticket_number(ticket.id)
    reply = compose(f"Re: 洗衣机不转 {subject_tag(number)}",
                    "重启过了，还是不行。\n\nOn Tue, Dec 1, 2026 Hotline wrote:\n> 请重启",
                    headers={"In-Reply-To": message_id(number, "n-7", DOMAIN),
                             "References": message_id(number, "n-7", DOMAIN)})
    assert (await rig.asend(reply))[0] == 250
    tagged = compose(f"RE: {subject_tag(number)}", "补充一张照片")
    assert (await rig.asend(tagged))[0] == 250
    async with rig.sm() as s:
        comments = (await s.scalars(select(Comment).order_by(Comment.id))).all()
    assert [(c.ticket_id, c.body, c.public) for c in comments] == [
        (ticket.id, "重启过了，还是不行。", True), (ticket.id, "补充一张照片", True)]
    assert await rig.count(Ticket) == 1


async def test_auto_reply_and_dsn_make_nothing(rig: Rig) -> None:
    oof = compose("Automatic reply: 洗衣机不转", "I am out of the office.",
                  headers={"Auto-Submitted": "auto-replied",
                           "X-Auto-Response-Suppress": "All"})
    dsn = (b"From: Mail Delivery System <MAILER-DAEMON@mx.example.cn>\r\n"
           b"To: " + SUPPORT.encode() + b"\r\nSubject: Undelivered Mail\r\n"
           b"Message-ID: <dsn.1@mx.example.cn>\r\nMIME-Version: 1.0\r\n"
           b"Content-Type: multipart/report; report-type=delivery-status; boundary=B\r\n\r\n"
           b"--B\r\nContent-Type: text/plain\r\n\r\nDelivery failed.\r\n--B\r\n"
           b"Content-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx\r\n\r\n"
           b"Final-Recipient: rfc822; x@y\r\nAction: failed\r\nStatus: 5.1.1\r\n--B--\r\n")
    assert (await rig.asend(oof))[0] == 250
    assert (await rig.asend(dsn, mail_from=""))[0] == 250
    assert await rig.count(Ticket) == 0 and await rig.count(Customer) == 0
    async with rig.sm() as s:
        assert [r.outcome for r in (await s.scalars(select(MailMessage))).all()] == [
            "ignored_auto", "ignored_auto"]


async def test_same_message_twice_is_one_ticket(rig: Rig) -> None:
    raw = compose("热水器漏水", "漏水", mid="<dup.1@example.cn>")
    assert (await rig.asend(raw))[0] == 250
    assert (await rig.asend(raw))[0] == 250
    results = await asyncio.gather(*(rig.asend(compose("x", "y", mid="<dup.2@example.cn>"))
                                     for _ in range(3)))
    assert [c for c, _ in results] == [250, 250, 250]
    assert await rig.count(Ticket) == 2


async def test_reply_to_resolved_ticket_reopens_it(rig: Rig) -> None:
    assert (await rig.asend(compose("空调不制冷", "不制冷")))[0] == 250
    async with rig.sm() as s, s.begin():
        agent = User(username="alice", role="agent", password_hash="x")
        s.add(agent)
        await s.flush()
        ticket = (await s.scalars(select(Ticket))).one()
        ticket.assignee_id, ticket.status = agent.id, "resolved"
        ticket.resolved_at = ticket.created_at
    number = service.ticket_number(ticket.id)
    reply = compose(f"回复：空调不制冷 {subject_tag(number)}", "又不制冷了",
                    headers={"In-Reply-To": message_id(number, "n-2", DOMAIN)})
    assert (await rig.asend(reply))[0] == 250
    async with rig.sm() as s:
        again = await s.get(Ticket, ticket.id)
        assert again is not None and (again.status, again.reopen_count) == ("in_progress", 1)
    assert await rig.count(Ticket) == 1
    # the new ticket and the customer's reply are told (the assignee hears of the reply)
    assert [(e.kind, e.ticket_id) for e in rig.told] == [
        ("ticket_created", ticket.id), ("public_comment", ticket.id)]


async def test_gbk_mail_arrives_readable(rig: Rig) -> None:
    raw = (b"From: =?GBK?B?" + base64.b64encode("王建军".encode("gbk")) + b"?= "
           b"<wangjj@pujiang-wuye.cn>\r\nTo: " + SUPPORT.encode() + b"\r\n"
           b"Subject: =?gb2312?B?" + base64.b64encode("电梯困人 镕".encode("gbk")) + b"?=\r\n"
           b"Message-ID: <gbk.1@pujiang-wuye.cn>\r\nMIME-Version: 1.0\r\n"
           b"Content-Type: text/plain; charset=gb2312\r\n"
           b"Content-Transfer-Encoding: base64\r\n\r\n"
           + base64.encodebytes("3号楼电梯困人，请尽快处理。镕".encode("gbk")))
    assert (await rig.asend(raw))[0] == 250
    async with rig.sm() as s:
        ticket = (await s.scalars(select(Ticket))).one()
        customer = await s.get(Customer, ticket.customer_id)
    assert (ticket.title, ticket.description) == ("电梯困人 镕", "3号楼电梯困人，请尽快处理。镕")
    assert customer is not None and customer.name == "王建军"


async def test_limits_wrong_recipient_550_oversized_552(rig: Rig) -> None:
    code, msg = await rig.asend(compose("x", "y"), rcpt="someone@else.example")
    assert code == 550, msg
    assert (await rig.asend(compose("x", "y"), rcpt="help@hotline.example.cn"))[0] == 250
    big = compose("big", ("x" * 70 + "\n") * 4000)
    code, msg = await rig.asend(big)
    assert code == 552, msg
    assert await rig.count(Ticket) == 1 and await rig.count(MailMessage) == 1


async def test_database_failure_is_451_and_nothing_half_written(rig: Rig) -> None:
    handler = rig.receiver.handler

    async def failing(session: AsyncSession, raw: bytes, *a: Any, **kw: Any) -> IngestResult:
        await ingest(session, raw, *a, **kw)  # everything written, then the database fails
        raise OperationalError("COMMIT", {}, ConnectionResetError("server closed the "
                                                                  "connection"))

    handler.ingest_fn = failing
    raw = compose("门锁坏了", "门锁打不开", mid="<retry.1@example.cn>", png=True)
    code, msg = await rig.asend(raw)
    assert code == 451, msg
    assert await rig.count(Ticket) == 0 and await rig.count(MailMessage) == 0
    assert await rig.count(Customer) == 0 and await rig.count(Attachment) == 0
    assert handler.stats.temporary_failures == 1
    handler.ingest_fn = ingest  # the sender retries once the database is back
    assert (await rig.asend(raw))[0] == 250
    assert await rig.count(Ticket) == 1 and await rig.count(Attachment) == 1
    assert rig.receiver.state()["outcomes"] == {"new_ticket": 1}


async def test_the_app_starts_the_receiver_when_mail_listen_is_set(
        new_db: DbMaker, tmp_path: Path) -> None:
    from tests.conftest import login, running_app
    from web.services import Services

    settings = make_settings(await new_db(), tmp_path, mail_listen="127.0.0.1:0",
                             mail_domain=DOMAIN)
    async with running_app(settings) as (app, client):
        services: Services = app.state.services
        assert services.mail is not None
        admin = await login(client, "admin")
        ready = (await client.get("/readyz", headers=admin)).json()["mail"]
        assert ready["listening"] and ready["recipients"] == [f"support@{DOMAIN}"]
        rig = Rig(services.db, services.mail, InProcessBus(), tmp_path, [])
        raw = compose("Dishwasher leaks", "Water on the floor.", sender="ann@example.com")
        assert (await rig.asend(raw, rcpt=f"support@{DOMAIN}"))[0] == 250
        async with services.db() as s:
            ticket = (await s.scalars(select(Ticket).where(
                Ticket.title == "Dishwasher leaks"))).one()
            assert ticket.channel == "email"
        number = service.ticket_number(ticket.id)
        reply = compose(f"Re: Dishwasher leaks {subject_tag(number)}", "Still leaking.",
                        sender="ann@example.com")
        # the tag alone threads it: the envelope sender must be Ann's too to be trusted
        assert (await rig.asend(reply, rcpt=f"support@{DOMAIN}",
                                mail_from="ann@example.com"))[0] == 250
        ready = (await client.get("/readyz", headers=admin)).json()["mail"]
        assert ready["outcomes"] == {"new_ticket": 1, "comment": 1}
        # the console shows which comments came by mail, from whom (staff only)
        listed = (await client.get(f"/api/v1/tickets/{ticket.id}/comments",
                                   headers=admin)).json()
        assert [(c["body"], c["public"], c["email_from"]) for c in listed] == [
            ("Still leaking.", True, "ann@example.com")]
        history = (await client.get(f"/api/v1/tickets/{ticket.id}/history",
                                    headers=admin)).json()
        received = [e["data"] for e in history if e["kind"] == "email_received"]
        assert [(d["outcome"], d["sender"]) for d in received] == [
            ("new_ticket", "ann@example.com"), ("comment", "ann@example.com")]
        # the log shows what became of each message, auto-replies included
        oof = compose("Automatic reply", "away", sender="bob@example.com",
                      headers={"Auto-Submitted": "auto-replied"})
        assert (await rig.asend(oof, rcpt=f"support@{DOMAIN}"))[0] == 250
        log = (await client.get("/api/v1/mail/messages", headers=admin)).json()
        assert log["total"] == 3 and [(m["outcome"], m["sender"], m["ticket_id"])
                                      for m in log["items"]] == [
            ("ignored_auto", "bob@example.com", None), ("comment", "ann@example.com", ticket.id),
            ("new_ticket", "ann@example.com", ticket.id)]
        auto = (await client.get("/api/v1/mail/messages?outcome=ignored_auto",
                                 headers=admin)).json()
        assert auto["total"] == 1 and auto["items"][0]["reason"] == "Auto-Submitted: auto-replied"
        mine = (await client.get(f"/api/v1/mail/messages?ticket_id={ticket.id}&limit=1",
                                 headers=admin)).json()
        assert (mine["total"], len(mine["items"])) == (2, 1)
        bad = await client.get("/api/v1/mail/messages?outcome=spam", headers=admin)
        assert bad.status_code == 422 and "outcome" in bad.text
        agent = await login(client, "alice")
        assert (await client.get("/api/v1/mail/messages", headers=agent)).status_code == 403
    assert services.mail is None  # stopped with the app
    async with running_app(make_settings(await new_db(), tmp_path)) as (app, client):
        ready = (await client.get("/readyz", headers=await login(client, "admin"))).json()
        assert ready["mail"] == {"enabled": False}


async def test_hostile_bytes_are_taken_or_refused_never_a_retry_loop(rig: Rig) -> None:
    """What PostgreSQL cannot store (NUL) or columns cannot hold (a 300-character address)
    must not turn into a 451 the sender would retry forever."""
    nul_subject = b"=?utf-8?B?" + base64.b64encode("坏\x00了".encode()) + b"?="
    hostile = (b"From: =?utf-8?B?" + base64.b64encode(b"Eve\x00") + b"?= <eve@example.cn>\r\n"
               b"To: " + SUPPORT.encode() + b"\r\nSubject: " + nul_subject + b"\r\n"
               b"Message-ID: <nul\x01id@example.cn>\r\n"
               b"Content-Type: text/plain; charset=utf-8\r\n\r\nbody\x00with NUL\r\n")
    long_from = compose("x", "y", sender="a" * 300 + "@example.cn")
    assert (await rig.asend(hostile))[0] == 250
    assert (await rig.asend(long_from))[0] == 250
    assert rig.receiver.handler.stats.temporary_failures == 0
    async with rig.sm() as s:
        ticket = (await s.scalars(select(Ticket))).one()
        rows = (await s.scalars(select(MailMessage).order_by(MailMessage.id))).all()
    assert (ticket.title, ticket.description) == ("坏了", "bodywith NUL")
    assert [r.outcome for r in rows] == ["new_ticket", "rejected"]
    assert rows[0].message_id.endswith("@synthesized.hotline>")
