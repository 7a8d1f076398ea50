"""Issue #9's auth findings over HTTP: cross-site writes with the cookie, the cookie's flags,
the password policy on every route that sets a password, and the bounded password checks."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from tests.conftest import DbMaker, login, make_settings, running_app

EVIL = "http://evil.example"


async def cookie_client(client: httpx.AsyncClient, username: str) -> httpx.AsyncClient:
    """``client`` logged in by cookie only (as a page is), no Authorization header."""
    resp = await client.post("/api/v1/auth/login",
                             json={"username": username, "password": "demo"})
    assert resp.status_code == 200
    assert client.cookies.get("hotline_token")
    return client


async def a_ticket(client: httpx.AsyncClient) -> int:
    tickets = (await client.get("/api/v1/tickets?limit=1")).json()
    return int(tickets["items"][0]["id"])


async def test_cookie_writes_from_another_site_are_refused(client: httpx.AsyncClient) -> None:
    c = await cookie_client(client, "alice")
    tid = await a_ticket(c)
    # The two requests the probe got accepted: a multipart upload and a form POST.
    resp = await c.post(f"/api/v1/tickets/{tid}/attachments", headers={"Origin": EVIL},
                        files={"file": ("x.txt", b"hello", "text/plain")})
    assert resp.status_code == 403, resp.text
    assert "cross-site request refused" in resp.json()["detail"]
    assert "evil.example" in resp.json()["detail"]
    resp = await c.post(f"/api/v1/tickets/{tid}/calls", headers={"Origin": EVIL},
                        data={"call_id": "1700000000.1"})
    assert resp.status_code == 403
    # Without Origin, the fetch metadata or the Referer tell the same.
    resp = await c.post(f"/api/v1/tickets/{tid}/comments", json={"body": "x"},
                        headers={"Sec-Fetch-Site": "cross-site"})
    assert resp.status_code == 403 and "Sec-Fetch-Site" in resp.json()["detail"]
    resp = await c.post(f"/api/v1/tickets/{tid}/comments", json={"body": "x"},
                        headers={"Referer": f"{EVIL}/page"})
    assert resp.status_code == 403 and "Referer" in resp.json()["detail"]
    for method in ("PATCH", "PUT", "DELETE"):
        resp = await c.request(method, f"/api/v1/tickets/{tid}", json={},
                               headers={"Origin": "null"})
        assert resp.status_code == 403, method
    # The cookie still works from this site's pages, and for reads from anywhere.
    resp = await c.post(f"/api/v1/tickets/{tid}/comments", json={"body": "from the page"},
                        headers={"Origin": "http://hotline", "Sec-Fetch-Site": "same-origin"})
    assert resp.status_code == 201, resp.text
    resp = await c.post(f"/api/v1/tickets/{tid}/comments", json={"body": "via referer"},
                        headers={"Referer": "http://hotline/console"})
    assert resp.status_code == 201
    assert (await c.get("/api/v1/tickets", headers={"Origin": EVIL})).status_code == 200


async def test_a_login_posted_from_another_site_is_refused(client: httpx.AsyncClient) -> None:
    # Login CSRF: a foreign page must not log the browser into the attacker's account.
    creds = {"username": "alice", "password": "demo"}
    resp = await client.post("/api/v1/auth/login", json=creds, headers={"Origin": EVIL})
    assert resp.status_code == 403 and "cross-site" in resp.json()["detail"]
    assert not client.cookies.get("hotline_token")
    resp = await client.post("/api/v1/auth/login", json=creds,
                             headers={"Sec-Fetch-Site": "cross-site"})
    assert resp.status_code == 403
    # This site's login page, and API clients that send no Origin, log in as before.
    resp = await client.post("/api/v1/auth/login", json=creds,
                             headers={"Origin": "http://hotline"})
    assert resp.status_code == 200, resp.text
    assert (await client.post("/api/v1/auth/login", json=creds)).status_code == 200


async def test_bearer_requests_are_exempt(client: httpx.AsyncClient) -> None:
    h = await login(client, "alice")  # also sets the cookie on the client
    tid = await a_ticket(client)
    resp = await client.post(f"/api/v1/tickets/{tid}/comments", json={"body": "api client"},
                             headers={**h, "Origin": EVIL})
    assert resp.status_code == 201  # a page of another site cannot send a bearer token


async def test_allowed_origins_setting_admits_a_tls_proxy(new_db: DbMaker,
                                                         tmp_path: Path) -> None:
    settings = make_settings(await new_db(), tmp_path,
                             allowed_origins="https://hotline.example.com/, http://other:8080")
    async with running_app(settings) as (_app, client):
        c = await cookie_client(client, "alice")
        tid = await a_ticket(c)
        for origin in ("https://hotline.example.com", "HTTPS://Hotline.Example.com:443",
                       "http://other:8080"):
            resp = await c.post(f"/api/v1/tickets/{tid}/comments", json={"body": "proxied"},
                                headers={"Origin": origin})
            assert resp.status_code == 201, (origin, resp.text)
        resp = await c.post(f"/api/v1/tickets/{tid}/comments", json={"body": "x"},
                            headers={"Origin": "https://hotline.example.com.evil.example"})
        assert resp.status_code == 403


async def test_cookie_flags(new_db: DbMaker, tmp_path: Path) -> None:
    db = await new_db()
    body = {"username": "alice", "password": "demo"}
    async with running_app(make_settings(db, tmp_path)) as (_app, client):
        plain = (await client.post("/api/v1/auth/login", json=body)).headers["set-cookie"]
        https = (await client.post("https://hotline/api/v1/auth/login",
                                   json=body)).headers["set-cookie"]
    assert "HttpOnly" in plain and "SameSite=lax" in plain and "Secure" not in plain
    assert "Secure" in https  # auto: the request itself was https
    async with running_app(make_settings(db, tmp_path, cookie_secure="true")) as (_, client):
        forced = (await client.post("/api/v1/auth/login", json=body)).headers["set-cookie"]
    assert "Secure" in forced and "HttpOnly" in forced  # behind a TLS proxy


async def test_password_policy_on_every_route_that_sets_one(client: httpx.AsyncClient) -> None:
    admin = await login(client, "admin")
    for weak, rule in (("1234", "at least 10 characters"), ("demo", "at least 10 characters"),
                       ("password123!", "too easy to guess")):
        resp = await client.post("/api/v1/users", headers=admin, json={
            "username": "carol", "password": weak, "role": "agent"})
        assert resp.status_code == 422, resp.text
        [err] = resp.json()["detail"]
        assert err["loc"][-1] == "password" and rule in err["msg"]
    customers = (await client.get("/api/v1/customers", headers=admin)).json()
    cid = customers["items"][0]["id"] if isinstance(customers, dict) else customers[0]["id"]
    resp = await client.post("/api/v1/users", headers=admin, json={  # a portal account
        "username": "li_portal", "password": "1234567890", "role": "customer",
        "customer_id": cid})
    assert resp.status_code == 422 and "password" in resp.text
    me = (await client.get("/api/v1/auth/me", headers=await login(client, "bob"))).json()
    resp = await client.patch(f"/api/v1/users/{me['id']}", headers=admin,
                              json={"password": "qwertyuiop"})
    assert resp.status_code == 422 and resp.json()["detail"][0]["loc"][-1] == "password"
    resp = await client.patch(f"/api/v1/users/{me['id']}", headers=admin,
                              json={"password": "copper-kettle-91"})
    assert resp.status_code == 200
    # The demo's users (seeded by `hotline demo`) keep their well-known password.
    await login(client, "alice", "demo")


async def test_too_many_password_checks_at_once_get_503(new_db: DbMaker,
                                                       tmp_path: Path) -> None:
    settings = make_settings(await new_db(), tmp_path, login_hash_workers=1,
                             login_hash_queue=1, login_hash_wait_s=5)
    async with running_app(settings) as (app, client):
        resps = await asyncio.gather(*(client.post("/api/v1/auth/login", json={
            "username": f"nobody{i}", "password": "wrong"}) for i in range(6)))
        codes = sorted(r.status_code for r in resps)
        # one checking, one waiting; the rest refused at once, not queued without end
        assert codes == [401, 401, 503, 503, 503, 503], codes
        busy = next(r for r in resps if r.status_code == 503)
        assert int(busy.headers["retry-after"]) >= 1
        assert "too many logins at once" in busy.json()["detail"]
        assert app.state.services.password_gate.refused == 4
        admin = await login(client, "admin")  # and the gate frees up
        metrics = await client.get("/metrics", headers=admin)
        assert "hotline_login_busy_total 4.0" in metrics.text


def test_page_scripts_keep_no_token() -> None:
    """The pages' scripts neither store nor send the token: the HttpOnly cookie does (the
    browser test proves the pages work so; this keeps a script from bringing it back)."""
    static = Path(__file__).resolve().parents[2] / "web" / "static" / "js"
    scripts = sorted(static.rglob("*.js"))
    assert len(scripts) > 10
    for script in scripts:
        text = script.read_text()
        assert "sessionStorage" not in text and "hotline_token" not in text, script.name
        assert "access_token" not in text, script.name
