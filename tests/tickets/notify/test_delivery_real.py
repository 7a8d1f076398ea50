"""Delivery against real servers, on both backends, time advanced through the injected clock
(never slept): an SMTP outage of 30 s (aiosmtpd stopped, then started again) loses no email
and sends none twice; an SMS reaches a local HTTP gateway with its bearer token and body
template; a webhook is signed (HMAC verified) and retried after a 500."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from email import message_from_bytes, policy
from typing import Any

import pytest
import uvicorn
from aiosmtpd.controller import Controller
from fastapi import FastAPI, Request, Response
from sqlalchemy import select

from tests.support.servers import free_port
from tests.tickets.notify.conftest import Clock, World
from tickets.db import transaction
from tickets.notify.delivery import Dispatcher, Ports
from tickets.notify.events import NotificationEvent
from tickets.notify.models import OutboxMessage, WebhookSubscription
from tickets.notify.outbox import Outbox
from web.notify_adapters import HttpSms, HttpWebhook, SmtpSender

pytestmark = pytest.mark.pg


class Inbox:
    """aiosmtpd handler keeping every message."""

    def __init__(self) -> None:
        self.messages: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
        return "250 OK"


async def breaches(w: World, clock: Clock, n: int, first: int = 0) -> None:
    async with transaction(w.db) as s:
        for i in range(first, first + n):
            await Outbox(channels=("email",), clock=clock)(s, NotificationEvent(
                "sla_breach", w.ticket, f"breach:{i}", user_ids=(w.alice,),
                data={"target": "resolution"}))


async def test_smtp_outage_of_30_s_loses_nothing_and_sends_nothing_twice(
        world: World) -> None:
    clock = Clock()
    port = free_port()
    inbox = Inbox()
    smtp = Controller(inbox, hostname="127.0.0.1", port=port)
    smtp.start()
    d = Dispatcher(world.db, Ports(email=SmtpSender("127.0.0.1", port, tls="none",
                                                    timeout_s=5)),
                   clock=clock, rand=lambda: 0.0, mail_from="Hotline <hl@hl.test>",
                   mail_domain="hl.test")
    await breaches(world, clock, 2)
    assert await d.run_once() == 2
    smtp.stop()  # the outage starts
    await breaches(world, clock, 5, first=2)
    await breaches(world, clock, 2)  # told again: nothing new
    for _ in range(7):  # 30 s of outage, a pass every 5 s
        assert await d.run_once() == 0
        clock.advance(5)
    smtp = Controller(inbox, hostname="127.0.0.1", port=port)
    smtp.start()  # back
    try:
        for _ in range(24):  # the next attempts come 40 s, 80 s … after the first
            await d.run_once()
            clock.advance(5)
    finally:
        smtp.stop()
    keys = [m["X-Hotline-Delivery"] for m in inbox.messages]
    assert len(keys) == 7 == len(set(keys))  # all of them, each once
    async with world.db() as s:
        states = (await s.scalars(select(OutboxMessage.status))).all()
    assert set(states) == {"sent"}
    first = inbox.messages[0]
    assert first["From"] == "Hotline <hl@hl.test>"
    assert first["To"] == "alice@example.com"
    assert first["Subject"].startswith(f"[T-{world.ticket:06d}] SLA breached")
    assert first["Message-ID"] == f"<hotline.T-{world.ticket:06d}.{keys[0]}@hl.test>"
    assert first["In-Reply-To"] == f"<hotline.T-{world.ticket:06d}@hl.test>"


class Endpoint:
    """A local HTTP server (uvicorn) answering with ``codes`` in turn, then 200."""

    def __init__(self, codes: list[int]) -> None:
        self.codes = codes
        self.requests: list[tuple[str, dict[str, str], bytes]] = []
        self.port = free_port()
        app = FastAPI()

        @app.post("/{path:path}")
        async def take(path: str, request: Request) -> Response:
            self.requests.append((path, dict(request.headers), await request.body()))
            return Response(status_code=self.codes.pop(0) if self.codes else 200)

        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port,
                                                    log_level="warning", lifespan="off"))

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@pytest.fixture
async def endpoint() -> AsyncIterator[Endpoint]:
    ep = Endpoint([500])
    task = asyncio.create_task(ep.server.serve())
    while not ep.server.started:
        await asyncio.sleep(0.01)
    yield ep
    ep.server.should_exit = True
    await task


async def test_sms_and_webhook_reach_local_http_endpoints(world: World,
                                                          endpoint: Endpoint) -> None:
    async with transaction(world.db) as s:
        s.add(WebhookSubscription(url=f"{endpoint.url}/crm", secret="hook-secret-123456",
                                  kinds=[], active=True))
    clock = Clock()
    async with transaction(world.db) as s:
        await Outbox(channels=("sms", "webhook"), clock=clock)(s, NotificationEvent(
            "status_changed", world.ticket, "resolved:1", data={"status": "resolved"}))
    sms = HttpSms(f"{endpoint.url}/sms", "sms-token",
                  '{"mobile": "{to}", "content": "{text}", "ref": "{key}", "sign": "Hotline"}')
    hook = HttpWebhook()
    d = Dispatcher(world.db, Ports(sms=sms, webhook=hook), clock=clock, rand=lambda: 0.0)
    try:
        first = await d.run_once()  # the first of the two requests gets the 500
        clock.advance(2.5)  # backoff 5 s with no jitter: half of it
        second = await d.run_once()
        clock.advance(100)
        third = await d.run_once()
    finally:
        await sms.close()
        await hook.close()
    assert (first, second, third) == (1, 1, 0)
    paths = [p for p, _, _ in endpoint.requests]
    assert set(paths) == {"sms", "crm"} and len(paths) == 3
    assert paths.count(paths[0]) == 2  # the one answered 500 came again, the other once
    _, headers, body = next(r for r in endpoint.requests if r[0] == "sms")
    assert headers["authorization"] == "Bearer sms-token"
    sent = json.loads(body)
    assert sent["mobile"] == "+8613812345678" and sent["sign"] == "Hotline"
    assert sent["content"].startswith("【Hotline】") and sent["ref"]
    _, headers, body = [r for r in endpoint.requests if r[0] == "crm"][-1]
    mac = hmac.new(b"hook-secret-123456", headers["x-hotline-timestamp"].encode() + b"." + body,
                   hashlib.sha256).hexdigest()
    assert headers["x-hotline-signature"] == f"sha256={mac}"
    assert json.loads(body)["kind"] == "status_changed"


async def test_a_failed_webhook_names_no_query_secret(world: World, endpoint: Endpoint,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    """A 500 from the endpoint: ``last_error`` and the log line name scheme://host/path,
    never the URL's query string (an integrator's key may be in it)."""
    async with transaction(world.db) as s:
        s.add(WebhookSubscription(url=f"{endpoint.url}/crm?sig=Zq9-s3cr3t-Value",
                                  secret="hook-secret-123456", kinds=[], active=True))
    clock = Clock()
    async with transaction(world.db) as s:
        await Outbox(channels=("webhook",), clock=clock)(s, NotificationEvent(
            "status_changed", world.ticket, "resolved:1", data={"status": "resolved"}))
    hook = HttpWebhook()
    d = Dispatcher(world.db, Ports(webhook=hook), clock=clock, rand=lambda: 0.0)
    try:
        with caplog.at_level("INFO"):
            assert await d.run_once() == 0
    finally:
        await hook.close()
    async with transaction(world.db) as s:
        row = (await s.scalars(select(OutboxMessage).where(
            OutboxMessage.channel == "webhook"))).one()
    assert row.last_error is not None and f"{endpoint.url}/crm" in row.last_error
    assert "500" in row.last_error
    assert "Zq9" not in row.last_error and "sig=" not in row.last_error
    warned = [r.getMessage() for r in caplog.records if "attempt" in r.getMessage()]
    assert warned and f"{endpoint.url}/crm" in warned[0]
    assert not any("Zq9" in r.getMessage() for r in caplog.records)
