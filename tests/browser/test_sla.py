"""The SLA admin page and the SLA parts of the console, in Chromium.

An admin opens /admin/sla: the seeded policies (the former fixed table) and calendars are
listed; a policy with an escalation step naming no user is refused with the server's 422
naming ``escalation[0].user``; fixed, it is saved and listed. A supervisor sees the page
read-only (no "new" buttons). In the console, a ticket's detail shows "due in … " for its
targets; the supervisor orders supervision (督办) from the ticket view and the order is listed.
A ticket whose due time passed is flagged "overdue" in the console's lists. Screenshots at
desktop and phone size, zh and en, go to tests/artifacts (sla_*). Everything made here is
removed or resolved at the end (the live server is shared with the other browser tests).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import expect
from sqlalchemy import update

from tests.support.live import LiveServer
from tickets.db import make_engine
from tickets.models import Ticket

from .test_console import login
from .test_routing import _shots

pytestmark = pytest.mark.browser


async def test_admin_edits_policies_and_a_supervisor_orders_supervision(
        browser: Any, live_server: LiveServer, artifacts: Path) -> None:
    tag = f"sla{uuid.uuid4().hex[:6]}"
    token = await live_server.login("admin")
    auth = {"Authorization": f"Bearer {token}"}
    page = await login(browser, live_server, "admin", "en-US", path="/admin/sla",
                       ready="body[data-ready='1']")
    policy_id = None
    ticket_id = None
    try:
        table = page.locator("#policies")
        await expect(table).to_contain_text("urgent (default)")
        await expect(page.locator("#calendars")).to_contain_text("Office hours")
        await page.click("#new-policy")
        form = page.locator("#policy-editor form")
        await form.locator("input[name=name]").fill(f"VIP {tag}")
        await form.locator("select[name=priority]").select_option("high")
        await form.locator("input[name=customer_tier]").fill("vip")
        await form.locator("select[name=calendar_id]").select_option(label="Office hours 办公时间")
        await form.get_by_role("button", name="Add a step").click()
        step = form.locator(".esc-steps li").first
        await step.locator("select").select_option("assign_user")
        await form.get_by_role("button", name="Save").click()
        await expect(page.locator("#toast")).to_contain_text("escalation[0].user")
        await step.locator("input[placeholder=Username]").fill("sue")
        await form.get_by_role("button", name="Save").click()
        await expect(table).to_contain_text(f"VIP {tag}")
        await expect(table).to_contain_text("reassign to sue")
        async with httpx.AsyncClient(base_url=live_server.url, headers=auth) as c:
            policies = (await c.get("/api/v1/admin/sla/policies")).json()
            policy_id = next(p["id"] for p in policies if p["name"] == f"VIP {tag}")
        await page.locator(f"#policies tr[data-id='{policy_id}'] button").click()
        await _shots(page, artifacts, "sla_admin")
        assert not page.errors, page.errors

        sue = await login(browser, live_server, "sue", "zh-CN", path="/admin/sla",
                          ready="body[data-ready='1']")
        await expect(sue.locator("#read-only")).to_be_visible()
        await expect(sue.locator("#new-policy")).to_be_hidden()

        async with httpx.AsyncClient(base_url=live_server.url, headers=auth) as c:
            r = await c.post("/api/v1/tickets", json={
                "title": f"Boiler {tag}", "priority": "urgent", "assignee": "alice"})
            assert r.status_code == 201, r.text
            ticket_id = r.json()["id"]
        await sue.goto(f"{live_server.url}/console")
        await sue.wait_for_selector("body[data-ready='1']")
        await sue.evaluate(
            "id => import('/static/js/console/detail.js').then(m => m.openTicket(id))",
            ticket_id)
        panel = sue.locator("#sla-panel")
        await expect(panel).to_contain_text("后到期")  # due in … (zh)
        await panel.locator("input[type=text]").fill(f"今天修好 {tag}")
        await panel.locator("input[type=datetime-local]").fill("2099-01-01T18:00")
        await panel.get_by_role("button", name="下达督办").click()
        await expect(panel.locator(".orders")).to_contain_text(f"今天修好 {tag}")
        await _shots(sue, artifacts, "sla_ticket", panel)
        # the ticket's due time passes (set in the database): the list flags it
        engine = make_engine(live_server.app.state.services.settings.async_database_url)
        try:
            async with engine.begin() as conn:
                await conn.execute(update(Ticket).where(Ticket.id == ticket_id).values(
                    due_at=datetime(2020, 1, 1, tzinfo=UTC)))
        finally:
            await engine.dispose()
        await sue.click("#tab-btn-all")
        all_tab = sue.locator("#tab-all")
        await all_tab.locator("input[name=q]").fill(tag)
        await all_tab.locator("form.filters button[type=submit]").click()
        row = all_tab.locator(f"tr[data-id='{ticket_id}']")
        await expect(row).to_have_class("clickable breached")
        await expect(row.locator(".sla-breached")).to_have_text("overdue")  # _shots ends in en
        await _shots(sue, artifacts, "sla_list")
        assert not sue.errors, sue.errors
    finally:
        async with httpx.AsyncClient(base_url=live_server.url, headers=auth) as c:
            if policy_id is not None:
                await c.delete(f"/api/v1/admin/sla/policies/{policy_id}")
            if ticket_id is not None:
                await c.patch(f"/api/v1/tickets/{ticket_id}", json={"status": "resolved"})
