"""A newcomer's first minutes, in Chromium: a fresh ``hotline serve`` with no settings at
all (demo data loaded first, as scripts/run.sh does) runs the demo PBX, and alice's console
pops a call by itself; she takes it from the card and creates the ticket linked to the call.
Also the PBX state every page shows: the demo badge, and the "PBX not connected" banner
apart from the live-updates pill.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import expect

from tests.support.db import SqliteFactory
from tests.support.live import SECRET, LiveServer
from tests.support.servers import free_port
from web.app import create_app
from web.settings import Settings

from .test_ami import supervisor_login
from .test_console import login

pytestmark = pytest.mark.browser
HOTLINE = [sys.executable, "-m", "web.cli"]
FIRST_POP_WITHIN_S = 60


class Served:
    def __init__(self, url: str, started: float) -> None:
        self.url = url
        self.started = started  # monotonic time the serve process was started


@pytest.fixture
def fresh_serve(tmp_path: Path) -> Iterator[Served]:
    """`hotline demo` then `hotline serve` in tmp_path, no HOTLINE_* setting at all."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOTLINE_")}
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2])
    loaded = subprocess.run([*HOTLINE, "demo"], env=env, cwd=tmp_path, capture_output=True,
                            text=True, timeout=120)
    assert loaded.returncode == 0, loaded.stderr
    port = free_port()
    log = (tmp_path / "serve.log").open("wb")
    started = time.monotonic()
    proc = subprocess.Popen([*HOTLINE, "serve", "--port", str(port)], env=env, cwd=tmp_path,
                            stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            assert proc.poll() is None and time.monotonic() < deadline, "serve did not start"
            time.sleep(0.05)
        yield Served(f"http://127.0.0.1:{port}", started)
    finally:
        proc.terminate()
        proc.wait(15)
        log.close()


async def _fill_required(page: Any) -> None:
    """Whatever the chosen ticket type requires (the demo data decides), filled plainly."""
    fields = page.locator("#ticket-form [required]")
    for i in range(await fields.count()):
        field = fields.nth(i)
        if not await field.is_visible() or await field.input_value():
            continue
        if await field.evaluate("el => el.tagName") == "SELECT":
            values = await field.locator("option").evaluate_all(
                "os => os.map(o => o.value).filter(Boolean)")
            await field.select_option(values[0])
        else:
            await field.fill("演示")


async def test_a_fresh_serve_pops_a_demo_call_on_alices_console(
        browser: Any, fresh_serve: Served, artifacts: Path) -> None:
    alice = await login(browser, fresh_serve, "alice", "zh-CN")  # type: ignore[arg-type]
    card = alice.locator(".call-card").first
    left_ms = max(1000, (fresh_serve.started + FIRST_POP_WITHIN_S - time.monotonic()) * 1000)
    await card.wait_for(state="visible", timeout=left_ms)
    print(f"hotline serve start → first demo pop on alice's console: "
          f"{time.monotonic() - fresh_serve.started:.1f} s")
    call_id = await card.get_attribute("data-call-id")
    assert call_id and call_id.startswith("demo:")
    # The PBX state is shown apart from the live-updates pill.
    await expect(alice.locator("#pbx-demo")).to_be_visible()
    await expect(alice.locator("#pbx-demo")).to_have_text("演示电话系统")
    await expect(alice.locator("#pbx-down")).to_be_hidden()
    await expect(alice.locator("#conn")).to_have_text("实时更新已连接")
    await expect(card.locator(".cust-name")).to_have_count(1)  # a demo customer calls

    # The demo PBX answers on alice's phone; she takes the call from the card.
    await expect(card.locator(".state.st-answered")).to_have_count(1, timeout=20_000)
    await card.locator("footer button.primary").click()
    await alice.fill("#ticket-form [name=title]", "演示来电：咨询订单")
    # The caller keyed his order 478 at the IVR: prefilled from the PBX.
    await expect(alice.locator("#ticket-form [name=order_number]")).to_have_value("478")
    await _fill_required(alice)
    await alice.click("#create-ticket")
    head = alice.locator("#tab-detail .detail-head")
    await head.wait_for(timeout=10_000)
    number = (await head.locator("code").inner_text()).strip()
    await alice.screenshot(path=str(artifacts / "demo_pbx_alice_ticket.png"))
    async with httpx.AsyncClient(base_url=fresh_serve.url) as c:
        token = (await c.post("/api/v1/auth/login", json={"username": "alice",
                                                          "password": "demo"})).json()
        auth = {"Authorization": f"Bearer {token['access_token']}"}
        found = (await c.get("/api/v1/tickets", params={"call_id": call_id},
                             headers=auth)).json()["items"]
    assert [t["number"] for t in found] == [number]
    assert found[0]["order_number"] == "478" and found[0]["customer_id"] is not None
    assert alice.errors == []

    # The other pages show the badge too.
    sue = await supervisor_login(browser, fresh_serve)  # type: ignore[arg-type]
    await expect(sue.locator("#pbx-demo")).to_be_visible()
    await expect(sue.locator("#pbx-demo")).to_have_text("演示电话系统")
    await alice.context.close()
    await sue.context.close()


@pytest.fixture
def down_server(tmp_path: Path) -> Iterator[LiveServer]:
    """A server whose configured (real) PBX does not answer."""
    import asyncio

    url = asyncio.run(SqliteFactory(tmp_path).new(demo=True))
    settings = Settings(database_url=url, data_dir=tmp_path / "var", secret_key=SECRET,
                        ami_url=f"ami://u:p@127.0.0.1:{free_port()}?name=hq")
    server = LiveServer(create_app(settings))
    server.start()
    yield server
    server.stop()


async def test_a_configured_pbx_that_is_down_shows_a_banner_not_the_badge(
        browser: Any, down_server: LiveServer) -> None:
    alice = await login(browser, down_server, "alice", "en-US")
    banner = alice.locator("#pbx-down")
    await expect(banner).to_be_visible(timeout=5000)
    await expect(banner).to_contain_text("PBX not connected")
    await expect(alice.locator("#pbx-demo")).to_be_hidden()
    # The websocket is fine: the live-updates pill says so, separately.
    await expect(alice.locator("#conn")).to_have_text("Live updates on")
    await alice.select_option(".lang", "zh")
    await expect(banner).to_contain_text("电话系统未连接")
    sue = await supervisor_login(browser, down_server)
    await expect(sue.locator("#pbx-down")).to_be_visible(timeout=5000)
    assert alice.errors == [] and sue.errors == []
    await alice.context.close()
    await sue.context.close()


async def test_no_pbx_by_choice_shows_neither(browser: Any, live_server: LiveServer) -> None:
    alice = await login(browser, live_server, "alice", "en-US")
    await alice.wait_for_selector("body[data-pbx='off']", timeout=5000)
    await expect(alice.locator("#pbx-down")).to_be_hidden()
    await expect(alice.locator("#pbx-demo")).to_be_hidden()
    await alice.context.close()
