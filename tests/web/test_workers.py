"""``hotline serve --workers N`` (web/workers.py): the refusals, the components claim, and a
real two-worker server on PostgreSQL and Redis, run as a user would run it."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets

from tests.support.servers import free_port
from web import workers
from web.app import build_services
from web.settings import Settings
from web.workers import ELSEWHERE, ComponentsClaim, ForwardLive, refusal

HOTLINE = [sys.executable, "-m", "web.cli"]
ROOT = Path(__file__).resolve().parents[2]


def _env(tmp_path: Path, **settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOTLINE_")}
    env["PYTHONPATH"] = str(ROOT)
    env["HOTLINE_DATA_DIR"] = str(tmp_path / "var")
    env.update({f"HOTLINE_{k.upper()}": v for k, v in settings.items()})
    return env


def test_refusal_names_what_is_missing() -> None:
    pg, redis = "postgresql://h/db", "redis://h"
    assert refusal(Settings(), 1) is None  # one process: anything goes, as before
    assert refusal(Settings(database_url=pg, redis_url=redis), 2) is None
    no_redis = refusal(Settings(database_url=pg), 2)
    assert no_redis is not None and "HOTLINE_REDIS_URL" in no_redis and "\n" not in no_redis
    sqlite = refusal(Settings(redis_url=redis), 3)
    assert sqlite is not None and "PostgreSQL" in sqlite and "HOTLINE_DATABASE_URL" in sqlite


@pytest.mark.parametrize(("settings", "names"), [
    ({}, "HOTLINE_REDIS_URL"),
    ({"redis_url": "redis://127.0.0.1:1"}, "HOTLINE_DATABASE_URL"),
    ({"workers": "2"}, "HOTLINE_REDIS_URL"),  # the setting alone asks for two as well
])
def test_serve_refuses_several_workers_it_cannot_run(tmp_path: Path, settings: dict[str, str],
                                                     names: str) -> None:
    cmd = [*HOTLINE, "serve", "--port", str(free_port())]
    if "workers" not in settings:
        cmd += ["--workers", "2"]
    done = subprocess.run(cmd, env=_env(tmp_path, **settings), cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    said = [line for line in done.stderr.splitlines() if line.startswith("hotline:")]
    assert len(said) == 1 and said[0].startswith("hotline: --workers 2 needs") \
        and names in said[0], done.stderr
    assert not (tmp_path / "hotline.db").exists()  # refused before migrating anything


def _echo(name: str) -> Any:
    """A tiny ASGI app answering ``{"by": name, "method", "path", "query", "body", "x",
    "scheme", "client"}`` (``x``: the request's ``X-Probe`` header, ``client`` its address)
    with status 207 and header ``X-By``."""

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = dict(scope["headers"])
        data = json.dumps({"by": name, "method": scope["method"], "path": scope["path"],
                           "query": scope["query_string"].decode(), "body": body.decode(),
                           "x": headers.get(b"x-probe", b"").decode(),
                           "scheme": scope["scheme"], "client": (scope.get("client") or [""])[0]
                           }).encode()
        await send({"type": "http.response.start", "status": 207,
                    "headers": [(b"content-type", b"application/json"), (b"x-by", name.encode())]})
        await send({"type": "http.response.body", "body": data})

    return app


async def test_one_claim_runs_the_components_serves_the_others_and_another_takes_over(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(workers, "CLAIM_INTERVAL_S", 0.02)
    started: list[str] = []
    stopped: list[str] = []

    async def start(services: Any) -> None:
        started.append(services.name)

    async def stop(services: Any) -> None:
        stopped.append(services.name)

    monkeypatch.setattr(workers, "start_components", start)
    monkeypatch.setattr(workers, "stop_components", stop)
    lock = workers.prepare(Settings(data_dir=tmp_path / "var"), tmp_path)
    assert (tmp_path / "var" / "secret_key").exists()  # made once, before the workers
    one, two = build_services(Settings()), build_services(Settings())
    one.name, two.name = "one", "two"  # type: ignore[attr-defined]
    first, second = ComponentsClaim(lock, one), ComponentsClaim(lock, two)
    await first.start(_echo("one"))
    await second.start(_echo("two"))
    assert (one.process_role, two.process_role) == ("components", "web")
    assert two.components_elsewhere and not one.components_elsewhere
    # The second worker's live-state requests are answered by the first, as they came.
    front = ForwardLive(_echo("two, itself"), second)
    # (as a TLS proxy's request reaches the worker: https, from the client's address)
    transport = httpx.ASGITransport(front, client=("203.0.113.7", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="https://hotline") as client:
        r = await client.post("/api/v1/calls/c-1.2/transfer?x=1", content=b'{"extension": "6002"}',
                              headers={"X-Probe": "p", "X-Forwarded-Proto": "gopher",
                                       "X-Forwarded-For": "6.6.6.6"})
        assert (r.status_code, r.headers["x-by"]) == (207, "one")
        assert r.json() == {"by": "one", "method": "POST", "path": "/api/v1/calls/c-1.2/transfer",
                            "query": "x=1", "body": '{"extension": "6002"}', "x": "p",
                            "scheme": "https", "client": "203.0.113.7"}
        assert (await client.get("/api/v1/pbx")).json()["by"] == "one"
        assert (await client.get("/api/v1/tickets")).json()["by"] == "two, itself"
        await asyncio.sleep(0.1)
        assert started == ["one"]  # the second keeps trying, in vain while the first holds it
        await first.stop()  # the holder exits: the other worker takes over
        for _ in range(200):
            if two.process_role == "components":
                break
            await asyncio.sleep(0.01)
        assert (started, stopped, two.process_role) == (["one", "two"], ["one"], "components")
        assert (await client.get("/api/v1/pbx")).json()["by"] == "two, itself"
    await second.stop()
    assert stopped == ["one", "two"]
    # A worker whose sibling does not answer (none here) says so: 503.
    three = build_services(Settings())
    orphan = ComponentsClaim(tmp_path / "elsewhere.lock", three)
    three.process_role = "web"
    async with httpx.AsyncClient(transport=httpx.ASGITransport(ForwardLive(_echo("x"), orphan)),
                                 base_url="http://hotline") as client:
        r = await client.get("/api/v1/calls/live")
        assert (r.status_code, r.json()) == (503, {"detail": ELSEWHERE})
    await orphan.stop()
    for services in (one, two, three):
        await services.engine.dispose()
        services.password_gate.close()


# -- a real server with two workers ----------------------------------------------------------

@pytest.fixture
def two_workers(pg_url: str, redis_url: str, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """``hotline serve --workers 2`` (demo PBX, no call of its own for an hour); yields its
    URL and its log file. No secret key is set: the one generated must serve both."""
    port, log = free_port(), tmp_path / "serve.log"
    env = _env(tmp_path, database_url=pg_url, redis_url=redis_url, demo_first_call_s="3600",
               demo_speed="20")
    with log.open("wb") as out:
        proc = subprocess.Popen([*HOTLINE, "serve", "--port", str(port), "--workers", "2"],
                                env=env, cwd=tmp_path, stdout=out, stderr=out)
    try:
        yield f"http://127.0.0.1:{port}", log
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture
async def pg_url(pg_factory: Any) -> str:
    return str(await pg_factory.new(demo=True))


class Workers:
    """Reaches a chosen worker: a new connection per attempt until /readyz (details for the
    admin) says it landed on that process; then the same keep-alive connection is used."""

    def __init__(self, url: str, admin: str) -> None:
        self.url, self.admin = url, {"Authorization": f"Bearer {admin}"}

    async def ready(self, client: httpx.AsyncClient) -> dict[str, Any]:
        r = await client.get("/readyz", headers=self.admin)
        assert r.status_code == 200, r.text
        return dict(r.json())

    async def all(self, n: int = 2) -> dict[int, dict[str, Any]]:
        """``{pid: /readyz}`` of every worker once ``n`` answered (100 connections at most)."""
        seen: dict[int, dict[str, Any]] = {}
        for _ in range(100):
            async with httpx.AsyncClient(base_url=self.url) as client:
                report = await self.ready(client)
            seen[report["process"]["pid"]] = report
            if len(seen) == n:
                return seen
        raise AssertionError(f"only workers {sorted(seen)} answered")

    @asynccontextmanager
    async def on(self, pid: int) -> AsyncIterator[httpx.AsyncClient]:
        for _ in range(100):
            async with httpx.AsyncClient(base_url=self.url) as client:
                if (await self.ready(client))["process"]["pid"] == pid:
                    yield client
                    return
        raise AssertionError(f"worker {pid} never answered")


def _text(log: Path) -> str:
    return log.read_text()


async def _up(url: str, log: Path) -> None:
    deadline = time.monotonic() + 30
    async with httpx.AsyncClient(base_url=url) as client:
        while time.monotonic() < deadline:
            try:
                if (await client.get("/healthz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    raise AssertionError(f"hotline serve did not start:\n{_text(log)[-3000:]}")


async def _login(client: httpx.AsyncClient, username: str) -> str:
    r = await client.post("/api/v1/auth/login", json={"username": username, "password": "demo"})
    assert r.status_code == 200, r.text
    return str(r.json()["access_token"])


async def _recv(ws: Any, kind: str, within: float = 10.0) -> dict[str, Any]:
    async with asyncio.timeout(within):
        while True:
            msg = json.loads(await ws.recv())
            if msg.get("type") == kind:
                return dict(msg)


async def test_two_workers_share_logins_events_and_one_pbx(
        two_workers: tuple[str, Path]) -> None:
    url, log = two_workers
    await _up(url, log)
    async with httpx.AsyncClient(base_url=url) as client:
        admin = await _login(client, "admin")
        login_pid = (await Workers(url, admin).ready(client))["process"]["pid"]
    reach = Workers(url, admin)
    # Both processes serve, and the admin's token (logged in on one) holds on both.
    reports = await reach.all()
    assert login_pid in reports
    roles = {pid: r["process"]["role"] for pid, r in reports.items()}
    assert sorted(roles.values()) == ["components", "web"], reports
    bridge = next(pid for pid, role in roles.items() if role == "components")
    web = next(pid for pid, role in roles.items() if role == "web")
    # One PBX bridge (to one demo PBX), in one process; the other says it has none.
    assert [p["name"] for p in reports[bridge]["pbx"]] == ["demo"]
    assert reports[web]["pbx"] == [] and all(r["bus"]["ok"] for r in reports.values())
    assert _text(log).count("demo PBX on 127.0.0.1") == 1
    for pid in (web, bridge):  # the live state is the bridge's, from either worker
        async with reach.on(pid) as client:
            r = await client.get("/api/v1/pbx", headers=reach.admin)
            assert r.status_code == 200 and r.json()["demo"] is True, r.text
            assert r.json()["connected"] is True
            # Forwarded as it came: without the login it is refused there too.
            assert (await client.get("/api/v1/pbx")).status_code == 401
    # One log line per request, forwarded or not (no httpx line, none from the socket).
    assert _text(log).count("/api/v1/pbx") == 4, _text(log)[-3000:]

    # alice's consoles: one on each worker (a new socket until both are covered).
    async with httpx.AsyncClient(base_url=url) as client:
        alice = await _login(client, "alice")
    consoles: dict[int, Any] = {}
    sockets: list[Any] = []

    async def counts() -> dict[int, int]:
        return {pid: r["websockets"]["connections"] for pid, r in (await reach.all()).items()}

    try:
        # The kernel picks the accepting worker: a new socket until each worker holds one
        # (one that lands where a console already is, is closed again).
        for _ in range(60):
            before = await counts()
            ws = await websockets.connect(f"{url.replace('http', 'ws')}/ws?token={alice}")
            await _recv(ws, "hello")
            after = await counts()
            landed = [p for p in after if after[p] > before[p]]
            assert len(landed) == 1, (before, after)
            pid = landed[0]
            if pid in consoles:
                await ws.close()
                for _ in range(100):  # until that worker has let go of it
                    if (await counts())[pid] == before[pid]:
                        break
                    await asyncio.sleep(0.05)
                continue
            consoles[pid] = ws
            sockets.append(ws)
            if len(consoles) == 2:
                break
        assert set(consoles) == {bridge, web}, "60 sockets all landed on one worker"

        # A ticket written on the web worker reaches alice's console on the other worker.
        async with reach.on(web) as client:
            r = await client.post("/api/v1/tickets", headers={"Authorization": f"Bearer {alice}"},
                                  json={"title": "across processes", "assignee": "alice"})
            assert r.status_code == 201, r.text
        for pid in (bridge, web):
            got = await _recv(consoles[pid], "ticket_created")
            assert got["ticket"]["title"] == "across processes"
        # A call rung through the web worker (forwarded to the demo PBX in the bridge's
        # process) pops on both consoles, the web worker's through Redis.
        async with reach.on(web) as client:
            r = await client.post("/api/v1/demo/calls", headers=reach.admin,
                                  json={"to": "6001", "scenario": "answered"})
            assert r.status_code == 202, r.text
        for pid in (web, bridge):
            pop = await _recv(consoles[pid], "screen_pop", within=15)
            assert pop["extension"] == "6001" and pop["call_id"]
    finally:
        for ws in sockets:
            await ws.close()
