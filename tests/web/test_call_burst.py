"""A burst of calls against the real app, on SQLite and PostgreSQL (issue #9): every call
gets its call-log row, and HTTP keeps its own connections while the call log has none."""

from __future__ import annotations

import asyncio
import time
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from telephony.simulator import FakeAsterisk, burst_call
from tests.conftest import DbMaker, login, make_settings, running_app
from tickets.db import make_engine, make_sessionmaker
from tickets.models import CallLog


async def _burst_app(new_db: DbMaker, tmp_path: Path, server: FakeAsterisk,
                     **settings: object) -> AbstractAsyncContextManager[Any]:
    return running_app(make_settings(
        await new_db(), tmp_path,
        ami_url=f"ami://bridge:bridgepass@127.0.0.1:{server.port}?name=pbx1", **settings))


async def _rows(app, n: int) -> int:  # type: ignore[no-untyped-def]
    ids = [f"pbx1:1900000000.{2 * i}" for i in range(n)]
    async with app.state.services.db() as s:
        return int(await s.scalar(select(func.count()).select_from(CallLog)
                                  .where(CallLog.call_id.in_(ids))) or 0)


async def test_every_call_of_a_burst_gets_its_row(new_db: DbMaker, tmp_path: Path) -> None:
    server = FakeAsterisk()
    await server.start()
    n = 400
    try:
        # Tight bounds, so the burst goes through every back-pressure path on the way.
        async with await _burst_app(new_db, tmp_path, server, call_log_batch=25,
                                    call_log_queue=20, ami_event_queue=50,
                                    ami_effects_max=20) as (app, _client):
            await server.wait_logged_in()
            bridge = app.state.services.telephony.bridges["pbx1"]
            await asyncio.wait_for(bridge._resynced.wait(), 10)
            calls = [burst_call(i) for i in range(n)]
            for k in range(0, n, 100):  # four writes of 100 calls, each ringing 6001
                await server.broadcast(b"".join(s + e for s, e in calls[k:k + 100]))
            deadline = time.monotonic() + 60
            while bridge.events_processed < 4 * n or bridge.tracker.calls:
                assert time.monotonic() < deadline, bridge.load()
                await asyncio.sleep(0.05)
            await bridge.drain()
            assert await _rows(app, n) == n
            load = bridge.load()
            assert load["call_log_lost"] == 0 and load["call_log_batches"] < 2 * n
            assert load["reader_pauses"] + load["effect_waits"] > 0
    finally:
        await server.stop()


async def test_http_is_served_while_the_call_log_has_no_connection(
        new_db: DbMaker, tmp_path: Path) -> None:
    server = FakeAsterisk()
    await server.start()
    n = 50
    try:
        async with await _burst_app(new_db, tmp_path, server, pbx_db_pool=2) as (app, client):
            services = app.state.services
            await server.wait_logged_in()
            bridge = services.telephony.bridges["pbx1"]
            await asyncio.wait_for(bridge._resynced.wait(), 10)
            headers = await login(client, "admin")
            # Every connection of the telephony side's pool is taken: the call log and the
            # lookups must wait for them; HTTP must not notice.
            held = [await services.pbx_engine.connect() for _ in range(2)]
            try:
                await server.broadcast(b"".join(s + e for s, e in
                                                (burst_call(i) for i in range(n))))
                await asyncio.sleep(0.5)
                assert bridge.call_log.queued > 0 or bridge._inflight > 0
                for _ in range(5):
                    t = time.monotonic()
                    r = await client.get("/api/v1/tickets", headers=headers)
                    assert r.status_code == 200, r.text
                    r = await client.get("/readyz")
                    assert r.status_code == 200, r.text
                    assert time.monotonic() - t < 2.0
                assert await _rows(app, n) == 0  # nothing written yet: the pool is held
            finally:
                for conn in held:
                    await conn.close()
            deadline = time.monotonic() + 30
            while await _rows(app, n) < n:
                assert time.monotonic() < deadline
                await asyncio.sleep(0.1)
    finally:
        await server.stop()


async def test_the_writer_flushes_on_shutdown(new_db: DbMaker, tmp_path: Path) -> None:
    server = FakeAsterisk()
    await server.start()
    n = 120
    ids = [f"pbx1:1900000000.{2 * i}" for i in range(n)]
    try:
        async with await _burst_app(new_db, tmp_path, server) as (app, _client):
            services = app.state.services
            await server.wait_logged_in()
            bridge = services.telephony.bridges["pbx1"]
            await asyncio.wait_for(bridge._resynced.wait(), 10)
            held = [await services.pbx_engine.connect() for _ in range(3)]
            await server.broadcast(b"".join(s + e for s, e in
                                            (burst_call(i) for i in range(n))))
            while bridge.events_processed < 4 * n:
                await asyncio.sleep(0.01)
            # Nothing could be written so far: the records wait in the writer and the lanes.
            assert bridge.call_log.stats()["written"] == 0 and bridge._inflight > 0
            for conn in held:
                await conn.close()
        # The app stopped right away: its shutdown wrote what was queued.
        engine = make_engine(services.settings.async_database_url)
        try:
            async with make_sessionmaker(engine)() as s:
                rows = (await s.scalars(select(CallLog).where(CallLog.call_id.in_(ids)))).all()
            assert len(rows) == n and all(r.ended_at is not None for r in rows)
        finally:
            await engine.dispose()
    finally:
        await server.stop()
