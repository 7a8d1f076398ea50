"""A caller ID that arrives after the pop (late caller ID) reaches the card already shown."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from playwright.async_api import expect

from tests.support.live import LiveServer
from tickets.bus import TOPIC_CALLS

from .test_console import login

pytestmark = pytest.mark.browser


async def test_a_late_caller_id_fills_the_card_and_the_form(browser: Any,
                                                            live_server: LiveServer) -> None:
    token = await live_server.login("alice")
    async with httpx.AsyncClient(base_url=live_server.url,
                                 headers={"Authorization": f"Bearer {token}"}) as c:
        r = await c.post("/api/v1/customers", json={"name": "周经理 Late", "phones":
                                                    ["+8613700009999"]})
        assert r.status_code in (200, 201), r.text
        customer = r.json()
    alice = await login(browser, live_server, "alice", "en-US")
    call_id = "pbx1:1796055300.50"
    await live_server.publish(TOPIC_CALLS, {
        "type": "screen_pop", "call_id": call_id, "pbx": "pbx1", "caller_number": "",
        "caller_name": "", "queue": "support", "extension": "6001", "customer": None,
        "tickets": [], "calls": []})
    card = alice.locator(f".call-card[data-call-id='{call_id}']")
    await expect(card.locator(".customer.unknown")).to_be_visible(timeout=5000)
    await live_server.publish(TOPIC_CALLS, {
        "type": "call_update", "call_id": call_id, "pbx": "pbx1", "state": "ringing",
        "extensions": ["6001"], "changed": ["caller_name", "caller_number", "customer"],
        "caller_number": "+8613700009999", "caller_name": "",
        "customer": {"id": customer["id"], "name": customer["name"]}})
    await expect(card.locator(".caller")).to_have_text("+8613700009999", timeout=5000)
    await expect(card.locator(".cust-name")).to_have_text("周经理 Late")
    await expect(alice.locator("#form-customer")).to_contain_text("周经理 Late")
    assert alice.errors == []
    await alice.context.close()
