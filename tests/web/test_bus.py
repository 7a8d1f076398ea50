"""The in-process bus and the Redis bus (real redis-server), including Redis going away."""

from __future__ import annotations

import asyncio
import subprocess

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


async def test_redis_down_degrades_and_recovers(tmp_path) -> None:  # type: ignore[no-untyped-def]
    port = free_port()
    cmd = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
           "--appendonly", "no", "--dir", str(tmp_path)]
    # Popen returns at once; starting and stopping the server is the point of the test.
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)  # noqa: ASYNC220
    bus = RedisBus(f"redis://127.0.0.1:{port}/0")
    try:
        await asyncio.sleep(0.3)
        await bus.start()
        sub = bus.subscribe("calls")
        for _ in range(100):
            if bus.connected:
                break
            await asyncio.sleep(0.05)
        assert bus.connected
        proc.terminate()
        proc.wait(5)
        await bus.publish("calls", {"type": "while_down"})  # must not raise
        assert await _next(sub) == ("calls", {"type": "while_down"})
        assert bus.published_local_only == 1 and bus.state()["ok"] is False
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)  # noqa: ASYNC220
        for _ in range(200):
            if bus.connected:
                break
            await asyncio.sleep(0.05)
        assert bus.connected, "the bus did not reconnect after Redis came back"
        await bus.publish("calls", {"type": "after"})
        assert await _next(sub) == ("calls", {"type": "after"})
    finally:
        await bus.close()
        proc.terminate()
        proc.wait(5)


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_app_runs_on_redis_bus(new_db, tmp_path, redis_url: str) -> None:  # type: ignore[no-untyped-def]
    from tests.conftest import make_settings, running_app

    async with running_app(make_settings(await new_db(), tmp_path, redis_url=redis_url)) as (
            _app, client):
        for _ in range(100):
            ready = (await client.get("/readyz")).json()
            if ready["bus"]["ok"]:
                break
            await asyncio.sleep(0.05)
        assert ready["bus"]["kind"] == "redis" and ready["bus"]["ok"] is True
