"""The routing rules page and the routing parts of the console, in Chromium.

An admin builds a rule in /admin/routing (a keyword condition → after-sales, bob): saving it
with an empty keyword puts the server's 422 next to the condition row it names; the dry run
on a sample shows the rule firing. The console's ticket form previews the rule (and marks a
group chosen by hand). A ticket created through the API follows the rule, and the console's
ticket detail shows the group, the assignee, the rule in the history and the ticket's flow
as a strip (a type of its own: four steps, the third required): forward moves the
highlighted step, "move to step" offers no step past the required one, and back asks for a
reason. An agent gets no preview (dry runs are for managers) but sees, once the ticket is
saved, where the rules sent it. Screenshots of the page and the detail at desktop and phone
size, in zh and en, go to tests/artifacts. The rule is deleted at the end (the live server
is shared with the other browser tests), and the ticket type made for it is deactivated.
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

DESKTOP = {"width": 1366, "height": 768}
PHONE = {"width": 390, "height": 844}


async def _shots(page: Any, artifacts: Path, name: str, locator: Any | None = None) -> None:
    """The page at desktop and phone size in en and zh (the language switch re-renders)."""
    for lang in ("en", "zh"):
        await page.select_option("select.lang", lang)
        for size, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
            await page.set_viewport_size(viewport)
            if locator is not None:
                await locator.scroll_into_view_if_needed()
            await page.screenshot(path=str(artifacts / f"{name}_{lang}_{size}.png"),
                                  full_page=size == "phone")
    await page.set_viewport_size(DESKTOP)
    await page.select_option("select.lang", "en")


async def test_admin_builds_a_rule_dry_runs_it_and_a_ticket_follows_it(
        browser: Any, live_server: LiveServer, artifacts: Path) -> None:
    tag = f"rt{uuid.uuid4().hex[:8]}"
    name = f"Route {tag}"
    token = await live_server.login("admin")
    auth = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=live_server.url, headers=auth) as c:
        r = await c.post("/api/v1/tickets", json={"title": f"Earlier {tag}", "channel": "web"})
        assert r.status_code == 201, r.text
        earlier = r.json()  # made before the rule: the dry run on its number shows it firing
    page = await login(browser, live_server, "admin", "en-US", path="/admin/routing",
                       ready="body[data-ready='1']")
    rule_id = type_key = None
    try:
        await page.click("#new-rule")
        form = page.locator("#rule-form")
        await form.locator("input[name=name]").fill(name)
        row = form.locator(".cond-row").first
        await expect(row.locator("select[name=cond_field]")).to_have_value("text")
        await expect(row.locator("select[name=cond_op]")).to_have_value("contains_any")
        # An empty keyword list: the server's 422 is shown on that row.
        await form.locator("select[name=action_kind]").first.select_option("set_group")
        await form.locator(".action-row").first.locator(".action-value select").select_option(
            "after_sales")
        await form.locator(".add-action").click()
        second = form.locator(".action-row").nth(1)
        await second.locator("select[name=action_kind]").select_option("set_assignee")
        await second.locator(".action-value select").select_option("bob")
        await page.click("#save-rule")
        await expect(row.locator(".field-error")).to_contain_text("value", timeout=5000)
        await expect(row).to_have_class("cond-row has-error")

        await row.locator(".cond-value input").fill(f"{tag}, 退款加急{tag}")
        await page.click("#save-rule")
        item = page.locator("#rules .rule-item", has_text=name)
        await expect(item).to_have_count(1, timeout=5000)
        await expect(row.locator(".field-error")).to_be_empty()
        async with httpx.AsyncClient(base_url=live_server.url, headers=auth) as c:
            rules = (await c.get("/api/v1/routing/rules")).json()
        saved = next(r for r in rules if r["name"] == name)
        rule_id = saved["id"]
        assert saved["conditions"] == {"all": [{"all": [
            {"field": "text", "op": "contains_any", "value": [tag, f"退款加急{tag}"]}]}]}
        assert saved["actions"] == [{"kind": "set_group", "value": "after_sales"},
                                    {"kind": "set_assignee", "value": "bob"}]

        # Dry run on a sample that matches: the rule fires, group and assignee change.
        dry = page.locator("#dry-form")
        await dry.locator("input[name=dry_title]").fill(f"Customer asks {tag.upper()} refund")
        await page.click("#dry-go")
        out = page.locator("#dry-out")
        await expect(out.locator(".dry-fired")).to_contain_text(name, timeout=5000)
        await expect(out).to_contain_text("set group After-sales")
        await expect(out).to_contain_text("set assignee Bob")
        await _shots(page, artifacts, "routing_rules")
        await dry.locator("input[name=dry_on][value=ticket]").check()
        await dry.locator("input[name=dry_number]").fill(earlier["number"])
        await page.click("#dry-go")
        await expect(out.locator(".dry-line")).to_contain_text(
            f"{name} → Group After-sales, Assignee Bob", timeout=5000)

        # A ticket created (API) with the keyword follows the rule; the console shows it.
        async with httpx.AsyncClient(base_url=live_server.url, headers=auth) as c:
            r = await c.post("/api/v1/ticket-types", json={
                "key": tag, "name": "Route test", "name_zh": "路由测试",
                "flow": ["hotline", "after_sales", "repair", "hotline"], "required_steps": [2]})
            assert r.status_code == 201, r.text
            type_key = tag
            r = await c.post("/api/v1/tickets", json={
                "title": f"Refund {tag}", "type": tag, "channel": "phone"})
            assert r.status_code == 201, r.text
            ticket = r.json()
        await page.goto(f"{live_server.url}/console")
        await page.wait_for_selector("body[data-ready='1']", timeout=10_000)
        await expect(page.locator("#routing-link")).to_be_visible()
        # The ticket form previews the rules (a dry run of the form); a group chosen by hand wins.
        form = page.locator("#ticket-form")
        await form.locator("input[name=title]").fill(f"Please {tag}")
        preview = page.locator("#rules-preview")
        await expect(preview).to_contain_text(f"{name} → Group After-sales, Assignee Bob",
                                              timeout=5000)
        await form.locator("select[name=group]").select_option(label="Repair service")
        await expect(preview).to_contain_text("set by hand: Group Repair service")
        await page.evaluate(
            "id => import('/static/js/console/detail.js').then(m => m.openTicket(id))",
            ticket["id"])
        detail = page.locator("#tab-detail")
        await expect(detail.locator(".detail-head")).to_contain_text(ticket["number"])
        facts = detail.locator("dl.facts").first
        await expect(facts).to_contain_text("After-sales")
        await expect(facts).to_contain_text("Bob")
        history = detail.locator("#history")
        await expect(history).to_contain_text(f"rule '{name}' set group After-sales",
                                              timeout=5000)
        strip = detail.locator(".flow-strip .flow-step")
        await expect(strip).to_have_count(4)
        # the rule sent it to After-sales, step 2 of its flow: it stands there
        await expect(strip.nth(0)).to_have_class("flow-step passed")
        await expect(strip.nth(1)).to_have_class("flow-step current")
        await expect(strip.nth(2)).to_contain_text("required")
        # Move to: only the required step 3, not the step behind it.
        steps = await detail.locator("#flow-step-menu option").evaluate_all(
            "os => os.map(o => o.value).filter(Boolean)")
        assert steps == ["3"]
        await detail.locator("#flow-forward").click()
        await expect(strip.nth(2)).to_have_class("flow-step current required", timeout=5000)
        await expect(history).to_contain_text("moved to Repair service · Step 3")
        await _shots(page, artifacts, "routing_ticket_detail", detail.locator(".flow"))
        await detail.locator("#flow-back").click()
        reason = detail.locator("input[name=flow_note]")
        await expect(reason).to_be_focused()
        await reason.fill("wrong department")
        await reason.press("Enter")
        await expect(strip.nth(1)).to_have_class("flow-step current", timeout=5000)
        await expect(history).to_contain_text("Reason: wrong department")
        # The language switch redraws the strip and the history in zh.
        await page.select_option("select.lang", "zh")
        await expect(history).to_contain_text(f"规则「{name}」将处理组设为 售后部")
        # A paused agent's released ticket (web/pausewatch.py) reads in the UI language.
        words = await page.evaluate("""() => import('/static/js/routingwords.js').then(m => [
            m.describeEvent('returned_to_pool', {reason: 'released: paused 32 min (lunch)'}, {}),
            m.describeEvent('returned_to_pool', {reason: 'released: paused 45 min'}, {})])""")
        assert words == ["退回组队列：暂停 32 分钟（午餐）", "退回组队列：暂停 45 分钟"]
        assert page.errors == []

        # An agent may not dry-run: no preview; after saving, what the rules did.
        alice = await login(browser, live_server, "alice", "en-US")
        asked: list[str] = []
        alice.on("request", lambda req: asked.append(req.url) if "dry-run" in req.url else None)
        await alice.fill("#ticket-form input[name=title]", f"Agent {tag}")
        await alice.click("#create-ticket")
        await expect(alice.locator("#toast")).to_contain_text(
            f"Routed by rules: Group: After-sales · Assignee: Bob 李波 (6002) · rule '{name}'",
            timeout=5000)
        await expect(alice.locator("#tab-detail dl.facts").first).to_contain_text("After-sales")
        assert asked == [] and await alice.locator("#rules-preview").is_hidden()
        assert await alice.locator("#routing-link").is_hidden()
        assert alice.errors == []
        await alice.context.close()
    finally:
        if type_key is not None:
            async with httpx.AsyncClient(base_url=live_server.url, headers=auth) as c:
                await c.patch(f"/api/v1/ticket-types/{type_key}", json={"active": False})
        if rule_id is not None:
            async with httpx.AsyncClient(base_url=live_server.url, headers=auth) as c:
                await c.delete(f"/api/v1/routing/rules/{rule_id}")
        await page.context.close()
