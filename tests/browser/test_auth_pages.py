"""Pages on the HttpOnly cookie alone (issue #9): after logging in through the login page,
no script-readable storage holds the token, and console, wallboard, engineer and portal
pages work (their websockets included). And the login page's ``next`` never leaves the
site, whatever the browser's URL parser makes of it."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlsplit

import pytest
from playwright.async_api import expect

from tests.support.live import LiveServer

pytestmark = pytest.mark.browser

_STORAGE = """() => JSON.stringify({session: {...sessionStorage}, local: {...localStorage},
                                     cookie: document.cookie})"""


async def _log_in(page: Any, server: LiveServer, username: str, query: str = "") -> None:
    await page.goto(f"{server.url}/login{query}")
    await page.fill("#username", username)
    await page.fill("#password", "demo")
    await page.click("#login-submit")


@pytest.mark.parametrize(("username", "path", "live"), [
    ("alice", "/console", True), ("sue", "/wallboard", True),
    ("eric", "/engineer", True), ("wang", "/portal", False)])
async def test_pages_work_without_a_token_in_scripts_reach(
        browser: Any, live_server: LiveServer, username: str, path: str, live: bool) -> None:
    ctx = await browser.new_context(viewport={"width": 1280, "height": 800})
    page = await ctx.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        await _log_in(page, live_server, username)
        await page.wait_for_url(f"**{path}")
        if live:  # the websocket rides on the cookie too
            await expect(page.locator("body")).to_have_attribute("data-ws", "online",
                                                                  timeout=10_000)
        await expect(page.locator("#me")).not_to_be_empty()
        storage = await page.evaluate(_STORAGE)
        assert "hotline_token" not in storage and "eyJ" not in storage, storage
        cookies = {c["name"]: c for c in await ctx.cookies()}
        assert cookies["hotline_token"]["httpOnly"] is True
        assert cookies["hotline_token"]["sameSite"] == "Lax"
        assert errors == []
    finally:
        await ctx.close()


#: ``next`` values as they stand in the address bar (already URL-encoded), the issue's first.
NASTY_NEXT = ["/%09/evil.example/phish", "/%0A/evil.example/phish", "%2F%2Fevil.example",
              "//evil.example/phish", "/%5Cevil.example/phish", "/\\evil.example",
              "https:evil.example/phish", "javascript:alert(1)", "https://evil.example/",
              "%09//evil.example", "/%0D%0A/evil.example", "http:%2F%2Fevil.example"]


async def test_login_next_never_leaves_the_site(browser: Any,
                                                live_server: LiveServer) -> None:
    ctx = await browser.new_context()
    page = await ctx.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    own = urlsplit(live_server.url).netloc
    try:
        for nasty in NASTY_NEXT:
            await _log_in(page, live_server, "alice", f"?next={nasty}")
            await page.wait_for_url("**/console")  # the home page, not the offered place
            assert urlsplit(page.url).netloc == own, (nasty, page.url)
        # A local next is still followed.
        await _log_in(page, live_server, "alice", f"?next={quote('/console?tab=kb')}")
        await page.wait_for_url("**/console?tab=kb")
        assert dialogs == []
    finally:
        await ctx.close()
