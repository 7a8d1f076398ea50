"""Engine and session plumbing shared by every service; SQLite and PostgreSQL alike.

SQLite lets one transaction write at a time. Left to itself, every other writer polls the
file lock from its aiosqlite thread (``busy_timeout``: sleeps that grow to 100 ms), so under
20 concurrent creates a write waited 2–6 s behind luckier late-comers. Here a process's
writers queue instead on one :class:`asyncio.Lock` per database file
(:class:`SqliteWriteLock`), taken just before a transaction's first write and given back
when its connection returns to the pool (after the commit or rollback): first come, first
served, and nobody polls. Writers in other processes still meet SQLite's own lock and its
busy timeout. Python's sqlite3 opens the transaction (a deferred ``BEGIN``) right before the
first write, i.e. after the lock is held, so the write never starts from a stale snapshot.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, DateTime, MetaData, TypeDecorator, event
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.util import await_only

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

JSONType = JSON().with_variant(JSONB(), "postgresql")


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on both backends (SQLite stores naive text)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; use UTC-aware datetimes")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


def utcnow() -> datetime:
    return datetime.now(UTC)


def make_engine(async_url: str, pool_size: int = 10,
                max_overflow: int | None = None) -> AsyncEngine:
    """An engine for ``async_url``. PostgreSQL: at most twice ``pool_size`` connections,
    opened as needed and then kept; ``max_overflow`` given: exactly ``pool_size`` +
    ``max_overflow`` on either backend (a fixed budget, e.g. the telephony side's own
    engine).

    Kept, rather than ``pool_size`` kept plus as many "overflow" connections closed on
    return: with 20 requests in flight on a pool of 10, overflow connections were closed and
    reopened all the time, and an asyncpg connect (TLS probe, SCRAM authentication, the
    dialect's set-up queries) costs milliseconds of CPU — a third of the server's CPU per
    ticket create (tests/bench/bench_create.py: 3.2 → 2.2 ms)."""
    kwargs: dict[str, Any] = {}
    if max_overflow is not None:
        kwargs.update(pool_size=pool_size, max_overflow=max_overflow)
    if async_url.startswith("sqlite"):
        # Reset on return only when a transaction is open (_sqlite_reset): the blanket
        # rollback was a thread hand-off per checkin, after every commit or rollback.
        kwargs.update(connect_args={"timeout": 30}, pool_reset_on_return=None)
    elif max_overflow is None:
        # No pre-ping: it costs a round trip per checkout; a connection that died with a
        # server restart fails one request (503) and the pool is invalidated and refilled.
        kwargs.update(pool_size=2 * pool_size, max_overflow=0)
    engine = create_async_engine(async_url, **kwargs)
    if async_url.startswith("sqlite"):
        SqliteWriteLock(engine.url.database or ":memory:").install(engine)

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        @event.listens_for(engine.sync_engine.pool, "reset")
        def _sqlite_reset(dbapi_conn: Any, record: Any, state: Any) -> None:
            # sqlite3 knows without a query whether a transaction is open.
            if state.asyncio_safe and getattr(record.driver_connection, "in_transaction", True):
                dbapi_conn.rollback()
    return engine


#: Statements that never write (the rest take the write lock first).
_READS = ("SELECT", "PRAGMA", "EXPLAIN")
#: One lock per (event loop, database file): every engine of the process on that file.
_LOCKS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, asyncio.Lock]] = \
    weakref.WeakKeyDictionary()


async def _acquire(lock: asyncio.Lock, timeout_s: float) -> bool:
    """Whether ``lock`` was taken within ``timeout_s`` (never left taken on a timeout)."""
    try:
        async with asyncio.timeout(timeout_s):
            await lock.acquire()
    except TimeoutError:
        return False
    return True


class SqliteWriteLock:
    """Serialises a process's SQLite write transactions on ``database`` (a file path).

    :meth:`install` hooks an engine: before a statement that may write, on a connection
    not holding the lock yet, the statement waits for the lock (at most ``timeout_s``, as
    long as SQLite's own busy timeout; then the ``OperationalError`` "database is locked");
    the lock is given back when the connection is checked in, closed or invalidated.
    """

    def __init__(self, database: str, timeout_s: float = 30.0) -> None:
        self.database = database
        self.timeout_s = timeout_s

    def lock(self) -> asyncio.Lock:
        per_loop = _LOCKS.setdefault(asyncio.get_running_loop(), {})
        return per_loop.setdefault(self.database, asyncio.Lock())

    def install(self, engine: AsyncEngine) -> None:
        sync = engine.sync_engine

        @event.listens_for(sync, "before_cursor_execute")
        def _take(conn: Any, _cursor: Any, statement: str, params: Any, _context: Any,
                  _many: bool) -> None:
            info = conn.info  # the pooled connection's: survives the session
            if "sqlite_write_lock" in info or statement.lstrip()[:7].upper().startswith(_READS):
                return
            lock = self.lock()
            if not await_only(_acquire(lock, self.timeout_s)):
                raise OperationalError(statement, params, Exception(
                    f"database is locked (no write turn in {self.timeout_s:g} s)"))
            info["sqlite_write_lock"] = lock

        def _give_back(_dbapi_conn: Any, record: Any, *_: Any) -> None:
            lock = record.info.pop("sqlite_write_lock", None)
            if lock is not None and lock.locked():
                lock.release()

        for name in ("checkin", "close", "invalidate"):
            event.listen(sync.pool, name, _give_back)


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


def make_read_engine(engine: AsyncEngine) -> AsyncEngine:
    """``engine`` for single-statement reads on hot paths (screen pops, lookups, who holds a
    token), used through ``read_engine.connect()`` or :func:`make_read_sessionmaker`.

    Autocommit skips the BEGIN and ROLLBACK round trips around each read; one statement
    sees one consistent snapshot anyway. Never write through it. SQLite gets the engine
    itself: Python's sqlite3 opens no transaction for a SELECT anyway, and switching a
    connection to autocommit and back cost two extra thread hand-offs each.
    """
    if engine.dialect.name == "sqlite":
        return engine
    return engine.execution_options(isolation_level="AUTOCOMMIT")


def make_read_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """ORM sessions on :func:`make_read_engine` (single-statement reads; never write)."""
    return async_sessionmaker(make_read_engine(engine), expire_on_commit=False)


@asynccontextmanager
async def transaction(sm: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """One unit of work: commit on success, roll back on any error."""
    async with sm() as session, session.begin():
        yield session
