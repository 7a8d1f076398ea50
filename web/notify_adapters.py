"""The notification channels' real adapters (ports in ``tickets.notify.delivery``).

SMTP through ``aiosmtplib`` (a small pool of kept connections); SMS and webhooks through
``httpx`` with a timeout; the console channel through the bus (the hub routes
``notification`` to the named users).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from email.message import Message
from email.utils import getaddresses, parseaddr
from typing import Any

import aiosmtplib
import httpx

from tickets.bus import TOPIC_TICKETS, Bus
from tickets.notify.policy import safe_url


class SmtpSender:
    """``EmailSender`` over SMTP (``aiosmtplib``). ``tls``: ``starttls``, ``ssl`` (implicit)
    or ``none``.

    Keeps up to ``pool_size`` connections open between messages: a new connection per
    message (TCP, greeting, EHLO, STARTTLS, AUTH, QUIT) cost most of the delivery's CPU. A
    pooled connection the server closed meanwhile is replaced once, transparently; any
    other failure closes the connection and raises (a failed attempt, retried later)."""

    def __init__(self, host: str, port: int, *, username: str | None = None,
                 password: str | None = None, tls: str = "starttls",
                 timeout_s: float = 30.0, pool_size: int = 4) -> None:
        self.host, self.port = host, port
        self.username, self.password = username or None, password or None
        self.tls = tls
        self.timeout_s = timeout_s
        self._idle: list[aiosmtplib.SMTP] = []
        self._slots = asyncio.Semaphore(pool_size)

    async def _connect(self) -> aiosmtplib.SMTP:
        client = aiosmtplib.SMTP(hostname=self.host, port=self.port,
                                 use_tls=self.tls == "ssl", start_tls=self.tls == "starttls",
                                 timeout=self.timeout_s)
        await client.connect()
        if self.username and self.password:
            await client.login(self.username, self.password)
        return client

    async def send(self, message: Message) -> None:
        # Flattened here with the message's own policy (aiosmtplib would refold its headers
        # at 78 characters, splitting a long Message-ID over two lines).
        raw = message.as_bytes(policy=message.policy.clone(linesep="\r\n"))
        sender = parseaddr(str(message["From"]))[1]
        recipients = [addr for _, addr in getaddresses([str(message["To"])]) if addr]
        async with self._slots:
            reused = bool(self._idle)
            client = self._idle.pop() if reused else await self._connect()
            try:
                try:
                    await client.sendmail(sender, recipients, raw)
                except aiosmtplib.SMTPServerDisconnected:
                    if not reused:
                        raise
                    _drop(client)
                    client = await self._connect()  # the server closed an idle one
                    await client.sendmail(sender, recipients, raw)
            except BaseException:
                _drop(client)
                raise
            self._idle.append(client)

    async def close(self) -> None:
        idle, self._idle = self._idle, []
        for client in idle:
            try:
                await client.quit()
            except aiosmtplib.SMTPException:
                _drop(client)


def _drop(client: aiosmtplib.SMTP) -> None:
    with contextlib.suppress(Exception):
        client.close()


def fill(template: Any, values: dict[str, str]) -> Any:
    """``template`` (parsed JSON) with ``{to}``, ``{text}``, ``{key}`` replaced inside its
    strings — after parsing, so a value can never break the JSON."""
    if isinstance(template, str):
        for name, value in values.items():
            template = template.replace("{" + name + "}", value)
        return template
    if isinstance(template, list):
        return [fill(v, values) for v in template]
    if isinstance(template, dict):
        return {fill(k, values): fill(v, values) for k, v in template.items()}
    return template


class HttpSms:
    """``SmsSender``: POST ``body_template`` (JSON with ``{to}``, ``{text}``, ``{key}``) to
    ``url`` with ``Authorization: Bearer <token>``; a non-2xx answer is a failure."""

    def __init__(self, url: str, token: str | None, body_template: str,
                 client: httpx.AsyncClient | None = None, timeout_s: float = 15.0) -> None:
        self.url = url
        self.token = token
        self.template = json.loads(body_template)
        self.client = client or httpx.AsyncClient(timeout=timeout_s)

    async def send(self, to: str, text: str, key: str) -> None:
        headers = {"X-Hotline-Delivery": key}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        resp = await self.client.post(self.url, json=fill(self.template, {
            "to": to, "text": text, "key": key}), headers=headers)
        resp.raise_for_status()

    async def close(self) -> None:
        await self.client.aclose()


class _NoQueryInHttpxLog(logging.Filter):
    """httpx logs every request line (``HTTP Request: POST <url> "HTTP/1.1 500 …"``) at
    INFO, query string and all; a webhook's query may hold an integrator's secret, so the
    URL is logged as scheme://host/path (:func:`safe_url`)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and record.args:
            record.args = tuple(safe_url(str(a)) if isinstance(a, httpx.URL) else a
                                for a in record.args)
        return True


_HTTPX_FILTER = _NoQueryInHttpxLog()


class HttpWebhook:
    """``WebhookSender``: POST the signed body; a non-2xx answer is a failure."""

    def __init__(self, client: httpx.AsyncClient | None = None, timeout_s: float = 15.0
                 ) -> None:
        self.client = client or httpx.AsyncClient(timeout=timeout_s)
        logging.getLogger("httpx").addFilter(_HTTPX_FILTER)  # once: a filter is a set member

    async def post(self, url: str, body: bytes, headers: dict[str, str]) -> None:
        """RuntimeError for a non-2xx answer, naming the status and the endpoint as
        scheme://host/path (``raise_for_status`` would name the whole URL, query and all)."""
        resp = await self.client.post(url, content=body, headers=headers)
        if not resp.is_success:
            raise RuntimeError(f"HTTP {resp.status_code} {resp.reason_phrase} from "
                               f"{safe_url(url)}")

    async def close(self) -> None:
        await self.client.aclose()


class BusLive:
    """``LiveSender``: the ``notification`` message on the tickets topic."""

    def __init__(self, bus: Bus) -> None:
        self.bus = bus

    async def publish(self, message: dict[str, Any]) -> None:
        await self.bus.publish(TOPIC_TICKETS, message)
