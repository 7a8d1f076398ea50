"""Fresh, migrated databases for each test: copies of a template, so tests stay fast."""

from __future__ import annotations

import asyncio
import itertools
import shutil
from pathlib import Path

import asyncpg

from web.demo import load_demo
from web.migrate import upgrade

_counter = itertools.count()


async def _load_demo(url: str) -> None:
    from tickets.db import make_engine, make_sessionmaker, transaction
    from web.settings import to_async_url

    engine = make_engine(to_async_url(url))
    async with transaction(make_sessionmaker(engine)) as session:
        await load_demo(session)
    await engine.dispose()


class SqliteFactory:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.templates: dict[bool, Path] = {}

    async def new(self, demo: bool) -> str:
        if demo not in self.templates:
            path = self.root / f"template-{int(demo)}.db"
            await asyncio.to_thread(upgrade, f"sqlite:///{path}")
            if demo:
                await _load_demo(f"sqlite:///{path}")
            self.templates[demo] = path
        target = self.root / f"test-{next(_counter)}.db"
        shutil.copyfile(self.templates[demo], target)
        return f"sqlite:///{target}"


class PostgresFactory:
    """``CREATE DATABASE … TEMPLATE …`` gives each test a migrated copy in ~50 ms."""

    def __init__(self, server_url: str) -> None:
        self.server_url = server_url
        self.base = server_url.rsplit("/", 1)[0]
        self.templates: dict[bool, str] = {}

    async def _exec(self, sql: str) -> None:
        conn = await asyncpg.connect(self.server_url)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    async def new(self, demo: bool) -> str:
        if demo not in self.templates:
            name = f"hotline_template_{int(demo)}_{next(_counter)}"
            await self._exec(f'DROP DATABASE IF EXISTS "{name}"')
            await self._exec(f'CREATE DATABASE "{name}"')
            await asyncio.to_thread(upgrade, f"{self.base}/{name}")
            if demo:
                await _load_demo(f"{self.base}/{name}")
            self.templates[demo] = name
        name = f"hotline_test_{next(_counter)}"
        await self._exec(f'DROP DATABASE IF EXISTS "{name}"')
        await self._exec(f'CREATE DATABASE "{name}" TEMPLATE "{self.templates[demo]}"')
        return f"{self.base}/{name}"
