"""The outbox on SQLite and PostgreSQL: rows per recipient and channel, written once, muted
where asked; delivery with backoff on an injected clock, dead letters, retry, signatures."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from collections import Counter
from datetime import datetime, timedelta
from email.header import decode_header, make_header
from email.message import Message

import pytest
from sqlalchemy import func, select, update

from tests.tickets.notify.conftest import Clock, World
from tickets.db import make_engine, make_sessionmaker, transaction, utcnow
from tickets.models import Ticket
from tickets.notify import delivery
from tickets.notify.delivery import Dispatcher, Ports
from tickets.notify.events import NotificationEvent
from tickets.notify.fakes import FakeEmail, FakeLive, FakeSms, FakeWebhook
from tickets.notify.models import NotificationPref, OutboxMessage, WebhookSubscription
from tickets.notify.outbox import Outbox
from web.settings import to_async_url

pytestmark = pytest.mark.pg


def decoded(header: str) -> str:
    """A header as a reader sees it (RFC 2047 encoded words decoded)."""
    return str(make_header(decode_header(header)))


async def rows(w: World) -> list[OutboxMessage]:
    async with w.db() as s:
        return list((await s.scalars(select(OutboxMessage).order_by(OutboxMessage.id))).all())


async def tell(w: World, outbox: Outbox, event: NotificationEvent) -> None:
    async with transaction(w.db) as s:
        await outbox(s, event)


def resolved(w: World) -> NotificationEvent:
    return NotificationEvent("status_changed", w.ticket, f"status:{w.ticket}:1",
                             actor_id=w.bob, user_ids=(w.alice,), data={"status": "resolved"})


async def test_one_row_per_recipient_and_channel_written_once(world: World) -> None:
    outbox = Outbox()
    await tell(world, outbox, resolved(world))
    got = {(m.channel, m.recipient) for m in await rows(world)}
    # Alice: status changes only on the console by default; the customer: email and SMS
    assert got == {("ws", str(world.alice)), ("email", "wang@example.cn"),
                   ("sms", "+8613812345678")}
    await tell(world, outbox, resolved(world))  # the same event again: nothing new
    assert len(await rows(world)) == 3
    by = {(m.channel, m.recipient): m for m in await rows(world)}
    customer_mail = by[("email", "wang@example.cn")]
    assert customer_mail.subject.startswith(f"[T-{world.ticket:06d}] ")
    assert "已解决" in customer_mail.subject and customer_mail.language == "zh"
    assert "resolved" in by[("ws", str(world.alice))].body  # Alice reads English
    assert by[("sms", "+8613812345678")].body.startswith("【Hotline】")


async def test_the_customers_copy_says_the_ticket_pin_the_staffs_does_not(
        world: World) -> None:
    async with transaction(world.db) as s:
        await s.execute(update(Ticket).where(Ticket.id == world.ticket).values(pin="042917"))
    await tell(world, Outbox(), resolved(world))
    by = {m.channel: m for m in await rows(world)}
    assert "PIN 042917" in by["email"].body and "PIN 042917" in (by["email"].html or "")
    assert by["sms"].body.endswith(" PIN 042917")
    assert "042917" not in by["ws"].body and "042917" not in json.dumps(by["ws"].payload)


async def test_a_ticket_without_a_pin_says_none(world: World) -> None:
    await tell(world, Outbox(), resolved(world))
    assert all("PIN" not in m.body for m in await rows(world))


async def test_rolled_back_change_notifies_nobody(world: World) -> None:
    with pytest.raises(RuntimeError):
        async with transaction(world.db) as s:
            await Outbox()(s, resolved(world))
            raise RuntimeError("the change failed")
    assert await rows(world) == []


async def test_mutes_and_configured_channels(world: World) -> None:
    async with transaction(world.db) as s:
        s.add(NotificationPref(user_id=world.alice, kind="status_changed", channel="ws",
                               enabled=False))
        s.add(NotificationPref(user_id=world.alice, kind="status_changed", channel="email",
                               enabled=True))  # opted in
    await tell(world, Outbox(channels=("email", "ws")), resolved(world))  # no SMS gateway
    got = {(m.channel, m.recipient) for m in await rows(world)}
    assert got == {("email", "alice@example.com"), ("email", "wang@example.cn")}


async def test_unassigned_ticket_goes_to_its_group_on_the_console(world: World) -> None:
    ev = NotificationEvent("ticket_created", world.ticket, f"created:{world.ticket}",
                           actor_id=world.bob)
    await tell(world, Outbox(), ev)
    assert {(m.channel, m.user_id) for m in await rows(world)} == {("ws", world.alice)}


def dispatcher(w: World, clock: Clock, ports: Ports, **kw: int) -> Dispatcher:
    return Dispatcher(w.db, ports, clock=clock, rand=lambda: 0.5, mail_domain="hl.test", **kw)


async def test_outage_delays_loses_nothing_sends_once_then_dead_letter(world: World) -> None:
    clock = Clock()
    await tell(world, Outbox(clock=clock), resolved(world))
    email, sms, live = FakeEmail(down=True), FakeSms(), FakeLive()
    d = dispatcher(world, clock, Ports(email=email, sms=sms, live=live), max_attempts=3)
    assert await d.run_once() == 2  # ws and SMS go, the email fails
    assert await d.run_once() == 0  # nothing due: the emails wait (backoff)
    clock.advance(3.74)  # first wait: 5 s * 0.75
    assert await d.run_once() == 0
    clock.advance(0.02)
    await d.run_once()  # second attempt, still down
    email.down = False
    clock.advance(7.5)
    assert await d.run_once() == 1
    assert len(email.sent) == 1 and len(sms.sent) == 1 and len(live.published) == 1
    clock.advance(10_000)
    assert await d.run_once() == 0  # nothing twice
    msg = next(m for m in email.sent if m["To"] == "wang@example.cn")
    key = msg["X-Hotline-Delivery"]
    assert msg["Message-ID"] == f"<hotline.T-{world.ticket:06d}.{key}@hl.test>"
    assert msg["References"] == msg["In-Reply-To"] == f"<hotline.T-{world.ticket:06d}@hl.test>"
    assert decoded(msg["Subject"]).startswith(f"[T-{world.ticket:06d}] 工单状态：已解决")
    assert live.published[0]["type"] == "notification"
    assert live.published[0]["user_ids"] == [world.alice]

    # a dead letter after max_attempts, then an admin's retry
    await tell(world, Outbox(clock=clock), NotificationEvent(
        "sla_breach", world.ticket, "breach:1", user_ids=(world.alice,)))
    email.down = True
    for _ in range(3):
        await d.run_once()
        clock.advance(3600)
    async with world.db() as s:
        dead = await s.scalar(select(OutboxMessage).where(OutboxMessage.status == "dead"))
    assert dead is not None and dead.attempts == 3 and "smtp down" in (dead.last_error or "")
    email.down = False
    async with transaction(world.db) as s:
        await delivery.retry(s, dead.id, clock())
    assert await d.run_once() == 1
    assert decoded(email.sent[-1]["Subject"]).startswith(
        f"[T-{world.ticket:06d}] SLA breached: 打印机卡纸")


async def test_webhook_signed_and_retried(world: World) -> None:
    async with transaction(world.db) as s:
        s.add(WebhookSubscription(url="http://crm.test/hook", secret="s3cret",
                                  kinds=["status_changed"], active=True))
        s.add(WebhookSubscription(url="http://other.test/hook", secret="x",
                                  kinds=["sla_breach"], active=True))
    clock = Clock()
    await tell(world, Outbox(clock=clock), resolved(world))
    hook = FakeWebhook(down=True)
    d = dispatcher(world, clock, Ports(webhook=hook, live=FakeLive(), email=FakeEmail(),
                                       sms=FakeSms()))
    await d.run_once()
    clock.advance(10)
    await d.run_once()
    assert len(hook.posted) == 0
    hook.down = False
    clock.advance(20)
    await d.run_once()
    assert len(hook.posted) == 1
    url, body, headers = hook.posted[0]
    assert url == "http://crm.test/hook"
    expected = hmac.new(b"s3cret", headers["X-Hotline-Timestamp"].encode() + b"." + body,
                        hashlib.sha256).hexdigest()
    assert headers["X-Hotline-Signature"] == f"sha256={expected}"
    payload = json.loads(body)
    assert payload["kind"] == "status_changed" and payload["ticket"]["id"] == world.ticket
    assert payload["id"] == headers["X-Hotline-Delivery"]


async def test_two_dispatchers_never_take_the_same_row(world: World) -> None:
    clock = Clock()
    for i in range(30):
        await tell(world, Outbox(clock=clock), NotificationEvent(
            "sla_breach", world.ticket, f"b{i}", user_ids=(world.alice,)))
    one, two = FakeEmail(), FakeEmail()
    other = make_engine(to_async_url(world.url))  # a second "process": its own pool
    d1 = dispatcher(world, clock, Ports(email=one, live=FakeLive()), batch=7)
    d2 = Dispatcher(make_sessionmaker(other), Ports(email=two, live=FakeLive()), clock=clock,
                    batch=7)
    try:
        await asyncio.gather(d1.run_once(), d2.run_once(), d1.run_once(), d2.run_once())
    finally:
        await other.dispose()
    keys = [m["X-Hotline-Delivery"] for m in one.sent + two.sent]
    assert len(keys) == 30 == len(set(keys))
    async with world.db() as s:
        assert await s.scalar(select(func.count()).where(OutboxMessage.status != "sent")) == 0


class SlowEmail(FakeEmail):
    """An SMTP server that takes ``delay_s`` (real time) to accept each message."""

    def __init__(self, delay_s: float) -> None:
        super().__init__()
        self.delay_s = delay_s

    async def send(self, message: Message) -> None:
        await asyncio.sleep(self.delay_s)
        await super().send(message)


async def test_a_batch_slower_than_its_lease_sends_nothing_twice(world: World) -> None:
    """A process whose batch takes longer than the claim's lease (a slow SMTP server) stops
    sending when the lease is about to end and records what it sent: the rows another
    process takes over after the lease are not sent by both (found while writing the
    two-process test: before, the first process kept sending and recorded only at the end
    of its batch, so the second sent the whole batch again: every message twice here)."""
    for i in range(6):
        await tell(world, Outbox(channels=("email",)), NotificationEvent(
            "sla_breach", world.ticket, f"slow:{i}", user_ids=(world.alice,)))
    slow = SlowEmail(delay_s=0.3)  # 6 messages one at a time: 1.8 s, the lease is 1 s
    other = make_engine(to_async_url(world.url))
    skew = [timedelta(0)]  # real time (the lease is), moved on below to end the backoffs

    def clock() -> datetime:
        return utcnow() + skew[0]

    d1 = Dispatcher(world.db, Ports(email=slow), lease_s=1.0, concurrency=1, clock=clock)
    d2 = Dispatcher(make_sessionmaker(other), Ports(email=slow), lease_s=1.0, concurrency=1,
                    clock=clock)
    try:
        first = asyncio.create_task(d1.run_once())
        await asyncio.sleep(1.1)  # real time: d1's lease on its claim has run out
        await d2.run_once()  # takes what d1 left
        await first
        skew[0] = timedelta(hours=1)  # a send cut off comes again after its backoff
        for _ in range(20):
            if not [r for r in await rows(world) if r.status != "sent"]:
                break
            await d1.run_once()
    finally:
        await other.dispose()
    keys = Counter(m["X-Hotline-Delivery"] for m in slow.sent)
    assert len(keys) == 6 and set(keys.values()) == {1}, keys
    done = await rows(world)
    assert {r.status for r in done} == {"sent"}
    # a message not even started before the lease ended was put back, not counted as failed
    assert all(r.attempts <= 2 for r in done), [(r.id, r.attempts) for r in done]


async def test_a_process_dying_mid_batch_sends_again_only_what_it_had_not_recorded(
        world: World) -> None:
    """The console notification of a batch whose email hangs is recorded as sent while the
    email still waits: a process dying then (its task cancelled here, nothing written after)
    leaves only the email to the process that takes over after the lease (before, outcomes
    were written at the end of the batch: the notification went out twice — seen in the
    two-process test, where the survivor sent every console notification again)."""
    await tell(world, Outbox(channels=("email", "ws")), NotificationEvent(
        "sla_breach", world.ticket, "hang", user_ids=(world.alice,)))
    live, hang, fine = FakeLive(), SlowEmail(delay_s=3600), FakeEmail()
    skew = [timedelta(0)]

    def clock() -> datetime:
        return utcnow() + skew[0]

    d1 = Dispatcher(world.db, Ports(email=hang, live=live), lease_s=600, clock=clock)
    dying = asyncio.create_task(d1.run_once())
    for _ in range(100):  # until d1 wrote the notification's outcome (bounded: 10 s)
        if {r.channel: r.status for r in await rows(world)}.get("ws") == "sent":
            break
        await asyncio.sleep(0.1)
    dying.cancel()  # the process dies, the email still at its server
    with pytest.raises(asyncio.CancelledError):
        await dying
    skew[0] = timedelta(seconds=601)  # its lease is over
    d2 = Dispatcher(world.db, Ports(email=fine, live=live), clock=clock)
    assert await d2.run_once() == 1
    assert len(live.published) == 1 and len(fine.sent) == 1 and hang.sent == []
    assert {r.status for r in await rows(world)} == {"sent"}


async def test_released_tickets_tell_their_new_assignee(world: World) -> None:
    """``release_tickets`` (a disabled or long-paused agent) reassigns through the group's
    method, and the new assignee hears of it in the same transaction."""
    from tickets.models import Group, Ticket
    from tickets.routing.moves import release_tickets
    from tickets.routing.service import Router, RuleBook

    async with transaction(world.db) as s:
        group = await s.get(Group, world.group)
        assert group is not None
        group.assignment = "round_robin"
        ticket = await s.get(Ticket, world.ticket)
        assert ticket is not None
        ticket.assignee_id, ticket.status = world.bob, "assigned"
    async with transaction(world.db) as s:
        moved = await release_tickets(s, Router(RuleBook()), world.bob, "paused too long",
                                      notify=Outbox())
    assert [t.assignee_id for t in moved] == [world.alice]
    got = [(m.kind, m.channel, m.user_id) for m in await rows(world)]
    assert sorted(got) == [("ticket_assigned", "email", world.alice),
                           ("ticket_assigned", "ws", world.alice)]


async def test_purge_deletes_old_sent_messages_only(world: World) -> None:
    clock = Clock()
    await tell(world, Outbox(clock=clock), resolved(world))
    email = FakeEmail(down=True)
    d = dispatcher(world, clock, Ports(email=email, sms=FakeSms(), live=FakeLive()),
                   max_attempts=1)
    await d.run_once()  # ws and SMS sent, the email dead at once
    clock.advance(86400 * 31)
    assert await d.purge(30) == 2
    assert [(m.channel, m.status) for m in await rows(world)] == [("email", "dead")]
