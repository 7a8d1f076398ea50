"""The notifications admin page and the staff notification settings, in Chromium.

An admin opens /admin/notifications: a dead letter (written into the outbox as delivery
leaves one: all attempts used, the gateway's error kept) is listed under "Dead letters" with
its recipient in full (on the first page of 25; the next page holds older ones), its
ticket linked to the console and its last error shown as text (the error carries markup,
which must not render). Retrying it gives feedback and resets its
attempts (checked through the API); its ticket link opens the ticket in the console. A
webhook with a bad URL is refused with the API's 422 naming ``url``; with a good one it is
created, its secret shown once (gone after dismissing and reloading; the API never returns
it), disabled and deleted after a confirmation. In the
console, alice (zh) opens 通知设置, mutes assignments on the console, saves, and the API
reports the mute; switching the console to English stores her locale (the API says ``en``).
Screenshots at desktop and phone size, zh and en, go to tests/artifacts (notify_*).
Everything made here is undone at the end (the live server is shared).
"""

from __future__ import annotations

import asyncio
import re
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import expect
from sqlalchemy import delete, insert

from tests.support.live import LiveServer
from tickets.db import make_engine
from tickets.notify.models import OutboxMessage

from .test_console import login
from .test_routing import _shots

pytestmark = pytest.mark.browser


async def _outbox_rows(server: LiveServer, older: list[dict[str, Any]], **values: Any) -> int:
    """Write ``older`` rows, then the one of ``values`` (the newest); → its id."""
    engine = make_engine(server.app.state.services.settings.async_database_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(insert(OutboxMessage), older)
            result = await conn.execute(insert(OutboxMessage).values(**values))
            return int(result.inserted_primary_key[0])  # type: ignore[index]
    finally:
        await engine.dispose()


async def _drop_outbox_rows(server: LiveServer, tag: str) -> None:
    engine = make_engine(server.app.state.services.settings.async_database_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(delete(OutboxMessage).where(
                OutboxMessage.key.like(f"test-%-{tag}")))
    finally:
        await engine.dispose()


async def test_admin_retries_a_dead_letter_manages_webhooks_and_staff_mute(
        browser: Any, live_server: LiveServer, artifacts: Path) -> None:
    tag = uuid.uuid4().hex[:8]
    token = await live_server.login("admin")
    auth = {"Authorization": f"Bearer {token}"}
    alice_auth = {"Authorization": f"Bearer {await live_server.login('alice')}"}
    async with httpx.AsyncClient(base_url=live_server.url, headers=auth) as c:
        r = await c.post("/api/v1/tickets", json={"title": f"Dead letter {tag}"})
        assert r.status_code == 201, r.text
        ticket = r.json()
        alice_before = (await c.get("/api/v1/auth/me", headers=alice_auth)).json()
        prefs_before = (await c.get("/api/v1/me/notification-preferences",
                                    headers=alice_auth)).json()["items"]
    address = f"li.{tag}@example.cn"
    older = [dict(key=f"test-old{n}-{tag}", kind="sla_breach", channel="sms",
                  recipient="+8613800000000", status="dead", attempts=8,
                  next_attempt_at=datetime.now(UTC), last_error="503")
             for n in range(25)]  # older dead letters: the newest page is full, ours on it
    row_id = await _outbox_rows(
        live_server, older, key=f"test-dead-{tag}", kind="status_changed", channel="email",
        ticket_id=ticket["id"], ticket_number=ticket["number"], recipient=address,
        language="en", subject=f"[{ticket['number']}] Status changed", body="resolved",
        status="dead", attempts=8, next_attempt_at=datetime.now(UTC),
        last_error=f"550 <b>mailbox {tag} unavailable</b>")
    hook_url = f"http://127.0.0.1:9/hook-{tag}"
    page = await login(browser, live_server, "admin", "en-US", path="/admin/notifications",
                       ready="body[data-ready='1']")
    try:
        # (a) the dead letter: listed in full, error as text, ticket linked; retried
        row = page.locator(f"#outbox tr[data-id='{row_id}']")
        await expect(row).to_contain_text(address)
        await expect(row).to_contain_text("Status changed")
        await expect(row.locator(".last-error")).to_have_text(
            f"550 <b>mailbox {tag} unavailable</b>")
        link = row.locator("a.ticket-link")
        await expect(link).to_have_text(ticket["number"])
        assert await link.get_attribute("href") == f"/console#ticket={ticket['id']}"
        await _shots(page, artifacts, "notify_outbox")
        await expect(page.locator("#page-range")).to_have_text(re.compile(r"^1–25 of \d+$"))
        await page.click("#page-next")
        await expect(page.locator("#page-range")).to_have_text(re.compile(r"^26–\d+ of \d+$"))
        await expect(row).to_have_count(0)
        await page.click("#page-prev")
        await expect(row).to_contain_text(address)
        await row.locator("button.retry").click()
        await expect(page.locator("#toast")).to_contain_text(f"Message #{row_id} queued again")
        async with httpx.AsyncClient(base_url=live_server.url, headers=auth) as c:
            listed = (await c.get("/api/v1/admin/outbox", params={"limit": 200})).json()
            again = next(m for m in listed["items"] if m["id"] == row_id)
        assert again["attempts"] < 8  # fresh attempts (0, or 1 if delivery already tried)

        # (b) webhooks: a bad URL is refused naming the field; a good one is created
        await page.click("#new-hook")
        form = page.locator("#hook-editor form")
        await form.locator("input[name=url]").fill("not a url")
        await form.get_by_role("button", name="Save").click()
        await expect(form.locator(".field-error")).to_contain_text("url:")
        await form.locator("input[name=url]").fill(hook_url)
        await form.get_by_label("SLA breached").check()
        secret = await form.locator("input[name=secret]").input_value()
        assert len(secret) >= 32
        await form.get_by_role("button", name="Save").click()
        once = page.locator("#secret-once")
        await expect(once).to_be_visible()
        await expect(once.locator("code.secret")).to_have_text(secret)
        hook_row = page.locator("#hooks tr", has_text=hook_url)
        await expect(hook_row).to_contain_text("SLA breached")
        await _shots(page, artifacts, "notify_webhooks", page.locator("#hooks-panel"))
        async with httpx.AsyncClient(base_url=live_server.url, headers=auth) as c:
            hooks = (await c.get("/api/v1/admin/webhooks")).json()
        hook = next(w for w in hooks if w["url"] == hook_url)
        assert hook["kinds"] == ["sla_breach"] and hook["active"] is True
        assert "secret" not in hook
        await once.get_by_role("button", name="I have stored it").click()
        await expect(once).to_be_hidden()
        await page.reload()
        await page.wait_for_selector("body[data-ready='1']")
        assert secret not in await page.content()  # shown once, never again
        # edited without a secret: the old one is kept, nothing is shown
        await hook_row.locator("button.edit").click()
        await form.get_by_label("Work order").check()
        assert await form.locator("input[name=secret]").input_value() == ""
        await form.get_by_role("button", name="Save").click()
        await expect(hook_row).to_contain_text("SLA breached, Work order")
        await expect(once).to_be_hidden()
        await hook_row.locator("button.toggle").click()
        await expect(hook_row).to_contain_text("Disabled")
        page.once("dialog", lambda d: asyncio.ensure_future(d.accept()))
        await hook_row.locator("button.remove").click()
        await expect(hook_row).to_have_count(0)
        async with httpx.AsyncClient(base_url=live_server.url, headers=auth) as c:
            left = (await c.get("/api/v1/admin/webhooks")).json()
            assert hook_url not in {w["url"] for w in left}
        assert not page.errors, page.errors

        # the ticket link (under "All" now that the message left the dead letters) opens it
        await page.locator("#outbox-tabs [data-status='']").click()
        await page.locator(f"#outbox tr[data-id='{row_id}'] a.ticket-link").click()
        await page.wait_for_url(f"**/console#ticket={ticket['id']}")
        await expect(page.locator("#tab-detail")).to_contain_text(f"Dead letter {tag}")
        assert not page.errors, page.errors

        # (c) the console: alice mutes assignments on the console; the API says so
        alice = await login(browser, live_server, "alice", "zh-CN")
        await alice.click("#notify-prefs-btn")
        dialog = alice.locator("#notify-prefs")
        await expect(dialog).to_be_visible()
        box = dialog.locator("input[name='ticket_assigned/ws']")
        await expect(box).to_be_checked()
        await box.uncheck()
        await _shots(alice, artifacts, "notify_prefs", dialog)  # ends in English: unsaved kept
        await expect(dialog.locator("input[name='ticket_assigned/ws']")).not_to_be_checked()
        await dialog.get_by_role("button", name="Save").click()
        await expect(dialog.locator(".np-status")).to_have_text("Notification settings saved")
        async with httpx.AsyncClient(base_url=live_server.url, headers=alice_auth) as c:
            got = {(p["kind"], p["channel"]): p["enabled"] for p in (
                await c.get("/api/v1/me/notification-preferences")).json()["items"]}
            assert got[("ticket_assigned", "ws")] is False
            assert got[("ticket_created", "ws")] is True
            # _shots switched the console's language: her locale followed (en last)
            for _ in range(50):
                if (await c.get("/api/v1/auth/me")).json()["locale"] == "en":
                    break
                await asyncio.sleep(0.1)
            assert (await c.get("/api/v1/auth/me")).json()["locale"] == "en"
        assert not alice.errors, alice.errors
    finally:
        await _drop_outbox_rows(live_server, tag)
        async with httpx.AsyncClient(base_url=live_server.url, headers=auth) as c:
            for w in (await c.get("/api/v1/admin/webhooks")).json():
                if w["url"] == hook_url:
                    await c.delete(f"/api/v1/admin/webhooks/{w['id']}")
            await c.patch(f"/api/v1/tickets/{ticket['id']}", json={"status": "cancelled"})
            await c.put("/api/v1/me/notification-preferences", headers=alice_auth, json={
                "items": [{k: p[k] for k in ("kind", "channel", "enabled")}
                          for p in prefs_before
                          if (p["kind"], p["channel"]) == ("ticket_assigned", "ws")]})
            await c.patch("/api/v1/me", headers=alice_auth,
                          json={"locale": alice_before["locale"]})
