"""The REST contract of DESIGN.md, on SQLite and on a real PostgreSQL server."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import login, make_settings, running_app
from tickets.schemas import UserIn
from tickets.users import create_user

#: A password the policy accepts (tickets/passwords.py).
PW = "copper-kettle-91"


async def test_health_and_ready(client: httpx.AsyncClient, backend: str) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    assert (await client.get("/readyz")).json() == {"status": "ready"}  # anonymous: up/down
    ready = (await client.get("/readyz", headers=await login(client, "admin"))).json()
    assert ready["database"] == {"ok": True,
                                 "backend": "sqlite" if backend == "sqlite" else "postgresql"}
    assert ready["status"] == "ready"


@pytest.mark.parametrize("path", ["/api/v1/tickets", "/api/v1/customers?phone=1",
                                  "/api/v1/calls", "/api/v1/users", "/api/v1/tickets/1",
                                  "/api/v1/queues", "/api/v1/auth/me"])
async def test_anonymous_gets_401(client: httpx.AsyncClient, path: str) -> None:
    resp = await client.get(path)
    assert resp.status_code == 401
    assert "log in" in resp.json()["detail"]


async def test_bad_and_expired_tokens_are_401(client: httpx.AsyncClient) -> None:
    for token in ["garbage", "a.b.c", ""]:
        resp = await client.get("/api/v1/tickets", headers={"Authorization": f"Bearer {token}"})
        assert resp.status_code == 401


async def test_wrong_password(client: httpx.AsyncClient) -> None:
    resp = await client.post("/api/v1/auth/login", json={"username": "alice",
                                                         "password": "nope"})
    assert resp.status_code == 401
    resp = await client.post("/api/v1/auth/login", json={"username": "nobody",
                                                         "password": "demo"})
    assert resp.status_code == 401


async def test_agent_walkthrough(client: httpx.AsyncClient) -> None:
    """DESIGN's done-when: customer by phone, ticket, whole lifecycle, history."""
    h = await login(client, "alice")
    me = (await client.get("/api/v1/auth/me", headers=h)).json()
    assert me["extension"] == "6001" and me["role"] == "agent"

    resp = await client.post("/api/v1/customers", headers=h, json={
        "name": "刘洋", "phones": ["139 1234 5678", {"number": "+44 20 7946 0999",
                                                    "label": "office"}]})
    assert resp.status_code == 201, resp.text
    customer = resp.json()
    assert [p["e164"] for p in customer["phones"]] == ["+8613912345678", "+442079460999"]
    for form in ["13912345678", "+86 139-1234-5678", "008613912345678", "139 1234 5678"]:
        found = (await client.get("/api/v1/customers", params={"phone": form},
                                  headers=h)).json()
        assert [c["id"] for c in found] == [customer["id"]], form

    resp = await client.post("/api/v1/tickets", headers=h, json={
        "title": "空调不制冷", "description": "since yesterday", "type": "repair",
        "customer_phone": "139-1234-5678", "fields": {"fault": "no cold air"},
        "priority": "urgent", "call_id": "pbx1:1795407643.10"})
    assert resp.status_code == 201, resp.text
    ticket = resp.json()
    assert ticket["number"] == f"T-{ticket['id']:06d}"
    assert ticket["customer_id"] == customer["id"]
    # The repair flow's first department has it in its queue; nobody owns it yet.
    assert ticket["status"] == "new" and ticket["group_id"] is not None
    tid = ticket["id"]

    for status in ["in_progress", "pending_customer", "in_progress", "resolved", "closed"]:
        patch = {"status": status}
        if status == "in_progress" and ticket["assignee_id"] is None:
            patch["assignee"] = "alice"
        resp = await client.patch(f"/api/v1/tickets/{tid}", headers=h, json=patch)
        assert resp.status_code == 200, resp.text
        ticket = resp.json()
        assert ticket["status"] == status
    resp = await client.patch(f"/api/v1/tickets/{tid}", headers=h,
                              json={"status": "in_progress", "reason": "customer unhappy"})
    assert resp.status_code == 200 and resp.json()["reopen_count"] == 1

    history = (await client.get(f"/api/v1/tickets/{tid}/history", headers=h)).json()
    kinds = [e["kind"] for e in history]
    assert kinds[0] == "created" and kinds[-1] == "reopened"
    assert [e["data"]["status"]["to"] for e in history if "status" in e["data"]
            and isinstance(e["data"]["status"], dict)] == [
        "in_progress", "pending_customer", "in_progress", "resolved", "closed", "in_progress"]
    assert history[-1]["data"]["reason"] == "customer unhappy"
    assert all(e["actor_id"] == me["id"] for e in history)
    ids = [e["id"] for e in history]
    assert ids == sorted(ids)

    listed = (await client.get("/api/v1/tickets", params={
        "customer_phone": "+8613912345678", "status": "open"}, headers=h)).json()
    assert [t["id"] for t in listed["items"]] == [tid]
    by_call = (await client.get("/api/v1/tickets", params={"call_id": "pbx1:1795407643.10"},
                                headers=h)).json()
    assert by_call["total"] == 1


async def test_illegal_move_is_409_with_reason(client: httpx.AsyncClient) -> None:
    h = await login(client, "alice")
    tid = (await client.post("/api/v1/tickets", headers=h, json={"title": "t"})).json()["id"]
    resp = await client.patch(f"/api/v1/tickets/{tid}", headers=h, json={"status": "closed"})
    assert resp.status_code == 409
    assert "cannot move the ticket from new to closed" in resp.json()["detail"]
    resp = await client.patch(f"/api/v1/tickets/{tid}", headers=h,
                              json={"status": "in_progress"})
    assert resp.status_code == 409 and "no assignee" in resp.json()["detail"]
    history = (await client.get(f"/api/v1/tickets/{tid}/history", headers=h)).json()
    assert [e["kind"] for e in history] == ["created"]  # nothing half-written


@pytest.mark.parametrize(("payload", "where"), [
    ({"title": "x", "bogus": 1}, "bogus"),
    ({"title": ""}, "title"),
    ({"title": "x" * 201}, "title"),
    ({"title": "x", "priority": "asap"}, "priority"),
    ({"title": "x", "customer_id": "abc"}, "customer_id"),
    ({"title": "x", "description": "d" * 20_001}, "description"),
    ({}, "title"),
])
async def test_bad_payloads_are_422(client: httpx.AsyncClient, payload: dict[str, object],
                                    where: str) -> None:
    h = await login(client, "alice")
    resp = await client.post("/api/v1/tickets", headers=h, json=payload)
    assert resp.status_code == 422, resp.text
    assert where in str(resp.json()["detail"])


@pytest.mark.parametrize(("payload", "why"), [
    ({"title": "x", "type": "nope"}, "unknown ticket type"),
    ({"title": "x", "type": "refund"}, "required fields missing"),
    ({"title": "x", "customer_phone": "12"}, "not a possible phone number"),
    ({"title": "x", "customer_phone": "+8613700000001"}, "no customer has the number"),
    ({"title": "x", "customer_phone": "8765 4321"}, "has no area code"),
    ({"title": "x", "customer_id": 999999}, "unknown customer"),
    ({"title": "x", "assignee": "ghost"}, "unknown user"),
    ({"title": "x", "group": "nowhere"}, "unknown group"),
])
async def test_domain_errors_are_422_with_reason(client: httpx.AsyncClient,
                                                 payload: dict[str, object], why: str) -> None:
    h = await login(client, "alice")
    resp = await client.post("/api/v1/tickets", headers=h, json=payload)
    assert resp.status_code == 422, resp.text
    assert why in resp.json()["detail"]


async def test_malformed_json_and_unknown_ids(client: httpx.AsyncClient) -> None:
    h = await login(client, "alice")
    resp = await client.post("/api/v1/tickets", headers={**h, "content-type": "application/json"},
                             content=b"{not json")
    assert resp.status_code == 400
    assert (await client.get("/api/v1/tickets/99999999", headers=h)).status_code == 404
    assert (await client.get("/api/v1/tickets/abc", headers=h)).status_code == 422
    assert (await client.get("/api/v1/customers/424242", headers=h)).status_code == 404
    resp = await client.get("/api/v1/tickets", params={"status": "weird"}, headers=h)
    assert resp.status_code == 422 and "unknown status" in resp.json()["detail"]
    resp = await client.get("/api/v1/customers", params={"phone": "hello"}, headers=h)
    assert resp.status_code == 422


async def test_comments_and_attachments(client: httpx.AsyncClient) -> None:
    h = await login(client, "alice")
    tid = (await client.post("/api/v1/tickets", headers=h, json={"title": "t"})).json()["id"]
    resp = await client.post(f"/api/v1/tickets/{tid}/comments", headers=h,
                             json={"body": "<script>alert(1)</script>", "public": True})
    assert resp.status_code == 201
    assert (await client.get(f"/api/v1/tickets/{tid}/comments", headers=h)).json()[0][
        "body"] == "<script>alert(1)</script>"
    resp = await client.post(f"/api/v1/tickets/{tid}/attachments", headers=h,
                             files={"file": ("photo.png", b"\x89PNG....", "image/png")})
    assert resp.status_code == 201, resp.text
    att = resp.json()
    got = await client.get(f"/api/v1/tickets/{tid}/attachments/{att['id']}", headers=h)
    assert got.status_code == 200 and got.content == b"\x89PNG...."
    resp = await client.post(f"/api/v1/tickets/{tid}/attachments", headers=h,
                             files={"file": ("x.exe", b"MZ", "application/x-msdownload")})
    assert resp.status_code == 422 and "not allowed" in resp.json()["detail"]
    big = b"0" * (10 * 1024 * 1024 + 1)
    resp = await client.post(f"/api/v1/tickets/{tid}/attachments", headers=h,
                             files={"file": ("big.txt", big, "text/plain")})
    assert resp.status_code == 413
    kinds = [e["kind"] for e in
             (await client.get(f"/api/v1/tickets/{tid}/history", headers=h)).json()]
    assert kinds == ["created", "commented", "attachment_added"]


async def test_roles(client: httpx.AsyncClient) -> None:
    alice, eric = await login(client, "alice"), await login(client, "eric")
    mine = (await client.post("/api/v1/tickets", headers=alice,
                              json={"title": "for eric", "assignee": "eric"})).json()
    other = (await client.post("/api/v1/tickets", headers=alice, json={"title": "x"})).json()
    listed = (await client.get("/api/v1/tickets?limit=200", headers=eric)).json()["items"]
    # Only the work assigned to eric: the new ticket and his demo repair visits.
    assert mine["id"] in {t["id"] for t in listed} and other["id"] not in {t["id"] for t in listed}
    assert {t["assignee_id"] for t in listed} == {mine["assignee_id"]}
    everyone = (await client.get("/api/v1/tickets?limit=200", headers=alice)).json()
    assert len(listed) < everyone["total"]
    assert (await client.get(f"/api/v1/tickets/{other['id']}", headers=eric)).status_code == 404
    resp = await client.patch(f"/api/v1/tickets/{mine['id']}", headers=eric,
                              json={"status": "in_progress"})
    assert resp.status_code == 200
    resp = await client.patch(f"/api/v1/tickets/{mine['id']}", headers=eric,
                              json={"priority": "low"})
    assert resp.status_code == 403
    assert (await client.get("/api/v1/customers?phone=13800138000",
                             headers=eric)).status_code == 403
    assert (await client.post("/api/v1/users", headers=alice, json={
        "username": "mallory", "password": PW, "role": "admin"})).status_code == 403
    admin = await login(client, "admin")
    resp = await client.post("/api/v1/users", headers=admin, json={
        "username": "carol", "password": PW, "role": "agent", "extension": "6003"})
    assert resp.status_code == 201
    resp = await client.post("/api/v1/users", headers=admin, json={
        "username": "dave", "password": PW, "role": "agent", "extension": "6003"})
    assert resp.status_code == 409 and "extension 6003" in resp.json()["detail"]


async def test_forward_along_the_flow(client: httpx.AsyncClient) -> None:
    h = await login(client, "alice")
    groups = {g["key"]: g["id"] for g in
              (await client.get("/api/v1/groups", headers=h)).json()}
    t = (await client.post("/api/v1/tickets", headers=h, json={
        "title": "refund please", "type": "refund", "fields": {"reason": "late"}})).json()
    assert t["group_id"] == groups["hotline"]
    t = (await client.post(f"/api/v1/tickets/{t['id']}/forward", headers=h)).json()
    assert t["group_id"] == groups["after_sales"] and t["flow_step"] == 1
    assert t["status"] == "new" and t["assignee_id"] is None  # a queue is not an owner
    resp = await client.post(f"/api/v1/tickets/{t['id']}/forward", headers=h)
    assert resp.status_code == 409 and "last step" in resp.json()["detail"]


async def test_stale_version_is_409_and_concurrent_patches_all_land(
        client: httpx.AsyncClient) -> None:
    h = await login(client, "alice")
    t = (await client.post("/api/v1/tickets", headers=h, json={"title": "t"})).json()
    ok = await client.patch(f"/api/v1/tickets/{t['id']}", headers=h,
                            json={"priority": "high", "version": t["version"]})
    assert ok.status_code == 200
    stale = await client.patch(f"/api/v1/tickets/{t['id']}", headers=h,
                               json={"priority": "low", "version": t["version"]})
    assert stale.status_code == 409 and "changed since version" in stale.json()["detail"]

    tags = [f"tag{i}" for i in range(6)]

    async def add_tag(tag: str) -> int:
        for _ in range(20):
            cur = (await client.get(f"/api/v1/tickets/{t['id']}", headers=h)).json()
            resp = await client.patch(f"/api/v1/tickets/{t['id']}", headers=h, json={
                "tags": [*cur["tags"], tag], "version": cur["version"]})
            if resp.status_code == 200:
                return 200
            assert resp.status_code == 409
        return 409

    results = await asyncio.gather(*(add_tag(tag) for tag in tags))
    assert results == [200] * len(tags)
    final = (await client.get(f"/api/v1/tickets/{t['id']}", headers=h)).json()
    assert sorted(final["tags"]) == tags  # no change lost


async def test_pagination_and_filters(client: httpx.AsyncClient) -> None:
    h = await login(client, "alice")
    page1 = (await client.get("/api/v1/tickets?limit=10&offset=0", headers=h)).json()
    page2 = (await client.get("/api/v1/tickets?limit=10&offset=10", headers=h)).json()
    assert page1["total"] == page2["total"] >= 20
    assert not {t["id"] for t in page1["items"]} & {t["id"] for t in page2["items"]}
    resolved = (await client.get("/api/v1/tickets?status=resolved", headers=h)).json()
    assert resolved["total"] > 0 and all(t["status"] == "resolved" for t in resolved["items"])
    refund = (await client.get("/api/v1/tickets?type=refund&limit=200", headers=h)).json()
    assert refund["total"] > 0 and all(t["type"] == "refund" for t in refund["items"])
    assert (await client.get("/api/v1/tickets?limit=1000", headers=h)).status_code == 422


async def test_customer_detail_has_orders_and_warranty(client: httpx.AsyncClient) -> None:
    h = await login(client, "alice")
    [c] = (await client.get("/api/v1/customers", params={"phone": "+8613800138000"},
                          headers=h)).json()
    detail = (await client.get(f"/api/v1/customers/{c['id']}", headers=h)).json()
    assert detail["orders"] and {"in_warranty", "warranty_end"} <= set(detail["orders"][0])
    assert "478" in {o["number"] for o in detail["orders"]}
    assert any(o["in_warranty"] for o in detail["orders"])
    # This customer's tickets and only theirs, among them the one about order 478.
    theirs = (await client.get("/api/v1/tickets", params={"customer_id": c["id"]},
                               headers=h)).json()["items"]
    assert {t["id"] for t in detail["tickets"]} == {t["id"] for t in theirs} != set()
    assert any("478" in t["title"] for t in detail["tickets"])


async def test_metrics_need_a_manager_and_report_live_parts(client: httpx.AsyncClient) -> None:
    assert (await client.get("/metrics")).status_code == 401
    assert (await client.get("/metrics", headers=await login(client, "alice"))).status_code == 403
    await client.get("/api/v1/tickets/1", headers=await login(client, "sue"))
    body = (await client.get("/metrics", headers=await login(client, "sue"))).text
    assert "hotline_ws_connections 0.0" in body
    assert 'route="/api/v1/tickets/{ticket_id}"' in body


async def test_absurd_ids_and_null_fields_are_client_errors(client: httpx.AsyncClient) -> None:
    """Found by schemathesis: ids beyond INTEGER and nulls for required columns were 500s."""
    admin = await login(client, "admin")
    huge = 10**30
    for method, path in [("GET", f"/api/v1/tickets/{huge}"),
                         ("POST", f"/api/v1/tickets/{huge}/forward"),
                         ("GET", f"/api/v1/customers/{huge}"),
                         ("GET", f"/api/v1/tickets?customer_id={huge}")]:
        resp = await client.request(method, path, headers=admin)
        assert resp.status_code == 422, (path, resp.text)
    resp = await client.post("/api/v1/tickets", headers=admin,
                             json={"title": "x", "customer_id": huge})
    assert resp.status_code == 422
    users = (await client.get("/api/v1/users", headers=admin)).json()
    eric = next(u for u in users if u["username"] == "eric")
    resp = await client.patch(f"/api/v1/users/{eric['id']}", headers=admin, json={
        "password": None, "role": None, "display_name": None, "extension": "6099"})
    assert resp.status_code == 200, resp.text
    assert resp.json()["role"] == "engineer" and resp.json()["extension"] == "6099"
    await login(client, "eric")  # password unchanged


async def test_text_postgres_cannot_store_is_422_on_both_backends(
        client: httpx.AsyncClient) -> None:
    """Found by schemathesis on PostgreSQL: NUL characters and over-long names were 500s."""
    admin = await login(client, "admin")
    resp = await client.post("/api/v1/tickets", headers=admin,
                             json={"title": "a\x00b"})
    assert resp.status_code == 422 and "NUL" in str(resp.json()["detail"])
    assert resp.json()["detail"][0]["loc"] == ["body", "title"]
    resp = await client.post("/api/v1/tickets", headers=admin,
                             json={"title": "ok", "fields": {}, "tags": ["x\x00"]})
    assert resp.status_code == 422 and resp.json()["detail"][0]["loc"] == ["body", "tags"]
    resp = await client.post("/api/v1/tickets", headers=admin,
                             json={"title": "ok", "fields": {"k\x00": 1}})
    assert resp.status_code == 422 and resp.json()["detail"][0]["loc"] == ["body", "fields"]
    resp = await client.get("/api/v1/tickets", params={"q": "a\x00b"}, headers=admin)
    assert resp.status_code in (200, 422)  # SQLite finds nothing; PostgreSQL refuses: 422
    resp = await client.post("/api/v1/groups", headers=admin,
                             json={"key": "g1", "name": "n" * 129})
    assert resp.status_code == 422
    resp = await client.post("/api/v1/users", headers=admin, json={
        "username": "longname", "password": PW, "role": "agent",
        "display_name": "d" * 129})
    assert resp.status_code == 422


async def test_logout_voids_the_token_and_only_that_one(client: httpx.AsyncClient) -> None:
    first, second = await login(client, "alice"), await login(client, "alice")
    assert first != second  # every login is its own token (jti)
    assert (await client.post("/api/v1/auth/logout", headers=first)).status_code == 204
    assert (await client.get("/api/v1/auth/me", headers=first)).status_code == 401
    assert (await client.get("/api/v1/auth/me", headers=second)).status_code == 200
    # Logging out again, or with garbage, is harmless.
    assert (await client.post("/api/v1/auth/logout", headers=first)).status_code == 204
    assert (await client.post("/api/v1/auth/logout",
                              headers={"Authorization": "Bearer x.y.z"})).status_code == 204
    # The cookie login is logged out the same way (and the cookie is cleared).
    resp = await client.post("/api/v1/auth/login", json={"username": "bob", "password": "demo"})
    cookie = resp.cookies["hotline_token"]
    client.cookies.set("hotline_token", cookie)
    assert (await client.get("/api/v1/auth/me")).json()["username"] == "bob"
    resp = await client.post("/api/v1/auth/logout")
    assert resp.status_code == 204 and "hotline_token=" in resp.headers["set-cookie"]
    client.cookies.set("hotline_token", cookie)  # a client that kept it anyway
    assert (await client.get("/api/v1/auth/me")).status_code == 401
    client.cookies.clear()


async def test_logout_everywhere_and_admin_changes_void_older_tokens(
        client: httpx.AsyncClient) -> None:
    a1, a2 = await login(client, "alice"), await login(client, "alice")
    assert (await client.post("/api/v1/auth/logout-all", headers=a1)).status_code == 204
    for h in (a1, a2):
        assert (await client.get("/api/v1/tickets", headers=h)).status_code == 401
    a3 = await login(client, "alice")  # a new login right after works
    assert (await client.get("/api/v1/auth/me", headers=a3)).status_code == 200
    client.cookies.clear()  # login() left a3's cookie in the jar
    assert (await client.post("/api/v1/auth/logout-all")).status_code == 401  # anonymous

    admin = await login(client, "admin")
    me = (await client.get("/api/v1/auth/me", headers=a3)).json()
    # Changing the display name keeps the login; a new password ends it.
    resp = await client.patch(f"/api/v1/users/{me['id']}", headers=admin,
                              json={"display_name": "Alice L."})
    assert resp.status_code == 200
    assert (await client.get("/api/v1/auth/me", headers=a3)).status_code == 200
    resp = await client.patch(f"/api/v1/users/{me['id']}", headers=admin,
                              json={"password": "new-secret-lantern"})
    assert resp.status_code == 200
    assert (await client.get("/api/v1/auth/me", headers=a3)).status_code == 401
    assert (await client.post("/api/v1/auth/login", json={
        "username": "alice", "password": "new-secret-lantern"})).status_code == 200


async def test_ready_says_why_a_part_did_not_start(sqlite_factory: Any, tmp_path: Path) -> None:
    """A bad AMI URL or a missing vosk model: the web serves, /readyz names the cause."""
    settings = make_settings(str(await sqlite_factory.new(False)), tmp_path,
                             ami_url="http://not-ami", vosk_model=str(tmp_path / "no-model"))
    async with running_app(settings) as (app, client):
        async with app.state.services.db() as session:
            await create_user(session, UserIn(username="root", password="a-long-pass-phrase-9",
                                              role="admin"))
            await session.commit()
        ready = (await client.get("/readyz", headers=await login(
            client, "root", "a-long-pass-phrase-9"))).json()
    assert ready["status"] == "ready"
    assert ready["pbx"] == [] and "ami" in ready["pbx_error"].lower()
    assert ready["asr"]["enabled"] is False and "no-model" in ready["asr"]["error"]
