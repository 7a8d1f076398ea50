"""Shared fixtures: real databases (SQLite and PostgreSQL), Redis, and the app over HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.support.db import PostgresFactory, SqliteFactory
from tests.support.servers import postgres_server, redis_server
from web.app import create_app
from web.settings import Settings

# The live uvicorn server (web and browser tests).
pytest_plugins = ["tests.support.live"]

BACKENDS = ["sqlite", "pg"]


@pytest.fixture(scope="session")
def pg_server_url() -> Iterator[str]:
    with postgres_server() as url:
        yield url


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    with redis_server() as (url, _proc):
        yield url


@pytest.fixture(scope="session")
def sqlite_factory(tmp_path_factory: pytest.TempPathFactory) -> SqliteFactory:
    return SqliteFactory(tmp_path_factory.mktemp("sqlite"))


@pytest.fixture(scope="session")
def pg_factory(request: pytest.FixtureRequest) -> PostgresFactory:
    return PostgresFactory(request.getfixturevalue("pg_server_url"))


DbMaker = Callable[..., Awaitable[str]]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def new_db(backend: str, request: pytest.FixtureRequest) -> DbMaker:
    """``await new_db(demo=True)`` → URL of a fresh migrated database on ``backend``."""
    factory = request.getfixturevalue("sqlite_factory" if backend == "sqlite" else "pg_factory")

    async def make(demo: bool = True) -> str:
        return str(await factory.new(demo))

    return make


def make_settings(db_url: str, tmp: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {"database_url": db_url, "secret_key": "test-secret-" + "x" * 32,
                              "data_dir": tmp, "ami_url": "off", "redis_url": None,
                              "vosk_model": None}
    values.update(overrides)
    return Settings(**values)


@asynccontextmanager
async def running_app(settings: Settings) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    """The app with its lifespan running, and an HTTP client talking to it in-process."""
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://hotline") as client:
            yield app, client


@pytest.fixture
async def app_client(new_db: DbMaker,
                     tmp_path: Path) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    """The app on a fresh demo database of each backend."""
    async with running_app(make_settings(await new_db(), tmp_path)) as pair:
        yield pair


@pytest.fixture
def client(app_client: tuple[FastAPI, httpx.AsyncClient]) -> httpx.AsyncClient:
    return app_client[1]


async def login(client: httpx.AsyncClient, username: str,
                password: str = "demo") -> dict[str, str]:
    resp = await client.post("/api/v1/auth/login",
                             json={"username": username, "password": password})
    assert resp.status_code == 200, resp.text
    return {"Authorization": f"Bearer {resp.json()['access_token']}"}
