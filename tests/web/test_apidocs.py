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
