"""The pages as built, in Chromium: no element of any page collects a second handler for the
same event however often the page redraws (the kind of fault behind "Call customer" dialling
twice), and the console is usable on a phone (390×844: nothing wider than the screen).
Screenshots at 1366×768 and 390×844, zh and en, go to tests/artifacts/ for a look.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import expect

from tests.support.live import LiveServer
from tickets.bus import TOPIC_ASR, TOPIC_CALLS

from .agent_day import DESKTOP, PHONE, Api, fresh_mobile, open_page

pytestmark = pytest.mark.browser

# Counts, per element and event type, the handlers added (addEventListener and the on<event>
# properties) and not removed since; __dupes() lists the elements still in the page that have
# one twice.
COUNT_HANDLERS = """
(() => {
  const counts = new WeakMap();
  const bump = (el, type) => {
    let m = counts.get(el);
    if (!m) { m = new Map(); counts.set(el, m); }
    m.set(type, (m.get(type) || 0) + 1);
  };
  const add = EventTarget.prototype.addEventListener;
  EventTarget.prototype.addEventListener = function (type, fn, opts) {
    bump(this, type);
    return add.call(this, type, fn, opts);
  };
  const remove = EventTarget.prototype.removeEventListener;
  EventTarget.prototype.removeEventListener = function (type, fn, opts) {
    const m = counts.get(this);
    if (m && m.get(type)) m.set(type, m.get(type) - 1);  // a handler taken off again
    return remove.call(this, type, fn, opts);
  };
  for (const type of ["click", "submit", "change", "input", "keydown"]) {
    const d = Object.getOwnPropertyDescriptor(HTMLElement.prototype, `on${type}`);
    Object.defineProperty(HTMLElement.prototype, `on${type}`, {
      configurable: true, get() { return d.get.call(this); },
      set(v) { if (v) bump(this, type); d.set.call(this, v); } });
  }
  window.__dupes = () => {
    const out = [];
    for (const el of [window, document, ...document.querySelectorAll("*")]) {
      const m = counts.get(el);
      if (!m) continue;
      for (const [type, n] of m) {
        // uPlot listens on window once when loaded and once per chart alive (a destroyed
        // chart stops): more means charts drawn and never destroyed
        const allowed = el === window && type === "dppxchange"
          ? 1 + document.querySelectorAll(".uplot").length : 1;
        const name = el.id || el.className || el.tagName || "window";
        if (n > allowed) out.push(`${name} ${type} x${n}`);
      }
    }
    return out;
  };
})();
"""


async def _switch_language_twice(page: Any) -> None:
    for lang, back in (("en", "zh"), ("zh", "en")):
        current = await page.locator("select.lang").input_value()
        await page.select_option("select.lang", back if current == lang else lang)


async def _busy_console(page: Any, server: LiveServer) -> None:
    """Everything that redraws the console, more than once."""
    api = await Api.login(server, "alice")
    phone = fresh_mobile()
    cust = await api.post("/customers", {"name": "周先生", "phones": [phone]})
    a = await api.post("/tickets", {"title": "A", "customer_id": cust["id"]})
    b = await api.post("/tickets", {"title": "B", "customer_id": cust["id"]})
    await api.close()
    call_id = f"pbx1:{uuid.uuid4().int % 10**9}.9"
    pop = {"type": "screen_pop", "call_id": call_id, "pbx": "pbx1", "caller_number": phone,
           "queue": "support", "extension": "6001", "customer": cust, "tickets": [a, b],
           "calls": []}
    await server.publish(TOPIC_CALLS, pop)
    await server.publish(TOPIC_CALLS, pop)  # popped again
    card = page.locator(f".call-card[data-call-id='{call_id}']")
    for tk in (a, b, a, b, a):
        await card.locator("a", has_text=tk["number"]).click()
        await expect(page.locator("#tab-detail .detail-head")).to_contain_text(tk["number"])
    await expect(page.locator("#call-customer")).to_be_enabled()
    for state in ("answered", "held", "answered"):
        await server.publish(TOPIC_CALLS, {"type": "call_update", "call_id": call_id,
                                           "state": state, "extensions": ["6001"]})
    await server.publish(TOPIC_ASR, {"type": "asr", "call_id": call_id, "final": True,
                                     "text": "我家的冰箱不制冷"})
    for tab in ("mine", "queue", "unassigned", "all", "customers", "form", "mine", "detail"):
        await page.click(f"#tab-btn-{tab}")
    await _switch_language_twice(page)
    await _switch_language_twice(page)


@pytest.mark.parametrize(("user", "path"), [
    ("alice", "/console"), ("sue", "/wallboard"), ("eric", "/engineer")])
async def test_no_element_gets_a_handler_twice(browser: Any, live_server: LiveServer,
                                               user: str, path: str) -> None:
    page = await open_page(browser, live_server, user, "zh", path=path,
                           init_script=COUNT_HANDLERS)
    if path == "/console":
        await _busy_console(page, live_server)
    else:
        await _switch_language_twice(page)
        await _switch_language_twice(page)
        await page.wait_for_timeout(3500)  # the wallboard's live-calls refresh redraws too
    print("UPLOTS", await page.evaluate("document.querySelectorAll('.uplot').length"))
    assert await page.evaluate("window.__dupes()") == []
    assert page.errors == []
    await page.context.close()


async def _overflowing(page: Any) -> list[str]:
    """Visible controls of the shown tab and the top bar reaching past the screen's edge; on
    a phone also a column or tab that scrolls inside itself (cut off in a small box)."""
    return list(await page.evaluate("""() => {
      const root = document.documentElement;
      const w = root.clientWidth;
      const out = [];
      if (root.scrollWidth > w) out.push(`page ${root.scrollWidth}>${w}`);
      if (w <= 700) {
        for (const box of document.querySelectorAll(".col, .tab:not([hidden])")) {
          const inner = box.scrollHeight > box.clientHeight + 1;
          if (inner) out.push(`${box.id || box.className} scrolls inside`);
        }
      }
      for (const el of document.querySelectorAll(
          ".topbar select, .topbar button, .tabs button, .tab:not([hidden]) input, "
          + ".tab:not([hidden]) select, .tab:not([hidden]) button, #dial-form input")) {
        const r = el.getBoundingClientRect();
        const name = el.id || el.name || el.textContent;
        if (r.width && (r.right > w + 1 || r.left < -1)) out.push(`${name} ${r.right}>${w}`);
      }
      return out;
    }"""))


@pytest.mark.parametrize("lang", ["zh", "en"])
async def test_console_fits_desktop_and_phone(browser: Any, live_server: LiveServer,
                                              artifacts: Path, lang: str) -> None:
    api = await Api.login(live_server, "alice")
    phone = fresh_mobile()
    cust = await api.post("/customers", {"name": "王经理" if lang == "zh" else "Mr Wang",
                                         "phones": [phone]})
    tk = await api.post("/tickets", {"title": "冰箱不制冷 E21" if lang == "zh"
                                     else "Fridge not cooling, E21", "customer_id": cust["id"],
                                     "assignee": "alice", "type": "repair",
                                     "fields": {"fault": "E21"}})
    await api.post(f"/tickets/{tk['id']}/comments", {"body": "约了周三上门", "public": True})
    await api.close()
    for name, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
        page = await open_page(browser, live_server, "alice", lang, viewport)
        call_id = f"pbx1:{uuid.uuid4().int % 10**9}.8"
        await live_server.publish(TOPIC_CALLS, {
            "type": "screen_pop", "call_id": call_id, "pbx": "pbx1", "caller_number": phone,
            "queue": "support", "extension": "6001", "customer": cust, "tickets": [tk],
            "calls": []})
        card = page.locator(f".call-card[data-call-id='{call_id}']")
        await expect(card.locator(".cust-name")).to_have_text(cust["name"])
        await page.screenshot(path=str(artifacts / f"console_{name}_{lang}_form.png"),
                              full_page=True)
        assert await _overflowing(page) == [], f"form, {name}"
        await card.locator("a", has_text=tk["number"]).click()
        await expect(page.locator("#history")).not_to_be_empty()
        assert await _overflowing(page) == [], f"detail, {name}"
        await page.screenshot(path=str(artifacts / f"console_{name}_{lang}_detail.png"),
                              full_page=True)
        for tab in ("all", "customers"):
            await page.click(f"#tab-btn-{tab}")
            await page.locator(f"#tab-{tab} form").first.wait_for()
            assert await _overflowing(page) == [], f"{tab}, {name}"
        await page.click("#tab-btn-all")
        await page.locator("#tab-all .list-count").wait_for()
        await page.screenshot(path=str(artifacts / f"console_{name}_{lang}_all.png"),
                              full_page=True)
        assert page.errors == []
        await page.context.close()
