"""The floor API (web/api/floor.py): abandoned calls and their call-backs, the wallboard's
thresholds and tickets at SLA risk on both backends; the PBX actions (pause with a reason,
log out of a queue, call back) against the fake Asterisk, which must receive QueuePause,
QueueRemove and Originate with the member's real interface and the caller's number."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from telephony.simulator import _msg_bytes
from tests.conftest import login
from tests.support.live import LiveServer
from tickets.models import CallLog

_N = iter(range(10**6))


async def _call(services: Any, state: str, caller: str | None, started: datetime,
                **extra: Any) -> str:
    """A call-log row as the bridge writes it; returns its call id."""
    call_id = f"pbx1:{int(started.timestamp())}.{next(_N)}{int(time.time() * 1000) % 10**6}"
    async with services.db() as session:
        session.add(CallLog(call_id=call_id, pbx="pbx1", linkedid=call_id.split(":")[1],
                            caller_number=caller, queue="support", state=state,
                            started_at=started, ended_at=started + timedelta(seconds=40),
                            wait_s=40.0, **extra))
        await session.commit()
    return call_id


def _mine(rows: list[dict[str, Any]], *ids: str) -> dict[str, dict[str, Any]]:
    return {r["call_id"]: r for r in rows if r["call_id"] in ids}


async def test_abandoned_calls_with_their_call_back_status(
        app_client: tuple[FastAPI, httpx.AsyncClient]) -> None:
    app, client = app_client
    services = app.state.services
    sue = await login(client, "sue")
    now = datetime.now(UTC)
    t0 = now - timedelta(minutes=30)
    gave_up = await _call(services, "abandoned", "+8613811112222", t0)
    came_back = await _call(services, "abandoned", "+8613933334444", t0 + timedelta(minutes=1))
    answered_later = await _call(services, "ended", "+8613933334444", t0 + timedelta(minutes=5),
                                 answered_at=t0 + timedelta(minutes=5, seconds=9))
    answered = await _call(services, "ended", "+8613811112222", t0 - timedelta(minutes=9),
                           answered_at=t0 - timedelta(minutes=8))
    since = (t0 - timedelta(minutes=1)).isoformat()
    rows = (await client.get("/api/v1/abandoned", headers=sue,
                             params={"since": since})).json()
    mine = _mine(rows, gave_up, came_back, answered_later, answered)
    assert set(mine) == {gave_up, came_back}  # only abandoned calls
    assert mine[came_back]["returned_at"] is not None  # got through 4 minutes later
    assert mine[gave_up]["returned_at"] is None  # an answered call *before* does not count
    assert mine[gave_up]["callback_status"] == "open" and mine[gave_up]["attempts"] == []
    assert [r["call_id"] for r in rows].index(came_back) < [r["call_id"] for r in rows].index(
        gave_up)  # newest first
    # Too early for the window: not listed.
    later = (await client.get("/api/v1/abandoned", headers=sue,
                              params={"since": (t0 + timedelta(seconds=30)).isoformat()})).json()
    assert gave_up not in {r["call_id"] for r in later}

    # Done: by whom, when, a note; then it leaves the open list, joins the done list.
    r = await client.post(f"/api/v1/abandoned/{gave_up}/done", headers=sue,
                          json={"note": "reached on the mobile"})
    assert r.status_code == 200, r.text
    done = r.json()
    assert done["callback_status"] == "done" and done["done_by"] == "Sue 苏敏"
    assert done["note"] == "reached on the mobile" and done["done_at"]
    again = await client.post(f"/api/v1/abandoned/{gave_up}/done", headers=sue, json={})
    assert again.status_code == 409
    open_now = (await client.get("/api/v1/abandoned", headers=sue,
                                 params={"since": since})).json()
    assert _mine(open_now, gave_up, came_back).keys() == {came_back}
    done_now = (await client.get("/api/v1/abandoned", headers=sue,
                                 params={"since": since, "status": "done"})).json()
    assert _mine(done_now, gave_up, came_back).keys() == {gave_up}
    every = (await client.get("/api/v1/abandoned", headers=sue,
                              params={"since": since, "status": "all"})).json()
    assert _mine(every, gave_up, came_back).keys() == {gave_up, came_back}

    # Unknown or not-abandoned calls: 404; no PBX on this server: a call-back is a 409.
    assert (await client.post("/api/v1/abandoned/pbx1:1.404/done", headers=sue,
                              json={})).status_code == 404
    assert (await client.post(f"/api/v1/abandoned/{answered}/done", headers=sue,
                              json={})).status_code == 404
    r = await client.post(f"/api/v1/abandoned/{came_back}/callback", headers=sue, json={})
    assert r.status_code == 409 and "PBX" in r.text
    # Bad input names the field; agents may not use any of it.
    r = await client.get("/api/v1/abandoned", headers=sue, params={"status": "maybe"})
    assert r.status_code == 422 and "status" in r.text
    r = await client.get("/api/v1/abandoned", headers=sue, params={"since": "yesterday"})
    assert r.status_code == 422 and "since" in r.text
    r = await client.post(f"/api/v1/abandoned/{came_back}/done", headers=sue,
                          json={"note": "x" * 501})
    assert r.status_code == 422 and "note" in r.text
    alice = await login(client, "alice")
    assert (await client.get("/api/v1/abandoned", headers=alice)).status_code == 403
    assert (await client.post(f"/api/v1/abandoned/{came_back}/done", headers=alice,
                              json={})).status_code == 403


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_done_on_a_call_with_over_500_newer_abandoned_calls(
        app_client: tuple[FastAPI, httpx.AsyncClient]) -> None:
    """A busy day: the answer after an action must find *this* call, not the newest 500
    (the action was committed; a 404 then would make the supervisor try again)."""
    app, client = app_client
    sue = await login(client, "sue")
    t0 = datetime.now(UTC) - timedelta(hours=3)
    oldest = await _call(app.state.services, "abandoned", "+8613811112222", t0)
    async with app.state.services.db() as session:
        session.add_all(CallLog(call_id=f"pbx1:busy.{i}", pbx="pbx1", linkedid=f"busy.{i}",
                                caller_number="+8613955556666", queue="support",
                                state="abandoned", started_at=t0 + timedelta(seconds=i + 1))
                        for i in range(501))
        await session.commit()
    r = await client.post(f"/api/v1/abandoned/{oldest}/done", headers=sue, json={})
    assert r.status_code == 200, r.text
    assert r.json()["call_id"] == oldest and r.json()["callback_status"] == "done"


async def test_wallboard_thresholds(client: httpx.AsyncClient) -> None:
    sue = await login(client, "sue")
    got = (await client.get("/api/v1/wallboard/settings", headers=sue)).json()
    assert got["thresholds"] == got["defaults"]
    assert got["thresholds"]["waiting_red"] == 5 and got["thresholds"]["sl_amber"] == 0.8
    assert got["timezone"] and len(got["today"]) == 10
    version = got["version"]
    r = await client.put("/api/v1/wallboard/settings", headers=sue, json={
        "thresholds": {"waiting_red": 8, "sl_amber": 0.9}, "version": version})
    assert r.status_code == 200, r.text
    assert r.json()["thresholds"]["waiting_red"] == 8
    assert r.json()["thresholds"]["waiting_amber"] == 3  # the others keep their value
    assert r.json()["updated_by"] == "Sue 苏敏" and r.json()["version"] == version + 1
    # Stale version: 409; each bad value names its threshold.
    stale = await client.put("/api/v1/wallboard/settings", headers=sue, json={
        "thresholds": {"waiting_red": 9}, "version": version})
    assert stale.status_code == 409
    for bad, name in (({"waiting_red": -1}, "waiting_red"), ({"sl_red": 1.5}, "sl_red"),
                      ({"waiting_amber": 20}, "waiting_amber"),  # past its red (8)
                      ({"sl_red": 0.95}, "sl_amber"),  # red above amber (0.9)
                      ({"blink": 1}, "blink"), ({"waiting_red": "many"}, "waiting_red"),
                      ({"sl_red": True}, "sl_red"), ({"abandon_red": "0.2"}, "abandon_red")):
        r = await client.put("/api/v1/wallboard/settings", headers=sue,
                             json={"thresholds": bad})
        assert r.status_code == 422 and f"thresholds.{name}" in r.text, (bad, r.text)
    kept = (await client.get("/api/v1/wallboard/settings", headers=sue)).json()
    assert kept["thresholds"]["waiting_red"] == 8 and kept["thresholds"]["sl_amber"] == 0.9
    alice = await login(client, "alice")
    assert (await client.get("/api/v1/wallboard/settings", headers=alice)).status_code == 403
    assert (await client.put("/api/v1/wallboard/settings", headers=alice,
                             json={"thresholds": {}})).status_code == 403


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_no_control_characters_reach_the_pbx(client: httpx.AsyncClient) -> None:
    """A reason or queue goes into an AMI header: a line break there would start a second
    action (``Action: Hangup``…) on the PBX. 422 naming the field, before any PBX check."""
    sue = await login(client, "sue")
    for body, field in (({"paused": True, "reason": "lunch\r\nAction: Hangup"}, "reason"),
                        ({"paused": True, "reason": "a\x00b"}, "reason"),
                        ({"paused": True, "queue": "support\nAction: Logoff"}, "queue")):
        r = await client.post("/api/v1/agents/6002/pause", headers=sue, json=body)
        assert r.status_code == 422 and field in r.text, (body, r.status_code, r.text)
    r = await client.post("/api/v1/agents/6002/logout", headers=sue,
                          json={"queue": "support\r\nAction: Logoff"})
    assert r.status_code == 422 and "queue" in r.text, r.text
    # An agent's own pause reason goes the same way (POST /agents/me/state).
    alice = await login(client, "alice")
    r = await client.post("/api/v1/agents/me/state", headers=alice,
                          json={"state": "paused", "reason": "lunch\r\nAction: Hangup"})
    assert r.status_code == 422 and "reason" in r.text, r.text


async def test_tickets_at_sla_risk(client: httpx.AsyncClient) -> None:
    sue = await login(client, "sue")
    urgent = (await client.post("/api/v1/tickets", headers=sue, json={
        "title": "no heating, baby at home", "priority": "urgent", "assignee": "alice"})).json()
    low = (await client.post("/api/v1/tickets", headers=sue, json={
        "title": "a question about the manual", "priority": "low"})).json()
    rows = (await client.get("/api/v1/sla/at-risk", headers=sue,
                             params={"within_minutes": 60, "limit": 100})).json()
    ids = [r["id"] for r in rows]
    assert urgent["id"] in ids and low["id"] not in ids  # urgent: first response in 30 min
    mine = next(r for r in rows if r["id"] == urgent["id"])
    assert mine["target"] == "first_response" and 0 < mine["seconds_left"] <= 30 * 60
    assert mine["assignee"] == "Alice 王丽" and mine["number"] == urgent["number"]
    assert [r["due_at"] for r in rows] == sorted(r["due_at"] for r in rows)
    # The default window is the wallboard's sla_risk_minutes.
    await client.put("/api/v1/wallboard/settings", headers=sue,
                     json={"thresholds": {"sla_risk_minutes": 1}})
    default = (await client.get("/api/v1/sla/at-risk", headers=sue)).json()
    assert urgent["id"] not in [r["id"] for r in default]
    r = await client.get("/api/v1/sla/at-risk", headers=sue, params={"within_minutes": 0})
    assert r.status_code == 422 and "within_minutes" in r.text
    alice = await login(client, "alice")
    assert (await client.get("/api/v1/sla/at-risk", headers=alice)).status_code == 403


# --- the PBX actions, against the fake Asterisk (SQLite live server) ----------------------

async def _until(pred: Any, within: float = 5.0) -> Any:
    deadline = time.monotonic() + within
    while not (found := pred()):
        assert time.monotonic() < deadline, "condition not met"
        await asyncio.sleep(0.05)
    return found


def _actions(fake: Any, since: int, name: str) -> list[dict[str, Any]]:
    return [a for a in fake.actions[since:] if a.get("Action") == name]


async def test_pause_and_unpause_an_agent_with_a_reason(pbx_server: LiveServer,
                                                        fake_pbx: Any) -> None:
    token = await pbx_server.login("sue")
    async with httpx.AsyncClient(base_url=pbx_server.url,
                                 headers={"Authorization": f"Bearer {token}"}) as c:
        before = len(fake_pbx.actions)
        r = await c.post("/api/v1/agents/6002/pause", json={"paused": True,
                                                            "reason": "meeting"})
        assert r.status_code == 202, r.text
        assert r.json()["interfaces"] == ["PJSIP/6002"]
        [pause] = _actions(fake_pbx, before, "QueuePause")
        assert pause["Interface"] == "PJSIP/6002" and pause["Paused"] == "true"
        assert pause["Reason"] == "meeting"
        assert fake_pbx.members["support"]["PJSIP/6002"]["PausedReason"] == "meeting"
        r = await c.post("/api/v1/agents/6002/pause", json={"paused": False,
                                                            "reason": "ignored"})
        assert r.status_code == 202 and r.json()["reason"] is None
        [unpause] = _actions(fake_pbx, before, "QueuePause")[1:]
        assert unpause["Paused"] == "false" and "Reason" not in unpause
        assert fake_pbx.members["support"]["PJSIP/6002"]["Paused"] == "0"
        # Unknown agent 404, bad input 422 naming the field, nothing sent to the PBX.
        n = len(fake_pbx.actions)
        r = await c.post("/api/v1/agents/6999/pause", json={"paused": True})
        assert r.status_code == 404 and "extension" in r.text
        r = await c.post("/api/v1/agents/6002/pause", json={"paused": True,
                                                            "reason": "x" * 65})
        assert r.status_code == 422 and "reason" in r.text
        r = await c.post("/api/v1/agents/6002/pause", json={"paused": "yes"})
        assert r.status_code == 422 and "paused" in r.text
        r = await c.post("/api/v1/agents/abc/pause", json={"paused": True})
        assert r.status_code == 422 and "extension" in r.text
        assert len(fake_pbx.actions) == n
    alice = await pbx_server.login("alice")
    async with httpx.AsyncClient(base_url=pbx_server.url,
                                 headers={"Authorization": f"Bearer {alice}"}) as c:
        r = await c.post("/api/v1/agents/6002/pause", json={"paused": True})
        assert r.status_code == 403


async def _add_member(fake: Any, queue: str, iface: str) -> None:
    """A member in a queue of the fake PBX, announced as app_queue does (QueueMemberAdded)."""
    m = {"Name": f"Agent {iface[-4:]}", "Location": iface, "StateInterface": iface,
         "Membership": "dynamic", "Penalty": "0", "CallsTaken": "0", "LastCall": "0",
         "LastPause": "0", "LoginTime": str(int(time.time())), "InCall": "0", "Status": "1",
         "Paused": "0", "PausedReason": "", "Wrapuptime": "0"}
    fake.members.setdefault(queue, {})[iface] = m
    await fake.broadcast(_msg_bytes({"Event": "QueueMemberAdded", "Privilege": "agent,all",
                                     "Queue": queue, "MemberName": m["Name"],
                                     "Interface": iface, "StateInterface": iface,
                                     "Status": "1", "Paused": "0", "PausedReason": ""}))


async def test_log_an_agent_out_of_a_queue(pbx_server: LiveServer, fake_pbx: Any) -> None:
    token = await pbx_server.login("sue")
    telephony = pbx_server.services.telephony
    await _add_member(fake_pbx, "sales", "PJSIP/6002")
    await _add_member(fake_pbx, "sales", "PJSIP/6003")
    try:
        await _until(lambda: len(telephony.memberships("6003")) == 1)
        async with httpx.AsyncClient(base_url=pbx_server.url,
                                     headers={"Authorization": f"Bearer {token}"}) as c:
            before = len(fake_pbx.actions)
            r = await c.post("/api/v1/agents/6002/logout", json={"queue": "sales"})
            assert r.status_code == 202, r.text
            assert r.json()["removed"] == [{"queue": "sales", "interface": "PJSIP/6002"}]
            [remove] = _actions(fake_pbx, before, "QueueRemove")
            assert remove == {**remove, "Queue": "sales", "Interface": "PJSIP/6002"}
            assert "PJSIP/6002" in fake_pbx.members["support"]  # only that queue
            await _until(lambda: telephony.memberships("6002", "sales") == [])
            # Not (any longer) a member there: 409, nothing sent.
            r = await c.post("/api/v1/agents/6002/logout", json={"queue": "sales"})
            assert r.status_code == 409 and "sales" in r.text
            # No queue named: every queue it is in (6003, no Hotline user, the PBX lists it).
            r = await c.post("/api/v1/agents/6003/logout", json={})
            assert r.status_code == 202, r.text
            assert [a["Queue"] for a in _actions(fake_pbx, before, "QueueRemove")] == [
                "sales", "sales"]
            await _until(lambda: telephony.memberships("6003") == [])
            r = await c.post("/api/v1/agents/6003/logout", json={})
            assert r.status_code == 404  # now nobody knows 6003
            r = await c.post("/api/v1/agents/6002/logout", json={"queue": ""})
            assert r.status_code == 422 and "queue" in r.text
    finally:
        fake_pbx.members.pop("sales", None)


async def test_call_back_an_abandoned_caller(pbx_server: LiveServer, fake_pbx: Any) -> None:
    services = pbx_server.services
    started = datetime.now(UTC) - timedelta(minutes=3)
    call_id = pbx_server.call(_call(services, "abandoned", "+8615921876543", started))
    withheld = pbx_server.call(_call(services, "abandoned", None, started))
    odd = pbx_server.call(_call(services, "abandoned", "anonymous", started))
    token = await pbx_server.login("sue")
    async with httpx.AsyncClient(base_url=pbx_server.url,
                                 headers={"Authorization": f"Bearer {token}"}) as c:
        before = len(fake_pbx.actions)
        # From an agent's phone: alice's rings, then the caller's number.
        r = await c.post(f"/api/v1/abandoned/{call_id}/callback", json={"extension": "6001"})
        assert r.status_code == 202, r.text
        [orig] = _actions(fake_pbx, before, "Originate")
        assert orig["Channel"] == "PJSIP/6001" and orig["Exten"] == "+8615921876543"
        body = r.json()
        assert body["originate"]["extension"] == "6001"
        assert [(a["by"], a["extension"], a["outcome"]) for a in body["attempts"]] == [
            ("Sue 苏敏", "6001", "requested")]
        assert body["callback_status"] == "open"  # calling is not reaching
        # Default: the supervisor's own phone (sue: 6010).
        r = await c.post(f"/api/v1/abandoned/{call_id}/callback", json={})
        assert r.status_code == 202, r.text
        assert _actions(fake_pbx, before, "Originate")[-1]["Channel"] == "PJSIP/6010"
        assert len(r.json()["attempts"]) == 2
        # A number the PBX cannot dial: 422, and the attempt is recorded as failed.
        r = await c.post(f"/api/v1/abandoned/{odd}/callback", json={})
        assert r.status_code == 422 and "dialable" in r.text
        listed = (await c.get("/api/v1/abandoned", params={"status": "all", "since": (
            started - timedelta(seconds=1)).isoformat()})).json()
        rows = _mine(listed, call_id, odd)
        assert len(rows[call_id]["attempts"]) == 2
        assert [(a["outcome"], a["extension"]) for a in rows[odd]["attempts"]] == [
            ("failed", "6010")]
        assert "dialable" in rows[odd]["attempts"][0]["detail"]
        r = await c.post(f"/api/v1/abandoned/{call_id}/done", json={})
        assert r.status_code == 200 and r.json()["callback_status"] == "done"
        # Unknown call / agent: 404; nobody to call: 409; bad extension: 422.
        n = len(fake_pbx.actions)
        assert (await c.post("/api/v1/abandoned/pbx1:1.1/callback",
                             json={})).status_code == 404
        r = await c.post(f"/api/v1/abandoned/{call_id}/callback", json={"extension": "6999"})
        assert r.status_code == 404 and "extension" in r.text
        r = await c.post(f"/api/v1/abandoned/{withheld}/callback", json={})
        assert r.status_code == 409
        r = await c.post(f"/api/v1/abandoned/{call_id}/callback", json={"extension": "x1"})
        assert r.status_code == 422 and "extension" in r.text
        assert _actions(fake_pbx, n, "Originate") == []
