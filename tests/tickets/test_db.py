"""SQLite's writers queue in the process (tickets.db.SqliteWriteLock) instead of polling."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import event, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from tickets.db import SqliteWriteLock, make_engine, make_sessionmaker
from web.settings import to_async_url

INSERT = text("INSERT INTO groups (key, name, skills) VALUES (:key, :key, '[]')")
COUNT = text("SELECT count(*) FROM groups WHERE key LIKE 'lock-%'")


async def until_queued(lock: asyncio.Lock, sent: list[Any] | None = None) -> bool:
    """Wait (≤ 5 s) until a writer waits on ``lock`` (or, without the lock, its statement
    reached the driver: recorded in ``sent``); whether it is queued on the lock."""
    for _ in range(500):
        if getattr(lock, "_waiters", None):
            return True
        if sent is not None and any("lock-2" in (p or ()) for p in sent):
            return False
        await asyncio.sleep(0.01)
    return False


async def sqlite_engine(sqlite_factory: Any) -> AsyncEngine:
    return make_engine(to_async_url(str(await sqlite_factory.new(False))))


async def test_a_second_writer_waits_for_the_first_commit(sqlite_factory: Any) -> None:
    engine = await sqlite_engine(sqlite_factory)
    sm = make_sessionmaker(engine)
    sent: list[Any] = []  # statements that got past the lock to the driver

    @event.listens_for(engine.sync_engine, "before_cursor_execute")
    def _sent(_c: Any, _cur: Any, statement: str, params: Any, *_: Any) -> None:
        sent.append(params)

    try:
        async with sm() as first:
            await first.execute(INSERT, {"key": "lock-1"})

            async def second_writer() -> None:
                async with sm() as second:
                    await second.execute(INSERT, {"key": "lock-2"})
                    await second.commit()

            waiting = asyncio.create_task(second_writer())
            # queued on the lock, not polling SQLite's in a thread
            assert await until_queued(SqliteWriteLock(engine.url.database or "").lock(), sent)
            assert not waiting.done()
            async with sm() as reader:  # reads never wait
                assert await reader.scalar(COUNT) == 0
            await first.commit()
        await asyncio.wait_for(waiting, 10)
        async with sm() as reader:
            assert await reader.scalar(COUNT) == 2
    finally:
        await engine.dispose()


async def test_a_rolled_back_writer_gives_the_lock_back(sqlite_factory: Any) -> None:
    engine = await sqlite_engine(sqlite_factory)
    sm = make_sessionmaker(engine)
    try:
        for key in ("lock-a", "lock-b"):
            async with sm() as session:
                await session.execute(INSERT, {"key": key})
                await session.rollback()
        with pytest.raises(RuntimeError):
            async with sm() as session:
                await session.execute(INSERT, {"key": "lock-c"})
                raise RuntimeError("a handler failed mid-transaction")
        async with sm() as session:
            await session.execute(INSERT, {"key": "lock-d"})
            await session.commit()
            assert await session.scalar(COUNT) == 1
    finally:
        await engine.dispose()


async def test_no_write_turn_within_the_timeout_is_database_locked(sqlite_factory: Any) -> None:
    """A writer that never gets its turn fails as SQLite's busy timeout would, never hangs."""
    url = to_async_url(str(await sqlite_factory.new(False)))
    engine = create_async_engine(url)
    SqliteWriteLock(engine.url.database or "", timeout_s=0.05).install(engine)
    sm = make_sessionmaker(engine)
    try:
        async with sm() as first, sm() as second:
            await first.execute(INSERT, {"key": "lock-1"})
            with pytest.raises(OperationalError, match="database is locked"):
                await second.execute(INSERT, {"key": "lock-2"})
            await first.commit()
            await second.rollback()
            await second.execute(INSERT, {"key": "lock-2"})
            await second.commit()
    finally:
        await engine.dispose()


async def test_engines_of_one_file_share_the_lock(sqlite_factory: Any) -> None:
    """The web's engine and the telephony side's own pool write to the same file."""
    url = to_async_url(str(await sqlite_factory.new(False)))
    web, pbx = make_engine(url), make_engine(url, 1, 0)
    try:
        async with make_sessionmaker(web)() as a:
            await a.execute(INSERT, {"key": "lock-web"})
            lock = SqliteWriteLock(web.url.database or "").lock()
            assert lock.locked()

            async def other_engine() -> None:
                async with make_sessionmaker(pbx)() as b:
                    await b.execute(INSERT, {"key": "lock-pbx"})
                    await b.commit()

            waiting = asyncio.create_task(other_engine())
            assert await until_queued(lock)
            assert not waiting.done()
            await a.commit()
        await asyncio.wait_for(waiting, 10)
        assert not lock.locked()
    finally:
        await web.dispose()
        await pbx.dispose()


async def test_postgres_pool_keeps_what_it_opened(pg_factory: Any) -> None:
    """Twice pool_size requests at once, again and again: no connection is reopened (closing
    'overflow' connections on return made a third of a ticket create's CPU reconnecting)."""
    engine = make_engine(to_async_url(str(await pg_factory.new(False))), pool_size=2)
    connects: list[int] = []
    event.listen(engine.sync_engine, "connect", lambda *_: connects.append(1))
    try:
        async def hold() -> None:
            async with engine.connect() as conn:
                await conn.execute(text("SELECT pg_sleep(0.02)"))

        for _ in range(3):
            await asyncio.gather(*(hold() for _ in range(4)))
        assert len(connects) == 4  # opened once each, then kept
        assert engine.pool.checkedout() == 0
        assert engine.pool.size() == 4 and engine.pool.overflow() == 0  # the cap: 2 × 2
    finally:
        await engine.dispose()

