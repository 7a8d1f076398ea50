"""Notifications through the API on both backends: the ticket hooks write the outbox in the
request's transaction, staff mute what they don't want, admins see and retry messages,
webhook subscriptions are managed, bad input is a 4xx naming the field."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.conftest import DbMaker, login, make_settings, running_app

pytestmark = pytest.mark.pg


@pytest.fixture
async def app_client(new_db: DbMaker, tmp_path: Path
                     ) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    # channels on, gateways unreachable: rows are written and stay pending
    settings = make_settings(await new_db(), tmp_path, smtp_host="127.0.0.1", smtp_port=9,
                             sms_url="http://127.0.0.1:9/sms", outbox_poll_s=60)
    async with running_app(settings) as pair:
        yield pair


async def outbox(client: httpx.AsyncClient, admin: dict[str, str]) -> list[dict[str, Any]]:
    resp = await client.get("/api/v1/admin/outbox", params={"limit": 200}, headers=admin)
    assert resp.status_code == 200, resp.text
    return list(resp.json()["items"])


async def test_ticket_life_notifies_and_mutes_hold(
        app_client: tuple[FastAPI, httpx.AsyncClient]) -> None:
    _, client = app_client
    admin, alice = await login(client, "admin"), await login(client, "alice")
    me = (await client.get("/api/v1/auth/me", headers=alice)).json()
    cust = await client.post("/api/v1/customers", headers=alice, json={
        "name": "Li Na", "email": "li.na@example.cn", "language": "en",
        "phones": [{"number": "138 1234 5678", "label": "mobile"}]})
    assert cust.status_code == 201, cust.text
    before = {m["id"] for m in await outbox(client, admin)}
    t = await client.post("/api/v1/tickets", headers=admin, json={
        "title": "Router dead", "customer_id": cust.json()["id"], "assignee": "alice"})
    assert t.status_code == 201, t.text
    tid, number = t.json()["id"], t.json()["number"]
    new = [m for m in await outbox(client, admin) if m["id"] not in before]
    assert {(m["kind"], m["channel"], m["recipient"]) for m in new} == {
        ("ticket_created", "ws", str(me["id"]))}  # the assignee, on the console

    for status in ("in_progress", "resolved"):
        r = await client.patch(f"/api/v1/tickets/{tid}", headers=alice, json={"status": status})
        assert r.status_code == 200, r.text
    c = await client.post(f"/api/v1/tickets/{tid}/comments", headers=alice,
                          json={"body": "Fixed: replaced the PSU.", "public": True})
    assert c.status_code == 201
    rows = [m for m in await outbox(client, admin) if m["ticket_id"] == tid]
    to_customer = {(m["kind"], m["channel"]) for m in rows if m["recipient"] in (
        "li.na@example.cn", "+8613812345678")}
    assert to_customer == {("status_changed", "email"), ("status_changed", "sms"),
                           ("public_comment", "email")}
    mail = next(m for m in rows if m["kind"] == "public_comment")
    assert mail["subject"].startswith(f"[{number}] New reply")

    # Alice mutes assignments on the console; a new assignment to her writes nothing
    bad = await client.put("/api/v1/me/notification-preferences", headers=alice,
                           json={"items": [{"kind": "nope", "channel": "ws", "enabled": False}]})
    assert bad.status_code == 422 and "kind" in bad.text
    put = await client.put("/api/v1/me/notification-preferences", headers=alice, json={
        "items": [{"kind": "ticket_assigned", "channel": "ws", "enabled": False}]})
    assert put.status_code == 200
    got = {(i["kind"], i["channel"]): i for i in put.json()["items"]}
    assert got[("ticket_assigned", "ws")]["enabled"] is False
    assert got[("ticket_assigned", "ws")]["default"] is True
    t2 = await client.post("/api/v1/tickets", headers=admin, json={"title": "Second"})
    tid2 = t2.json()["id"]
    await client.patch(f"/api/v1/tickets/{tid2}", headers=admin, json={"assignee": "alice"})
    assigned = [m for m in await outbox(client, admin)
                if m["ticket_id"] == tid2 and m["kind"] == "ticket_assigned"]
    assert assigned == []
    await client.patch(f"/api/v1/tickets/{tid2}", headers=admin, json={"assignee": "bob"})
    assert [m["kind"] for m in await outbox(client, admin) if m["ticket_id"] == tid2] == [
        "ticket_assigned"]  # bob did not mute


async def test_admin_outbox_and_webhooks(app_client: tuple[FastAPI, httpx.AsyncClient]) -> None:
    _, client = app_client
    admin = await login(client, "admin")
    bad = await client.post("/api/v1/admin/webhooks", headers=admin,
                            json={"url": "ftp://x", "secret": "short"})
    assert bad.status_code == 422 and "url" in bad.text and "secret" in bad.text
    made = await client.post("/api/v1/admin/webhooks", headers=admin, json={
        "url": "http://127.0.0.1:9/crm", "secret": "a-long-enough-secret",
        "kinds": ["ticket_created"]})
    assert made.status_code == 201 and "secret" not in made.json()
    hook = made.json()["id"]
    t = await client.post("/api/v1/tickets", headers=admin, json={"title": "Hooked"})
    rows = [m for m in await outbox(client, admin) if m["ticket_id"] == t.json()["id"]]
    assert [(m["channel"], m["recipient"]) for m in rows] == [("webhook", f"webhook:{hook}")]
    pending = await client.get("/api/v1/admin/outbox", params={"status": "pending"},
                               headers=admin)
    assert rows[0]["id"] in {m["id"] for m in pending.json()["items"]}
    retried = await client.post(f"/api/v1/admin/outbox/{rows[0]['id']}/retry", headers=admin)
    assert retried.status_code == 200 and retried.json()["attempts"] == 0
    assert (await client.post("/api/v1/admin/outbox/999999/retry",
                              headers=admin)).status_code == 404
    off = await client.patch(f"/api/v1/admin/webhooks/{hook}", headers=admin,
                             json={"active": False})
    assert off.status_code == 200 and off.json()["active"] is False
    t = await client.post("/api/v1/tickets", headers=admin, json={"title": "Not hooked"})
    assert [m for m in await outbox(client, admin) if m["ticket_id"] == t.json()["id"]] == []
    assert (await client.delete(f"/api/v1/admin/webhooks/{hook}",
                                headers=admin)).status_code == 204
    assert (await client.get("/api/v1/admin/webhooks", headers=admin)).json() == []


async def test_assignee_online_gets_the_notification_live(live_server: Any) -> None:
    """The whole path in a running server: create → outbox row in the request's transaction
    → the delivery loop (every second) → the bus → the hub → the assignee's console."""
    import asyncio
    import json

    import websockets

    token = await live_server.login("bob")
    admin = {"Authorization": f"Bearer {await live_server.login('admin')}"}
    async with websockets.connect(f"{live_server.ws_url}?token={token}") as ws, \
            httpx.AsyncClient(base_url=live_server.url) as http:
        made = await http.post("/api/v1/tickets", headers=admin,
                               json={"title": "Live notification probe", "assignee": "bob"})
        assert made.status_code == 201, made.text
        number = made.json()["number"]
        async with asyncio.timeout(10):
            while True:
                msg = json.loads(await ws.recv())
                if msg.get("type") == "notification" and msg.get("number") == number:
                    break
    assert msg["kind"] == "ticket_created" and msg["subject"]


async def test_own_locale_picks_the_notification_language(
        app_client: tuple[FastAPI, httpx.AsyncClient]) -> None:
    """``PATCH /api/v1/me`` stores one's locale; the next notification is written in it at
    once (the recipient cache is dropped); bad input is a 422 naming the field."""
    _, client = app_client
    admin, alice = await login(client, "admin"), await login(client, "alice")
    for body, field in (({"locale": "fr"}, "locale"), ({}, "locale"),
                        ({"locale": "en", "role": "admin"}, "role")):
        bad = await client.patch("/api/v1/me", headers=alice, json=body)
        assert bad.status_code == 422, bad.text
        assert field in bad.text
    assert (await client.get("/api/v1/auth/me", headers=alice)).json()["role"] == "agent"
    subjects = {}
    for locale in ("en", "zh"):
        r = await client.patch("/api/v1/me", headers=alice, json={"locale": locale})
        assert r.status_code == 200, r.text
        assert r.json() == {"locale": locale}
        assert (await client.get("/api/v1/auth/me", headers=alice)).json()["locale"] == locale
        t = await client.post("/api/v1/tickets", headers=admin, json={"title": f"Fan {locale}"})
        assert t.status_code == 201, t.text
        tid = t.json()["id"]
        a = await client.patch(f"/api/v1/tickets/{tid}", headers=admin, json={"assignee": "alice"})
        assert a.status_code == 200, a.text
        rows = [m for m in await outbox(client, admin)
                if m["ticket_id"] == tid and m["kind"] == "ticket_assigned"]
        assert rows, "no assignment notification"
        subjects[locale] = {m["subject"].split("] ", 1)[-1] for m in rows}
    assert subjects["en"] == {"Ticket assigned to you: Fan en"}
    assert subjects["zh"] == {"工单已分派给您：Fan zh"}
    # a customer login may set its own locale too (any logged-in user)
    wang = await login(client, "wang")
    assert (await client.patch("/api/v1/me", headers=wang, json={"locale": "en"})).status_code \
        == 200
    client.cookies.clear()  # the logins above left a session cookie
    assert (await client.patch("/api/v1/me", json={"locale": "en"})).status_code == 401


async def test_webhook_urls_that_are_refused(client: httpx.AsyncClient) -> None:
    """422 naming ``url``: credentials in it, control characters, a scheme other than
    http(s), a link-local address (the cloud metadata endpoint) however written; loopback
    and private LAN addresses are allowed (integrators' CRMs live there)."""
    admin = await login(client, "admin")
    secret = "a-long-enough-secret"
    for url in ("http://user:pass@crm.example/hook", "http://crm.example/ho\r\nok",
                "http://crm.example/a\tb", "ftp://crm.example/x", "file:///etc/passwd",
                "http://169.254.169.254/latest/meta-data", "http://2852039166/",
                "http://[fe80::1]/x", "http://[::ffff:169.254.169.254]/"):
        bad = await client.post("/api/v1/admin/webhooks", headers=admin,
                                json={"url": url, "secret": secret})
        assert bad.status_code == 422, (url, bad.text)
        assert bad.json()["detail"][0]["loc"][-1] == "url", (url, bad.text)
    made = []
    for url in ("http://127.0.0.1:9/crm", "http://192.168.1.20/crm", "https://10.0.0.5/h",
                "http://[::1]:8080/h", "https://crm.example/hook?key=k"):
        ok = await client.post("/api/v1/admin/webhooks", headers=admin,
                               json={"url": url, "secret": secret})
        assert ok.status_code == 201, (url, ok.text)
        made.append(ok.json()["id"])
    bad = await client.patch(f"/api/v1/admin/webhooks/{made[0]}", headers=admin,
                             json={"url": "http://169.254.169.254/"})
    assert bad.status_code == 422 and "url" in bad.text
    bad = await client.patch(f"/api/v1/admin/webhooks/{made[0]}", headers=admin,
                             json={"url": "http://a:b@crm.example/"})
    assert bad.status_code == 422 and "url" in bad.text
