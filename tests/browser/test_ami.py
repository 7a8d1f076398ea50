"""The whole path in Chromium: a call replayed from a real Asterisk AMI capture over TCP pops
on alice's console; she creates the ticket and transfers the call with it to bob through the
real transfer API (AMI BlindTransfer to the fake PBX), and bob's console pops the ticket.
"""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import expect

from telephony.simulator import _msg_bytes
from tests.support.live import LiveServer
from tickets.bus import TOPIC_ASR

from .test_console import login
from .test_hangup import watch

pytestmark = pytest.mark.browser


async def supervisor_login(browser: Any, server: LiveServer) -> Any:
    """sue (zh) logged in: a supervisor lands on the wallboard."""
    ctx = await browser.new_context(viewport={"width": 1366, "height": 768}, locale="zh-CN")
    page = await ctx.new_page()
    page.errors = []
    page.on("pageerror", lambda exc: page.errors.append(str(exc)))
    await page.goto(f"{server.url}/login")
    await page.fill("#username", "sue")
    await page.fill("#password", "demo")
    await page.click("#login-submit")
    await page.wait_for_url("**/wallboard")
    await page.wait_for_selector("body[data-ready='1'][data-ws='online']")
    return page


async def test_replayed_call_pop_ticket_transfer(browser: Any, pbx_server: LiveServer,
                                                 fake_pbx: Any, artifacts: Path) -> None:
    alice = await login(browser, pbx_server, "alice", "zh-CN")
    bob = await login(browser, pbx_server, "bob", "en-US")

    t0 = time.perf_counter()
    task, result = fake_pbx.start_play("e_queue_blind_transfer", caller="13800138000")
    try:
        card = alice.locator(".call-card")
        await card.first.wait_for(state="visible", timeout=10_000)
        paint_ms = (time.perf_counter() - t0) * 1000
        print(f"pop-to-paint (AMI replay start → card visible in Chromium): {paint_ms:.1f} ms")
        call_id = await card.first.get_attribute("data-call-id")
        assert call_id == f"pbx1:{result.linkedids[0]}"
        await expect(card.locator(".cust-name")).to_have_text("陈志强", timeout=5000)
        await expect(card.locator(".badge.vip")).to_have_count(1)
        # The queue rang both agents: bob's pop closes once alice answers.
        bob_card = bob.locator(f".call-card[data-call-id='{call_id}']")
        await expect(bob_card.locator(".state")).to_contain_text("Answered by 6001",
                                                                 timeout=10_000)
        await expect(card.locator(".state.st-answered")).to_have_count(1, timeout=10_000)
        # The order keyed in at the IVR (4 7 8 #) is prefilled already.
        await expect(alice.locator("#ticket-form [name=order_number]")).to_have_value(
            "478", timeout=5000)
        # Speech prefill (published as the ASR server does) sets the type.
        await pbx_server.publish(TOPIC_ASR, {"type": "asr", "call_id": call_id,
                                             "final": True, "text": "空调坏了要维修"})
        await pbx_server.publish(TOPIC_ASR, {"type": "ticket_prefill", "call_id": call_id,
                                             "ticket_type": "repair", "order_numbers": [],
                                             "phone_numbers": []})
        await expect(alice.locator("#ticket-form [name=type]")).to_have_value("repair",
                                                                           timeout=5000)
        await alice.fill("#ticket-form [name=f_fault]", "不制冷")
        await alice.screenshot(path=str(artifacts / "ami_alice_pop.png"))
        await alice.click("#create-ticket")
        head = alice.locator("#tab-detail .detail-head")
        await head.wait_for(timeout=5000)
        number = (await head.locator("code").inner_text()).strip()

        # Transfer through the real API → AMI BlindTransfer to the fake PBX.
        await alice.select_option("#transfer-target", "6002")
        await alice.click("#transfer-btn")
        await bob.locator("#tab-detail .detail-head", has_text=number).wait_for(timeout=10_000)
        await expect(bob.locator(".transfer-card")).to_contain_text(number)
        xfer = [a for a in fake_pbx.actions if a.get("Action") == "BlindTransfer"]
        assert xfer and xfer[-1]["Exten"] == "6002"
        assert xfer[-1]["Channel"].startswith("PJSIP/6001-")
        await asyncio.wait_for(result.done.wait(), 15)  # the capture played to its end
        # alice's leg closed with the transfer; the call went on to bob and ended.
        await expect(card.first).to_have_class(re.compile(r"\bended\b"), timeout=10_000)
        # Call updates re-render alice's ticket view without losing what it had loaded.
        await expect(alice.locator("#history")).to_contain_text("创建")  # zh console
        await expect(alice.locator(".file-pick")).to_have_text("选择文件")  # not Chromium's
        await bob.screenshot(path=str(artifacts / "ami_bob_transfer.png"))
        await alice.screenshot(path=str(artifacts / "ami_alice_after_transfer.png"))
        token = await pbx_server.login("bob")
        async with httpx.AsyncClient(base_url=pbx_server.url) as c:
            t = (await c.get("/api/v1/tickets", params={"call_id": call_id},
                             headers={"Authorization": f"Bearer {token}"})).json()["items"]
        assert [x["number"] for x in t] == [number] and t[0]["type"] == "repair"
        assert alice.errors == [] and bob.errors == []
    finally:
        task.cancel()
        await alice.context.close()
        await bob.context.close()


async def test_agent_state_drives_queue_pause_and_the_wallboard(
        browser: Any, pbx_server: LiveServer, fake_pbx: Any, artifacts: Path) -> None:
    alice = await login(browser, pbx_server, "alice", "en-US")
    sue = await supervisor_login(browser, pbx_server)
    # The live queue from the PBX (QueueStatus at the bridge's resync).
    await expect(sue.locator("#queues")).to_contain_text("support", timeout=5000)

    before = len(fake_pbx.actions)
    await alice.select_option("#agent-state", "paused")
    await expect(alice.locator("#pause-reason")).to_be_visible()
    await alice.select_option("#pause-reason", "lunch")
    await alice.click("#state-form button[type=submit]")
    row = sue.locator("#agents .agent[data-extension='6001']")
    await expect(row).to_contain_text("暂停", timeout=5000)
    await expect(row).to_contain_text("午餐")  # the reason, in sue's language
    pauses = [a for a in fake_pbx.actions[before:] if a.get("Action") == "QueuePause"]
    assert pauses and pauses[-1]["Interface"] == "PJSIP/6001"
    assert pauses[-1]["Paused"] == "true" and pauses[-1]["Reason"] == "lunch"
    # Time in pause: the PBX's LastPause dates it (the fake sets it as app_queue does).
    await expect(row.locator(".agent-state")).to_have_text("暂停（午餐）")
    await expect(row.locator(".agent-time")).to_have_text(re.compile(r"^0:[0-5]\d$"))
    member = fake_pbx.members["support"]["PJSIP/6001"]
    assert member["Paused"] == "1" and abs(int(member["LastPause"]) - time.time()) < 30
    # As a QueueStatus after a reconnect would: the pause really began 12 minutes ago.
    member["LastPause"] = str(int(time.time()) - 12 * 60 - 5)
    await fake_pbx.broadcast(_msg_bytes({
        "Event": "QueueMemberStatus", "Privilege": "agent,all", "Queue": "support",
        "MemberName": member["Name"], "Interface": "PJSIP/6001",
        **{k: member[k] for k in ("StateInterface", "Membership", "Penalty", "CallsTaken",
                                  "LastCall", "LastPause", "InCall", "Status", "Paused",
                                  "PausedReason")}}))
    await expect(row.locator(".agent-time")).to_have_text(re.compile(r"^12:[01]\d$"),
                                                          timeout=5000)
    await sue.screenshot(path=str(artifacts / "wallboard.png"))
    await sue.screenshot(path="/tmp/pausedrelease-wallboard-zh.png")
    await sue.select_option("select.lang", "en")
    await expect(row.locator(".agent-state")).to_have_text("Paused (Lunch)")
    await expect(row.locator(".agent-time")).to_have_text(re.compile(r"^12:[01]\d$"))
    await sue.screenshot(path="/tmp/pausedrelease-wallboard-en.png")
    await sue.set_viewport_size({"width": 390, "height": 844})
    await expect(row.locator(".agent-state")).to_be_visible()
    await sue.screenshot(path="/tmp/pausedrelease-wallboard-en-390.png", full_page=True)
    await sue.select_option("select.lang", "zh")
    await sue.screenshot(path="/tmp/pausedrelease-wallboard-zh-390.png", full_page=True)
    await sue.set_viewport_size({"width": 1366, "height": 768})

    await alice.select_option("#agent-state", "available")
    await alice.click("#state-form button[type=submit]")
    await expect(row).to_contain_text("空闲", timeout=5000)
    # The unpause reaches the PBX (the row may turn first: the statistics engine's push).
    for _ in range(50):
        if any(a.get("Paused") == "false" for a in fake_pbx.actions[before:]):
            break
        await asyncio.sleep(0.1)
    assert any(a.get("Paused") == "false" for a in fake_pbx.actions[before:]), \
        fake_pbx.actions[before:]
    assert alice.errors == [] and sue.errors == []
    await alice.context.close()
    await sue.context.close()


async def test_hang_up_from_the_call_card(browser: Any, pbx_server: LiveServer,
                                          fake_pbx: Any) -> None:
    alice = await login(browser, pbx_server, "alice", "en-US")
    dialogs, hangup_requests = watch(alice)  # the confirmation is in the page, no dialog
    task, result = fake_pbx.start_play("d_actions", caller="15921876543")
    try:
        card = alice.locator(".call-card").first
        await card.wait_for(timeout=10_000)
        call_id = f"pbx1:{result.linkedids[0]}"
        assert await card.get_attribute("data-call-id") == call_id
        await expect(card.locator(".cust-name")).to_have_text("李秀英", timeout=5000)
        await expect(card.locator(".state.st-answered")).to_have_count(1, timeout=10_000)
        before = len([a for a in fake_pbx.actions if a.get("Action") == "Hangup"])
        button = card.get_by_role("button", name="Hang up", exact=True)
        ask = card.locator(".hangup-confirm")
        # Asked, then cancelled: nothing reaches the server or the PBX, the call goes on.
        await button.click()
        await expect(ask).to_contain_text("Hang up this call?")
        await ask.get_by_role("button", name="Cancel").click()
        await expect(ask).to_have_count(0)
        await button.press("Enter")
        await expect(ask.get_by_role("button", name="Yes, hang up")).to_be_focused()
        await alice.keyboard.press("Escape")
        await expect(ask).to_have_count(0)
        await asyncio.sleep(0.3)
        assert hangup_requests == []
        assert len([a for a in fake_pbx.actions if a.get("Action") == "Hangup"]) == before
        assert not result.done.is_set()  # the capture still waits for its Hangup
        # Asked and confirmed: the PBX gets the Hangup.
        await button.click()
        await ask.get_by_role("button", name="Yes, hang up").click()
        await asyncio.wait_for(result.done.wait(), 15)  # the PBX got Hangup and ended it
        assert len(hangup_requests) == 1
        hangups = [a for a in fake_pbx.actions if a.get("Action") == "Hangup"]
        # The caller's channel is hung up (normal clearing), not the agent's.
        assert hangups and hangups[-1]["Cause"] == "16"
        assert not hangups[-1]["Channel"].startswith(("PJSIP/6001", "PJSIP/6002"))
        await expect(card.locator(".state.st-ended")).to_have_count(1, timeout=10_000)
        await expect(card.get_by_role("button", name="Dismiss")).to_be_visible()
        assert dialogs == [] and alice.errors == []
    finally:
        task.cancel()
        await alice.context.close()


async def test_click_to_call_and_language_switch(browser: Any, pbx_server: LiveServer,
                                                 fake_pbx: Any) -> None:
    alice = await login(browser, pbx_server, "alice", "en-US")
    before = len(fake_pbx.actions)
    await alice.keyboard.press("Alt+k")  # keyboard: focus the dial box
    await alice.keyboard.type("138 0013 8000")
    await alice.keyboard.press("Enter")
    await expect(alice.locator("#toast")).to_contain_text("Calling", timeout=5000)
    originates = [a for a in fake_pbx.actions[before:] if a.get("Action") == "Originate"]
    assert originates and originates[-1]["Channel"] == "PJSIP/6001"
    assert originates[-1]["Exten"] == "13800138000"
    # Switching the UI language relabels the page without a reload, and sticks.
    await alice.select_option("select.lang", "zh")
    await expect(alice.locator("#tab-btn-mine")).to_have_text("我的工单")
    await expect(alice.locator("#me")).to_contain_text("分机 6001")  # built by script, too
    await expect(alice.locator("#kb")).to_contain_text("暂无建议")
    await alice.reload()
    await alice.wait_for_selector("body[data-ready='1']")
    await expect(alice.locator("#tab-btn-mine")).to_have_text("我的工单")
    assert alice.errors == []
    await alice.context.close()


async def test_a_console_opened_mid_call_shows_the_call(browser: Any, pbx_server: LiveServer,
                                                        fake_pbx: Any) -> None:
    first = await login(browser, pbx_server, "alice", "en-US")
    task, result = fake_pbx.start_play("e_queue_blind_transfer", caller="15921876543")
    try:
        card = first.locator(".call-card").first
        await expect(card.locator(".state.st-answered")).to_have_count(1, timeout=10_000)
        call_id = await card.get_attribute("data-call-id")
        # A second console (say, after a browser restart) while the call is up.
        second = await login(browser, pbx_server, "alice", "en-US")
        late = second.locator(f".call-card[data-call-id='{call_id}']")
        await expect(late.locator(".cust-name")).to_have_text("李秀英", timeout=5000)
        await expect(late.locator(".state.st-answered")).to_have_count(1)
        await expect(second.locator("#ticket-form [name=order_number]")).to_have_value("478")
        # Let the capture finish (it waits for a transfer) so no call stays up.
        token = await pbx_server.login("alice")
        async with httpx.AsyncClient(base_url=pbx_server.url) as c:
            r = await c.post(f"/api/v1/calls/{call_id}/transfer", json={"extension": "6002"},
                             headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 202, r.text
        await asyncio.wait_for(result.done.wait(), 15)
        await expect(late).to_have_class(re.compile(r"\bended\b"), timeout=10_000)
        assert first.errors == [] and second.errors == []
        await second.context.close()
    finally:
        task.cancel()
        await first.context.close()


async def test_wallboard_shows_live_calls_and_the_supervisor_steps_in(
        browser: Any, pbx_server: LiveServer, fake_pbx: Any, artifacts: Path) -> None:
    sue = await supervisor_login(browser, pbx_server)
    await expect(sue.locator("#calls")).to_contain_text("当前没有通话")
    # Today's figures as the statistics engine pushes them (telephony/stats, live).
    today = sue.locator("#queues .queue[data-queue='support'] .queue-name .muted")
    await expect(today).to_contain_text("来电")
    offered, answered = (int(n) for n in re.findall(r"\d+", await today.inner_text()))
    task, result = fake_pbx.start_play("a_inbound_queue_answered", speed=2.0,
                                         caller="13800138000")
    try:
        row = sue.locator("#calls tr[data-call-id]")
        await expect(row).to_contain_text("通话中", timeout=15_000)  # answered
        await expect(row).to_contain_text("Alice 王丽 6001")  # the agent by name
        await expect(row).to_contain_text("+8613800138000")
        await expect(row.locator("strong")).to_have_text("陈志强")  # the customer...
        await expect(row.locator(".badge.vip")).to_be_visible()  # ...and a VIP
        await expect(sue.locator("#agents .agent[data-extension='6001']")).to_contain_text(
            "通话中")
        before = len(fake_pbx.actions)
        await row.get_by_role("button", name="耳语").click()
        await expect(sue.locator("#board-status")).to_contain_text("正在呼叫您的分机")
        spies = [a for a in fake_pbx.actions[before:] if a.get("Application") == "ChanSpy"]
        assert spies and spies[-1]["Channel"] == "PJSIP/6010"  # sue's phone rings
        # On alice's channel in *this* call (not any channel of 6001), whispering.
        assert re.match(r"^PJSIP/6001-[0-9a-f]{8},qwE$", spies[-1]["Data"])
        await sue.screenshot(path=str(artifacts / "wallboard_live_call.png"))
        await asyncio.wait_for(result.done.wait(), 30)
        await expect(sue.locator("#calls")).to_contain_text("当前没有通话", timeout=10_000)
        # The answered call is one more offered and answered today, pushed to the page.
        await expect(today).to_have_text(
            re.compile(rf"来电 {offered + 1} · 接听 {answered + 1}$"), timeout=5000)
    finally:
        task.cancel()
    assert sue.errors == []
    await sue.context.close()
