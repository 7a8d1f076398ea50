"""The notification channels' real adapters (ports in ``tickets.notify.delivery``).

SMTP through ``aiosmtplib`` (a connection per message: simple, and a dead server costs one
failed attempt, not a stuck session); SMS and webhooks through ``httpx`` with a timeout; the
console channel through the bus (the hub routes ``notification`` to the named users).
"""

from __future__ import annotations

import json
from email.message import EmailMessage
from typing import Any

import aiosmtplib
import httpx

from tickets.bus import TOPIC_TICKETS, Bus


class SmtpSender:
    """``EmailSender`` over SMTP. ``tls``: ``starttls``, ``ssl`` (implicit) or ``none``."""

    def __init__(self, host: str, port: int, *, username: str | None = None,
                 password: str | None = None, tls: str = "starttls",
                 timeout_s: float = 30.0) -> None:
        self.host, self.port = host, port
        self.username, self.password = username or None, password or None
        self.tls = tls
        self.timeout_s = timeout_s

    async def send(self, message: EmailMessage) -> None:
        await aiosmtplib.send(message, hostname=self.host, port=self.port,
                              username=self.username, password=self.password,
                              use_tls=self.tls == "ssl", start_tls=self.tls == "starttls",
                              timeout=self.timeout_s)


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


class HttpWebhook:
    """``WebhookSender``: POST the signed body; a non-2xx answer is a failure."""

    def __init__(self, client: httpx.AsyncClient | None = None, timeout_s: float = 15.0
                 ) -> None:
        self.client = client or httpx.AsyncClient(timeout=timeout_s)

    async def post(self, url: str, body: bytes, headers: dict[str, str]) -> None:
        resp = await self.client.post(url, content=body, headers=headers)
        resp.raise_for_status()

    async def close(self) -> None:
        await self.client.aclose()


class BusLive:
    """``LiveSender``: the ``notification`` message on the tickets topic."""

    def __init__(self, bus: Bus) -> None:
        self.bus = bus

    async def publish(self, message: dict[str, Any]) -> None:
        await self.bus.publish(TOPIC_TICKETS, message)
