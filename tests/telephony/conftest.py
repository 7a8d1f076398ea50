"""Fixtures for telephony tests: the fake Asterisk over real TCP and a wired Telephony."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from telephony import InMemoryCallDirectory, PbxConfig, Telephony
from telephony.simulator import FakeAsterisk
from tickets.bus import TOPIC_ASR, TOPIC_CALLS, TOPIC_PBX, TOPIC_QUEUES, InProcessBus

CUSTOMERS = {
    "+15551230001": {"id": 1, "name": "Jane Doe"},
    "+15551230002": {"id": 2, "name": "John Roe"},
    "+15551230005": {"id": 5, "name": "Eve Moe"},
}
TICKETS = {1: [{"id": 11, "number": "T-11", "title": "Broken kettle", "status": "open",
                "created_at": "2026-11-20T10:00:00+00:00"}]}

#: Quick reconnects, but a watchdog and login that a loaded CI machine (tests run two at a
#: time) cannot trip by being slow for a second: an unexpected reconnect breaks the counts
#: the fault tests assert. Tests of the watchdog itself set their own timeouts.
FAST = {"ping_interval": 1.0, "ping_timeout": 3.0, "backoff_min": 0.01, "backoff_max": 0.05,
        "connect_timeout": 3.0, "login_timeout": 3.0, "resync_timeout": 3.0,
        "action_timeout": 1.0}


class Recorder:
    """Collects every bus event (all topics) in order."""

    def __init__(self, bus: InProcessBus) -> None:
        self.sub = bus.subscribe(TOPIC_CALLS, TOPIC_QUEUES, TOPIC_PBX, TOPIC_ASR)
        self.events: list[tuple[str, dict[str, Any]]] = []
        self.task = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        async for topic, event in self.sub:
            self.events.append((topic, event))

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [e for _, e in self.events if e.get("type") == kind]

    async def wait_for(self, pred: Callable[[dict[str, Any]], bool],
                       within: float = 5.0) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while True:
            for _, e in self.events:
                if pred(e):
                    return e
            if loop.time() > deadline:
                raise TimeoutError("expected bus event did not come")
            await asyncio.sleep(0.005)

    async def close(self) -> None:
        await self.sub.close()
        self.task.cancel()


class Rig:
    def __init__(self, server: FakeAsterisk, tel: Telephony, directory: InMemoryCallDirectory,
                 rec: Recorder) -> None:
        self.server = server
        self.tel = tel
        self.directory = directory
        self.rec = rec

    @property
    def bridge(self):
        return self.tel.bridges["pbx1"]

    async def settle(self) -> None:
        """Wait until the bridge has processed and executed everything received."""
        await asyncio.sleep(0.02)
        await self.bridge.drain()
        await asyncio.sleep(0.01)

    async def wait_idle(self, within: float = 5.0) -> None:
        """Wait until the tracker holds no live call (and everything is flushed)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while self.bridge.tracker.calls or not self.bridge._resynced.is_set():
            if loop.time() > deadline:
                raise TimeoutError(f"calls still live: {list(self.bridge.tracker.calls)}")
            await asyncio.sleep(0.01)
        await self.settle()

    def pops(self) -> list[dict[str, Any]]:
        return self.rec.of("screen_pop")


@pytest.fixture
async def rig_factory() -> AsyncIterator[Callable[..., Any]]:
    made: list[Rig] = []

    async def make(secret: str = "bridgepass", connect: bool = True, region: str = "US",
                   customers: dict[str, dict[str, Any]] | None = None, **opts: Any) -> Rig:
        server = FakeAsterisk()
        await server.start()
        bus = InProcessBus()
        directory = InMemoryCallDirectory(customers={**CUSTOMERS, **(customers or {})},
                                          tickets=dict(TICKETS))
        rec = Recorder(bus)
        tel = Telephony([PbxConfig("pbx1", "127.0.0.1", server.port, "bridge", secret)],
                        bus, directory, region, **{**FAST, **opts})
        rig = Rig(server, tel, directory, rec)
        made.append(rig)
        await tel.start()
        if connect:
            await server.wait_logged_in()
            await asyncio.wait_for(rig.bridge._resynced.wait(), 5)
        return rig

    yield make
    for rig in made:
        await rig.tel.stop()
        await rig.server.stop()
        await rig.rec.close()


@pytest.fixture
async def rig(rig_factory: Callable[..., Any]) -> Rig:
    return await rig_factory()
