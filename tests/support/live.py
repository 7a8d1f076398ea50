"""The live server: a real uvicorn on 127.0.0.1 running the real app (``web.app.create_app``)
over a migrated SQLite database with the demo data, and its fixtures.

The server runs in its own thread and event loop, like a separate process would, but the
tests can still reach its in-process bus to publish the events the telephony and ASR parts
publish in production. The web tests (pages, /ws, the calls API) and the browser tests both
drive it, so the fixtures are registered for the whole suite by tests/conftest.py
(``pytest_plugins``); the Chromium fixtures are in tests/browser/conftest.py.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from tests.support.db import SqliteFactory
from tests.support.servers import free_port
from web.app import create_app
from web.settings import Settings

SECRET = "console-test-secret-0123456789abcdef"


class LiveServer:
    """uvicorn serving ``app`` in a thread with its own loop."""

    def __init__(self, app: Any, ws_ping: float | None = None) -> None:
        self.app = app
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.ws_url = f"ws://127.0.0.1:{self.port}/ws"
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning",
                                lifespan="on", ws_ping_interval=ws_ping, ws_max_queue=64,
                                # a connection a test left open must not hold the suite's
                                # end (uvicorn otherwise waits for it, here up to the join's 15 s)
                                timeout_graceful_shutdown=2)
        self.server = uvicorn.Server(config)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._run, name="live-server", daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self.server.serve())

    def start(self) -> None:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("live server did not start")
            time.sleep(0.02)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(15)

    @property
    def services(self) -> Any:
        return self.app.state.services

    def call(self, coro: Any, timeout: float = 10.0) -> Any:
        """Run a coroutine on the server's loop (e.g. a bus publish) and return its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    async def publish(self, topic: str, event: dict[str, Any]) -> None:
        fut = asyncio.run_coroutine_threadsafe(self.services.bus.publish(topic, event),
                                               self.loop)
        await asyncio.wrap_future(fut)

    async def login(self, username: str, password: str = "demo") -> str:
        async with httpx.AsyncClient(base_url=self.url) as client:
            r = await client.post("/api/v1/auth/login",
                                  json={"username": username, "password": password})
            r.raise_for_status()
            return str(r.json()["access_token"])


@pytest.fixture(scope="session")
def console_tmp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("console")


@pytest.fixture(scope="session")
async def demo_db_url(console_tmp: Path) -> str:
    return await SqliteFactory(console_tmp).new(demo=True)


@pytest.fixture(scope="session")
def live_server(demo_db_url: str, console_tmp: Path) -> Iterator[LiveServer]:
    """One server for the web and browser tests (they use distinct calls, so they don't collide)."""
    settings = Settings(database_url=demo_db_url, data_dir=console_tmp / "var",
                        secret_key=SECRET, ami_url="off")
    server = LiveServer(create_app(settings))
    server.start()
    yield server
    server.stop()


@pytest.fixture
async def http(live_server: LiveServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=live_server.url) as client:
        yield client


@pytest.fixture(scope="session")
async def fake_pbx() -> AsyncIterator[Any]:
    """The telephony tests' fake Asterisk (real TCP, replays the real AMI captures)."""
    from telephony.simulator import FakeAsterisk

    fake = FakeAsterisk()
    await fake.start()
    try:
        yield fake
    finally:
        await fake.stop()


@pytest.fixture(scope="session")
async def pbx_server(fake_pbx: Any, console_tmp: Path) -> AsyncIterator[LiveServer]:
    """A second live server whose AMI bridge is connected to ``fake_pbx``.

    The fake runs on the tests' loop and the server on its own: they only meet over TCP.
    """
    root = console_tmp / "pbx"
    root.mkdir()
    url = await SqliteFactory(root).new(demo=True)
    settings = Settings(database_url=url, data_dir=root / "var", secret_key=SECRET,
                        ami_url=f"ami://bridge:bridgepass@127.0.0.1:{fake_pbx.port}?name=pbx1")
    server = LiveServer(create_app(settings))
    await asyncio.to_thread(server.start)  # the fake must keep serving while it starts
    await fake_pbx.wait_logged_in(1, within=15)
    try:
        yield server
    finally:
        await asyncio.to_thread(server.stop)
