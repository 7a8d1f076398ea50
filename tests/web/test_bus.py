"""The in-process bus and the Redis bus (real redis-server), including Redis going away."""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
import subprocess
import time
from collections.abc import Iterator

import pytest

from tests.support.servers import free_port
from tickets.bus import InProcessBus
from web.bus import RedisBus


async def _next(sub, within: float = 5.0):  # type: ignore[no-untyped-def]
    it = sub.__aiter__()
    return await asyncio.wait_for(it.__anext__(), within)


async def test_in_process_bus_routes_by_topic() -> None:
    bus = InProcessBus()
    calls, asr = bus.subscribe("calls"), bus.subscribe("asr", "calls")
    await bus.publish("calls", {"type": "x", "n": 1})
    await bus.publish("asr", {"type": "y"})
    assert await _next(calls) == ("calls", {"type": "x", "n": 1})
    assert await _next(asr) == ("calls", {"type": "x", "n": 1})
    assert await _next(asr) == ("asr", {"type": "y"})
    assert calls.queue.empty()
    await bus.close()


async def test_in_process_bus_drops_for_a_stuck_subscriber_only() -> None:
    bus = InProcessBus(queue_size=3)
    stuck, live = bus.subscribe("t"), bus.subscribe("t")
    for i in range(5):
        await bus.publish("t", {"i": i})
        assert await _next(live) == ("t", {"i": i})
    assert stuck.dropped == 2 and stuck.queue.qsize() == 3


async def test_redis_bus_crosses_processes(redis_url: str) -> None:
    a, b = RedisBus(redis_url), RedisBus(redis_url)
    await a.start()
    await b.start()
    try:
        sub = b.subscribe("calls")
        for _ in range(100):
            if b.connected and a.connected:
                break
            await asyncio.sleep(0.05)
        await a.publish("calls", {"type": "screen_pop", "caller_number": "+8613800138000",
                                  "name": "张伟"})
        topic, event = await _next(sub)
        assert topic == "calls" and event["name"] == "张伟"
        assert b.state()["ok"] is True
    finally:
        await a.close()
        await b.close()


async def test_installs_on_other_redis_databases_do_not_hear_each_other(
        redis_url: str) -> None:
    # Pub/sub ignores the database number: a staging install on /2 sharing production's
    # Redis must still not receive production's pops (customer data).
    base = redis_url.rsplit("/", 1)[0]
    prod, prod_peer, staging = (RedisBus(f"{base}/1"), RedisBus(f"{base}/1"),
                                RedisBus(f"{base}/2"))
    for bus in (prod, prod_peer, staging):
        await bus.start()
    try:
        heard_by_peer = prod_peer.subscribe("calls")
        heard_by_staging = staging.subscribe("calls")
        for _ in range(100):
            if prod.connected and prod_peer.connected and staging.connected:
                break
            await asyncio.sleep(0.05)
        await prod.publish("calls", {"type": "screen_pop", "caller_number": "+8613800138000"})
        _, event = await _next(heard_by_peer)
        assert event["caller_number"] == "+8613800138000"
        with pytest.raises(TimeoutError):  # had it crossed, staging would have it by now
            await _next(heard_by_staging, within=0.3)
    finally:
        for bus in (prod, prod_peer, staging):
            await bus.close()


class _Redis:
    """A redis-server of the test's own, to kill, freeze (SIGSTOP) and restart."""

    def __init__(self, tmp_path) -> None:  # type: ignore[no-untyped-def]
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.cmd = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
                    "--save", "", "--appendonly", "no", "--dir", str(tmp_path)]
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(self.cmd, stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.02)
        raise RuntimeError("redis-server did not start")

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.send_signal(signal.SIGCONT)  # a frozen server cannot die otherwise
            self.proc.kill()
            self.proc.wait(5)
            self.proc = None

    def freeze(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGCONT)


@pytest.fixture
def own_redis(tmp_path) -> Iterator[_Redis]:  # type: ignore[no-untyped-def]
    server = _Redis(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.kill()


async def _until(condition, within: float = 15.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


async def _drain(sub, within: float = 0.3) -> list:  # type: ignore[no-untyped-def]
    """Every event ``sub`` receives until it is quiet for ``within`` seconds."""
    got = []
    while True:
        try:
            got.append(await _next(sub, within))
        except TimeoutError:
            return got


async def test_own_events_are_delivered_once(redis_url: str) -> None:
    """Local subscribers get this process's event at once, and not again from Redis."""
    a, b = RedisBus(redis_url), RedisBus(redis_url)
    await a.start()
    await b.start()
    try:
        mine, theirs = a.subscribe("calls"), b.subscribe("calls")
        await _until(lambda: a.connected and b.connected)
        for i in range(3):
            await a.publish("calls", {"type": "x", "i": i})
        assert [e["i"] for _t, e in await _drain(theirs)] == [0, 1, 2]
        assert [e["i"] for _t, e in await _drain(mine)] == [0, 1, 2]
        assert a.state()["sent"] == 3 and b.state()["received"] == 3
    finally:
        await a.close()
        await b.close()


def test_a_repeated_envelope_is_dropped() -> None:
    """A PUBLISH retried after a timeout may reach Redis twice: receivers keep one."""
    bus = RedisBus("redis://127.0.0.1:1/0")
    raw = b'{"o":"other","s":7,"e":{"type":"x"}}'
    assert bus._accept(raw) == {"type": "x"}
    assert bus._accept(raw) is None and bus.counters["duplicates"] == 1
    assert bus._accept(b'{"o":"other","s":8,"e":{"type":"y"}}') == {"type": "y"}
    assert bus._accept(f'{{"o":"{bus.origin}","s":9,"e":{{}}}}'.encode()) is None
    assert bus._accept(b'{"type":"bare"}') == {"type": "bare"}  # an older publisher


async def test_redis_killed_degrades_and_recovers(own_redis: _Redis) -> None:
    bus, other = RedisBus(own_redis.url), RedisBus(own_redis.url)
    await bus.start()
    await other.start()
    try:
        sub, remote = bus.subscribe("calls"), other.subscribe("calls")
        await _until(lambda: bus.connected and other.connected)
        own_redis.kill()
        started = time.perf_counter()
        await bus.publish("calls", {"type": "while_down"})  # must not raise nor wait
        assert time.perf_counter() - started < 0.05
        assert await _next(sub) == ("calls", {"type": "while_down"})
        await _until(lambda: bus.state()["degraded"])
        assert bus.state()["ok"] is False and bus.state()["last_error"]
        own_redis.start()
        await _until(lambda: bus.connected and other.connected, within=30)
        await bus.publish("calls", {"type": "after"})
        assert await _drain(sub) == [("calls", {"type": "after"})]  # once, not twice
        # The other process gets what waited in the outbox, then the new one, once each.
        assert [e["type"] for _t, e in await _drain(remote, 1.0)] == ["while_down", "after"]
        assert bus.state()["outbox"] == 0 and not bus.state()["degraded"]
    finally:
        await bus.close()
        await other.close()


async def test_frozen_redis_never_holds_a_publisher(own_redis: _Redis,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    """SIGSTOP: publishing stays instant, the outbox keeps order and its bound, and after
    SIGCONT another process receives the backlog in order without duplicates."""
    bus = RedisBus(own_redis.url, outbox_size=50, publish_timeout=0.5)
    other = RedisBus(own_redis.url)
    await bus.start()
    await other.start()
    try:
        sub, remote = bus.subscribe("tickets"), other.subscribe("tickets")
        await _until(lambda: bus.connected and other.connected)
        own_redis.freeze()
        slowest = 0.0
        with caplog.at_level(logging.WARNING, logger="web.bus"):
            for i in range(80):
                started = time.perf_counter()
                await bus.publish("tickets", {"type": "t", "i": i})
                slowest = max(slowest, time.perf_counter() - started)
                if i == 0:
                    await _until(lambda: bus.state()["degraded"], within=10)
        assert slowest < 0.05, f"a publish waited {slowest:.3f} s for a frozen Redis"
        assert [e["i"] for _t, e in await _drain(sub)] == list(range(80))
        state = bus.state()
        assert state["outbox"] <= 50 and state["dropped"] >= 29
        drop_lines = [r for r in caplog.records if "was dropped" in r.getMessage()]
        assert 1 <= len(drop_lines) <= 2, [r.getMessage() for r in drop_lines]
        own_redis.thaw()
        await _until(lambda: bus.state()["outbox"] == 0 and bus.connected, within=30)
        got = [e["i"] for _t, e in await _drain(remote, 1.5)]
        assert got == sorted(set(got)), "out of order or duplicated"
        assert got[-1] == 79 and len(got) >= 50
        assert await _drain(sub) == []  # nothing came twice locally
    finally:
        await bus.close()
        await other.close()


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_app_runs_on_redis_bus(new_db, tmp_path, redis_url: str) -> None:  # type: ignore[no-untyped-def]
    from tests.conftest import login, make_settings, running_app

    async with running_app(make_settings(await new_db(), tmp_path, redis_url=redis_url)) as (
            _app, client):
        headers = await login(client, "admin")
        for _ in range(100):
            ready = (await client.get("/readyz", headers=headers)).json()
            if ready["bus"]["ok"]:
                break
            await asyncio.sleep(0.05)
        assert ready["bus"]["kind"] == "redis" and ready["bus"]["ok"] is True


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_ticket_writes_do_not_wait_for_a_frozen_redis(
        new_db, tmp_path, own_redis: _Redis) -> None:  # type: ignore[no-untyped-def]
    """Issue #9: with Redis frozen (SIGSTOP) a ticket write took 5.1 s, waiting for the
    publish. Now it takes what the database takes; this process's consoles still hear of
    it; /readyz says degraded; after SIGCONT another process gets the events."""
    from tests.conftest import login, make_settings, running_app

    settings = make_settings(await new_db(), tmp_path, redis_url=own_redis.url)
    async with running_app(settings) as (app, client):
        bus = app.state.services.bus
        other = RedisBus(own_redis.url)  # another Hotline process on the same Redis
        await other.start()
        try:
            await _until(lambda: bus.connected and other.connected)
            h = await login(client, "alice")
            local, remote = bus.subscribe("tickets"), other.subscribe("tickets")

            async def write(title: str) -> float:
                started = time.perf_counter()
                resp = await client.post("/api/v1/tickets", headers=h, json={"title": title})
                assert resp.status_code == 201, resp.text
                return time.perf_counter() - started

            normal = sorted([await write(f"normal {i}") for i in range(5)])
            await _drain(local)
            await _drain(remote)
            own_redis.freeze()
            frozen = sorted([await write(f"frozen {i}") for i in range(10)])
            print(f"ticket write, Redis up: median {normal[2] * 1000:.1f} ms; "
                  f"Redis frozen: median {frozen[5] * 1000:.1f} ms, max {frozen[-1] * 1000:.1f} ms")
            # The old behaviour was >= the 5 s socket timeout per write; the DB alone is ms.
            assert frozen[5] < max(0.1, 3 * normal[2]), (normal, frozen)
            assert frozen[-1] < 1.0, frozen
            heard = [e["ticket"]["title"] for _t, e in await _drain(local)
                     if e["type"] == "ticket_created"]
            assert heard == [f"frozen {i}" for i in range(10)]
            await _until(lambda: bus.state()["degraded"], within=10)
            sue = await login(client, "sue")  # /readyz details: supervisors and admins
            ready = (await client.get("/readyz", headers=sue)).json()
            assert ready["status"] == "ready" and ready["bus"]["degraded"] is True
            metrics = (await client.get("/metrics", headers=sue)).text
            assert "hotline_bus_degraded 1.0" in metrics
            own_redis.thaw()
            await _until(lambda: bus.connected and bus.state()["outbox"] == 0, within=30)
            got = [e["ticket"]["title"] for _t, e in await _drain(remote, 1.5)
                   if e["type"] == "ticket_created"]
            assert got == [f"frozen {i}" for i in range(10)]  # in order, once each
            assert (await client.get("/readyz", headers=sue)).json()["bus"]["degraded"] is False
        finally:
            await other.close()
