"""The console's ticket lists page through the API: 50 rows, then "load more" with offset.

alice has more than 50 tickets. "My tickets" shows 50 and "50 of TOTAL"; load more appends
the rest (no duplicates, the server's order) and goes away when all are shown; the keyboard
path moves focus to the first new row. A new query (search, refresh) starts again at one
page; a live refresh (a ticket changed, a language switch) keeps what was loaded.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import expect

from tests.support.live import LiveServer

from .test_console import login

pytestmark = pytest.mark.browser

PAGE = 50
BULK = 57  # more than a page, less than two


async def _row_ids(page: Any, which: str) -> list[int]:
    ids = await page.locator(f"#tab-{which} tbody tr").evaluate_all(
        "rows => rows.map(r => Number(r.dataset.id))")
    return [int(x) for x in ids]


async def test_my_tickets_load_more(browser: Any, live_server: LiveServer,
                                    artifacts: Path) -> None:
    tag = f"LM{uuid.uuid4().hex[:8]}"
    token = await live_server.login("alice")
    auth = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=live_server.url, headers=auth) as c:
        me = (await c.get("/api/v1/auth/me")).json()
        created = []
        for i in range(BULK):
            r = await c.post("/api/v1/tickets", json={
                "title": f"Bulk {tag} #{i:02d}", "assignee": me["id"], "priority": "low"})
            assert r.status_code == 201, r.text
            created.append(r.json()["id"])
        everything = (await c.get("/api/v1/tickets", params={
            "assignee": "me", "limit": 200})).json()
        tagged = (await c.get("/api/v1/tickets", params={
            "assignee": "me", "q": tag, "limit": 200})).json()
    total = everything["total"]
    assert total > PAGE and total == len(everything["items"])  # room for every row
    server_order = [t["id"] for t in everything["items"]]
    assert tagged["total"] == BULK

    alice = await login(browser, live_server, "alice", "en-US")
    dialogs: list[str] = []
    alice.on("dialog", lambda d: dialogs.append(d.message))
    await alice.keyboard.press("Alt+t")
    tab = alice.locator("#tab-mine")
    rows = tab.locator("tbody tr")
    count = tab.locator(".list-count")
    more = tab.locator("button.load-more")
    await expect(rows).to_have_count(PAGE, timeout=5000)
    await expect(count).to_have_text(f"{PAGE} of {total}")
    await expect(more).to_have_text("Load more")

    # The control sits under the table; what an agent sees at 1366x768 after scrolling down.
    await more.scroll_into_view_if_needed()
    await alice.screenshot(path=str(artifacts / "console_list_load_more.png"))

    # Mouse: load more until everything is shown; the button then goes away.
    shown = PAGE
    while shown < total:
        await more.click()
        shown = min(total, shown + PAGE)
        await expect(rows).to_have_count(shown, timeout=5000)
        await expect(count).to_have_text(f"{shown} of {total}")
    await expect(more).to_have_count(0)
    ids = await _row_ids(alice, "mine")
    assert ids == server_order  # no duplicates, nothing missing, the server's order
    assert set(created) <= set(ids)

    # A live refresh (someone changes a ticket) keeps all the loaded rows.
    async with httpx.AsyncClient(base_url=live_server.url, headers=auth) as c:
        r = await c.patch(f"/api/v1/tickets/{created[0]}", json={"priority": "high"})
        assert r.status_code == 200, r.text
    changed = tab.locator(f"tr[data-id='{created[0]}']")
    await expect(changed).to_contain_text("High", timeout=5000)
    await expect(rows).to_have_count(total)
    await expect(count).to_have_text(f"{total} of {total}")

    # A new query starts again at one page: search for this test's tickets.
    search = tab.locator("input[name=q]")
    await search.fill(tag)
    await search.press("Enter")
    await expect(count).to_have_text(f"{PAGE} of {BULK}", timeout=5000)
    await expect(rows).to_have_count(PAGE)
    # Keyboard: Enter on "load more" appends the rest and focus lands on the first new row.
    await more.focus()
    await alice.keyboard.press("Enter")
    await expect(rows).to_have_count(BULK, timeout=5000)
    await expect(count).to_have_text(f"{BULK} of {BULK}")
    await expect(more).to_have_count(0)
    tagged_order = [t["id"] for t in tagged["items"]]
    assert await _row_ids(alice, "mine") == tagged_order
    await expect(tab.locator(f"tr[data-id='{tagged_order[PAGE]}']")).to_be_focused()

    # Switching the language relabels without losing the loaded rows (zh text).
    await alice.select_option("select.lang", "zh")
    await expect(count).to_have_text(f"已显示 {BULK} 条，共 {BULK} 条", timeout=5000)
    await expect(rows).to_have_count(BULK)
    # Refresh (a reload by the agent) goes back to one page, with the zh button.
    await tab.locator("form.filters button[type=submit]").click()
    await expect(count).to_have_text(f"已显示 {PAGE} 条，共 {BULK} 条", timeout=5000)
    await expect(rows).to_have_count(PAGE)
    await expect(more).to_have_text("加载更多")
    await more.scroll_into_view_if_needed()
    await alice.screenshot(path=str(artifacts / "console_list_load_more_zh.png"))
    # A filter that matches nothing: no table, no count, no button.
    await tab.locator("select[aria-label='状态']").select_option("cancelled")
    await expect(tab.locator("p.muted")).to_have_text("没有工单", timeout=5000)
    await expect(count).to_have_count(0)
    await expect(more).to_have_count(0)
    assert dialogs == [] and alice.errors == []
    await alice.context.close()
