"""Which PBX ``HOTLINE_AMI_URL`` selects (demo / off / ami://), ``GET /api/v1/pbx`` and the
demo PBX's ``POST /api/v1/demo/calls``."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import login, make_settings, running_app
from tests.support.db import SqliteFactory
from tests.support.servers import free_port
from web.settings import Settings


@pytest.mark.parametrize(("value", "mode"), [
    (None, "demo"), ("", "demo"), ("demo", "demo"), (" Demo ", "demo"), ("off", "off"),
    ("OFF", "off"), ("ami://u:p@pbx.example:5038", "ami"),
    ("ami://u:p@a:5038?name=a,ami://u:p@b:5038?name=b", "ami"),
])
def test_ami_url_selects_the_pbx(value: str | None, mode: str) -> None:
    assert Settings(ami_url=value).pbx_mode == mode


async def _app(tmp_path: Path, **settings: Any) -> Any:
    url = await SqliteFactory(tmp_path).new(demo=True)
    return running_app(make_settings(url, tmp_path, **settings))


async def _wait_connected(client: httpx.AsyncClient, headers: dict[str, str]) -> dict[str, Any]:
    for _ in range(200):
        state: dict[str, Any] = (await client.get("/api/v1/pbx", headers=headers)).json()
        if state["connected"]:
            return state
        await asyncio.sleep(0.02)
    raise AssertionError(f"the demo PBX never connected: {state}")


async def test_demo_mode_runs_the_demo_pbx_and_rings_on_demand(tmp_path: Path) -> None:
    async with await _app(tmp_path, ami_url="demo", demo_first_call_s=600,
                          demo_speed=50) as (app, client):
        alice = await login(client, "alice")
        state = await _wait_connected(client, alice)
        assert state["mode"] == "demo" and state["demo"] is True
        assert [p["name"] for p in state["pbxs"]] == ["demo"]
        assert "secret" not in str(state) and "port" not in state["pbxs"][0]
        assert (await client.get("/readyz", headers=await login(client, "admin"))
                ).json()["pbx_mode"] == "demo"
        client.cookies.clear()  # the login's session cookie
        assert (await client.get("/api/v1/pbx")).status_code == 401

        # Ring now: managers only, fields checked, an unknown scenario named.
        assert (await client.post("/api/v1/demo/calls", json={},
                                   headers=alice)).status_code == 403
        admin = await login(client, "admin")
        bad = await client.post("/api/v1/demo/calls", json={"scenario": "nope"},
                                headers=admin)
        assert bad.status_code == 422 and "scenario" in bad.text
        bad = await client.post("/api/v1/demo/calls", json={"to": "6x"}, headers=admin)
        assert bad.status_code == 422 and "to" in bad.text
        r = await client.post("/api/v1/demo/calls", json={"scenario": "answered",
                                                          "to": "6002"}, headers=admin)
        assert r.status_code == 202, r.text
        assert r.json()["scenario"] == "answered"
        for _ in range(300):
            live = (await client.get("/api/v1/calls/live", headers=admin)).json()
            if any(c["agent_extension"] == "6002" for c in live):
                break
            await asyncio.sleep(0.02)
        else:
            raise AssertionError(f"bob never answered the demo call: {live}")
        assert app.state.services.demo_pbx.calls_started == 1  # the timer has not rung yet


async def test_off_means_no_pbx_and_no_demo(tmp_path: Path) -> None:
    async with await _app(tmp_path, ami_url="off") as (app, client):
        assert app.state.services.demo_pbx is None and app.state.services.telephony is None
        admin = await login(client, "admin")
        state = (await client.get("/api/v1/pbx", headers=admin)).json()
        assert state == {"mode": "off", "demo": False, "connected": False, "pbxs": []}
        r = await client.post("/api/v1/demo/calls", json={}, headers=admin)
        assert r.status_code == 409 and "demo PBX is not running" in r.text


async def test_a_real_pbx_turns_the_demo_off_and_reports_it_down(tmp_path: Path) -> None:
    port = free_port()  # nobody listens: the configured PBX is down
    async with await _app(tmp_path, ami_url=f"ami://u:p@127.0.0.1:{port}?name=hq") as (
            app, client):
        assert app.state.services.demo_pbx is None
        alice = await login(client, "alice")
        state = (await client.get("/api/v1/pbx", headers=alice)).json()
        assert state["mode"] == "ami" and state["demo"] is False
        assert state["connected"] is False and state["pbxs"][0]["name"] == "hq"


async def test_an_invalid_ami_url_is_reported_not_replaced_by_the_demo(tmp_path: Path) -> None:
    async with await _app(tmp_path, ami_url="ami://nohost") as (app, client):
        assert app.state.services.demo_pbx is None
        alice = await login(client, "alice")
        state = (await client.get("/api/v1/pbx", headers=alice)).json()
        assert state["mode"] == "ami" and not state["connected"] and "error" in state
