"""Pages over real HTTP: login redirects, role checks, security headers, static files."""

from __future__ import annotations

import httpx
import pytest

from tests.support.live import LiveServer
from web.pages import CSP, dispatch_html, resolve_static


async def cookie_client(server: LiveServer, username: str) -> httpx.AsyncClient:
    token = await server.login(username)
    return httpx.AsyncClient(base_url=server.url, cookies={"hotline_token": token})


@pytest.mark.parametrize("path", ["/console", "/wallboard", "/engineer", "/portal",
                                  "/admin/routing", "/"])
async def test_pages_send_anonymous_users_to_login(http, path):
    r = await http.get(path)
    assert r.status_code == 303
    assert r.headers["location"].startswith("/login")


async def test_a_bad_cookie_is_anonymous(live_server):
    async with httpx.AsyncClient(base_url=live_server.url,
                                 cookies={"hotline_token": "forged"}) as c:
        assert (await c.get("/console")).status_code == 303


@pytest.mark.parametrize(("user", "path", "status"), [
    ("alice", "/console", 200), ("alice", "/wallboard", 403), ("sue", "/wallboard", 200),
    ("eric", "/console", 403), ("eric", "/engineer", 200), ("alice", "/portal", 403),
    ("alice", "/admin/routing", 403), ("sue", "/admin/routing", 200),
    ("admin", "/admin/routing", 200), ("wang", "/admin/routing", 403),
    ("sue", "/dispatch", 200), ("admin", "/dispatch", 200), ("eric", "/dispatch", 403),
    ("alice", "/dispatch", 403),
])
async def test_roles(live_server, user, path, status):
    async with await cookie_client(live_server, user) as c:
        r = await c.get(path)
    assert r.status_code == status
    csp = r.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert r.headers["x-content-type-options"] == "nosniff"


async def test_home_sends_each_role_to_its_page(live_server):
    for user, page in [("alice", "/console"), ("sue", "/wallboard"), ("eric", "/engineer")]:
        async with await cookie_client(live_server, user) as c:
            r = await c.get("/")
        assert (r.status_code, r.headers["location"]) == (303, page)


async def test_login_page_and_static_files(http):
    r = await http.get("/login")
    assert r.status_code == 200 and "/static/js/login.js" in r.text
    r = await http.get("/static/js/console.js")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/javascript")
    r = await http.get("/static/css/app.css")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/css")
    assert (await http.get("/static/js/nope.js")).status_code == 404


@pytest.mark.parametrize("rel", ["../pages.py", "..%2fpages.py", "%2e%2e/pages.py",
                                 "/etc/passwd", "js/../../hub.py"])
async def test_static_never_leaves_its_folder(http, rel):
    r = await http.get(f"/static/{rel}")
    assert r.status_code == 404
    assert "import" not in r.text


def test_the_dispatch_board_carries_the_zone_and_the_tiles_origin():
    plain = dispatch_html(None, "Asia/Shanghai")
    text = plain.body.decode()
    assert '<meta name="hotline-timezone" content="Asia/Shanghai">' in text
    assert '<meta name="hotline-map-tiles" content="">' in text
    assert plain.headers["content-security-policy"] == CSP  # no tiles: no other origin
    tiled = dispatch_html('http://tiles.local:8080/{z}/{x}/{y}.png?a="b"', "Asia/Shanghai")
    text = tiled.body.decode()
    assert ('content="http://tiles.local:8080/{z}/{x}/{y}.png?a=&quot;b&quot;"' in text)
    csp = tiled.headers["content-security-policy"]
    assert "img-src 'self' data: blob: http://tiles.local:8080;" in csp
    assert "script-src 'self';" in csp and "connect-src 'self';" in csp
    sub = dispatch_html("https://{s}.tile.example.org/{z}/{x}/{y}.png", "UTC")
    assert "img-src 'self' data: blob: https://*.tile.example.org;" in \
        sub.headers["content-security-policy"]


def test_resolve_static_pure():
    assert resolve_static("js/console.js") is not None
    assert resolve_static("../hub.py") is None
    assert resolve_static("/etc/passwd") is None
    assert resolve_static("js") is None  # a folder is not a file
    assert resolve_static("js/\x00.js") is None
