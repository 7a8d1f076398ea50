"""The calls API against the simulated Asterisk: the spy on one call, the call log's fields."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx

from tests.support.live import LiveServer

A = "a_inbound_queue_answered"


async def _until(client: httpx.AsyncClient, path: str, pred: Any, within: float = 15.0) -> Any:
    deadline = time.monotonic() + within
    while True:
        r = await client.get(path)
        r.raise_for_status()
        found = pred(r.json())
        if found:
            return found
        assert time.monotonic() < deadline, f"{path}: condition not met"
        await asyncio.sleep(0.1)


async def test_spy_acts_on_the_call_given_and_the_log_shows_what_it_stored(
        pbx_server: LiveServer, fake_pbx: Any) -> None:
    token = await pbx_server.login("sue")
    task, result = fake_pbx.start_play(A, speed=1.5)  # ~5.7 s answered
    try:
        async with httpx.AsyncClient(base_url=pbx_server.url,
                                     headers={"Authorization": f"Bearer {token}"}) as c:
            # Calls 6010 placed earlier on this shared server (a supervisor's call-back).
            placed = {x["call_id"] for x in (await c.get("/api/v1/calls?limit=500")).json()
                      if "6010" in (x["caller_number"] or "")}
            live = await _until(c, "/api/v1/calls/live", lambda calls: [
                x for x in calls if x["state"] == "answered"])
            call_id = live[0]["call_id"]
            before = len(fake_pbx.actions)
            r = await c.post(f"/api/v1/calls/{call_id}/spy",
                             json={"extension": "6001", "mode": "listen"})
            assert r.status_code == 202, r.text
            [spy] = [a for a in fake_pbx.actions[before:] if a.get("Application") == "ChanSpy"]
            assert spy["Channel"] == "PJSIP/6010" and spy["Data"].startswith("PJSIP/6001-")
            # 6002 rang for this call but is not on it; an unknown call is a 404.
            r = await c.post(f"/api/v1/calls/{call_id}/spy", json={"extension": "6002"})
            assert r.status_code == 409 and "6002" in r.json()["detail"]
            r = await c.post("/api/v1/calls/pbx1:1796000000.1/spy", json={"extension": "6001"})
            assert r.status_code == 404
            # The spy leg never shows as a call of its own.
            calls = (await c.get("/api/v1/calls/live")).json()
            assert [x["call_id"] for x in calls] == [call_id]
            await asyncio.wait_for(result.done.wait(), 30)
            [row] = await _until(c, f"/api/v1/calls?call_id={call_id}", lambda rows: [
                x for x in rows if x["state"] == "ended"])
            assert row["callee_number"] == "100"  # the number the caller dialled
            assert row["dtmf"] == "478#" and row["order_number"] == "478"
            assert row["agents"] == ["6001"] and sorted(row["rung"]) == ["6001", "6002"]
            assert row["transferred_to"] is None
            # The spy leg is in no log: only the customer's call was written.
            since = (await c.get("/api/v1/calls?limit=500")).json()
            assert not [x for x in since if "6010" in (x["caller_number"] or "")
                        and x["call_id"] not in placed]
    finally:
        task.cancel()


async def test_a_call_back_from_a_ticket_meets_its_first_response(
        pbx_server: LiveServer, fake_pbx: Any) -> None:
    token = await pbx_server.login("alice")
    async with httpx.AsyncClient(base_url=pbx_server.url,
                                 headers={"Authorization": f"Bearer {token}"}) as c:
        t = (await c.post("/api/v1/tickets", json={"title": "call me back",
                                                   "assignee": "alice"})).json()
        assert (await c.post("/api/v1/calls/originate", json={
            "to": "13800138000", "ticket_id": 2_000_000})).status_code == 404
        before = len(fake_pbx.actions)
        r = await c.post("/api/v1/calls/originate", json={"to": "13800138000",
                                                          "ticket_id": t["id"]})
        assert r.status_code == 202, r.text
        assert any(a.get("Action") == "Originate" for a in fake_pbx.actions[before:])
        clock = (await c.get(f"/api/v1/tickets/{t['id']}/sla")).json()
        first = next(x for x in clock["targets"] if x["target"] == "first_response")
        assert first["met_at"] is not None and first["business_seconds_left"] is None
        kinds = [e["kind"] for e in (await c.get(f"/api/v1/tickets/{t['id']}/history")).json()]
        assert "called_back" in kinds
