"""Merge and link in the console, in headless Chromium: alice opens a duplicate, merges it
into the customer's other ticket by its number (confirmed in the page), sees the merged
banner linking to the target, follows it, and links a child ticket to it and replies to
every child at once. The detail fits 1366×768 and a phone (390×844), zh and en;
screenshots go to tests/artifacts/."""

from __future__ import annotations

from pathlib import Path
from typing import Any

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


async def test_merge_shows_the_banner_and_children_take_a_bulk_reply(
        browser: Any, live_server: LiveServer, artifacts: Path) -> None:
    api = await Api.login(live_server, "alice")
    cust = await api.post("/customers", {"name": "合并测试客户", "language": "zh"})
    keep = await api.post("/tickets", {"title": "冰箱不制冷", "customer_id": cust["id"],
                                       "assignee": "alice"})
    dup = await api.post("/tickets", {"title": "冰箱不制冷（重复）", "customer_id": cust["id"],
                                      "assignee": "alice"})
    await api.post(f"/tickets/{dup['id']}/comments", {"body": "附上照片", "public": True})
    child = await api.post("/tickets", {"title": "同批次压缩机", "assignee": "alice",
                                        "customer_id": (await api.post(
                                            "/customers", {"name": "另一位客户"}))["id"]})

    page = await open_page(browser, live_server, "alice", "zh", DESKTOP)
    await _open(page, dup)
    await page.fill("#merge-into", keep["number"])
    await page.locator("#merge-form button[type=submit]").click()
    await expect(page.locator(".merge-confirm")).to_contain_text(keep["number"])
    await page.click("#merge-yes")
    banner = page.locator("#merged-banner")
    await expect(banner).to_contain_text(keep["number"])
    await expect(banner).to_contain_text("已合并到")
    # read-only: no status menu, no comment form; the customer was told where to go
    assert await page.locator("#status-menu").count() == 0
    assert await page.locator(".comment-form").count() == 0
    await expect(page.locator("#comments")).to_contain_text(keep["number"])
    await expect(page.locator("#history")).to_contain_text("已合并")
    await page.screenshot(path=str(artifacts / "merge_desktop_zh_merged.png"), full_page=True)

    await banner.locator("a").click()  # to the ticket the work went to
    await expect(page.locator("#tab-detail .detail-head")).to_contain_text(keep["number"])
    await expect(page.locator(".merged-in")).to_contain_text(dup["number"])
    await expect(page.locator("#comments")).to_contain_text("附上照片")

    await page.fill("#child-number", child["number"])
    await page.locator("#child-number").press("Enter")
    await expect(page.locator("#children")).to_contain_text(child["number"])
    await page.fill("#bulk-reply", "同批次问题，周五更换压缩机")
    await page.locator("#bulk .bulk-reply button").click()
    await expect(page.locator("#toast")).to_contain_text("已应用到 1 个子工单")
    comments = await api.get(f"/tickets/{child['id']}/comments")
    assert [c["body"] for c in comments if c["public"]] == ["同批次问题，周五更换压缩机"]
    assert await _overflowing(page) == []
    await page.screenshot(path=str(artifacts / "merge_desktop_zh_parent.png"), full_page=True)
    assert page.errors == []
    await page.context.close()

    phone = await open_page(browser, live_server, "alice", "en", PHONE)
    for ticket, name in ((dup, "merged"), (keep, "parent")):
        await _open(phone, ticket)
        if name == "merged":
            await expect(phone.locator("#merged-banner")).to_contain_text(
                f"This ticket was merged into {keep['number']}")
        else:
            await expect(phone.locator("#children")).to_contain_text(child["number"])
        assert await _overflowing(phone) == [], name
        await phone.screenshot(path=str(artifacts / f"merge_phone_en_{name}.png"),
                               full_page=True)
    assert phone.errors == []
    await phone.context.close()
    await api.close()
