"""The dispatcher board (/dispatch) in Chromium, on the demo data plus a dispatch day.

The day (2026-12-09, a fixed Wednesday: nothing here depends on the time of day): three
engineers — eric (demo) and two made here, one of them off duty — and eight work orders
around Shanghai with windows that day; five are assigned and planned, three wait. A
supervisor (``sue``) opens the board: the unassigned orders are listed, each engineer has a
timeline row with their planned stops, the map (no tiles configured) draws their markers.
She drags an unassigned order onto eric's row: the dialog shows where the ranking puts him
and why; she confirms, and the order leaves the list and appears on eric's timeline. The
"best candidate" button assigns another order in one click, and an order another dispatcher
assigns over the API leaves the list live (websocket). In English and in Chinese;
screenshots at 1366×768 go to tests/artifacts (dispatch_board_*) and /tmp/board-*.png.
Its own server and database, so the extra engineers stay out of the shared live server.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import expect

from tests.support.db import SqliteFactory
from tests.support.live import SECRET, LiveServer
from web.app import create_app
from web.settings import Settings

from .test_console import login

pytestmark = pytest.mark.browser

DAY = "2026-12-09"
PASSWORD = "copper-kettle-91"
#: (username, display name, base, skills, on duty)
ENGINEERS = [
    ("eric", None, (31.2304, 121.4737), ["hvac", "plumbing"], True),
    ("wei.wang", "王伟", (31.2200, 121.5440), ["hvac"], True),
    ("lin.li", "Lin Li", (31.1880, 121.4370), ["plumbing"], False),
]
#: (window "HH:MM-HH:MM", (lat, lon), priority, skills, minutes, engineer or None)
ORDERS = [
    ("09:00-11:00", (31.2400, 121.4800), "normal", ["hvac"], 60, "eric"),
    ("10:00-12:00", (31.2250, 121.4600), "high", ["plumbing"], 45, "eric"),
    ("13:00-15:00", (31.2150, 121.4900), "normal", [], 60, "eric"),
    ("09:00-12:00", (31.2300, 121.5600), "urgent", ["hvac"], 90, "wei.wang"),
    ("14:00-17:00", (31.2100, 121.5300), "low", [], 30, "wei.wang"),
    ("15:00-17:00", (31.2350, 121.4700), "urgent", ["hvac"], 45, None),
    ("10:00-13:00", (31.2000, 121.5100), "normal", [], 40, None),
    ("16:00-18:00", (31.1950, 121.4500), "high", ["plumbing"], 60, None),
]


async def seed_day(base_url: str, admin_token: str, supervisor_token: str) -> dict[str, Any]:
    """The engineers and work orders of :data:`DAY` over the API; returns the ids."""
    admin = {"Authorization": f"Bearer {admin_token}"}
    sup = {"Authorization": f"Bearer {supervisor_token}"}
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as c:
        users = {u["username"]: u for u in (await c.get("/api/v1/users", headers=admin)).json()}
        ids: dict[str, int] = {}
        for username, display, (lat, lon), skills, on_duty in ENGINEERS:
            if username not in users:
                r = await c.post("/api/v1/users", headers=admin, json={
                    "username": username, "password": PASSWORD, "role": "engineer",
                    "display_name": display or username, "skills": skills})
                assert r.status_code == 201, r.text
                users[username] = r.json()
            uid = users[username]["id"]
            ids[username] = uid
            r = await c.put(f"/api/v1/engineers/{uid}", headers=sup, json={
                "region": "上海", "base_lat": lat, "base_lon": lon, "work_start": "08:30",
                "work_end": "18:00", "work_days": [1, 2, 3, 4, 5, 6], "daily_capacity": 20,
                "skills": skills})
            assert r.status_code == 200, r.text
            if not on_duty:
                r = await c.post(f"/api/v1/engineers/{uid}/duty", headers=sup,
                                 json={"on_duty": False, "reason": "leave"})
                assert r.status_code == 200, r.text
        tickets = (await c.get("/api/v1/tickets", headers=sup,
                               params={"limit": len(ORDERS)})).json()["items"]
        orders = []
        for (window, (lat, lon), priority, skills, minutes, who), ticket in zip(
                ORDERS, tickets, strict=False):
            start, end = window.split("-")
            r = await c.post(f"/api/v1/tickets/{ticket['id']}/work_orders", headers=sup, json={
                "window_start": f"{DAY}T{start}", "window_end": f"{DAY}T{end}",
                "lat": lat, "lon": lon, "priority": priority, "required_skills": skills,
                "duration_min": minutes, "address": f"上海市 {ticket['title'][:40]}"})
            assert r.status_code == 201, r.text
            wo = r.json()
            if who is not None:
                r = await c.post(f"/api/v1/work_orders/{wo['id']}/assign", headers=sup,
                                 json={"engineer_id": ids[who]})
                assert r.status_code == 200, r.text
            orders.append(wo)
        for who in ("eric", "wei.wang"):
            r = await c.post(f"/api/v1/engineers/{ids[who]}/plan", headers=sup,
                             params={"date": DAY})
            assert r.status_code == 200, r.text
    return {"engineers": ids, "orders": [o["id"] for o in orders],
            "numbers": [o["number"] for o in orders]}


@pytest.fixture(scope="module")
async def server(tmp_path_factory: pytest.TempPathFactory,
                 sqlite_factory: SqliteFactory) -> Iterator[LiveServer]:
    root = tmp_path_factory.mktemp("dispatch")
    url = await sqlite_factory.new(demo=True)
    live = LiveServer(create_app(Settings(database_url=url, data_dir=root / "var",
                                          secret_key=SECRET, ami_url="off")))
    live.start()
    yield live
    live.stop()


@pytest.fixture
async def day(server: LiveServer) -> dict[str, Any]:
    """A fresh set of the day's orders for each test (the engineers are made once)."""
    return await seed_day(server.url, await server.login("admin"), await server.login("sue"))


async def _shot(page: Any, artifacts: Path, name: str) -> None:
    await page.screenshot(path=str(artifacts / f"dispatch_board_{name}.png"))
    await page.screenshot(path=f"/tmp/board-{name}.png")


@pytest.mark.parametrize("locale", ["en-US", "zh-CN"])
async def test_a_supervisor_drags_an_order_to_an_engineer(
        browser: Any, server: LiveServer, day: dict[str, Any], artifacts: Path,
        locale: str) -> None:
    lang = locale[:2]
    page = await login(browser, server, "sue", locale, path="/dispatch",
                       ready="body[data-ready='1']")
    try:
        await page.goto(f"{server.url}/dispatch?date={DAY}")
        await page.wait_for_selector("body[data-ready='1'][data-ws='online']")
        eric = day["engineers"]["eric"]
        row = page.locator(f".dp-row[data-engineer='{eric}']")
        await expect(page.locator("#day")).to_have_value(DAY)
        for wo_id in day["orders"][:3]:  # this seed's three orders for eric
            await expect(row.locator(f".dp-stop[data-wo='{wo_id}']")).to_have_count(1)
        off = page.locator(f".dp-row[data-engineer='{day['engineers']['lin.li']}']")
        await expect(off).to_have_class("dp-row off")
        # the engineers, their routes and the waiting orders drawn (no tiles configured)
        await expect(page.locator("#map path.leaflet-interactive:not([d='M0 0'])").first
                     ).to_be_visible()
        assert await page.locator("#map .leaflet-tile").count() == 0
        await expect(page.locator(".leaflet-control-scale")).to_be_visible()
        await _shot(page, artifacts, f"{lang}_before")

        # drag the first waiting order (en: the urgent one; zh: the next) onto eric's row
        order = page.locator("#orders .dp-order").first
        wo_id = await order.get_attribute("data-wo")
        number = (await order.locator("strong").first.text_content() or "").strip()
        await order.drag_to(row.locator(".dp-track"))
        dialog = page.locator("#assign")
        await expect(dialog).to_be_visible()
        await expect(dialog.locator("#assign-title")).to_contain_text(number)
        await expect(dialog.locator(".dp-verdict")).to_be_visible()  # ranked or refused, why
        await expect(dialog.locator(".dp-cand").first).to_be_visible()
        await _shot(page, artifacts, f"{lang}_dialog")
        await dialog.locator("#assign-confirm").click()
        await expect(page.locator(f"#orders .dp-order[data-wo='{wo_id}']")).to_have_count(0)
        await expect(row.locator(f".dp-stop[data-wo='{wo_id}']")).to_have_count(1)
        await expect(page.locator("#toast")).to_contain_text(number)

        # "best candidate" on the next waiting order: it lands on somebody's timeline
        nxt = page.locator("#orders .dp-order").first
        nxt_id = await nxt.get_attribute("data-wo")
        await nxt.locator("button[data-act='auto']").click()
        await expect(page.locator(f"#orders .dp-order[data-wo='{nxt_id}']")).to_have_count(0)
        await expect(page.locator(
            f".dp-row .dp-stop[data-wo='{nxt_id}'], .dp-row .badge.bad")).not_to_have_count(0)
        await _shot(page, artifacts, f"{lang}_after")

        # live: an order assigned elsewhere (another dispatcher, over the API) leaves the
        # list through the websocket's work_order message (the 30 s re-read is far off)
        other = page.locator("#orders .dp-order").first
        other_id = await other.get_attribute("data-wo")
        wei = day["engineers"]["wei.wang"]
        async with httpx.AsyncClient(base_url=server.url, headers={
                "Authorization": f"Bearer {await server.login('admin')}"}) as c:
            r = await c.post(f"/api/v1/work_orders/{other_id}/assign", json={"engineer_id": wei})
            assert r.status_code == 200, r.text
        await expect(page.locator(f"#orders .dp-order[data-wo='{other_id}']")).to_have_count(0)
        assert page.errors == []
    finally:
        await page.context.close()


async def test_the_board_is_escaped_and_keeps_to_its_csp(
        browser: Any, server: LiveServer, day: dict[str, Any]) -> None:
    token = await server.login("sue")
    auth = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=server.url, headers=auth) as c:
        ticket = (await c.get("/api/v1/tickets", params={"limit": 1})).json()["items"][0]
        r = await c.post(f"/api/v1/tickets/{ticket['id']}/work_orders", json={
            "window_start": f"{DAY}T11:00", "window_end": f"{DAY}T12:00",
            "lat": 31.22, "lon": 121.47, "priority": "urgent", "duration_min": 30,
            "address": "<img src=x onerror=\"document.body.dataset.pwned=1\">"})
        assert r.status_code == 201, r.text
    async with httpx.AsyncClient(base_url=server.url, cookies={"hotline_token": token}) as c:
        page_r = await c.get("/dispatch")
    assert page_r.status_code == 200
    assert "unsafe-inline" not in page_r.headers["content-security-policy"]
    page = await login(browser, server, "sue", "en-US", path="/dispatch",
                       ready="body[data-ready='1']")
    try:
        await page.goto(f"{server.url}/dispatch?date={DAY}")
        await page.wait_for_selector("body[data-ready='1']")
        await expect(page.locator("#orders")).to_contain_text("<img src=x")
        assert await page.locator("#orders img").count() == 0
        assert await page.evaluate("document.body.dataset.pwned") is None
        assert page.errors == []
    finally:
        await page.context.close()
