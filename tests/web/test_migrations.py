"""The Alembic migrations build exactly the schema the models describe, on both backends,
and step down and up again."""

from __future__ import annotations

import asyncio
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection

import dispatch.models  # noqa: F401  (registers the dispatch tables)
from tests.conftest import DbMaker
from tickets.db import Base, make_engine
from web.migrate import alembic_config
from web.settings import to_async_url


def _diff(conn: Connection) -> list[Any]:
    ctx = MigrationContext.configure(conn, opts={"compare_type": True})
    return list(compare_metadata(ctx, Base.metadata))


async def _schema_diff(url: str) -> list[Any]:
    engine = make_engine(to_async_url(url))
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(_diff)
    finally:
        await engine.dispose()


async def test_migrated_schema_matches_the_models(new_db: DbMaker) -> None:
    url = await new_db(demo=False)
    assert await _schema_diff(url) == []
    config = alembic_config(url)
    await asyncio.to_thread(command.downgrade, config, "0001")
    assert await _schema_diff(url) != []  # the last step really changed something
    await asyncio.to_thread(command.upgrade, config, "head")
    assert await _schema_diff(url) == []


_KEPT = ("tickets", "comments", "ticket_events", "attachments", "ticket_calls")


async def _counts(url: str) -> dict[str, int]:
    engine = make_engine(to_async_url(url))
    try:
        async with engine.connect() as conn:
            return {t: (await conn.exec_driver_sql(f"SELECT count(*) FROM {t}")).scalar_one()
                    for t in _KEPT}
    finally:
        await engine.dispose()


async def test_upgrading_a_loaded_database_keeps_every_row(new_db: DbMaker) -> None:
    """0007 rebuilds ``tickets`` on SQLite (batch mode): with foreign keys on, dropping the
    old table cascade-deleted every comment, history row, attachment and call link."""
    url = await new_db(demo=True)
    config = alembic_config(url)
    await asyncio.to_thread(command.downgrade, config, "0005")
    before = await _counts(url)
    assert before["comments"] and before["ticket_events"] and before["ticket_calls"]
    await asyncio.to_thread(command.upgrade, config, "head")
    assert await _counts(url) == before
