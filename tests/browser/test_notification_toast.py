"""The console's notification channel: a ticket assigned to Bob shows him a toast with the
subject in his language and the ticket number, at desktop and phone widths."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.browser.test_console import login
from tests.support.live import LiveServer

pytestmark = pytest.mark.browser


@pytest.mark.parametrize(("locale", "width", "height"), [("zh-CN", 1366, 768),
                                                         ("en-US", 390, 844)])
async def test_assigned_ticket_toasts_on_the_console(browser: Any, live_server: LiveServer,
                                                     locale: str, width: int,
                                                     height: int) -> None:
    page = await login(browser, live_server, "bob", locale)
    await page.set_viewport_size({"width": width, "height": height})
    token = await live_server.login("admin")
    async with httpx.AsyncClient(base_url=live_server.url,
                                 headers={"Authorization": f"Bearer {token}"}) as c:
        made = await c.post("/api/v1/tickets", json={"title": f"Toast probe {locale}",
                                                    "assignee": "bob"})
    assert made.status_code == 201, made.text
    number = made.json()["number"]
    toast = page.locator("#toast", has_text=number)
    await toast.wait_for(timeout=10_000)
    text = await toast.inner_text()
    # Bob's own language decides (User.locale, zh by default), not the browser's
    assert "工单已创建" in text and f"Toast probe {locale}" in text
    await page.screenshot(path=f"/tmp/notify-toast-{locale}-{width}.png")
    assert page.errors == []
