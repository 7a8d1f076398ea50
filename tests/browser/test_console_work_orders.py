"""Sending an engineer from the console, in headless Chromium: alice opens a repair ticket,
fills "Send an engineer" (address and contact from the customer, a window, the type's skills)
and the order goes to the best-ranked engineer at once; the ticket's field visits and
history show it. zh at 1366×768 and en on a phone (390×844), no overflow; screenshots go to
tests/artifacts/."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from playwright.async_api import expect

from tests.support.live import LiveServer

from .agent_day import DESKTOP, PHONE, Api, open_page
from .test_layout import _overflowing

pytestmark = pytest.mark.browser


async def _open(page: Any, ticket: dict[str, Any]) -> None:
    await page.click("#tab-btn-mine")
    await page.locator(f"#tab-mine tr[data-id='{ticket['id']}']").click()
    await expect(page.locator("#tab-detail .detail-head")).to_contain_text(ticket["number"])


async def test_alice_sends_an_engineer_from_the_ticket(
        browser: Any, live_server: LiveServer, artifacts: Path) -> None:
    api = await Api.login(live_server, "alice")
    cust = await api.post("/customers", {"name": "上门测试客户", "language": "zh",
                                         "phones": ["139 1234 5678"],
                                         "address": "上海市徐汇区漕溪北路 88 号"})
    ticket = await api.post("/tickets", {"title": "空调外机异响", "customer_id": cust["id"],
                                         "assignee": "alice", "type": "repair",
                                         "fields": {"fault": "外机噪音大"}})

    page = await open_page(browser, live_server, "alice", "zh", DESKTOP)
    await _open(page, ticket)
    await expect(page.locator("#work-orders")).to_contain_text("还没有派工单")
    await page.click("#wo-new")
    form = page.locator("#wo-form")
    await expect(form.locator("input[name=address]")).to_have_value("上海市徐汇区漕溪北路 88 号")
    await expect(form.locator("input[name=contact_phone]")).to_have_value("+8613912345678")
    await form.locator("input[name=from]").fill("14:00")
    await form.locator("input[name=to]").fill("17:00")
    await form.locator("input[name=lat]").fill("31.19")
    await form.locator("input[name=lon]").fill("121.44")
    await form.locator("textarea[name=notes]").fill("门卫处登记")
    await page.screenshot(path=str(artifacts / "console_work_order_form_zh.png"), full_page=True)
    await page.click("#wo-create")
    await expect(page.locator("#toast")).to_contain_text("已派给")
    row = page.locator("#work-orders li")
    await expect(row).to_have_count(1)
    await expect(row).to_contain_text("已派工")
    orders = await api.get(f"/tickets/{ticket['id']}/work_orders")
    assert len(orders) == 1 and orders[0]["engineer"] is not None
    assert orders[0]["address"] == "上海市徐汇区漕溪北路 88 号"
    local = [datetime.fromisoformat(orders[0][k]).astimezone(ZoneInfo("Asia/Shanghai"))
             for k in ("window_start", "window_end")]
    assert [f"{t:%H:%M}" for t in local] == ["14:00", "17:00"]
    await expect(page.locator("#history")).to_contain_text(f"{orders[0]['number']} · → ")
    await expect(page.locator("#history")).to_contain_text("排名第 1")
    assert await _overflowing(page) == []
    await page.screenshot(path=str(artifacts / "console_work_order_zh.png"), full_page=True)
    assert page.errors == []
    await page.context.close()

    phone = await open_page(browser, live_server, "alice", "en", PHONE)
    await _open(phone, ticket)
    await expect(phone.locator("#work-orders")).to_contain_text(orders[0]["number"])
    await phone.click("#wo-new")
    assert await _overflowing(phone) == []
    await phone.screenshot(path=str(artifacts / "console_work_order_phone_en.png"),
                           full_page=True)
    assert phone.errors == []
    await phone.context.close()
