"""The reports page in Chromium, on the seeded set of tests/tickets/reports/seed.py.

A supervisor opens /reports for 2026-03-02..03 (the address carries the filters): the
figures show the hand-computed values (8 tickets, 40 % first-contact resolution, service
level 4/7 = 57.1 %), both charts draw, the agent table names 李本, and the export links
carry the same filters; choosing a group re-queries (3 tickets). Screenshots at desktop
and phone size, zh and en, go to tests/artifacts (reports_*). Its own server and database:
the seed's users and groups stay out of the shared live server.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import expect

from tests.support.db import SqliteFactory
from tests.support.live import SECRET, LiveServer
from tests.tickets.reports.seed import seed
from tickets.db import make_engine, make_sessionmaker, transaction
from web.app import create_app
from web.settings import Settings, to_async_url

from .test_console import login
from .test_routing import _shots

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
async def server(tmp_path_factory: pytest.TempPathFactory,
                 sqlite_factory: SqliteFactory) -> Iterator[LiveServer]:
    root = tmp_path_factory.mktemp("reports")
    url = await sqlite_factory.new(demo=True)  # a copy of the suite's migrated demo database
    engine = make_engine(to_async_url(url))
    async with transaction(make_sessionmaker(engine)) as s:
        await seed(s)
    await engine.dispose()
    live = LiveServer(create_app(Settings(database_url=url, data_dir=root / "var",
                                          secret_key=SECRET, ami_url="off")))
    live.start()
    yield live
    live.stop()


async def test_a_supervisor_reads_the_reports(browser: Any, server: LiveServer,
                                              artifacts: Path) -> None:
    page = await login(browser, server, "sue", "en-US", path="/reports",
                       ready="body[data-ready='1']")
    try:
        await page.goto(f"{server.url}/reports?from=2026-03-02&to=2026-03-03")
        await page.wait_for_selector("body[data-ready='1']")
        kpi = page.locator("#kpis")
        await expect(kpi.locator("[data-kpi=rp_created] .value")).to_have_text("8")
        await expect(kpi.locator("[data-kpi=rp_fcr] .value")).to_have_text("40.0 %")
        await expect(kpi.locator("[data-kpi=service_level] .value")).to_have_text("57.1 %")
        await expect(page.locator("#chart-tickets canvas")).to_have_count(1)
        await expect(page.locator("#chart-calls canvas")).to_have_count(1)
        await expect(page.locator("#t-agents")).to_contain_text("李本")
        await expect(page.locator("#t-queues tbody tr")).to_have_count(3)
        csv = await page.locator(".rp-export[data-report=queues] a").first.get_attribute("href")
        assert csv == "/api/v1/reports/queues?from=2026-03-02&to=2026-03-03&bucket=day&format=csv"
        await page.select_option("#filters select[name=group]", "rp_support")
        await page.click("#filters button[type=submit]")
        await expect(kpi.locator("[data-kpi=rp_created] .value")).to_have_text("3")
        assert "group=rp_support" in page.url
        await _shots(page, artifacts, "reports")
        await page.set_viewport_size({"width": 390, "height": 844})
        await page.wait_for_timeout(100)  # the charts follow the new width
        # wide tables scroll inside their panel, the page does not
        assert await page.evaluate("document.documentElement.scrollWidth") <= 390
        assert not page.errors, page.errors
    finally:
        await page.context.close()  # no open keep-alive: the server stops at once
