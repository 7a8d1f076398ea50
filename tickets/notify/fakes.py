"""In-memory fakes of the delivery ports, for tests: each records what it was given and
fails while ``down`` is set (a gateway outage)."""

from __future__ import annotations

from dataclasses import dataclass, field
from email.message import Message
from typing import Any


class Outage(ConnectionError):
    """What a fake raises while ``down``."""


@dataclass
class FakeEmail:
    sent: list[Message] = field(default_factory=list)
    down: bool = False

    async def send(self, message: Message) -> None:
        if self.down:
            raise Outage("smtp down")
        self.sent.append(message)


@dataclass
class FakeSms:
    sent: list[tuple[str, str, str]] = field(default_factory=list)
    down: bool = False

    async def send(self, to: str, text: str, key: str) -> None:
        if self.down:
            raise Outage("sms gateway down")
        self.sent.append((to, text, key))


@dataclass
class FakeWebhook:
    posted: list[tuple[str, bytes, dict[str, str]]] = field(default_factory=list)
    down: bool = False

    async def post(self, url: str, body: bytes, headers: dict[str, str]) -> None:
        if self.down:
            raise Outage("endpoint down")
        self.posted.append((url, body, headers))


@dataclass
class FakeLive:
    published: list[dict[str, Any]] = field(default_factory=list)

    async def publish(self, message: dict[str, Any]) -> None:
        self.published.append(message)
