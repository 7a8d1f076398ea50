"""Helpers for the "agent's day" browser tests: a logged-in console page at a given size and
language, the REST API as a user, and fresh valid phone numbers (so tests never collide)."""

from __future__ import annotations

import random
from typing import Any

import httpx

from tests.support.live import LiveServer

DESKTOP = {"width": 1366, "height": 768}
PHONE = {"width": 390, "height": 844}
LOCALES = {"zh": "zh-CN", "en": "en-US"}


def fresh_mobile() -> str:
    """A valid, unused-looking Chinese mobile number in E.164 (139 + 8 random digits)."""
    return f"+86139{random.randrange(10**8):08d}"


class Api:
    """The REST API as one user, for arranging what the page then shows."""

    def __init__(self, server: LiveServer, token: str) -> None:
        self.client = httpx.AsyncClient(base_url=f"{server.url}/api/v1",
                                        headers={"Authorization": f"Bearer {token}"})

    @classmethod
    async def login(cls, server: LiveServer, username: str) -> Api:
        return cls(server, await server.login(username))

    async def get(self, path: str, **params: Any) -> Any:
        resp = await self.client.get(path, params=params)
        assert resp.status_code == 200, resp.text
        return resp.json()

    async def post(self, path: str, body: dict[str, Any]) -> Any:
        resp = await self.client.post(path, json=body)
        assert resp.status_code in (200, 201, 202), resp.text
        return resp.json()

    async def close(self) -> None:
        await self.client.aclose()


async def open_page(browser: Any, server: LiveServer, username: str, lang: str,
                    viewport: dict[str, int] | None = None, path: str = "/console",
                    init_script: str | None = None) -> Any:
    """A fresh browser context, logged in as username, on path, ready and connected."""
    ctx = await browser.new_context(viewport=viewport or DESKTOP, locale=LOCALES[lang])
    if init_script:
        await ctx.add_init_script(init_script)
    page = await ctx.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.errors = errors
    await page.goto(f"{server.url}/login?next={path}")
    await page.fill("#username", username)
    await page.fill("#password", "demo")
    await page.click("#login-submit")
    await page.wait_for_url(f"**{path}")
    await page.wait_for_selector("body[data-ready='1'][data-ws='online']", timeout=10_000)
    return page
