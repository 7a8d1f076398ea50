"""/readyz and the API description: who sees what (web/app.py, web/apidocs.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import login, make_settings, running_app

sqlite_only = pytest.mark.parametrize("backend", ["sqlite"])


@sqlite_only
async def test_readyz_tells_anonymous_only_up_or_down(client: httpx.AsyncClient) -> None:
    anonymous = await client.get("/readyz")
    assert anonymous.status_code == 200 and anonymous.json() == {"status": "ready"}
    for user in ("alice", "eric", "wang"):  # agent, engineer, customer: up/down too
        r = await client.get("/readyz", headers=await login(client, user))
        assert r.json() == {"status": "ready"}, user
    for user in ("sue", "admin"):
        full = (await client.get("/readyz", headers=await login(client, user))).json()
        assert full["database"]["ok"] is True and "websockets" in full and "pbx" in full
    client.cookies.clear()
    forged = await client.get("/readyz", headers={"Authorization": "Bearer x.y.z"})
    assert forged.json() == {"status": "ready"}


async def _docs(client: httpx.AsyncClient) -> tuple[int, int, int]:
    client.cookies.clear()
    return ((await client.get("/docs")).status_code,
            (await client.get("/openapi.json")).status_code,
            (await client.get("/openapi.json", headers=await login(client, "alice"))
             ).status_code)


@sqlite_only
@pytest.mark.parametrize(("overrides", "public"), [
    ({}, False),  # make_settings: ami_url off → production mode
    ({"ami_url": "demo", "demo_first_call_s": 600}, True),  # the demo install
    ({"ami_url": "demo", "demo_first_call_s": 600, "docs_public": False}, False),
    ({"docs_public": True}, True),
])
async def test_docs_public_only_on_demo_installs_or_when_set(
        new_db: Any, tmp_path: Path, overrides: dict[str, Any], public: bool) -> None:
    settings = make_settings(await new_db(), tmp_path, **overrides)
    async with running_app(settings) as (_, client):
        docs, doc, doc_logged_in = await _docs(client)
    assert doc_logged_in == 200
    if public:
        assert (docs, doc) == (200, 200)
    else:
        assert (docs, doc) == (303, 401)


def test_production_mode_is_a_real_pbx_or_database() -> None:
    from web.settings import Settings
    assert Settings(ami_url=None).docs_are_public
    assert not Settings(ami_url="off").docs_are_public
    assert not Settings(ami_url="ami://u:p@pbx:5038").docs_are_public
    assert not Settings(database_url="postgresql://h/db").docs_are_public
    assert Settings(database_url="postgresql://h/db", docs_public=True).docs_are_public


def test_the_document_lists_each_routes_errors_in_the_shared_shapes() -> None:
    from web.app import create_app
    from web.settings import Settings
    doc = create_app(Settings(ami_url="off", secret_key="x" * 40)).openapi()
    ops = {(m.upper(), p): op for p, ms in doc["paths"].items() for m, op in ms.items()}
    assert {"401", "403", "404", "409", "413", "400", "422", "503"} <= set(
        ops[("POST", "/api/v1/tickets")]["responses"])
    assert {"404", "409", "503", "504"} <= set(
        ops[("POST", "/api/v1/calls/{call_id}/hangup")]["responses"])
    assert {"401", "429"} <= set(ops[("POST", "/api/v1/auth/login")]["responses"])
    for (method, path), op in ops.items():
        for code, response in op["responses"].items():
            if code.startswith(("4", "5")):
                ref = response["content"]["application/json"]["schema"]["$ref"]
                assert ref.endswith("/Invalid" if code == "422" else "/Error"), (method, path)
    assert "HTTPValidationError" not in doc["components"]["schemas"]


@sqlite_only
async def test_405_allows_every_method_of_the_path(client: httpx.AsyncClient) -> None:
    r = await client.request("OPTIONS", "/api/v1/customers")
    assert r.status_code == 405
    assert set(r.headers["allow"].split(", ")) == {"GET", "POST"}


@sqlite_only
async def test_numbers_and_flags_in_bodies_are_strict(client: httpx.AsyncClient) -> None:
    h = await login(client, "admin")
    r = await client.post("/api/v1/tickets/1/comments", headers=h,
                          json={"body": "x", "public": 0})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "public"]
    r = await client.post("/api/v1/orders", headers=h, json={
        "number": "S-1", "customer_id": 1, "product_name": "x", "purchased_at": "2026-01-01",
        "amount": False})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "amount"]


@sqlite_only
async def test_call_actions_without_a_pbx_are_409_not_503(client: httpx.AsyncClient) -> None:
    r = await client.post("/api/v1/calls/x/hangup", headers=await login(client, "alice"))
    assert r.status_code == 409 and "no PBX is configured" in r.json()["detail"]
