"""The SLA API on both backends: calendars and policies with 422s naming the field, a
ticket's clock, supervision orders (督办) and the online-staff notice they send."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import update

from tests.conftest import login
from tickets.models import Ticket
from tickets.sla import service as sla


async def test_calendars_and_policies(client: httpx.AsyncClient) -> None:
    admin = await login(client, "admin")
    cals = (await client.get("/api/v1/admin/sla/calendars", headers=admin)).json()
    assert [c["key"] for c in cals] == ["24x7", "office"]
    bad = await client.post("/api/v1/admin/sla/calendars", headers=admin, json={
        "key": "late", "name": "Late", "hours": {"mon": ["18:00-09:00"]}})
    assert bad.status_code == 422 and "hours" in bad.text
    bad = await client.post("/api/v1/admin/sla/calendars", headers=admin, json={
        "key": "x", "name": "X", "holidays": "ZZ"})
    assert bad.status_code == 422 and "holidays" in bad.text
    bad = await client.post("/api/v1/admin/sla/calendars", headers=admin, json={
        "key": "never", "name": "Never open"})
    assert bad.status_code == 422 and "hours" in bad.text
    cal = await client.post("/api/v1/admin/sla/calendars", headers=admin, json={
        "key": "late", "name": "Late shift", "holidays": "CN",
        "hours": {"mon": ["13:00-22:00"], "sat": ["10:00-16:00"]},
        "closed_days": ["2026-12-24"]})
    assert cal.status_code == 201, cal.text
    policies = (await client.get("/api/v1/admin/sla/policies", headers=admin)).json()
    assert {p["priority"]: p["resolution_minutes"] for p in policies} == {
        "urgent": 240, "high": 1440, "normal": 4320, "low": 10080}
    bad = await client.post("/api/v1/admin/sla/policies", headers=admin, json={
        "name": "vip", "priority": "high", "calendar_id": cal.json()["id"],
        "first_response_minutes": 30, "resolution_minutes": 600,
        "escalation": [{"after_minutes": 5, "action": "explode"}]})
    assert bad.status_code == 422 and "escalation[0].action" in bad.text
    made = await client.post("/api/v1/admin/sla/policies", headers=admin, json={
        "name": "vip", "priority": "high", "customer_tier": "vip",
        "calendar_id": cal.json()["id"], "first_response_minutes": 30,
        "resolution_minutes": 600, "escalation": [
            {"after_minutes": 0, "action": "notify_supervisors"},
            {"after_minutes": 60, "action": "assign_user", "user": "sue"}]})
    assert made.status_code == 201, made.text
    emptied = await client.patch(f"/api/v1/admin/sla/calendars/{cal.json()['id']}",
                                 headers=admin, json={"hours": {}})
    assert emptied.status_code == 422 and "hours" in emptied.text
    busy = await client.delete(f"/api/v1/admin/sla/calendars/{cal.json()['id']}",
                               headers=admin)
    assert busy.status_code == 409
    stale = await client.patch(f"/api/v1/admin/sla/policies/{made.json()['id']}",
                               headers=admin, json={"version": 9, "enabled": False})
    assert stale.status_code == 409
    alice = await login(client, "alice")
    assert (await client.post("/api/v1/admin/sla/policies", headers=alice,
                              json={})).status_code == 403


async def test_ticket_clock_and_supervision_order(
        app_client: tuple[FastAPI, httpx.AsyncClient]) -> None:
    app, client = app_client
    sent: list[tuple[str, dict[str, Any]]] = []
    bus = app.state.services.bus
    original = bus.publish

    async def spy(topic: str, message: dict[str, Any]) -> None:
        sent.append((topic, message))
        await original(topic, message)

    bus.publish = spy
    alice, sue = await login(client, "alice"), await login(client, "sue")
    # the demo's backdated open tickets run their clock too (the overdue ones: due now)
    demo = (await client.get("/api/v1/tickets", headers=alice,
                             params={"status": "in_progress", "limit": 5})).json()["items"]
    assert demo
    for tk in demo:
        clock = (await client.get(f"/api/v1/tickets/{tk['id']}/sla", headers=alice)).json()
        # a clock: still to look at, or already swept (the job engine runs in the app)
        assert clock["policy"].endswith("(default)")
        assert clock["next_at"] is not None or clock["breached_at"] is not None, clock
    me = (await client.get("/api/v1/auth/me", headers=alice)).json()
    t = (await client.post("/api/v1/tickets", headers=alice, json={
        "title": "no hot water", "priority": "urgent", "assignee": "alice"})).json()
    clock = (await client.get(f"/api/v1/tickets/{t['id']}/sla", headers=alice)).json()
    assert clock["policy"] == "urgent (default)" and clock["business_time"] is False
    first = clock["targets"][0]
    assert first["target"] == "first_response" and 0 < first["business_seconds_left"] <= 1800
    bad = await client.post(f"/api/v1/tickets/{t['id']}/supervision", headers=sue,
                            json={"note": "x", "deadline_at": "2001-01-01T00:00:00Z"})
    assert bad.status_code == 422 and "deadline_at" in bad.text
    assert (await client.post(f"/api/v1/tickets/{t['id']}/supervision", headers=alice,
                              json={"note": "x", "deadline_at": "2099-01-01T00:00:00Z"})
            ).status_code == 403
    order = await client.post(f"/api/v1/tickets/{t['id']}/supervision", headers=sue,
                              json={"note": "今天必须修好", "deadline_at": "2099-01-01T00:00:00Z"})
    assert order.status_code == 201, order.text
    told = await _outbox(client, t["id"], "supervision_order")
    assert [m["recipient"] for m in told if m["channel"] == "ws"] == [str(me["id"])]
    seen = (await client.get(f"/api/v1/tickets/{t['id']}/supervision", headers=alice)).json()
    assert [o["note"] for o in seen] == ["今天必须修好"] and seen[0]["status"] == "open"
    resolved = await client.patch(f"/api/v1/tickets/{t['id']}", headers=alice,
                                  json={"status": "resolved"})
    assert resolved.status_code == 200, resolved.text
    seen = (await client.get(f"/api/v1/tickets/{t['id']}/supervision", headers=alice)).json()
    assert seen[0]["status"] == "done"
    history = (await client.get(f"/api/v1/tickets/{t['id']}/history", headers=alice)).json()
    assert {"supervision_ordered", "supervision_closed"} <= {e["kind"] for e in history}


async def _outbox(client: httpx.AsyncClient, ticket_id: int, kind: str) -> list[dict[str, Any]]:
    """The outbox messages of ``kind`` about the ticket (the Notify port's rows)."""
    admin = await login(client, "admin")
    page = (await client.get("/api/v1/admin/outbox", headers=admin,
                             params={"limit": 200})).json()
    return [m for m in page["items"] if m["ticket_id"] == ticket_id and m["kind"] == kind]


async def test_the_sweep_tells_staff_after_the_commit_only(
        app_client: tuple[FastAPI, httpx.AsyncClient]) -> None:
    """The Notify port wired in web/wiring.py (the outbox): a sweep's breach is queued for
    the assignee in the sweep's transaction and reaches their console as a notification;
    a rolled-back sweep tells nobody."""
    app, client = app_client
    services = app.state.services
    sent: list[dict[str, Any]] = []
    original = services.bus.publish

    async def spy(topic: str, message: dict[str, Any]) -> None:
        sent.append(message)
        await original(topic, message)

    services.bus.publish = spy
    alice = await login(client, "alice")
    me = (await client.get("/api/v1/auth/me", headers=alice)).json()
    t = (await client.post("/api/v1/tickets", headers=alice, json={
        "title": "late", "priority": "urgent", "assignee": "alice"})).json()
    async with services.db() as s, s.begin():
        await s.execute(update(Ticket).values(sla_next_at=None))  # only this one
        ticket = await s.get_one(Ticket, t["id"])
        ticket.sla_next_at = ticket.created_at
    later = datetime.now(UTC) + timedelta(minutes=31)
    async with services.db() as s:
        async with s.begin():
            report = await sla.sweep(s, now=later, notify=services.notify)
            assert report.fired == 1
            await s.rollback()
    assert await _outbox(client, t["id"], "sla_breach") == []
    async with services.db() as s, s.begin():
        await sla.sweep(s, now=later, notify=services.notify)
    told = await _outbox(client, t["id"], "sla_breach")
    assert str(me["id"]) in [m["recipient"] for m in told if m["channel"] == "ws"]
    for _ in range(150):  # the outbox's delivery loop polls about once a second
        notices = [m for m in sent if m.get("type") == "notification"
                   and m.get("kind") == "sla_breach" and m.get("ticket_id") == t["id"]]
        if notices:
            break
        await asyncio.sleep(0.05)
    assert notices and notices[0]["user_ids"] == [me["id"]]


async def test_a_customer_reads_no_staff_internals(client: httpx.AsyncClient) -> None:
    """The customer's copy of their ticket (read, list, create, detail refs) has no SLA
    clock, no staff or group id and no status moves; staff still see them all."""
    alice, wang = await login(client, "alice"), await login(client, "wang")
    me = (await client.get("/api/v1/auth/me", headers=wang)).json()
    t = (await client.post("/api/v1/tickets", headers=alice, json={
        "title": "leaking tap", "priority": "urgent", "assignee": "alice",
        "customer_id": me["customer_id"]})).json()
    staff = (await client.get(f"/api/v1/tickets/{t['id']}", headers=alice)).json()
    assert staff["assignee_id"] is not None and staff["due_at"] is not None
    assert staff["allowed_status"]
    child = (await client.post("/api/v1/tickets", headers=alice, json={
        "title": "second tap", "assignee": "alice", "customer_id": me["customer_id"]})).json()
    linked = await client.post(f"/api/v1/tickets/{t['id']}/children/{child['id']}",
                               headers=alice)
    assert linked.status_code == 200, linked.text
    blanks = {"assignee_id": None, "group_id": None, "first_response_due_at": None,
              "due_at": None, "sla_breached_at": None, "sla_paused": False,
              "allowed_status": []}
    seen = (await client.get(f"/api/v1/tickets/{t['id']}", headers=wang)).json()
    assert {k: seen[k] for k in blanks} == blanks
    assert seen["number"] == t["number"] and seen["status"] == t["status"]
    assert seen["children"] and all(c["assignee_id"] is None for c in seen["children"])
    listed = (await client.get("/api/v1/tickets", headers=wang)).json()["items"]
    assert t["id"] in {x["id"] for x in listed}
    for row in listed:
        assert {k: row[k] for k in blanks} == blanks
    own = await client.post("/api/v1/tickets", headers=wang, json={"title": "my own"})
    assert own.status_code == 201, own.text
    assert {k: own.json()[k] for k in blanks} == blanks


async def test_the_assignee_engineer_reads_the_clock_and_supervision(
        client: httpx.AsyncClient) -> None:
    """督办 is visible to the assignee: an engineer assigned to the ticket reads its SLA
    and its orders; another engineer's ticket is 404 to them; a customer is 403."""
    sue, eric, wang = (await login(client, "sue"), await login(client, "eric"),
                       await login(client, "wang"))
    me = (await client.get("/api/v1/auth/me", headers=wang)).json()
    t = (await client.post("/api/v1/tickets", headers=sue, json={
        "title": "boiler on site", "priority": "high", "assignee": "eric",
        "customer_id": me["customer_id"]})).json()
    other = (await client.post("/api/v1/tickets", headers=sue, json={
        "title": "not eric's", "assignee": "alice"})).json()
    order = await client.post(f"/api/v1/tickets/{t['id']}/supervision", headers=sue,
                              json={"note": "今天上门", "deadline_at": "2099-01-01T00:00:00Z"})
    assert order.status_code == 201, order.text
    seen = await client.get(f"/api/v1/tickets/{t['id']}/supervision", headers=eric)
    assert seen.status_code == 200, seen.text
    assert [o["note"] for o in seen.json()] == ["今天上门"]
    clock = await client.get(f"/api/v1/tickets/{t['id']}/sla", headers=eric)
    assert clock.status_code == 200, clock.text
    assert [o["note"] for o in clock.json()["orders"]] == ["今天上门"]
    for path in ("sla", "supervision"):
        assert (await client.get(f"/api/v1/tickets/{other['id']}/{path}",
                                 headers=eric)).status_code == 404
        assert (await client.get(f"/api/v1/tickets/{t['id']}/{path}",
                                 headers=wang)).status_code == 403


async def test_policy_and_calendar_values_the_code_cannot_use(
        client: httpx.AsyncClient) -> None:
    """422 naming the field (not a 201): an unknown or customer user to assign to, an
    unknown ticket type or tier, resolution shorter than first response, a day both
    closed and open; on create and on change."""
    admin = await login(client, "admin")
    cal = (await client.get("/api/v1/admin/sla/calendars", headers=admin)).json()[0]
    base = {"name": "p", "priority": "high", "calendar_id": cal["id"],
            "first_response_minutes": 30, "resolution_minutes": 600}
    cases = [
        ({"escalation": [{"after_minutes": 5, "action": "assign_user", "user": "nobody"}]},
         "escalation[0].user"),
        ({"escalation": [{"after_minutes": 0, "action": "notify_supervisors"},
                         {"after_minutes": 5, "action": "assign_user", "user": "wang"}]},
         "escalation[1].user"),
        ({"type_key": "no-such-type"}, "type_key"),
        ({"customer_tier": "gold"}, "customer_tier"),
        ({"resolution_minutes": 20}, "resolution_minutes"),
    ]
    for change, field in cases:
        bad = await client.post("/api/v1/admin/sla/policies", headers=admin,
                                json={**base, **change})
        assert bad.status_code == 422 and field in bad.text, (change, bad.text)
    made = await client.post("/api/v1/admin/sla/policies", headers=admin, json={
        **base, "customer_tier": "vip", "type_key": "refund",
        "escalation": [{"after_minutes": 5, "action": "assign_user", "user": "eric"}]})
    assert made.status_code == 201, made.text
    for change, field in cases:
        bad = await client.patch(f"/api/v1/admin/sla/policies/{made.json()['id']}",
                                 headers=admin, json=change)
        assert bad.status_code == 422 and field in bad.text, (change, bad.text)
    both = {"key": "both", "name": "Both", "hours": {"mon": ["09:00-17:00"]},
            "closed_days": ["2026-12-24"], "open_days": ["2026-12-24"]}
    bad = await client.post("/api/v1/admin/sla/calendars", headers=admin, json=both)
    assert bad.status_code == 422 and "open_days" in bad.text, bad.text
    ok = await client.post("/api/v1/admin/sla/calendars", headers=admin,
                           json={**both, "open_days": ["2026-12-26"]})
    assert ok.status_code == 201, ok.text
    bad = await client.patch(f"/api/v1/admin/sla/calendars/{ok.json()['id']}",
                             headers=admin, json={"closed_days": ["2026-12-26"]})
    assert bad.status_code == 422 and "open_days" in bad.text, bad.text
