"""Live statistics over REST (GET /api/v1/stats/live and /trend), and the call log read
back for the statistics' restart (``DbCallDirectory.calls_since``, on both backends)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from telephony import InMemoryCallDirectory, PbxConfig, Telephony
from telephony.captures import events
from telephony.ports import CallRecord
from tests.conftest import login, make_settings, running_app
from tickets.bus import InProcessBus
from tickets.db import make_engine, make_read_sessionmaker, make_sessionmaker
from tickets.messages import check
from web.adapters import DbCallDirectory


def _fed_telephony(until: str | None = None) -> tuple[Telephony, float]:
    """A Telephony whose (unconnected) bridge saw capture a (one answered call), or its
    events before the first ``until`` event."""
    tel = Telephony([PbxConfig("pbx1", "127.0.0.1", 1, "u", "s")], InProcessBus(),
                    InMemoryCallDirectory(), "US")
    bridge = tel.bridges["pbx1"]
    now = datetime.now(UTC).timestamp() - 30
    for t, ev in events("a_inbound_queue_answered"):
        if ev.get("Event") == until:
            break
        bridge.tracker.feed(ev, now + t)
        bridge.stats.feed(ev, now + t)
    bridge.stats.tick(now + 20)
    return tel, now


@pytest.mark.parametrize("backend", ["sqlite"])  # no data layer here: one backend
async def test_live_and_trend(app_client: tuple[FastAPI, httpx.AsyncClient]) -> None:
    app, client = app_client
    sup = await login(client, "sue")
    empty = (await client.get("/api/v1/stats/live", headers=sup)).json()
    assert (empty["queues"], empty["agents"]) == ([], [])  # no PBX
    tel, _ = _fed_telephony()
    app.state.services.telephony = tel
    try:
        live = (await client.get("/api/v1/stats/live", headers=sup)).json()
        [q] = live["queues"]
        check(q)
        assert q["queue"] == "support" and q["windows"]["today"]["answered"] == 1
        assert {a["extension"] for a in live["agents"]} == {"6001", "6002"}
        for a in live["agents"]:
            check(a)
        trend = (await client.get("/api/v1/stats/trend?minutes=5", headers=sup)).json()
        assert trend["step_s"] == 60
        [point] = trend["queues"]["support"]
        assert set(point) == {"t", "waiting", "longest_wait_s", "service_level"}
        assert point["service_level"] == 1.0  # the one call was answered within 20 s
        for bad in ("0", "181", "x"):
            resp = await client.get(f"/api/v1/stats/trend?minutes={bad}", headers=sup)
            assert resp.status_code == 422 and "minutes" in resp.text
        agent = await login(client, "alice")
        assert (await client.get("/api/v1/stats/live", headers=agent)).status_code == 403
        # A ticket made for the call 6001 is on shows on 6001's agent_stats.
        tel, _ = _fed_telephony(until="AgentComplete")
        app.state.services.telephony = tel
        [a] = [a for a in tel.agent_stats() if a["extension"] == "6001"]
        assert a["state"] == "on_call" and a["ticket_id"] is None
        resp = await client.post("/api/v1/tickets", headers=agent, json={
            "title": "kettle", "call_id": a["call_id"]})
        assert resp.status_code == 201, resp.text
        [a] = [a for a in tel.agent_stats() if a["extension"] == "6001"]
        assert a["ticket_id"] == resp.json()["id"]
    finally:
        app.state.services.telephony = None


def _row(i: int, started: datetime, **over: Any) -> CallRecord:
    values: dict[str, Any] = dict(
        call_id=f"pbx1:1796000000.{i}", pbx="pbx1", linkedid=f"1796000000.{i}",
        direction="inbound", caller_number="+8613800138000", caller_name="Wang",
        queue="support", agent_extension="6001", agents=("6002", "6001"), state="ended",
        started_at=started, answered_at=started + timedelta(seconds=9),
        ended_at=started + timedelta(seconds=70), wait_s=9.0, talk_s=61.0,
        hangup_cause="16 Normal Clearing", recording_path=None, dtmf="1",
        order_number=None, transferred_to=None, asr_uuid=None, rung=("6002", "6001"))
    values.update(over)
    return CallRecord(**values)


async def test_calls_since_reads_back_what_the_bridge_wrote(new_db: Any,
                                                             tmp_path: Path) -> None:
    settings = make_settings(await new_db(False), tmp_path)
    engine = make_engine(settings.async_database_url, 2)
    try:
        directory = DbCallDirectory(make_sessionmaker(engine), make_read_sessionmaker(engine))
        midnight = datetime(2026, 11, 30, 16, 0, tzinfo=UTC)  # 00:00 Asia/Shanghai
        rows = [_row(1, midnight + timedelta(hours=1)),
                _row(2, midnight - timedelta(hours=2)),  # started before midnight: kept
                _row(3, midnight - timedelta(hours=13)),  # too old to matter
                _row(4, midnight + timedelta(hours=2), pbx="pbx2", call_id="pbx2:1.4"),
                _row(5, midnight + timedelta(hours=3), answered_at=None, ended_at=None,
                     state="queued", talk_s=None, agents=())]
        await directory.record_calls(rows)
        got = {r.call_id: r for r in await directory.calls_since("pbx1", midnight)}
        assert set(got) == {"pbx1:1796000000.1", "pbx1:1796000000.2", "pbx1:1796000000.5"}
        one = got["pbx1:1796000000.1"]
        assert (one.rung, one.agents, one.wait_s, one.talk_s, one.queue) == \
            (("6002", "6001"), ("6002", "6001"), 9.0, 61.0, "support")
        assert one.answered_at == rows[0].answered_at and one.started_at == rows[0].started_at
        assert got["pbx1:1796000000.5"].ended_at is None
    finally:
        await engine.dispose()


@pytest.mark.parametrize("backend", ["sqlite"])  # calls_since runs on both above
async def test_the_served_app_rebuilds_today_from_its_call_log(new_db: Any,
                                                              tmp_path: Path) -> None:
    """Wiring: ``hotline serve``'s bridge (here the demo PBX's) reads today's call log at
    start, so a restarted process shows the day's figures before any new call. The demo
    data's calls may all lie before the site's midnight (a run just after it), so one call
    of a second ago is logged first. (~3 s: an app start with the demo PBX.)"""
    settings = make_settings(await new_db(), tmp_path, ami_url="demo",
                             demo_first_call_s=600)
    engine = make_engine(settings.async_database_url, 2)
    try:
        now = datetime.now(UTC)
        await DbCallDirectory(make_sessionmaker(engine), make_read_sessionmaker(engine)
                              ).record_calls([_row(9, now - timedelta(seconds=3), pbx="demo",
                                                   call_id="demo:1796000000.9",
                                                   answered_at=now - timedelta(seconds=2),
                                                   ended_at=now - timedelta(seconds=1))])
    finally:
        await engine.dispose()
    async with running_app(settings) as (app, client):
        bridge = app.state.services.telephony.bridges["demo"]
        assert bridge.rebuilt is not None and bridge.rebuilt > 0
        live = (await client.get("/api/v1/stats/live", headers=await login(client, "sue"))
                ).json()
        offered = sum(q["windows"]["today"]["offered"] for q in live["queues"])
        assert offered == bridge.rebuilt
