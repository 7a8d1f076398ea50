"""The field engineer's phone page in headless Chromium at 390×844: the demo engineer (eric)
walks a work order assigned → accepted → en_route → on_site → completed, with the visit
itself (on site, a camera photo, the customer's signature, the report, completing) done
OFFLINE and synced when the phone is back online — applied once each, nothing lost — and a
queued change on an order a supervisor reassigned meanwhile shown as a conflict.

The orders are made through the API as the supervisor (sue), on a ticket of their own, so
the tests do not depend on the demo's work orders. Screenshots (/tmp/engineer-*.png): the
list, the detail and the offline state at 390×844 and 1366×768, in Chinese and English.
"""

from __future__ import annotations

import asyncio
import base64
import secrets
import struct
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import Page, expect

from tests.support.live import LiveServer

pytestmark = pytest.mark.browser

SHOTS = Path("/tmp")
PHONE = {"width": 390, "height": 844}
LAPTOP = {"width": 1366, "height": 768}


def _jpeg_size(data: bytes) -> tuple[int, int]:
    """(width, height) from a JPEG's start-of-frame segment."""
    i = 2
    while i < len(data):
        marker, length = data[i + 1], struct.unpack(">H", data[i + 2:i + 4])[0]
        if marker in (0xC0, 0xC1, 0xC2):
            height, width = struct.unpack(">HH", data[i + 5:i + 9])
            return width, height
        i += 2 + length
    raise AssertionError("no SOF segment")


async def _staff(live_server: LiveServer, user: str = "sue") -> httpx.AsyncClient:
    token = await live_server.login(user)
    return httpx.AsyncClient(base_url=live_server.url,
                             headers={"Authorization": f"Bearer {token}"})


async def _user_id(live_server: LiveServer, username: str) -> int:
    token = await live_server.login(username)
    async with httpx.AsyncClient(base_url=live_server.url,
                                 headers={"Authorization": f"Bearer {token}"}) as c:
        return int((await c.get("/api/v1/auth/me")).json()["id"])


async def _new_order(c: httpx.AsyncClient, engineer_id: int, tag: str) -> dict[str, Any]:
    """A repair ticket of its own with one work order assigned to ``engineer_id``."""
    r = await c.post("/api/v1/tickets", json={
        "title": f"上门维修 {tag}", "type": "repair", "customer_phone": "139 1111 2222",
        "fields": {"fault": "E6 不制冷"}})
    assert r.status_code == 201, r.text
    ticket = r.json()
    r = await c.post(f"/api/v1/tickets/{ticket['id']}/work_orders", json={
        "address": "上海市浦东新区世纪大道 100 号 12 楼", "lat": 31.2353, "lon": 121.5055,
        "contact_name": "王建军", "contact_phone": "13911112222", "duration_min": 60,
        "kind": "repair", "parts_planned": [{"name": "压缩机电容", "qty": 1}],
        "notes": f"{tag}: 空调 E6 故障"})
    assert r.status_code == 201, r.text
    order = r.json()
    r = await c.post(f"/api/v1/work_orders/{order['id']}/assign",
                     json={"engineer_id": engineer_id})
    assert r.status_code == 200, r.text
    return dict(r.json())


async def _login_page(browser: Any, live_server: LiveServer, *, viewport: dict[str, int],
                      locale: str, user: tuple[str, str] = ("eric", "demo"),
                      **options: Any) -> tuple[Any, Page, list[str]]:
    ctx = await browser.new_context(viewport=viewport, locale=locale, service_workers="allow",
                                    timezone_id="Asia/Shanghai", **options)
    page = await ctx.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    await page.goto(f"{live_server.url}/login")
    await page.evaluate("lang => localStorage.setItem('hotline_lang', lang)", locale[:2])
    await page.fill("#username", user[0])
    await page.fill("#password", user[1])
    await page.click("#login-submit")
    await page.wait_for_url("**/engineer")
    await expect(page.locator("body")).to_have_attribute("data-ready", "1", timeout=15000)
    return ctx, page, errors


async def _controlled(page: Page) -> None:
    """Wait until the service worker controls the page (polled: the page's CSP forbids the
    eval that wait_for_function's string predicates need)."""
    for _ in range(150):
        if await page.evaluate("() => Boolean(navigator.serviceWorker.controller)"):
            return
        await page.wait_for_timeout(100)
    raise AssertionError("the service worker never took control")


async def _server_has(c: httpx.AsyncClient, oid: int, status: str) -> dict[str, Any]:
    """The order once the server has it in ``status`` (the page sends its queue in the
    background: the optimistic view changes before the server does)."""
    for _ in range(100):
        order = dict((await c.get(f"/api/v1/work_orders/{oid}")).json())
        if order["status"] == status:
            return order
        await asyncio.sleep(0.1)
    raise AssertionError(f"work order {oid} is {order['status']}, not {status}")


async def _synced(page: Page) -> None:
    await expect(page.locator("body")).to_have_attribute("data-pending", "0", timeout=15000)


async def _open(page: Page, number: str) -> None:
    await page.locator(f'a.wo-card[data-number="{number}"]').first.click()
    await expect(page.locator("#wo-number")).to_have_text(number)


async def _big_jpeg(page: Page) -> bytes:
    """A 3000×2000 camera-sized JPEG, drawn by the browser."""
    url = await page.evaluate("""() => {
      const c = document.createElement('canvas'); c.width = 3000; c.height = 2000;
      const g = c.getContext('2d');
      const grad = g.createLinearGradient(0, 0, 3000, 2000);
      grad.addColorStop(0, '#35618f'); grad.addColorStop(1, '#e9b44c');
      g.fillStyle = grad; g.fillRect(0, 0, 3000, 2000);
      for (let i = 0; i < 400; i++) { g.fillStyle = `hsl(${i * 7 % 360},60%,50%)`;
        g.fillRect((i * 733) % 3000, (i * 421) % 2000, 60, 40); }
      return c.toDataURL('image/jpeg', 0.95);
    }""")
    return base64.b64decode(url.split(",", 1)[1])


async def _sign(page: Page) -> None:
    pad = page.locator("#sigpad")
    await expect(pad).to_be_visible()
    await pad.scroll_into_view_if_needed()
    box = await pad.bounding_box()
    assert box is not None
    x0, y0 = box["x"] + 30, box["y"] + box["height"] * 0.6
    await page.mouse.move(x0, y0)
    await page.mouse.down()
    for i in range(1, 25):
        await page.mouse.move(x0 + i * 11, y0 - 40 * ((i % 6) / 6), steps=2)
    await page.mouse.up()


async def test_engineer_walks_an_order_with_the_visit_done_offline(
        browser: Any, live_server: LiveServer) -> None:
    eric = await _user_id(live_server, "eric")
    async with await _staff(live_server) as sue:
        order = await _new_order(sue, eric, f"walk-{secrets.token_hex(3)}")
        number, oid = order["number"], order["id"]
        ctx, page, errors = await _login_page(browser, live_server, viewport=PHONE,
                                              locale="zh-CN")
        try:
            # installable: the manifest, the icons, the worker controlling the page
            assert await page.locator('link[rel="manifest"]').count() == 1
            await _controlled(page)
            cdp = await ctx.new_cdp_session(page)
            assert (await cdp.send("Page.getAppManifest"))["errors"] == []
            install = await cdp.send("Page.getInstallabilityErrors")
            # Chromium's own checks (manifest, icons, worker); a test context is incognito
            assert [e["errorId"] for e in install["installabilityErrors"]
                    if e["errorId"] != "in-incognito"] == []
            card = page.locator(f'a.wo-card[data-number="{number}"]')
            await expect(card).to_have_attribute("data-status", "assigned")
            await expect(card).to_contain_text("王建军")
            await expect(card).to_contain_text("世纪大道")
            await page.screenshot(path=str(SHOTS / "engineer-list-390-zh.png"))

            await _open(page, number)
            await expect(page.locator("#nav-geo")).to_have_attribute(
                "href", "geo:31.2353,121.5055?q=31.2353,121.5055(" + "%E4%B8%8A" "%E6%B5%B7"
                "%E5%B8%82%E6%B5%A6%E4%B8%9C%E6%96%B0%E5%8C%BA%E4%B8%96%E7%BA%AA%E5%A4%A7"
                "%E9%81%93%20100%20%E5%8F%B7%2012%20%E6%A5%BC)")
            await expect(page.locator("#call-tel")).to_have_attribute("href", "tel:13911112222")
            await page.screenshot(path=str(SHOTS / "engineer-detail-390-zh.png"))
            for move in ("accepted", "en_route"):
                await page.click(f'button[data-move="{move}"]')
                await expect(page.locator("#wo-number + .badge")).to_have_class(
                    f"badge wo-status ws-{move}")
                await _server_has(sue, oid, move)
                await _synced(page)

            # --- offline: on site, photo, signature, report, complete: all queued ---------
            await ctx.set_offline(True)
            await expect(page.locator("body")).to_have_attribute("data-net", "offline")
            await expect(page.locator("#net-banner")).to_be_visible()
            await page.click('button[data-move="on_site"]')
            await expect(page.locator("#work")).to_be_visible()
            await page.set_input_files("#photo-input", files=[{
                "name": "camera.jpg", "mimeType": "image/jpeg", "buffer": await _big_jpeg(page)}])
            await expect(page.locator("#photo-thumbs figure.pending")).to_have_count(1)
            await page.fill("#wo-notes", "更换压缩机电容，试机正常")
            await page.fill("#signed-by", "王建军")
            await page.click("#rating button[data-n='5']")
            await _sign(page)
            await page.click("#sig-save")
            await expect(page.locator("#sig-thumbs figure.pending")).to_have_count(1)
            await expect(page.locator("body")).to_have_attribute("data-pending", "3")
            await expect(page.locator("#sync-state")).to_contain_text("3")
            await page.evaluate("() => window.scrollTo(0, 0)")
            await page.screenshot(path=str(SHOTS / "engineer-offline-390-zh.png"))
            await page.click('button[data-move="completed"]')
            # the report (notes, rating, signer) and the move: 5 changes waiting
            await expect(page.locator("body")).to_have_attribute("data-pending", "5")
            await expect(page.locator("#wo-number + .badge")).to_have_class(
                "badge wo-status ws-completed")
            now = (await sue.get(f"/api/v1/work_orders/{oid}")).json()
            assert now["status"] == "en_route" and now["files"] == []  # nothing left the phone

            # closed and opened again without signal: the shell and the queue survive
            resp = await page.reload()
            assert resp is not None and resp.from_service_worker
            await expect(page.locator("body")).to_have_attribute("data-ready", "1",
                                                                 timeout=15000)
            await expect(page.locator("body")).to_have_attribute("data-pending", "5")
            await expect(page.locator("#as-of")).to_have_count(1)  # the worker's copy
            await expect(page.locator(f'a.wo-card[data-number="{number}"]')).to_have_attribute(
                "data-status", "completed")

            # --- back online: sent in order, once ----------------------------------------
            await ctx.set_offline(False)
            await _synced(page)
            await expect(page.locator("body")).to_have_attribute("data-net", "online")
            await expect(page.locator(".notice-card.problem")).to_have_count(0)
            done = await _server_has(sue, oid, "completed")
            assert done["rating"] == 5 and done["signed_by"] == "王建军"
            assert "更换压缩机电容" in done["notes"]
            kinds = sorted(f["kind"] for f in done["files"])
            assert kinds == ["photo", "signature"]
            photo = next(f for f in done["files"] if f["kind"] == "photo")
            body = (await sue.get(photo["url"])).content
            assert body[:2] == b"\xff\xd8" and max(_jpeg_size(body)) == 1600
            history = (await sue.get(f"/api/v1/tickets/{order['ticket_id']}/history")).json()
            events = history["items"] if isinstance(history, dict) else history
            moves = [e["data"]["to"] for e in events if e["kind"] == "work_order_status"]
            assert moves == ["accepted", "en_route", "on_site", "completed"]
            files = [e["data"]["kind"] for e in events if e["kind"] == "work_order_file"]
            assert sorted(files) == ["photo", "signature"]
            assert errors == []
        finally:
            await ctx.close()


async def test_queued_change_on_a_reassigned_order_is_shown_as_a_conflict(
        browser: Any, live_server: LiveServer) -> None:
    eric = await _user_id(live_server, "eric")
    tag = secrets.token_hex(3)
    async with await _staff(live_server, "admin") as admin:
        r = await admin.post("/api/v1/users", json={
            "username": f"frank{tag}", "password": "copper-kettle-91", "role": "engineer",
            "display_name": "Frank 刘工"})
        assert r.status_code == 201, r.text
        frank = r.json()["id"]
    async with await _staff(live_server) as sue:
        order = await _new_order(sue, eric, f"conflict-{tag}")
        number, oid = order["number"], order["id"]
        ctx, page, errors = await _login_page(browser, live_server, viewport=PHONE,
                                              locale="en-US")
        try:
            await _controlled(page)
            # a new order pushed live: a notice, and the list has it
            pushed = await _new_order(sue, eric, f"push-{tag}")
            notice = page.locator(".notice-card.fresh", has_text=pushed["number"])
            await expect(notice).to_be_visible(timeout=10000)
            pushed_card = page.locator(f'a.wo-card[data-number="{pushed["number"]}"]')
            await expect(pushed_card).to_be_visible()
            await page.screenshot(path=str(SHOTS / "engineer-list-390-en.png"))

            await _open(page, number)
            await page.click('button[data-move="accepted"]')
            await _server_has(sue, oid, "accepted")
            await _synced(page)
            await page.screenshot(path=str(SHOTS / "engineer-detail-390-en.png"))
            await ctx.set_offline(True)
            await expect(page.locator("body")).to_have_attribute("data-net", "offline")
            await page.click('button[data-move="en_route"]')
            await expect(page.locator("body")).to_have_attribute("data-pending", "1")
            # meanwhile the dispatcher gives the order to Frank
            r = await sue.post(f"/api/v1/work_orders/{oid}/assign", json={"engineer_id": frank})
            assert r.status_code == 200, r.text
            await ctx.set_offline(False)
            await _synced(page)
            problem = page.locator(".notice-card.problem")
            await expect(problem).to_have_count(1)
            await expect(problem).to_contain_text(number)
            await expect(problem).to_contain_text("reassigned by the dispatcher")
            await expect(problem).to_contain_text("not applied")
            await page.screenshot(path=str(SHOTS / "engineer-conflict-390-en.png"),
                                  full_page=True)
            now = (await sue.get(f"/api/v1/work_orders/{oid}")).json()
            assert now["status"] == "assigned" and now["engineer"]["id"] == frank
            # read, it goes; it stays across a reload until then
            await page.reload()
            await expect(page.locator(".notice-card.problem")).to_have_count(1)
            await page.locator(".notice-card.problem button.primary").click()
            await expect(page.locator(".notice-card.problem")).to_have_count(0)
            await expect(page.locator(f'a.wo-card[data-number="{number}"]')).to_have_count(0)

            # declining (online only) gives the pushed order back to the dispatcher
            await page.goto(f"{live_server.url}/engineer#wo={pushed['id']}")
            await expect(page.locator("#wo-number")).to_have_text(pushed["number"])
            await page.click("#decline")
            await page.fill("#reason-text", "no spare compressor in the van")
            await page.click("#reason-confirm")
            await expect(page.locator(f'a.wo-card[data-number="{pushed["number"]}"]')
                         ).to_have_count(0)
            after = (await sue.get(f"/api/v1/work_orders/{pushed['id']}")).json()
            assert (after["engineer"] or {}).get("id") != eric
            assert errors == []
        finally:
            await ctx.close()


@pytest.mark.parametrize("locale", ["en-US", "zh-CN"])
async def test_engineer_page_layouts(browser: Any, live_server: LiveServer, locale: str) -> None:
    """The list beside the open order on a laptop; one column without sideways scrolling on
    a phone (screenshots for a person to look at)."""
    eric = await _user_id(live_server, "eric")
    lang = locale[:2]
    for name, viewport in (("1366", LAPTOP), ("390", PHONE)):
        async with await _staff(live_server) as sue:
            order = await _new_order(sue, eric, f"layout-{name}-{lang}-{secrets.token_hex(2)}")
        ctx, page, errors = await _login_page(browser, live_server, viewport=viewport,
                                              locale=locale)
        try:
            await _open(page, order["number"])
            await page.click('button[data-move="accepted"]')
            await _synced(page)
            await page.click('button[data-move="en_route"]')
            await _synced(page)
            await page.click('button[data-move="on_site"]')
            await expect(page.locator("#work")).to_be_visible()
            await _synced(page)
            wide = await page.evaluate("document.documentElement.scrollWidth")
            assert wide <= viewport["width"], f"{name} {lang}: {wide}px wide"
            if name == "1366":
                await expect(page.locator("#list-view")).to_be_visible()
            await page.screenshot(path=str(SHOTS / f"engineer-work-{name}-{lang}.png"),
                                  full_page=name == "390")
            assert errors == []
        finally:
            await ctx.close()


async def test_duty_and_position_from_the_phone(browser: Any, live_server: LiveServer) -> None:
    """Off duty (with a reason) and back, and the phone's position sent when shared: a
    fresh engineer of its own, so no other test's orders are handed away."""
    tag = secrets.token_hex(3)
    password = "copper-kettle-91"
    async with await _staff(live_server, "admin") as admin:
        r = await admin.post("/api/v1/users", json={
            "username": f"gina{tag}", "password": password, "role": "engineer"})
        assert r.status_code == 201, r.text
        gina = r.json()["id"]
    ctx, page, errors = await _login_page(
        browser, live_server, viewport=PHONE, locale="en-US", user=(f"gina{tag}", password),
        permissions=["geolocation"], geolocation={"latitude": 31.2304, "longitude": 121.4737})
    try:
        async with await _staff(live_server) as sue:
            async def profile() -> dict[str, Any]:
                rows = (await sue.get("/api/v1/engineers")).json()
                return dict(next(e for e in rows if e["id"] == gina))

            await page.click("#duty")
            await page.select_option("#duty-reason", "sick")
            await page.click("#duty-confirm")
            await expect(page.locator("#duty")).to_have_attribute("aria-pressed", "false")
            me = await profile()
            assert me["on_duty"] is False and me["off_reason"] == "sick"
            await page.click("#duty")
            await expect(page.locator("#duty")).to_have_attribute("aria-pressed", "true")
            assert (await profile())["on_duty"] is True

            await page.check("#share-pos")
            for _ in range(50):
                position = (await profile())["position"]
                if position:
                    break
                await page.wait_for_timeout(100)
            assert position and abs(position["lat"] - 31.2304) < 1e-6
            assert abs(position["lon"] - 121.4737) < 1e-6
        assert errors == []
    finally:
        await ctx.close()
