"""Engine and session plumbing shared by every service; SQLite and PostgreSQL alike."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, DateTime, MetaData, TypeDecorator, event
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase

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
    """An engine for ``async_url``. PostgreSQL pools ``pool_size`` connections plus as many
    overflow; ``max_overflow`` given: exactly ``pool_size`` + ``max_overflow`` on either
    backend (a fixed budget, e.g. the telephony side's own engine)."""
    kwargs: dict[str, Any] = {}
    if max_overflow is not None:
        kwargs.update(pool_size=pool_size, max_overflow=max_overflow)
    if async_url.startswith("sqlite"):
        kwargs["connect_args"] = {"timeout": 30}
    elif max_overflow is None:
        # No pre-ping: it costs a round trip per checkout; a connection that died with a
        # server restart fails one request (503) and the pool is invalidated and refilled.
        kwargs.update(pool_size=pool_size, max_overflow=pool_size)
    engine = create_async_engine(async_url, **kwargs)
    if async_url.startswith("sqlite"):
        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()
    return engine


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


def make_read_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions for single-statement reads on hot paths (screen pops, lookups).

    Autocommit skips the BEGIN and ROLLBACK round trips around each read; one statement
    sees one consistent snapshot anyway. Never write through these sessions.
    """
    return async_sessionmaker(engine.execution_options(isolation_level="AUTOCOMMIT"),
                              expire_on_commit=False)


@asynccontextmanager
async def transaction(sm: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """One unit of work: commit on success, roll back on any error."""
    async with sm() as session, session.begin():
        yield session
