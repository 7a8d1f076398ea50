"""The wallboard in Chromium against the fake Asterisk: the queue figures, the agent grid
and the trend chart move with pushed ``queue_stats`` (published on the bus as the live
statistics engine does: extended, with windows and ``at``), and ``agent_stats`` when this
build routes it; the supervisor pauses an agent with a reason (QueuePause reaches the PBX)
and calls an abandoned caller back (the PBX gets the Originate). Screenshots of laptop and
TV mode, zh and en, at 1366×768 and 390×844 go to tests/artifacts/."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import expect

from tests.support.live import LiveServer
from tests.web.test_floor_api import _call
from tickets.bus import TOPIC_QUEUES
from web.hub import PERMITS

from .agent_day import DESKTOP, PHONE, open_page

pytestmark = pytest.mark.browser


def _window(offered: int, answered: int, abandoned: int, within: int, asa: float,
            aht: float) -> dict[str, Any]:
    sl = within / offered if offered else None
    return {"offered": offered, "answered": answered, "abandoned": abandoned,
            "short_abandoned": 0, "answered_within_sl": within, "service_level": sl,
            "abandon_rate": abandoned / offered if offered else None, "asa_s": asa,
            "aht_s": aht}


def _stats(waiting: int, longest: float, at: datetime, sl15: tuple[int, int]) -> dict[str, Any]:
    """An extended queue_stats (docs/CONTRACT.md) for the fake PBX's queue "support"."""
    offered, within = sl15
    return {"type": "queue_stats", "pbx": "pbx1", "queue": "support", "waiting": waiting,
            "longest_wait_s": longest, "service_level": 0.9, "abandon_rate": 0.05,
            "completed": 40, "abandoned": 3, "agents": [], "at": at.isoformat(),
            "sl_threshold_s": 20, "short_abandon_s": 5,
            "windows": {"15m": _window(offered, offered - 1, 1, within, 12.0, 160.0),
                        "60m": _window(30, 28, 2, 25, 14.0, 170.0),
                        "today": _window(120, 110, 10, 100, 15.5, 185.0)}}


#: Elements reaching past the right edge of the screen (a page that scrolls sideways).
WIDER_THAN_SCREEN = """() => {
  const root = document.documentElement;
  const w = root.clientWidth;
  const out = [];
  if (root.scrollWidth > w) out.push(`page ${root.scrollWidth}>${w}`);
  const shown = "main button, main select, .fig, .agent, .topbar > *";
  for (const el of document.querySelectorAll(shown)) {
    const r = el.getBoundingClientRect();
    const name = el.id || el.className;
    if (r.width && r.right > w + 1) out.push(`${name} ${Math.round(r.right)}>${w}`);
  }
  return out;
}"""

#: A floor for the TV screenshots: (extension, name, state, reason, seconds in state,
#: answered, missed).
AGENTS = [("6001", "Alice 王丽", "on_call", None, 184, 12, 2),
          ("6002", "Bob 李波", "paused", "lunch", 1310, 9, 0),
          ("6003", "Carol 陈静", "available", None, 42, 15, 1),
          ("6004", "Dave 赵强", "wrapup", None, 25, 11, 0),
          ("6005", "Erin 孙悦", "ringing", None, 6, 8, 3),
          ("6006", "Frank 周杰", "on_hold", None, 95, 10, 0),
          ("6007", "Grace 吴敏", "logged_out", None, 5400, 4, 0),
          ("6008", "Henry 郑浩", "on_call", None, 402, 13, 1)]


async def _serve_engine(page: Any) -> None:
    """Answer the page's /stats/live, /stats/trend and /reports/queues (a busy morning)."""
    import json

    now = datetime.now(UTC)
    agents = [{"type": "agent_stats", "pbx": "pbx1", "extension": ext, "name": name,
               "at": now.isoformat(), "state": state, "reason": reason,
               "state_since": (now - timedelta(seconds=secs)).isoformat(),
               "queues": [] if state == "logged_out" else ["support"], "call_id": None,
               "ticket_id": 27 if ext == "6001" else None,
               "today": {"offered": ans + miss, "answered": ans, "missed": miss,
                         "talk_s": ans * 170.0, "hold_s": 30.0, "idle_s": 600.0 + ans * 40}}
              for ext, name, state, reason, secs, ans, miss in AGENTS]
    live = {"at": now.isoformat(), "queues": [_stats(6, 48.0, now, (40, 33)),
                                             {**_stats(1, 12.0, now, (12, 12)),
                                              "queue": "vip"}],
            "agents": agents}
    trend = {"at": now.isoformat(), "step_s": 60, "queues": {
        q: [{"t": (now - timedelta(minutes=59 - i)).isoformat(),
             "waiting": (i * 7 + k) % 9 if q == "support" else (i // 9 + k) % 3,
             "longest_wait_s": 10.0, "service_level": 0.95 - ((i + k) % 13) / 40}
            for i in range(60)] for k, q in enumerate(("support", "vip"))}}

    async def reply(route: Any) -> None:
        url = route.request.url
        if "/stats/live" in url:
            body: Any = live
        elif "/stats/trend" in url:
            body = trend
        else:
            day = url.split("from=")[1][:10]
            rows = [{"bucket_start": f"{day}T{h:02d}:00:00+08:00", "queue": "support",
                     "offered": max(0, 30 - abs(h - 11) * 4) + (h + len(day)) % 5,
                     "answered": 0, "abandoned": 0, "short_abandoned": 0,
                     "answered_within_sl": 0, "service_level": None, "asa_s": None,
                     "aht_s": None} for h in range(24)]
            body = {"from": day, "to": day, "bucket": "hour", "rows": rows}
        await route.fulfill(status=200, content_type="application/json",
                            body=json.dumps(body))

    for path in ("stats/live", "stats/trend*", "reports/queues*"):
        await page.route(f"**/api/v1/{path}", reply)


async def test_wallboard_moves_and_acts(browser: Any, pbx_server: LiveServer, fake_pbx: Any,
                                        artifacts: Path) -> None:
    started = datetime.now(UTC) - timedelta(minutes=4)
    call_id = pbx_server.call(_call(pbx_server.services, "abandoned", "+8613700001111",
                                    started))
    page = await open_page(browser, pbx_server, "sue", "zh", path="/wallboard")
    # The PBX's members (QueueStatus at the bridge's resync) fill the grid before any stats.
    card = page.locator("#agents .agent[data-extension='6002']")
    await expect(card.locator(".agent-state")).to_have_text("空闲", timeout=5000)

    # The trend as loaded: the engine's minutes so far on this shared server (or, before its
    # first minute, the snapshot's point).
    chart = page.locator("#chart-waiting")
    try:
        await expect(chart).to_have_attribute("data-points", re.compile(r"^\d+$"), timeout=3000)
        base = int(await chart.get_attribute("data-points") or 1)
    except AssertionError:
        base = 1
    # Pushed statistics: readings a minute apart (after the snapshot's, this minute); the
    # figures follow the latest, the trend gets a point per minute.
    now = datetime.now(UTC)
    for i, (waiting, sl) in enumerate(((2, (10, 9)), (4, (12, 9)), (7, (14, 9)))):
        await pbx_server.publish(TOPIC_QUEUES, _stats(waiting, 40.0 + i, now + timedelta(
            minutes=i + 1), sl))
    queue = page.locator("#queues .queue[data-queue='support']")
    waiting = queue.locator(".fig-waiting")
    await expect(waiting.locator(".fig-value")).to_have_text("7")
    await expect(waiting).to_have_attribute("data-level", "red")  # default red: 5
    await expect(queue.locator(".fig-sl .fig-value")).to_have_text("64%")  # 9/14
    await expect(queue.locator(".fig-sl")).to_have_attribute("data-level", "amber")
    await expect(queue.locator(".fig-asa .fig-value")).to_have_text("0:15")
    await expect(queue.locator(".fig-abandoned .fig-value")).to_have_text("10")
    await expect(chart).to_have_attribute("data-points", str(base + 3), timeout=3000)
    # the last value of each queue's series (other queues of this shared server may be drawn)
    await expect(chart).to_have_attribute("data-last", re.compile(r"(^|,)7(,|$)"))
    await pbx_server.publish(TOPIC_QUEUES, _stats(1, 5.0, now + timedelta(minutes=4),
                                                  (15, 14)))
    await expect(waiting.locator(".fig-value")).to_have_text("1")
    await expect(waiting).to_have_attribute("data-level", "ok")
    await expect(chart).to_have_attribute("data-points", str(base + 4), timeout=3000)
    await expect(chart).to_have_attribute("data-last", re.compile(r"(^|,)1(,|$)"))
    await expect(page.locator("#chart-sl canvas")).to_have_count(1)

    if "agent_stats" in PERMITS:  # routed once the live statistics engine is merged
        await pbx_server.publish(TOPIC_QUEUES, {
            "type": "agent_stats", "pbx": "pbx1", "extension": "6001", "name": "Agent 6001",
            "at": datetime.now(UTC).isoformat(), "state": "on_call", "reason": None,
            "state_since": (datetime.now(UTC) - timedelta(seconds=75)).isoformat(),
            "queues": ["support"], "call_id": None, "ticket_id": None,
            "today": {"offered": 14, "answered": 12, "missed": 2, "talk_s": 1800.0,
                      "hold_s": 60.0, "idle_s": 900.0}})
        alice = page.locator("#agents .agent[data-extension='6001']")
        await expect(alice.locator(".agent-state")).to_have_text("通话中")
        await expect(alice.locator(".agent-today")).to_contain_text("12")

    # Pause bob with a reason: the QueuePause reaches the PBX, the card turns paused.
    before = len(fake_pbx.actions)
    await card.get_by_role("button", name="暂停").click()
    dialog = page.locator("#act")
    await dialog.locator("select[name=reason]").select_option("meeting")
    await dialog.get_by_role("button", name="暂停").click()
    await expect(card.locator(".agent-state")).to_have_text("暂停（会议）", timeout=5000)
    pauses = [a for a in fake_pbx.actions[before:] if a.get("Action") == "QueuePause"]
    assert pauses and pauses[-1]["Interface"] == "PJSIP/6002"
    assert pauses[-1]["Paused"] == "true" and pauses[-1]["Reason"] == "meeting"
    await expect(card.locator(".agent-time")).to_have_text(re.compile(r"^0:0\d$"))

    # Call the abandoned caller back from alice's phone, then mark it reached.
    row = page.locator(f"#abandoned li[data-call-id='{call_id}']")
    await expect(row).to_contain_text("+8613700001111")
    await page.select_option("#callback-from", "6001")
    await row.get_by_role("button", name="回拨").click()
    await expect(row).to_contain_text("已回拨 1 次")
    [orig] = [a for a in fake_pbx.actions[before:] if a.get("Action") == "Originate"]
    assert orig["Channel"] == "PJSIP/6001" and orig["Exten"] == "+8613700001111"
    await expect(page.locator("#board-status")).to_contain_text("6001")

    # Reassign a ticket about to breach its SLA (the existing PATCH /tickets/{id}).
    risk = page.locator("#risk li").first
    ticket_id = await risk.get_attribute("data-ticket-id")
    await risk.get_by_role("button", name="改派").click()
    await dialog.locator("select[name=assignee]").select_option(label="Alice 王丽 (6001)")
    await dialog.get_by_role("button", name="改派").click()
    await expect(page.locator("#board-status")).to_contain_text("Alice 王丽")
    await expect(page.locator(f"#risk li[data-ticket-id='{ticket_id}']")).to_contain_text(
        "Alice 王丽")

    await page.evaluate("document.querySelector('main').scrollTo(0, 0)")
    await page.screenshot(path=str(artifacts / "wallboard_laptop_zh_1366.png"))
    await page.select_option("select.lang", "en")
    await expect(card.locator(".agent-state")).to_have_text("Paused (Meeting)")
    await page.screenshot(path=str(artifacts / "wallboard_laptop_en_1366.png"))
    await page.set_viewport_size(PHONE)
    assert await page.evaluate(WIDER_THAN_SCREEN) == []
    await page.screenshot(path=str(artifacts / "wallboard_laptop_en_390.png"), full_page=True)
    await page.select_option("select.lang", "zh")
    await page.screenshot(path=str(artifacts / "wallboard_laptop_zh_390.png"), full_page=True)
    await page.set_viewport_size(DESKTOP)

    await row.get_by_role("button", name="已联系").click()
    await expect(row.locator(".badge").first).to_have_text("已联系")
    assert not await row.get_by_role("button", name="回拨").count()

    # TV mode: no controls, large type. Its snapshot, trend and hourly report are served
    # here as the statistics engine and the reports answer (docs/CONTRACT.md), so the
    # screenshots show a busy floor whatever this build has merged.
    tv = await page.context.new_page()
    tv.errors = []
    tv.on("pageerror", lambda exc: tv.errors.append(str(exc)))
    await _serve_engine(tv)
    await tv.goto(f"{pbx_server.url}/wallboard?tv=1")
    await tv.wait_for_selector("body.tv[data-ready='1'][data-ws='online']", timeout=10_000)
    grid = tv.locator("#agents .agent")
    await expect(grid).to_have_count(len(AGENTS))
    on_call = tv.locator("#agents .agent[data-extension='6001']")
    await expect(on_call.locator(".agent-state")).to_have_text("通话中")
    await expect(on_call.locator(".agent-today")).to_contain_text("12")
    # In that state for 184 s when served (and a few more seconds by now).
    await expect(on_call.locator(".agent-time")).to_have_text(re.compile(r"^3:[0-5]\d$"))
    await expect(tv.locator("#chart-waiting")).to_have_attribute("data-points", "60")
    await expect(tv.locator("#chart-hourly")).to_have_attribute("data-points", "24")
    assert await tv.locator("main button:visible, .topbar button:visible").count() == 0
    big = await tv.locator(".fig-value").first.evaluate(
        "el => parseFloat(getComputedStyle(el).fontSize)")
    assert big >= 48, big  # about 6 cm tall on a 55" TV at 1366 px: readable from 5 m
    await tv.screenshot(path=str(artifacts / "wallboard_tv_zh_1366.png"))
    assert await tv.evaluate(WIDER_THAN_SCREEN) == []
    # Nothing cut off at the bottom of the screen but a list's tail (the panels clip).
    assert await tv.evaluate("document.documentElement.scrollHeight") <= DESKTOP["height"]
    await tv.set_viewport_size(PHONE)
    assert await tv.evaluate(WIDER_THAN_SCREEN) == []
    await tv.screenshot(path=str(artifacts / "wallboard_tv_zh_390.png"), full_page=True)
    await tv.goto(f"{pbx_server.url}/wallboard?tv=1&lang=en")
    await tv.wait_for_selector("body.tv[data-ready='1'][data-ws='online']", timeout=10_000)
    await expect(on_call.locator(".agent-state")).to_have_text("On a call")
    await tv.screenshot(path=str(artifacts / "wallboard_tv_en_390.png"), full_page=True)
    await tv.set_viewport_size(DESKTOP)
    await tv.wait_for_timeout(100)  # the agent cards refit to the new size (next frame)
    await tv.screenshot(path=str(artifacts / "wallboard_tv_en_1366.png"))

    # Unpause (the fake PBX is shared with other tests).
    await card.get_by_role("button", name="恢复接听").click()
    await expect(card.locator(".agent-state")).to_have_text("空闲", timeout=5000)
    assert page.errors == [] and tv.errors == []
    await page.context.close()
