"""tickets.mail.ingest against real databases (SQLite and PostgreSQL): new conversations make
email tickets, replies thread onto them (status moves, reopen, follow-up tickets), forged
senders and robots are kept out, and one Message-ID never makes two tickets, also racing."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.conftest import DbMaker
from tickets import service
from tickets.db import make_engine, make_sessionmaker, utcnow
from tickets.mail.ingest import IngestResult, MailConfig, ingest
from tickets.mail.models import MailMessage
from tickets.mail.threading import message_id, subject_tag
from tickets.models import Attachment, Comment, Customer, Ticket, TicketEvent, User
from tickets.sla.service import BOOK, _policy_of, business_between, refresh_clock
from web.settings import to_async_url

D = "mail.example-hotline.cn"
PDF = b"%PDF-1.4\n%%EOF\n"


@pytest.fixture
async def sm(new_db: DbMaker) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = make_engine(to_async_url(await new_db(demo=False)))
    try:
        yield make_sessionmaker(engine)
    finally:
        await engine.dispose()


@pytest.fixture
def cfg(tmp_path: Path) -> MailConfig:
    return MailConfig(domain=D, store=tmp_path / "att", attachment_max_bytes=1 << 20,
                      attachment_types=("application/pdf", "image/png", "text/plain"),
                      own_addresses=("support@example-hotline.cn",), reopen_days=14)


def mail(*, sender: str = "Zhou Min <zhou.min@example.cn>", subject: str = "冰箱不制冷",
         mid: str = "<m1@example.cn>", body: str = "冰箱从周一开始不制冷。",
         headers: str = "", attachment: bool = False) -> bytes:
    head = (f"From: {sender}\r\nTo: support@example-hotline.cn\r\nSubject: {subject}\r\n"
            f"Message-ID: {mid}\r\nMIME-Version: 1.0\r\n{headers}")
    if not attachment:
        return (head + "Content-Type: text/plain; charset=utf-8\r\n\r\n").encode() + \
            body.encode() + b"\r\n"
    return (head + 'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\n'
            "Content-Type: text/plain; charset=utf-8\r\n\r\n" + body + "\r\n--b\r\n"
            'Content-Type: application/pdf; name="发票.pdf"\r\n'
            "Content-Transfer-Encoding: base64\r\n"
            'Content-Disposition: attachment; filename="=?UTF-8?B?'
            + base64.b64encode("发票.pdf".encode()).decode() + '?="\r\n\r\n'
            + base64.b64encode(PDF).decode() + "\r\n--b--\r\n").encode()


async def run(sm: async_sessionmaker[AsyncSession], raw: bytes, cfg: MailConfig,
              **kw: object) -> IngestResult:
    async with sm() as s, s.begin():
        return await ingest(s, raw, cfg, **kw)  # type: ignore[arg-type]


async def count(sm: async_sessionmaker[AsyncSession], model: type) -> int:
    async with sm() as s:
        return int(await s.scalar(select(func.count()).select_from(model)) or 0)


async def test_new_mail_makes_an_email_ticket_for_a_new_customer(
        sm: async_sessionmaker[AsyncSession], cfg: MailConfig) -> None:
    res = await run(sm, mail(subject="Re: Fwd: 冰箱不制冷", attachment=True), cfg)
    assert res.outcome == "new_ticket" and res.created and res.ticket_id
    async with sm() as s:
        ticket = await s.get(Ticket, res.ticket_id)
        assert ticket is not None
        assert (ticket.channel, ticket.title, ticket.description, ticket.status) == (
            "email", "冰箱不制冷", "冰箱从周一开始不制冷。", "new")
        customer = await s.get(Customer, ticket.customer_id)
        assert customer is not None
        assert (customer.name, customer.email, customer.language) == (
            "Zhou Min", "zhou.min@example.cn", "zh")
        att = (await s.scalars(select(Attachment))).one()
        assert (att.filename, att.content_type, att.public, att.ticket_id) == (
            "发票.pdf", "application/pdf", True, ticket.id)
        assert (cfg.store / att.storage_key).read_bytes() == PDF
        row = (await s.scalars(select(MailMessage))).one()
        assert (row.outcome, row.ticket_id, row.customer_id, row.sender) == (
            "new_ticket", ticket.id, customer.id, "zhou.min@example.cn")
        kinds = [e.kind for e in (await s.scalars(select(TicketEvent).where(
            TicketEvent.ticket_id == ticket.id).order_by(TicketEvent.id))).all()]
        assert kinds == ["created", "attachment_added", "email_received"]


async def test_known_sender_matched_case_insensitively(
        sm: async_sessionmaker[AsyncSession], cfg: MailConfig) -> None:
    async with sm() as s, s.begin():
        s.add(Customer(name="周敏", email="Zhou.Min@Example.CN"))
    res = await run(sm, mail(sender="ZHOU.MIN@example.cn"), cfg)
    async with sm() as s:
        assert await count(sm, Customer) == 1
        ticket = await s.get(Ticket, res.ticket_id)
        assert ticket is not None and ticket.customer_id is not None


async def test_same_message_id_twice_makes_one_ticket(
        sm: async_sessionmaker[AsyncSession], cfg: MailConfig) -> None:
    first = await run(sm, mail(), cfg)
    again = await run(sm, mail(), cfg)
    assert again.outcome == "duplicate" and again.ticket_id == first.ticket_id
    assert await count(sm, Ticket) == 1 and await count(sm, MailMessage) == 1


async def test_racing_deliveries_make_one_ticket(
        sm: async_sessionmaker[AsyncSession], cfg: MailConfig) -> None:
    results = await asyncio.gather(*(run(sm, mail(mid="<race@example.cn>"), cfg)
                                     for _ in range(4)))
    assert sorted(r.outcome for r in results) == ["duplicate"] * 3 + ["new_ticket"]
    assert await count(sm, Ticket) == 1


async def _agent(s: AsyncSession) -> int:
    user = User(username="alice", role="agent", password_hash="x", display_name="Alice")
    s.add(user)
    await s.flush()
    return user.id


async def _set(sm: async_sessionmaker[AsyncSession], ticket_id: int, **values: object) -> None:
    async with sm() as s, s.begin():
        ticket = await s.get(Ticket, ticket_id)
        assert ticket is not None
        for k, v in values.items():
            setattr(ticket, k, v)


def reply_to(number: str, *, mid: str, body: str, sender: str = "Zhou Min <zhou.min@example.cn>",
             attachment: bool = False) -> bytes:
    """A reply as a mail client writes it: our Message-ID in In-Reply-To, the tag kept."""
    return mail(subject=f"Re: 冰箱不制冷 {subject_tag(number)}", mid=mid, body=body,
                sender=sender, attachment=attachment,
                headers=f"In-Reply-To: {message_id(number, 'n-1', D)}\r\n")


async def test_reply_threads_as_public_comment_and_resumes_pending(
        sm: async_sessionmaker[AsyncSession], cfg: MailConfig) -> None:
    first = await run(sm, mail(), cfg)
    assert first.ticket_id is not None
    async with sm() as s, s.begin():
        agent = await _agent(s)
    await _set(sm, first.ticket_id, assignee_id=agent, status="pending_customer")
    number = service.ticket_number(first.ticket_id)
    body = "已经试过了，还是不行。\r\n\r\n在 2026年12月1日 10:00，客服 写道：\r\n> 请重启试试"
    ours = message_id(number, "n-1", D)
    res = await run(sm, mail(subject=f"回复: 冰箱不制冷 {subject_tag(number)}",
                             mid="<m2@example.cn>", body=body,
                             headers=f"In-Reply-To: {ours}\r\n"
                                     f"References: <other@elsewhere> {ours}\r\n"), cfg)
    assert (res.outcome, res.ticket_id, res.reason) == (
        "comment", first.ticket_id, "pending_customer → in_progress")
    async with sm() as s:
        ticket = await s.get(Ticket, first.ticket_id)
        assert ticket is not None and ticket.status == "in_progress"
        assert ticket.first_responded_at is None  # the customer's reply is no response
        comment = (await s.scalars(select(Comment))).one()
        assert (comment.body, comment.public, comment.author_id) == (
            "已经试过了，还是不行。", True, None)
        events = [(e.kind, e.data.get("status")) for e in (await s.scalars(
            select(TicketEvent).where(TicketEvent.ticket_id == ticket.id)
            .order_by(TicketEvent.id))).all()]
        assert ("commented", None) in events
        assert ("status_changed", {"from": "pending_customer", "to": "in_progress"}) in events
    assert await count(sm, Ticket) == 1


async def test_reply_to_pending_resumes_the_sla_clock(
        sm: async_sessionmaker[AsyncSession], cfg: MailConfig) -> None:
    """The emailed reply resumes the clock as a staff status change does: not paused any
    more, only the pause itself counted, the next supervision step scheduled."""
    first = await run(sm, mail(), cfg)
    assert first.ticket_id is not None
    async with sm() as s, s.begin():
        agent = await _agent(s)
    paused_at = utcnow().replace(microsecond=0) + timedelta(days=1)
    await _set(sm, first.ticket_id, assignee_id=agent, status="pending_customer")
    async with sm() as s, s.begin():
        ticket = await s.get(Ticket, first.ticket_id)
        assert ticket is not None
        await refresh_clock(s, ticket, now=paused_at)
        assert ticket.sla_paused_at is not None and ticket.sla_next_at is None
    number = service.ticket_number(first.ticket_id)
    back = paused_at + timedelta(minutes=30)
    res = await run(sm, reply_to(number, mid="<m-sla@example.cn>", body="好了"), cfg, now=back)
    assert res.outcome == "comment"
    async with sm() as s, s.begin():
        ticket = await s.get(Ticket, first.ticket_id)
        assert ticket is not None and ticket.status == "in_progress"
        assert ticket.sla_paused_at is None and ticket.sla_next_at is not None
        book = await BOOK.load(s)
        cal = BOOK.calendar(book, await _policy_of(s, book, ticket, False))
        pause = int(business_between(cal, paused_at, back).total_seconds())
        assert ticket.sla_paused_s == pause


async def test_subject_tag_alone_threads(sm: async_sessionmaker[AsyncSession],
                                         cfg: MailConfig) -> None:
    first = await run(sm, mail(), cfg)
    assert first.ticket_id is not None
    number = service.ticket_number(first.ticket_id)
    res = await run(sm, mail(subject=f"RE: {subject_tag(number)} 冰箱不制冷",
                             mid="<m3@example.cn>", body="补充：型号 BCD-520"), cfg)
    assert (res.outcome, res.ticket_id) == ("comment", first.ticket_id)
    assert await count(sm, Ticket) == 1


async def test_subject_tag_alone_from_another_envelope_sender_is_unverified(
        sm: async_sessionmaker[AsyncSession], cfg: MailConfig) -> None:
    first = await run(sm, mail(), cfg)
    assert first.ticket_id is not None
    async with sm() as s, s.begin():
        agent = await _agent(s)
    await _set(sm, first.ticket_id, assignee_id=agent, status="pending_customer")
    number = service.ticket_number(first.ticket_id)
    tagged = mail(subject=f"Re: {subject_tag(number)}", mid="<e1@evil.example>", body="退款")
    res = await run(sm, tagged, cfg, envelope_from="<bounce@evil.example>")
    assert (res.outcome, res.ticket_id) == ("unverified", first.ticket_id)
    assert res.reason is not None and "bounce@evil.example" in res.reason
    async with sm() as s:
        ticket = await s.get(Ticket, first.ticket_id)
        assert ticket is not None and ticket.status == "pending_customer"
        note = (await s.scalars(select(Comment))).one()
        assert not note.public and "envelope sender bounce@evil.example" in note.body
    # the same envelope (any case), or our Message-ID in the headers: the customer's reply
    same = mail(subject=f"Re: {subject_tag(number)}", mid="<e2@example.cn>", body="好")
    ok = await run(sm, same, cfg, envelope_from="<Zhou.Min@Example.CN>")
    assert ok.outcome == "comment"
    threaded = reply_to(number, mid="<e3@example.cn>", body="再补充")
    assert (await run(sm, threaded, cfg, envelope_from="relay@lists.example")).outcome \
        == "comment"


async def test_message_id_domain_compares_case_insensitively(
        sm: async_sessionmaker[AsyncSession], cfg: MailConfig) -> None:
    first = await run(sm, mail(mid="<NC-1@EXAMPLE.COM>"), cfg)
    again = await run(sm, mail(mid="<NC-1@example.com>"), cfg)
    assert again.outcome == "duplicate" and again.ticket_id == first.ticket_id
    other = await run(sm, mail(mid="<nc-1@example.com>"), cfg)  # the local part counts
    assert other.outcome == "new_ticket"
    assert await count(sm, Ticket) == 2


async def test_no_from_header_uses_the_envelope_sender(
        sm: async_sessionmaker[AsyncSession], cfg: MailConfig) -> None:
    raw = mail().replace(b"From: Zhou Min <zhou.min@example.cn>\r\n", b"")
    assert b"From:" not in raw
    res = await run(sm, raw, cfg, envelope_from="<Zhou.Min@example.cn>")
    assert res.outcome == "new_ticket"
    assert res.reason == "no From header: the envelope sender zhou.min@example.cn is the sender"
    async with sm() as s:
        row = (await s.scalars(select(MailMessage))).one()
        assert (row.sender, row.reason) == ("zhou.min@example.cn", res.reason)
        event = (await s.scalars(select(TicketEvent).where(
            TicketEvent.kind == "email_received"))).one()
        assert event.data["sender_note"] == res.reason
    without = await run(sm, raw.replace(b"<m1@", b"<m9@"), cfg)
    assert (without.outcome, without.reason) == ("rejected", "no usable From address")


async def test_reply_to_resolved_reopens_within_the_window(
        sm: async_sessionmaker[AsyncSession], cfg: MailConfig) -> None:
    first = await run(sm, mail(), cfg)
    assert first.ticket_id is not None
    async with sm() as s, s.begin():
        agent = await _agent(s)
    await _set(sm, first.ticket_id, assignee_id=agent, status="resolved",
               resolved_at=utcnow() - timedelta(days=3))
    number = service.ticket_number(first.ticket_id)
    res = await run(sm, reply_to(number, mid="<m4@example.cn>", body="又坏了"), cfg)
    assert (res.outcome, res.ticket_id) == ("reopened", first.ticket_id)
    async with sm() as s:
        ticket = await s.get(Ticket, first.ticket_id)
        assert ticket is not None
        assert (ticket.status, ticket.reopen_count, ticket.resolved_at) == (
            "in_progress", 1, None)
        kinds = [e.kind for e in (await s.scalars(select(TicketEvent).where(
            TicketEvent.ticket_id == ticket.id))).all()]
        assert "reopened" in kinds


async def test_reply_to_old_resolved_or_closed_starts_a_linked_ticket(
        sm: async_sessionmaker[AsyncSession], cfg: MailConfig) -> None:
    first = await run(sm, mail(), cfg)
    assert first.ticket_id is not None
    async with sm() as s, s.begin():
        agent = await _agent(s)
    await _set(sm, first.ticket_id, assignee_id=agent, status="resolved",
               resolved_at=utcnow() - timedelta(days=30))
    number = service.ticket_number(first.ticket_id)
    late = await run(sm, reply_to(number, mid="<m5@example.cn>", body="又坏了"), cfg)
    assert late.outcome == "new_ticket" and late.ticket_id != first.ticket_id
    assert late.reason == f"follow-up of {number} (resolved): a new ticket linked to it"
    await _set(sm, first.ticket_id, status="closed")
    closed = await run(sm, reply_to(number, mid="<m6@example.cn>", body="还有问题"), cfg)
    assert closed.outcome == "new_ticket"
    async with sm() as s:
        for res in (late, closed):
            new = await s.get(Ticket, res.ticket_id)
            assert new is not None
            assert (new.parent_id, new.channel, new.title) == (
                first.ticket_id, "email", "冰箱不制冷")
        old = await s.get(Ticket, first.ticket_id)
        assert old is not None and old.status == "closed" and old.reopen_count == 0


async def test_encoded_display_name_spoof_makes_no_victim_customer(
        sm: async_sessionmaker[AsyncSession], cfg: MailConfig) -> None:
    async with sm() as s, s.begin():
        s.add(Customer(name="Victim", email="victim@example.com"))
    name = base64.b64encode(b"victim@example.com\r\nBcc: x@evil.example").decode()
    res = await run(sm, mail(sender=f"=?utf-8?b?{name}?= <attacker@evil.example>"), cfg)
    assert res.outcome == "new_ticket"
    async with sm() as s:
        emails = sorted(c.email or "" for c in (await s.scalars(select(Customer))).all())
        assert emails == ["attacker@evil.example", "victim@example.com"]
        ticket = await s.get(Ticket, res.ticket_id)
        customer = await s.get(Customer, ticket.customer_id if ticket else None)
        assert customer is not None and customer.email == "attacker@evil.example"
        assert "\n" not in customer.name and "\r" not in customer.name


async def test_forged_sender_becomes_an_internal_note(
        sm: async_sessionmaker[AsyncSession], cfg: MailConfig) -> None:
    first = await run(sm, mail(), cfg)
    assert first.ticket_id is not None
    async with sm() as s, s.begin():
        agent = await _agent(s)
    await _set(sm, first.ticket_id, assignee_id=agent, status="pending_customer")
    number = service.ticket_number(first.ticket_id)
    res = await run(sm, reply_to(number, sender="Zhou Min <zhou.min@evil.example>",
                                 mid="<f1@evil.example>", body="退款到这个账户", attachment=True),
                    cfg)
    assert res.outcome == "unverified" and res.ticket_id == first.ticket_id
    assert await count(sm, Customer) == 1  # no customer is made for the forger's address
    async with sm() as s:
        ticket = await s.get(Ticket, first.ticket_id)
        assert ticket is not None and ticket.status == "pending_customer"
        note = (await s.scalars(select(Comment))).one()
        assert not note.public and note.author_id is None
        assert note.body.startswith("[Unverified sender / 发件人未验证] Zhou Min "
                                    "<zhou.min@evil.example>")
        assert "退款到这个账户" in note.body
        att = (await s.scalars(select(Attachment))).one()
        assert att.public is False
        # the customer sees none of it
        cust = service.Actor(id=None, role="customer", customer_id=ticket.customer_id)
        assert await service.comments(s, ticket.id, cust) == []
        assert all(e["kind"] != "email_received" for e in  # type: ignore[index]
                   await service.history(s, ticket.id, cust))


async def test_auto_replies_bounces_and_own_address_make_nothing(
        sm: async_sessionmaker[AsyncSession], cfg: MailConfig) -> None:
    first = await run(sm, mail(), cfg)
    assert first.ticket_id is not None
    number = service.ticket_number(first.ticket_id)
    oof = mail(subject=f"自动回复: {subject_tag(number)}", mid="<oof@example.cn>",
               headers="Auto-Submitted: auto-replied\r\nX-Auto-Response-Suppress: All\r\n")
    bounce = mail(sender="MAILER-DAEMON@mx.example.cn", mid="<dsn@mx>",
                  subject="Undelivered Mail Returned to Sender",
                  headers="Return-Path: <>\r\n")
    own = mail(sender="support@example-hotline.cn", mid="<loop@x>")
    outcomes = [await run(sm, oof, cfg), await run(sm, bounce, cfg),
                await run(sm, mail(mid="<bulk@x>", headers="Precedence: bulk\r\n"), cfg),
                await run(sm, own, cfg),
                await run(sm, mail(mid="<env@x>"), cfg, envelope_from="")]
    assert [r.outcome for r in outcomes] == ["ignored_auto"] * 5
    assert outcomes[0].reason == "Auto-Submitted: auto-replied"
    assert await count(sm, Ticket) == 1 and await count(sm, Comment) == 0
    assert await count(sm, Customer) == 1
    async with sm() as s:
        rows = (await s.scalars(select(MailMessage).order_by(MailMessage.id))).all()
        assert [r.outcome for r in rows] == ["new_ticket"] + ["ignored_auto"] * 5


async def test_rejected_mail_is_recorded_not_raised(
        sm: async_sessionmaker[AsyncSession], cfg: MailConfig) -> None:
    res = await run(sm, b"Subject: no sender\r\nMessage-ID: <r@x>\r\n\r\nhello", cfg)
    assert (res.outcome, res.reason) == ("rejected", "no usable From address")
    assert await count(sm, Ticket) == 0 and await count(sm, MailMessage) == 1


def test_reply_action_rules() -> None:
    from tickets.mail.ingest import reply_action

    now = utcnow()

    def ticket(status: str, assignee: int | None = 7, days_ago: float = 1) -> Ticket:
        return Ticket(status=status, assignee_id=assignee,
                      resolved_at=now - timedelta(days=days_ago), updated_at=now)

    def act(t: Ticket, verified: bool = True) -> tuple[str, str | None]:
        return reply_action(t, verified=verified, now=now, reopen_days=14)

    assert act(ticket("pending_customer")) == ("comment", "in_progress")
    assert act(ticket("in_progress")) == ("comment", None)
    assert act(ticket("new", None)) == ("comment", None)
    assert act(ticket("resolved", days_ago=14)) == ("reopen", "in_progress")
    assert act(ticket("resolved", days_ago=14.01)) == ("new_linked", None)
    assert act(ticket("resolved", assignee=None)) == ("new_linked", None)
    assert act(ticket("closed")) == ("new_linked", None)
    assert act(ticket("cancelled")) == ("new_linked", None)
    assert act(ticket("pending_customer"), verified=False) == ("unverified", None)
