"""An agent's day in the console, in real Chromium against the real server (issue 8, §3).

"Call customer" dials once however often the detail was drawn; tickets nobody owns are
found (unassigned, all tickets with filters); customers are searched and created in the
console, and an unknown caller's customer is created with the ticket in one go; the status
menu offers only the moves the server allows; errors read in the UI language; booleans read
as words; the language switch redraws everything at once, keeping what was typed; a failed
agent-state change puts the menu back.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import expect

from tests.support.live import LiveServer
from tickets.bus import TOPIC_CALLS

from .agent_day import Api, fresh_mobile, open_page

pytestmark = pytest.mark.browser


def _pop(call_id: str, number: str, customer: dict[str, Any] | None = None,
         tickets: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"type": "screen_pop", "call_id": call_id, "pbx": "pbx1", "caller_number": number,
            "queue": "support", "extension": "6001", "customer": customer,
            "tickets": tickets or [], "calls": []}


async def _until(cond: Any, within: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not cond():
        assert loop.time() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


async def _select_language(page: Any, lang: str) -> None:
    await page.select_option("select.lang", lang)


async def _expect_rows(page: Any, which: str, ids: list[int], within: float = 5.0) -> None:
    """The list shows exactly these tickets (waits for a reload under way to land)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        shown = await page.locator(f"#tab-{which} tbody tr").evaluate_all(
            "rows => rows.map(r => Number(r.dataset.id))")
        if sorted(shown) == sorted(ids):
            return
        assert loop.time() < deadline, f"{which} shows {shown}, expected {ids}"
        await asyncio.sleep(0.05)


async def _search_list(page: Any, which: str, q: str) -> None:
    tab = page.locator(f"#tab-{which}")
    await tab.locator("input[name=q]").fill(q)
    await tab.locator("button[type=submit]").click()


async def test_call_customer_dials_once(browser: Any, live_server: LiveServer) -> None:
    """Open A, then B, then A (same customer), click once: one originate. Re-renders (a
    language switch) and a double click while the request is out add none."""
    api = await Api.login(live_server, "alice")
    phone = fresh_mobile()
    cust = await api.post("/customers", {"name": "刘女士", "phones": [phone]})
    a = await api.post("/tickets", {"title": "A 屏幕闪烁", "customer_id": cust["id"]})
    b = await api.post("/tickets", {"title": "B 遥控器失灵", "customer_id": cust["id"]})
    await api.close()
    page = await open_page(browser, live_server, "alice", "zh")
    sent: list[Any] = []

    async def slow_ok(route: Any) -> None:  # a PBX that takes a moment to accept
        sent.append(json.loads(route.request.post_data))
        await asyncio.sleep(0.5)
        await route.fulfill(status=202, content_type="application/json",
                            body=json.dumps({"call_id": "pbx1:1.1", "to": phone}))

    await page.route("**/api/v1/calls/originate", slow_ok)
    call_id = f"pbx1:{uuid.uuid4().int % 10**9}.1"
    await live_server.publish(TOPIC_CALLS, _pop(call_id, phone, cust, [a, b]))
    card = page.locator(f".call-card[data-call-id='{call_id}']")
    button = page.locator("#call-customer")
    for tk in (a, b, a):
        await card.locator("a", has_text=tk["number"]).click()
        await expect(page.locator("#tab-detail .detail-head")).to_contain_text(tk["number"])
        await expect(button).to_be_enabled()
    await button.click()
    await _until(lambda: len(sent) >= 1)
    await page.wait_for_timeout(800)  # time for a second handler's request, if any
    # the open ticket rides along: a call-back meets its first response (SLA)
    assert sent == [{"to": phone, "ticket_id": a["id"]}]
    await _select_language(page, "en")  # redraws the detail
    await _select_language(page, "zh")
    await expect(button).to_have_text("呼叫客户")
    await button.dblclick()  # the second click lands while the first request is out
    await page.wait_for_timeout(1200)
    assert sent == [{"to": phone, "ticket_id": a["id"]}] * 2
    assert page.errors == []
    await page.context.close()


async def test_status_menu_offers_only_allowed_moves(browser: Any,
                                                     live_server: LiveServer) -> None:
    api = await Api.login(live_server, "alice")
    tag = f"SM{uuid.uuid4().hex[:6]}"
    tk = await api.post("/tickets", {"title": f"{tag} 队列里的工单", "group": "hotline"})
    me = await api.get("/auth/me")
    await api.close()
    assert tk["status"] == "new"
    page = await open_page(browser, live_server, "alice", "zh")
    await page.click("#tab-btn-all")
    await _search_list(page, "all", tag)
    await page.locator("#tab-all tbody tr", has_text=tag).click()
    menu = page.locator("#status-menu")
    await expect(menu).to_be_visible()
    offered = await menu.locator("option").evaluate_all("os => os.map(o => o.value)")
    assert offered == ["", "cancelled", "resolved"]  # nobody assigned: no assigned/in progress
    # Assigning alice moves it to assigned; now work can start, and only then.
    await page.select_option("#assignee-menu", str(me["id"]))
    await page.locator("#tab-detail form", has=page.locator("#assignee-menu"))\
        .locator("button[type=submit]").click()
    await expect(page.locator("#tab-detail .detail-head .badge").first).to_have_text("已分配")
    offered = await menu.locator("option").evaluate_all("os => os.map(o => o.value)")
    assert "in_progress" in offered and "assigned" not in offered
    await page.select_option("#status-menu", "in_progress")
    await page.locator("#tab-detail form", has=menu).locator("button[type=submit]").click()
    await expect(page.locator("#tab-detail .detail-head .badge").first).to_have_text("处理中")
    assert page.errors == []
    await page.context.close()


async def test_unassigned_and_all_tickets_with_filters(browser: Any,
                                                      live_server: LiveServer) -> None:
    api = await Api.login(live_server, "alice")
    tag = f"AL{uuid.uuid4().hex[:6]}"
    orphan = await api.post("/tickets", {"title": f"{tag} 无人处理", "priority": "urgent"})
    bob = next(u for u in await api.get("/users") if u["username"] == "bob")
    owned = await api.post("/tickets", {"title": f"{tag} bob 的", "priority": "low",
                                        "assignee": "bob"})
    await api.close()
    assert orphan["group_id"] is None and orphan["assignee_id"] is None
    page = await open_page(browser, live_server, "alice", "en")
    # Neither "my tickets" nor a group queue has the orphan; "unassigned" does.
    await page.click("#tab-btn-unassigned")
    await _search_list(page, "unassigned", tag)
    await _expect_rows(page, "unassigned", [orphan["id"]])
    await page.click("#tab-btn-all")
    await _search_list(page, "all", tag)
    await _expect_rows(page, "all", [orphan["id"], owned["id"]])
    tab = page.locator("#tab-all")
    await tab.locator("select[name=priority]").select_option("urgent")
    await _expect_rows(page, "all", [orphan["id"]])
    await tab.locator("select[name=priority]").select_option("")
    await tab.locator("select[name=assignee]").select_option(str(bob["id"]))
    await _expect_rows(page, "all", [owned["id"]])
    await tab.locator("select[name=assignee]").select_option("")
    # The created-date range: today holds both, a range ending yesterday holds none.
    today = date.today()
    await tab.locator("input[name=from]").fill(today.isoformat())
    await tab.locator("input[name=to]").fill(today.isoformat())
    await _expect_rows(page, "all", [orphan["id"], owned["id"]])
    await tab.locator("input[name=from]").fill((today - timedelta(days=3)).isoformat())
    await tab.locator("input[name=to]").fill((today - timedelta(days=1)).isoformat())
    await expect(page.locator("#tab-all p.muted", has_text="No tickets")).to_be_visible()
    assert page.errors == []
    await page.context.close()


async def test_unknown_caller_customer_and_ticket_in_one_go(browser: Any,
                                                            live_server: LiveServer) -> None:
    page = await open_page(browser, live_server, "alice", "zh")
    number = fresh_mobile()
    call_id = f"pbx1:{uuid.uuid4().int % 10**9}.2"
    await live_server.publish(TOPIC_CALLS, _pop(call_id, number))
    form = page.locator("#ticket-form")
    await expect(form.locator("fieldset.new-customer")).to_be_visible()
    await form.locator("[name=customer_name]").fill("陈先生")
    await form.locator("[name=title]").fill("洗衣机漏水 E21")
    await page.click("#create-ticket")
    await expect(page.locator("#tab-detail .detail-head")).to_contain_text("洗衣机漏水")
    await expect(page.locator("#detail-customer")).to_have_text("陈先生")
    card = page.locator(f".call-card[data-call-id='{call_id}']")
    await expect(card.locator(".cust-name")).to_have_text("陈先生")
    api = await Api.login(live_server, "alice")
    [cust] = await api.get("/customers", phone=number)
    assert cust["name"] == "陈先生"
    tickets = (await api.get("/tickets", call_id=call_id))["items"]
    assert [t["customer_id"] for t in tickets] == [cust["id"]]
    # Without a call: a number typed into a blank form, no name given — the customer is
    # created under the number, and the ticket is theirs.
    typed = fresh_mobile()
    await page.click("#tab-btn-form")
    await form.locator("[name=customer_phone]").fill(typed[3:])  # written the national way
    await form.locator("[name=title]").fill("来电咨询保修")
    await page.click("#create-ticket")
    await expect(page.locator("#tab-detail .detail-head")).to_contain_text("来电咨询保修")
    [cust2] = await api.get("/customers", phone=typed)
    assert cust2["name"] == typed[3:]
    mine = (await api.get("/tickets", customer_id=cust2["id"]))["items"]
    assert [t["title"] for t in mine] == ["来电咨询保修"]
    await api.close()
    assert page.errors == []
    await page.context.close()


async def test_customers_panel_search_create_open(browser: Any, live_server: LiveServer,
                                                  artifacts: Path) -> None:
    page = await open_page(browser, live_server, "alice", "en")
    await page.click("#tab-btn-customers")
    panel = page.locator("#tab-customers")
    mobile, other = fresh_mobile(), fresh_mobile()
    await panel.locator("details.create-customer summary").click()
    await panel.locator("#customer-create [name=name]").fill("Grace Hopper 葛丽丝")
    await panel.locator("#customer-create [name=phones]").fill(f"{mobile[3:]}, {other}")
    await panel.locator("#customer-create button[type=submit]").click()
    opened = panel.locator(".customer-card")
    await expect(opened.locator(".cust-name")).to_have_text("Grace Hopper 葛丽丝")
    await expect(opened).to_contain_text(other)
    api = await Api.login(live_server, "alice")
    [cust] = await api.get("/customers", phone=mobile)
    order = f"SO-{uuid.uuid4().hex[:8].upper()}"
    await api.post("/orders", {"number": order, "customer_id": cust["id"],
                               "product_name": "Dishwasher DW-60",
                               "purchased_at": "2026-06-01T09:00:00+08:00"})
    await api.post("/tickets", {"title": "Door seal leaks", "customer_id": cust["id"]})
    await api.close()
    # Found by a part of a number as written, and by an order number.
    for q in (f"{mobile[5:9]} {mobile[9:]}", order.lower()):
        await panel.locator("#customer-search [name=q]").fill(q)
        await panel.locator("#customer-search button[type=submit]").click()
        await expect(panel.locator(f".customer-results a[data-customer-id='{cust['id']}']"))\
            .to_be_visible()
    await panel.locator(f".customer-results a[data-customer-id='{cust['id']}']").click()
    await expect(opened).to_contain_text("Door seal leaks")
    await expect(opened).to_contain_text(order)
    await page.screenshot(path=str(artifacts / "console_desktop_en_customers.png"))
    await opened.get_by_role("button", name="New ticket for this customer").click()
    await expect(page.locator("#form-customer")).to_contain_text("Grace Hopper 葛丽丝")
    await page.fill("#ticket-form [name=title]", "Second visit")
    await page.click("#create-ticket")
    await expect(page.locator("#detail-customer")).to_have_text("Grace Hopper 葛丽丝")
    assert page.errors == []
    await page.context.close()


async def test_errors_words_and_language_switch(browser: Any,
                                               live_server: LiveServer) -> None:
    api = await Api.login(live_server, "alice")
    tag = f"LS{uuid.uuid4().hex[:6]}"
    tk = await api.post("/tickets", {"title": f"{tag} 空调异响", "assignee": "alice"})
    await api.post(f"/tickets/{tk['id']}/comments", {"body": "已告知客户", "public": True})
    await api.close()
    page = await open_page(browser, live_server, "alice", "zh")
    # A card, a half-written form, a ticket with history, a list: all on screen in zh.
    call_id = f"pbx1:{uuid.uuid4().int % 10**9}.3"
    await live_server.publish(TOPIC_CALLS, _pop(call_id, fresh_mobile()))
    card = page.locator(f".call-card[data-call-id='{call_id}']")
    await expect(card.locator(".cust-name")).to_have_text("未知来电")
    await page.fill("#ticket-form [name=title]", "写了一半的标题")
    await page.select_option("#ticket-form [name=priority]", "urgent")
    await page.click("#tab-btn-mine")
    await _search_list(page, "mine", tag)
    await page.locator("#tab-mine tbody tr", has_text=tag).click()
    history = page.locator("#history")
    await expect(history).to_contain_text("对客户可见: 是")  # a boolean in words

    # An error: the headline in the UI language, the server's reason under it.
    await page.route(f"**/api/v1/tickets/{tk['id']}", lambda route: route.fulfill(
        status=409, content_type="application/json", body=json.dumps({
            "detail": "cannot move the ticket from assigned to closed; allowed: new"}))
        if route.request.method == "PATCH" else route.continue_())
    await page.select_option("#status-menu", "resolved")
    await page.locator("#tab-detail form", has=page.locator("#status-menu"))\
        .locator("button[type=submit]").click()
    toast = page.locator("#toast.error")
    await expect(toast).to_contain_text("变更状态: 工单当前状态不允许这样变更")
    await expect(toast.locator(".detail")).to_contain_text("409 · cannot move the ticket")
    await page.unroute(f"**/api/v1/tickets/{tk['id']}")
    # A real one: dialling with no PBX is refused (409), said in Chinese.
    await page.fill("#dial-to", "13800138000")
    await page.click("#dial-form button[type=submit]")
    await expect(toast).to_contain_text("拨号: 电话系统未连接")
    await expect(toast.locator(".detail")).to_contain_text("409")

    # Switch to English: every part is redrawn at once, nothing typed is lost.
    await _select_language(page, "en")
    await expect(history).to_contain_text("Public: yes")
    await expect(page.locator("#tab-detail .detail-head .badge").first).to_have_text("Assigned")
    await expect(card.locator(".cust-name")).to_have_text("Unknown caller")
    await page.click("#tab-btn-form")
    form = page.locator("#ticket-form")
    await expect(form.locator("label", has=page.locator("[name=title]"))).to_contain_text("Title")
    await expect(form.locator("[name=title]")).to_have_value("写了一半的标题")
    await expect(form.locator("[name=priority]")).to_have_value("urgent")
    await expect(form.locator("[name=priority] option:checked")).to_have_text("Urgent")
    await page.click("#tab-btn-mine")
    await expect(page.locator("#tab-mine thead")).to_contain_text("Number")
    await _select_language(page, "zh")
    await expect(page.locator("#tab-mine thead")).to_contain_text("编号")
    await expect(page.locator("#tab-mine tbody tr", has_text=tag)).to_contain_text("已分配")
    await page.click("#tab-btn-form")
    await expect(form.locator("[name=title]")).to_have_value("写了一半的标题")
    assert page.errors == []
    await page.context.close()


async def test_failed_state_change_puts_the_menu_back(browser: Any,
                                                      live_server: LiveServer) -> None:
    for lang, says in (("zh", "状态未变更: 电话系统未连接"),
                       ("en", "State not changed: The phone system is not connected")):
        page = await open_page(browser, live_server, "alice", lang)
        await expect(page.locator("#agent-state")).to_have_value("available")
        await page.select_option("#agent-state", "paused")
        await page.select_option("#pause-reason", "lunch")
        await page.click("#state-form button[type=submit]")
        await expect(page.locator("#toast.error")).to_contain_text(says)
        await expect(page.locator("#agent-state")).to_have_value("available")
        await expect(page.locator("#pause-reason")).to_be_hidden()
        assert page.errors == []
        await page.context.close()


async def test_an_ivr_call_back_request_dials_the_number_the_caller_left(
        browser: Any, live_server: LiveServer) -> None:
    """The IVR's "3" leaves a ticket with ``fields.callback_number`` and no customer record:
    the detail says what was asked for, and the call button dials that number."""
    from tickets.ivr.service import request_callback

    number = fresh_mobile()

    async def leave_request() -> int:  # what the IVR's backend does, on the server's loop
        async with live_server.services.db() as s, s.begin():
            made = await request_callback(s, customer_id=None, caller=number, call_id=None,
                                          hour=14)
            return made.ticket_id

    tk = {"id": live_server.call(leave_request())}
    page = await open_page(browser, live_server, "alice", "zh")
    sent: list[Any] = []

    async def ok(route: Any) -> None:
        sent.append(json.loads(route.request.post_data))
        await route.fulfill(status=202, content_type="application/json",
                            body=json.dumps({"call_id": "pbx1:1.2", "to": number}))

    await page.route("**/api/v1/calls/originate", ok)
    await page.evaluate(f"location.hash = '#ticket={tk['id']}'")
    await expect(page.locator("#tab-detail .callback-request")).to_contain_text(
        f"{number} · 14:00")
    # the notice says it; the raw field keys are not shown besides
    await expect(page.locator("#tab-detail")).not_to_contain_text("callback_number")
    button = page.locator("#call-customer")
    await expect(button).to_have_text(f"回拨 {number}")
    await button.click()
    await _until(lambda: len(sent) == 1)
    assert sent == [{"to": number, "ticket_id": tk["id"]}]
    await _select_language(page, "en")
    await expect(button).to_have_text(f"Call back {number}")
    assert page.errors == []
    await page.context.close()
