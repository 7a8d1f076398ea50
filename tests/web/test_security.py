"""Who holds a token: one statement per request, and revocation still at the next request
— in every process, since nothing about a login is cached but its verified signature."""

from __future__ import annotations

import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import jwt
from sqlalchemy import event

from tests.conftest import DbMaker, login, make_settings, running_app
from web.security import create_token, decode_token, principal_from_token

SECRET = "test-secret-" + "x" * 32


async def test_revocation_reaches_another_process_at_its_next_request(
        new_db: DbMaker, tmp_path: Path) -> None:
    """Two servers on one database (``--workers``, or several hosts): a logout, "log out
    everywhere", a disabled user or a new password on one is refused by the other at once."""
    url = await new_db()
    async with running_app(make_settings(url, tmp_path / "a")) as (_, a), \
            running_app(make_settings(url, tmp_path / "b")) as (_, b):
        first, second = await login(a, "alice"), await login(a, "alice")
        assert (await b.get("/api/v1/auth/me", headers=first)).status_code == 200
        assert (await a.post("/api/v1/auth/logout", headers=first)).status_code == 204
        assert (await b.get("/api/v1/auth/me", headers=first)).status_code == 401
        assert (await b.get("/api/v1/auth/me", headers=second)).status_code == 200

        assert (await a.post("/api/v1/auth/logout-all", headers=second)).status_code == 204
        assert (await b.get("/api/v1/tickets", headers=second)).status_code == 401

        bob = await login(b, "bob")
        bob_id = (await b.get("/api/v1/auth/me", headers=bob)).json()["id"]
        admin = await login(a, "admin")
        resp = await a.patch(f"/api/v1/users/{bob_id}", headers=admin,
                             json={"is_active": False})
        assert resp.status_code == 200
        resp = await b.post("/api/v1/tickets", headers=bob, json={"title": "after"})
        assert resp.status_code == 401


async def test_principal_carries_every_group_of_the_user(client: httpx.AsyncClient) -> None:
    admin = await login(client, "admin")
    groups = (await client.get("/api/v1/groups", headers=admin)).json()
    assert len(groups) >= 2
    alice = await login(client, "alice")
    me = (await client.get("/api/v1/auth/me", headers=alice)).json()
    wanted = sorted(g["id"] for g in groups[:2])
    resp = await client.patch(f"/api/v1/users/{me['id']}", headers=admin,
                              json={"group_ids": wanted})
    assert resp.status_code == 200, resp.text
    assert (await client.get("/api/v1/auth/me", headers=alice)).json()["group_ids"] == wanted
    resp = await client.patch(f"/api/v1/users/{me['id']}", headers=admin,
                              json={"group_ids": []})
    assert resp.status_code == 200
    me = (await client.get("/api/v1/auth/me", headers=alice)).json()
    assert me["group_ids"] == [] and me["username"] == "alice"


async def test_a_request_asks_the_database_once_and_opens_no_transaction(
        app_client: Any) -> None:
    app, client = app_client
    alice = await login(client, "alice")
    services = app.state.services
    statements: list[str] = []
    transactions: list[str] = []
    sync = services.engine.sync_engine

    def on_execute(*args: Any) -> None:
        statements.append(args[2])

    def on_begin(conn: Any) -> None:
        # AUTOCOMMIT (PostgreSQL) or no DML (SQLite): no BEGIN goes to the server.
        autocommit = conn.get_execution_options().get("isolation_level") == "AUTOCOMMIT"
        if not autocommit and conn.dialect.name != "sqlite":
            transactions.append("BEGIN")

    event.listen(sync, "before_cursor_execute", on_execute)
    event.listen(sync, "begin", on_begin)
    try:
        principal = await principal_from_token(services, alice["Authorization"][7:])
    finally:
        event.remove(sync, "before_cursor_execute", on_execute)
        event.remove(sync, "begin", on_begin)
    assert principal is not None and principal.username == "alice"
    assert len(statements) == 1 and "revoked_tokens" in statements[0]
    assert "group_members" in statements[0]
    assert transactions == []


def test_a_verified_token_still_expires() -> None:
    """The signature cache does not stretch a token's life: the expiry is checked against
    the clock at every call (an injected clock here)."""
    user = SimpleNamespace(id=7, role="agent")
    token = create_token(SECRET, user, ttl_s=60)  # type: ignore[arg-type]
    now = time.time()
    claims = decode_token(SECRET, token, now=now)
    assert claims is not None and claims.user_id == 7
    assert decode_token(SECRET, token, now=now + 30) == claims  # cached, still valid
    assert decode_token(SECRET, token, now=now + 61) is None  # expired, though cached
    assert decode_token("another-secret-" + "y" * 32, token, now=now) is None
    forged = jwt.encode({"sub": "7", "exp": int(now) + 60}, "wrong-" + "z" * 32,
                        algorithm="HS256")
    assert decode_token(SECRET, forged, now=now) is None
    assert decode_token(SECRET, forged, now=now) is None  # a failure is not cached as good
