"""The paused-agent release as ``hotline serve`` wires it (issue #10): started with the PBX
bridge by ``web.wiring.start_components``, fed by the bridge's live queue (the fake
Asterisk over real TCP), on SQLite and PostgreSQL; absent without a PBX."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from telephony.simulator import FakeAsterisk
from tests.conftest import DbMaker, login, make_settings, running_app
from web.pausewatch import live_members


@pytest.fixture
async def fake() -> AsyncIterator[FakeAsterisk]:
    server = FakeAsterisk()
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


async def _members(services: Any, extension: str, **want: Any) -> dict[str, Any]:
    for _ in range(300):
        for q in services.telephony.queues():
            for m in q["agents"]:
                if m["extension"] == extension and all(m[k] == v for k, v in want.items()):
                    return dict(m)
        await asyncio.sleep(0.02)
    raise AssertionError(f"{extension} never became {want}")


async def test_the_watch_runs_beside_the_bridge_and_releases(new_db: DbMaker, tmp_path: Path,
                                                             fake: FakeAsterisk) -> None:
    settings = make_settings(await new_db(), tmp_path,
                             ami_url=f"ami://bridge:bridgepass@127.0.0.1:{fake.port}?name=pbx1")
    async with running_app(settings) as (app, client):
        services = app.state.services
        watch = services.pause_watch
        assert watch is not None and watch.limit_s == 30 * 60  # the default: 30 minutes
        assert watch._task is not None and not watch._task.done()
        await fake.wait_logged_in(1, within=15)
        await _members(services, "6001", paused=False)

        sue, alice = await login(client, "sue"), await login(client, "alice")
        groups = (await client.get("/api/v1/groups", headers=sue)).json()
        hotline = next(g for g in groups if g["key"] == "hotline")
        r = await client.patch(f"/api/v1/groups/{hotline['id']}", headers=sue,
                               json={"assignment": "least_loaded"})
        assert r.status_code == 200, r.text
        r = await client.post("/api/v1/tickets", headers=alice, json={
            "title": "回电", "group": "hotline", "assignee": "alice"})
        assert r.status_code == 201, r.text
        ticket = r.json()
        assert ticket["status"] == "assigned"

        # alice pauses for lunch at the PBX; the bridge learns when (LastPause).
        await services.telephony.queue_pause("PJSIP/6001", True, "lunch", queue="support")
        member = await _members(services, "6001", paused=True)
        assert member["paused_reason"] == "lunch" and member["paused_since"]
        assert await watch.check() == []  # just paused
        watch.clock = lambda: time.time() + 31 * 60  # half an hour later
        done = await watch.check()
        assert [(r.pause.extension, r.why) for r, _ in done] == [
            ("6001", "released: paused 31 min (lunch)")]
        assert ticket["id"] in done[0][1]
        back = (await client.get(f"/api/v1/tickets/{ticket['id']}", headers=sue)).json()
        assert back["assignee_id"] != ticket["assignee_id"] and back["status"] == "assigned"
        history = (await client.get(f"/api/v1/tickets/{ticket['id']}/history",
                                    headers=sue)).json()
        kinds = [(e["kind"], e["data"].get("reason")) for e in history]
        assert ("returned_to_pool", "released: paused 31 min (lunch)") in kinds
        assert await watch.check() == []  # once per pause
    assert services.pause_watch is None  # stopped with the components


async def test_no_pbx_no_watch(new_db: DbMaker, tmp_path: Path) -> None:
    async with running_app(make_settings(await new_db(), tmp_path)) as (app, _client):
        assert app.state.services.pause_watch is None


class _Telephony:
    """Two PBXs' queue views: pbx1 connected and resynced, pbx2 as named."""

    def __init__(self, pbx2: dict[str, bool]) -> None:
        self.pbx2 = pbx2

    def state(self) -> list[dict[str, Any]]:
        return [{"name": "pbx1", "connected": True, "resynced": True},
                {"name": "pbx2", **self.pbx2}]

    def queues(self) -> list[dict[str, Any]]:
        return [{"pbx": p, "queue": "support", "agents": [
            {"pbx": p, "extension": ext, "paused": True}]}
            for p, ext in (("pbx1", "6001"), ("pbx2", "6002"))]


@pytest.mark.parametrize(("pbx2", "seen"), [
    ({"connected": True, "resynced": True}, ["6001", "6002"]),
    ({"connected": False, "resynced": False}, ["6001"]),  # link down: its pauses may be over
    ({"connected": True, "resynced": False}, ["6001"]),  # back, snapshot not applied yet
])
def test_only_current_pbxs_count(pbx2: dict[str, bool], seen: list[str]) -> None:
    members = live_members(_Telephony(pbx2))  # type: ignore[arg-type]
    assert [m["extension"] for m in members] == seen
    assert live_members(None) == []
