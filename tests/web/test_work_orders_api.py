"""Field dispatch over HTTP on the demo data (SQLite and PostgreSQL): create and read with
visibility, bad input naming the field, eric's day from accept to completion (photo,
signature, report; the ticket resolves), the offline queue, a decline and going off duty
handing orders on, engineers, day plan and board."""

from __future__ import annotations

import asyncio
import base64
from datetime import UTC, datetime
from typing import Any

import httpx
from fastapi import FastAPI

from tests.conftest import login

PNG = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk"
                       "+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==")
PNG_URL = "data:image/png;base64," + base64.b64encode(PNG).decode()
WINDOW = {"window_start": "2030-01-08T10:00+08:00", "window_end": "2030-01-08T12:00+08:00"}


async def _open_ticket(client: httpx.AsyncClient, admin: dict[str, str],
                       eric_id: int) -> dict[str, Any]:
    """An open demo ticket that is not eric's (nor has a work order yet)."""
    items = (await client.get("/api/v1/tickets", headers=admin,
                              params={"status": "open", "limit": 200})).json()["items"]
    busy = {o["ticket_id"] for o in (await client.get(
        "/api/v1/work_orders", headers=admin, params={"limit": 200})).json()["items"]}
    return next(t for t in items if t["assignee_id"] != eric_id and t["id"] not in busy
                and t["customer_id"] is not None)


async def _me(client: httpx.AsyncClient, headers: dict[str, str]) -> dict[str, Any]:
    me: dict[str, Any] = (await client.get("/api/v1/auth/me", headers=headers)).json()
    return me


async def test_create_read_and_bad_input(client: httpx.AsyncClient) -> None:
    admin, alice = await login(client, "admin"), await login(client, "alice")
    eric, wang = await login(client, "eric"), await login(client, "wang")
    eric_id = (await _me(client, eric))["id"]
    ticket = await _open_ticket(client, admin, eric_id)
    url = f"/api/v1/tickets/{ticket['id']}/work_orders"
    resp = await client.post(url, headers=alice, json={
        "lat": 31.23, "lon": 121.47, "required_skills": ["hvac"], "duration_min": 90,
        "parts_planned": [{"name": "电容", "qty": 2}], **WINDOW})
    assert resp.status_code == 201, resp.text
    order = resp.json()
    assert order["number"].startswith("WO-") and order["status"] == "pending"
    assert order["ticket_number"] == ticket["number"] and order["customer"]["id"] == \
        ticket["customer_id"]
    assert datetime.fromisoformat(order["window_start"]) == datetime(2030, 1, 8, 2, tzinfo=UTC)
    wid = order["id"]
    assert (await client.get(f"/api/v1/work_orders/{wid}", headers=alice)).status_code == 200
    for who in (eric, wang):
        assert (await client.get(f"/api/v1/work_orders/{wid}", headers=who)).status_code == 404
    assert (await client.get("/api/v1/work_orders", headers=wang)).status_code == 404
    listed = (await client.get(url, headers=alice)).json()
    assert [o["id"] for o in listed] == [wid]
    history = (await client.get(f"/api/v1/tickets/{ticket['id']}/history",
                                headers=alice)).json()
    assert "work_order_created" in [e["kind"] for e in history]
    wang_ticket = next(t for t in (await client.get("/api/v1/tickets", headers=wang)).json()[
        "items"])
    await client.post(f"/api/v1/tickets/{wang_ticket['id']}/work_orders", headers=alice, json={})
    seen = (await client.get(f"/api/v1/tickets/{wang_ticket['id']}/history",
                             headers=wang)).json()
    assert not [e for e in seen if e["kind"].startswith("work_order")]  # staff material
    for body, name in [({"lat": 91, "lon": 0}, "lat"), ({"lon": 200, "lat": 0}, "lon"),
                       ({"window_start": "2030-01-08T12:00+08:00",
                         "window_end": "2030-01-08T10:00+08:00"}, "window_end"),
                       ({"parts_planned": [{"name": "x", "qty": 0}]}, "qty"),
                       ({"required_skills": ["juggling"]}, "required_skills")]:
        resp = await client.post(url, headers=alice, json=body)
        assert resp.status_code == 422 and name in resp.text, (body, resp.text)
    resp = await client.post(f"/api/v1/work_orders/{wid}/status", headers=alice,
                             json={"status": "flying"})
    assert resp.status_code == 422 and "status" in resp.json()["detail"]
    resp = await client.patch(f"/api/v1/work_orders/{wid}", headers=alice,
                              json={"notes": "call first", "version": 99})
    assert resp.status_code == 409
    resp = await client.patch(f"/api/v1/work_orders/{wid}", headers=alice,
                              json={"notes": "call first", "version": 1})
    assert resp.status_code == 200 and resp.json()["version"] == 2


async def test_erics_day_to_completion_resolves_the_ticket(client: httpx.AsyncClient) -> None:
    eric, sue = await login(client, "eric"), await login(client, "sue")
    eric_id = (await _me(client, eric))["id"]
    mine = (await client.get("/api/v1/work_orders", headers=eric)).json()
    assert mine["total"] >= 3 and all(o["engineer"]["id"] == eric_id for o in mine["items"])
    assert all(o["plan_seq"] is not None for o in mine["items"])  # the demo planned his day
    plan = (await client.get(f"/api/v1/engineers/{eric_id}/plan", headers=eric)).json()
    assert [s["seq"] for s in plan["stops"]] == list(range(1, len(plan["stops"]) + 1))
    order = next(o for o in mine["items"] if o["status"] == "assigned")
    wid, tid = order["id"], order["ticket_id"]
    resp = await client.post(f"/api/v1/work_orders/{wid}/status", headers=sue,
                             json={"status": "accepted"})
    assert resp.status_code == 403  # the engineer's move
    for step in ("accepted", "en_route", "on_site"):
        resp = await client.post(f"/api/v1/work_orders/{wid}/status", headers=eric,
                                 json={"status": step, "op_id": f"api-{wid}-{step}",
                                       # a phone's clock far ahead: kept at the server's now
                                       "at": "2099-01-01T00:00:00+08:00"})
        assert resp.status_code == 200, resp.text
    again = await client.post(f"/api/v1/work_orders/{wid}/status", headers=eric,
                              json={"status": "accepted", "op_id": f"api-{wid}-accepted"})
    assert again.status_code == 200 and again.json()["status"] == "on_site"  # a retry
    reused = await client.post(f"/api/v1/work_orders/{wid}/status", headers=eric,
                               json={"status": "completed", "op_id": f"api-{wid}-accepted"})
    assert reused.status_code == 409 and "op_id" in reused.json()["detail"]
    fake = await client.post(f"/api/v1/work_orders/{wid}/photos", headers=eric,
                             files={"file": ("x.png", b"<html><script>1</script>",
                                             "image/png")})
    assert fake.status_code == 422 and "not a PNG or JPEG" in fake.text
    times = (await client.get(f"/api/v1/work_orders/{wid}", headers=eric)).json()
    assert all(datetime.fromisoformat(t) <= datetime.now(UTC)
               for t in times["status_times"].values())
    resp = await client.post(f"/api/v1/work_orders/{wid}/photos", headers=eric,
                             files={"file": ("fan.png", PNG, "image/png")})
    assert resp.status_code == 201, resp.text
    resp = await client.post(f"/api/v1/work_orders/{wid}/signature", headers=eric,
                             json={"data_url": PNG_URL, "signed_by": "王经理"})
    assert resp.status_code == 201 and resp.json()["signed_by"] == "王经理"
    files = resp.json()["files"]
    assert [f["kind"] for f in files] == ["photo", "signature"]
    got = await client.get(files[0]["url"], headers=eric)
    assert got.status_code == 200 and got.content == PNG
    resp = await client.post(f"/api/v1/work_orders/{wid}/report", headers=eric, json={
        "notes": "换通讯板", "parts_used": [{"name": "通讯板", "qty": 1}], "rating": 5})
    assert resp.status_code == 200 and resp.json()["rating"] == 5
    resp = await client.post(f"/api/v1/work_orders/{wid}/status", headers=eric,
                             json={"status": "completed"})
    assert resp.status_code == 200 and resp.json()["status"] == "completed"
    ticket = (await client.get(f"/api/v1/tickets/{tid}", headers=sue)).json()
    others = [o for o in (await client.get(f"/api/v1/tickets/{tid}/work_orders",
                                           headers=sue)).json() if o["status"] != "completed"]
    assert ticket["status"] == ("resolved" if not others else ticket["status"])
    big = await client.post(f"/api/v1/work_orders/{wid}/photos", headers=eric,
                            files={"file": ("big.png", b"\x89PNG" + b"0" * (11 << 20),
                                            "image/png")})
    assert big.status_code == 413


async def test_sync_decline_duty_engineers_and_board(
        app_client: tuple[FastAPI, httpx.AsyncClient]) -> None:
    app, client = app_client
    admin, sue, eric = await login(client, "admin"), await login(client, "sue"), \
        await login(client, "eric")
    eric_id = (await _me(client, eric))["id"]
    engineers = (await client.get("/api/v1/engineers", headers=sue)).json()
    assert {e["username"] for e in engineers} >= {"eric", "liu", "zhao", "sun", "zhou"}
    ticket = await _open_ticket(client, admin, eric_id)
    created = (await client.post(f"/api/v1/tickets/{ticket['id']}/work_orders", headers=sue,
                                 json={"lat": 31.2290, "lon": 121.4485, **WINDOW})).json()
    wid = created["id"]
    resp = await client.post(f"/api/v1/work_orders/{wid}/assign", headers=sue,
                             json={"engineer_id": eric_id})
    assert resp.status_code == 200 and resp.json()["version"] == 2
    ops = [{"op_id": f"s-{wid}-1", "work_order_id": wid, "kind": "status", "base_version": 2,
            "payload": {"status": "accepted"}},
           {"op_id": f"s-{wid}-2", "work_order_id": wid, "kind": "report", "base_version": 2,
            "payload": {"notes": "on my way"}}]
    first = (await client.post("/api/v1/dispatch/sync", headers=eric, json={"ops": ops}))
    assert [r["outcome"] for r in first.json()["results"]] == ["applied", "applied"]  # own
    await client.patch(f"/api/v1/work_orders/{wid}", headers=sue, json={"notes": "gate B"})
    late = [{"op_id": f"s-{wid}-3", "work_order_id": wid, "kind": "status", "base_version": 4,
             "payload": {"status": "en_route"}}]
    [conflict] = (await client.post("/api/v1/dispatch/sync", headers=eric,
                                    json={"ops": late})).json()["results"]
    assert conflict["outcome"] == "conflict" and conflict["work_order"]["notes"] == "gate B"
    assert conflict["work_order"]["status"] == "accepted"
    again = (await client.post("/api/v1/dispatch/sync", headers=eric,
                               json={"ops": ops})).json()["results"]
    assert [r["outcome"] for r in again] == ["duplicate", "duplicate"]
    outbox = (await client.get("/api/v1/admin/outbox", headers=admin,
                               params={"limit": 200})).json()["items"]
    assert any(m["kind"] == "work_order" and m["ticket_id"] == ticket["id"] for m in outbox)
    sub = app.state.services.bus.subscribe("work_orders")
    got: dict[int, dict[str, Any]] = {}
    try:
        resp = await client.post(f"/api/v1/work_orders/{wid}/decline", headers=eric,
                                 json={"reason": "too far today"})
        assert resp.status_code == 200, resp.text
        assert resp.json()["address"] is None and resp.json()["engineer"]["id"] != eric_id

        async def two() -> None:
            async for _topic, event in sub:
                if event.get("type") == "work_order":
                    got[int(event["engineer_id"])] = dict(event["work_order"])
                if len(got) >= 2:
                    return

        await asyncio.wait_for(two(), 5)
    finally:
        await sub.close()
    now = (await client.get(f"/api/v1/work_orders/{wid}", headers=sue)).json()
    assert now["engineer"] is not None and now["engineer"]["id"] != eric_id
    taker = now["engineer"]["id"]
    assert got[eric_id]["address"] is None and got[taker]["address"] == now["address"]
    candidates = (await client.get(f"/api/v1/work_orders/{wid}/candidates",
                                   headers=sue)).json()
    assert eric_id in [r["engineer"]["id"] for r in candidates["refused"]]
    resp = await client.post(f"/api/v1/engineers/{taker}/duty", headers=sue,
                             json={"on_duty": False, "reason": "sick"})
    assert resp.status_code == 200 and resp.json()["on_duty"] is False
    own = (await client.get(f"/api/v1/engineers/{taker}/plan", headers=sue)).json()
    assert own["engineer"]["on_duty"] is False and own["engineer"]["off_reason"] == "sick"
    moved = (await client.get(f"/api/v1/work_orders/{wid}", headers=sue)).json()
    assert moved["engineer"] is None or moved["engineer"]["id"] not in (taker, eric_id)
    history = [e["kind"] for e in (await client.get(
        f"/api/v1/tickets/{ticket['id']}/history", headers=sue)).json()]
    assert history.count("work_order_reassigned") == 2
    board = (await client.get("/api/v1/dispatch/board", headers=sue)).json()
    assert len(board["engineers"]) >= 5 and isinstance(board["unassigned"], list)
    pos = await client.post("/api/v1/engineers/me/position", headers=eric,
                            json={"lat": 31.22, "lon": 121.45})
    assert pos.status_code == 200 and pos.json()["position"]["source"] == "last"
    bad = await client.post("/api/v1/engineers/me/position", headers=eric,
                            json={"lat": 100, "lon": 121.45})
    assert bad.status_code == 422 and "lat" in bad.text
    replanned = await client.post(f"/api/v1/engineers/{eric_id}/plan", headers=sue)
    assert replanned.status_code == 200 and replanned.json()["engineer"]["id"] == eric_id




async def test_calling_the_contact_goes_through_the_order(client: httpx.AsyncClient) -> None:
    """Click-to-call dials the order's own contact: another engineer gets 404, and without
    a PBX (the test app has none) the order's engineer gets a 409 saying so."""
    eric, liu = await login(client, "eric"), await login(client, "liu")
    mine = (await client.get("/api/v1/work_orders", headers=eric)).json()["items"]
    open_ = next(o for o in mine if o["status"] not in ("completed", "failed", "cancelled"))
    url = f"/api/v1/work_orders/{open_['id']}/call"
    assert (await client.post(url, headers=liu)).status_code == 404
    resp = await client.post(url, headers=eric)
    assert resp.status_code == 409 and "PBX" in resp.json()["detail"]
