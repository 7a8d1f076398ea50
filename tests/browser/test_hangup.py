"""Hang-up is confirmed in the page, never with a blocking dialog.

"Hang up" turns into "Hang up this call? [Yes, hang up] [Cancel]" for a few seconds; Cancel,
Escape or the timeout put the button back without any request; a call update re-rendering
the card keeps the question (and the focus); Alt+H asks and Enter confirms. This server has
no PBX, so the confirmed request is answered 503 and the console says so; the hang-up reaching
a (fake) PBX is tests/browser/test_ami.py::test_hang_up_from_the_call_card.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
from playwright.async_api import expect

from tests.support.live import LiveServer
from tickets.bus import TOPIC_CALLS

from .test_console import login

pytestmark = pytest.mark.browser

CONFIRM_S = 5  # HANGUP_CONFIRM_MS in web/static/js/console/hangup.js


def watch(page: Any) -> tuple[list[str], list[str]]:
    """Dialogs the page opened (must stay empty) and hang-up requests it sent."""
    dialogs: list[str] = []
    hangups: list[str] = []

    async def on_dialog(dialog: Any) -> None:
        dialogs.append(f"{dialog.type}: {dialog.message}")
        await dialog.dismiss()  # never leave the page blocked

    page.on("dialog", on_dialog)
    page.on("request", lambda r: hangups.append(r.url)
            if r.method == "POST" and r.url.endswith("/hangup") else None)
    return dialogs, hangups


async def test_hang_up_asks_in_the_page(browser: Any, live_server: LiveServer,
                                        artifacts: Path) -> None:
    alice = await login(browser, live_server, "alice", "en-US")
    dialogs, hangups = watch(alice)
    call_id = "pbx1:1795400003.5"
    await live_server.publish(TOPIC_CALLS, {
        "type": "screen_pop", "call_id": call_id, "pbx": "pbx1", "caller_number": "+8613800138000",
        "queue": "support", "extension": "6001", "customer": None, "tickets": [], "calls": []})
    await live_server.publish(TOPIC_CALLS, {"type": "call_update", "call_id": call_id,
                                            "state": "answered", "extensions": ["6001"]})
    card = alice.locator(f".call-card[data-call-id='{call_id}']")
    await card.locator(".state.st-answered").wait_for(timeout=5000)
    button = card.get_by_role("button", name="Hang up", exact=True)
    ask = card.locator(".hangup-confirm")
    yes = ask.get_by_role("button", name="Yes, hang up")

    # Click: the question replaces the button, focus on the confirming button.
    await button.click()
    await expect(ask).to_be_visible()
    await expect(ask.locator(".prompt")).to_have_text("Hang up this call?")
    await expect(ask).to_have_attribute("role", "group")
    await expect(yes).to_be_focused()
    await expect(button).to_have_count(0)
    await alice.screenshot(path=str(artifacts / "console_hangup_confirm.png"))
    # Cancel puts the button back (focused) and sends nothing.
    await ask.get_by_role("button", name="Cancel").click()
    await expect(ask).to_have_count(0)
    await expect(button).to_be_focused()

    # Keyboard: Enter on the button asks, Escape cancels.
    await button.press("Enter")
    await expect(yes).to_be_focused()
    await alice.keyboard.press("Escape")
    await expect(ask).to_have_count(0)
    await expect(button).to_be_focused()

    # A call update re-renders the card: the question and its focus survive; then it times
    # out by itself.
    await button.click()
    await expect(yes).to_be_focused()
    await live_server.publish(TOPIC_CALLS, {"type": "call_update", "call_id": call_id,
                                            "state": "held", "extensions": ["6001"]})
    await card.locator(".state.st-held").wait_for(timeout=5000)
    await expect(yes).to_be_focused()
    await expect(ask).to_have_count(0, timeout=(CONFIRM_S + 3) * 1000)
    await expect(button).to_be_visible()
    await expect(button).to_be_focused()
    assert hangups == []

    # The ticket detail of the call has its own hang-up; asking there leaves the card alone.
    await alice.fill("#ticket-form [name=title]", "hang-up test")
    await alice.click("#create-ticket")
    detail = alice.locator("#tab-detail")
    await detail.locator(".detail-head").wait_for(timeout=5000)
    await detail.get_by_role("button", name="Hang up", exact=True).click()
    await expect(detail.locator(".hangup-confirm")).to_be_visible()
    await expect(detail.get_by_role("button", name="Yes, hang up")).to_be_focused()
    await expect(ask).to_have_count(0)
    await alice.screenshot(path=str(artifacts / "console_hangup_confirm_detail.png"))
    await alice.keyboard.press("Escape")
    await expect(detail.locator(".hangup-confirm")).to_have_count(0)
    assert hangups == []

    # Alt+H asks on the live call's card; Enter confirms: the request goes out (409 here,
    # no PBX, and the console shows the error instead of pretending).
    await alice.keyboard.press("Alt+h")
    await expect(yes).to_be_focused()
    await alice.keyboard.press("Enter")
    await expect(alice.locator("#toast.error")).to_contain_text("409", timeout=5000)
    assert [unquote(u.split("/api/v1/", 1)[1]) for u in hangups] == [f"calls/{call_id}/hangup"]
    await expect(ask).to_have_count(0)
    await expect(button).to_be_visible()  # the call is still up as far as the console knows

    # The call ending while the question is open closes it (the card offers Dismiss).
    await button.click()
    await expect(ask).to_be_visible()
    await live_server.publish(TOPIC_CALLS, {"type": "call_update", "call_id": call_id,
                                            "state": "ended", "extensions": ["6001"]})
    await card.locator(".state.st-ended").wait_for(timeout=5000)
    await expect(ask).to_have_count(0)
    await expect(card.get_by_role("button", name="Dismiss")).to_be_visible()
    assert len(hangups) == 1
    assert dialogs == [] and alice.errors == []
    await alice.context.close()
