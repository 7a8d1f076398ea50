"""The customer portal in headless Chromium: the demo customer login (wang, 王建军 of 浦江物业)
logs in through the login page, lands on /portal and sees its own requests, nobody else's."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import expect

from tests.support.live import LiveServer

pytestmark = pytest.mark.browser


async def test_demo_customer_sees_its_requests_in_the_portal(
        browser: Any, live_server: LiveServer, artifacts: Path) -> None:
    staff = {"Authorization": f"Bearer {await live_server.login('alice')}"}
    async with httpx.AsyncClient(base_url=live_server.url, headers=staff) as c:
        [cust] = (await c.get("/api/v1/customers", params={"phone": "139 1111 2222"})).json()
        theirs = (await c.get("/api/v1/tickets", params={"customer_id": cust["id"],
                                                         "limit": 50})).json()["items"]
        everyone = (await c.get("/api/v1/tickets", params={"limit": 200})).json()["items"]
    others = {t["number"] for t in everyone} - {t["number"] for t in theirs}
    assert theirs and others

    ctx = await browser.new_context(viewport={"width": 1024, "height": 768}, locale="zh-CN")
    page = await ctx.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        await page.goto(f"{live_server.url}/login")
        await page.fill("#username", "wang")
        await page.fill("#password", "demo")
        await page.click("#login-submit")
        await page.wait_for_url("**/portal")
        await expect(page.locator("#me")).to_contain_text("王建军")
        rows = page.locator("#tickets tbody tr")
        await expect(rows).to_have_count(len(theirs), timeout=5000)
        shown = {(await code.inner_text()).strip()
                 for code in await page.locator("#tickets tbody code").all()}
        assert shown == {t["number"] for t in theirs} and not shown & others
        await expect(page.locator("#tickets")).to_contain_text("多联机")  # his E6 ticket
        await page.screenshot(path=str(artifacts / "portal_wang.png"))
        # The agents' pages are not his.
        for path in ("/console", "/wallboard", "/engineer"):
            resp = await page.goto(f"{live_server.url}{path}")
            assert resp is not None and resp.status == 403, path
        assert errors == []
    finally:
        await ctx.close()
