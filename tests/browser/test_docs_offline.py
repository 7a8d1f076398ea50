"""``/docs`` works offline: every asset it references is served by Hotline (same origin,
200), its CSP stays strict, and in Chromium — which is not allowed any
request off 127.0.0.1 here — Swagger UI renders the API's operations."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from tests.support.live import LiveServer
from web.pages import CSP
from web.security import COOKIE_NAME

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_docs_reference_only_same_origin_assets(http: httpx.AsyncClient) -> None:
    # The live server is not a demo install (no demo PBX): the docs need a login.
    anonymous = await http.get("/docs")
    assert anonymous.status_code == 303 and anonymous.headers["location"] == "/login?next=/docs"
    await http.post("/api/v1/auth/login", json={"username": "alice", "password": "demo"})
    page = await http.get("/docs")
    assert page.status_code == 200
    assert page.headers["content-security-policy"] == CSP
    refs = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert len(refs) >= 3
    assert "<script>" not in page.text  # no inline script (the CSP would block it)
    for ref in refs:
        assert not urlsplit(ref).netloc and ref.startswith("/"), ref
        asset = await http.get(ref)
        assert asset.status_code == 200 and asset.content, ref
    assert (await http.get("/docs/assets/core.py")).status_code == 404
    assert (await http.get("/docs/assets/..%2Fcore.py")).status_code == 404


@pytest.mark.browser
async def test_swagger_ui_renders_offline(browser: Any, live_server: LiveServer) -> None:
    context = await browser.new_context()
    await context.add_cookies([{"name": COOKIE_NAME, "value": await live_server.login("alice"),
                                "url": live_server.url}])
    page = await context.new_page()
    offsite: list[str] = []
    problems: list[str] = []

    async def only_local(route: Any) -> None:
        if urlsplit(route.request.url).hostname == "127.0.0.1":
            await route.continue_()
        else:
            offsite.append(route.request.url)
            await route.abort()

    await page.route("**/*", only_local)
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    page.on("console", lambda msg: problems.append(msg.text)
            if "Content Security Policy" in msg.text else None)
    try:
        await page.goto(f"{live_server.url}/docs")
        operations = page.locator(".opblock")
        await operations.first.wait_for(timeout=15_000)
        assert await operations.count() > 20
        assert await page.locator(".opblock", has_text="/api/v1/tickets").count() > 0
    finally:
        await context.close()
    assert offsite == [] and problems == []
