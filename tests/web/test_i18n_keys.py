"""Every UI string exists in Chinese and in English, and every key the pages use is defined
(read from the sources: web/static/js/i18n.js, the page scripts and the HTML)."""

from __future__ import annotations

import re
from pathlib import Path

STATIC = Path(__file__).resolve().parents[2] / "web" / "static"


def _catalogue(lang: str) -> set[str]:
    text = (STATIC / "js" / "i18n.js").read_text(encoding="utf-8")
    block = re.search(rf"\n  {lang}: {{\n(.*?)\n  }},", text, re.S)
    assert block, lang
    return set(re.findall(r"(\w+): \"", block.group(1)))


def _used() -> set[str]:
    keys: set[str] = set()
    for path in [*STATIC.glob("js/**/*.js"), *STATIC.glob("*.html")]:
        text = path.read_text(encoding="utf-8")
        keys |= set(re.findall(r"\bt[f]?\(\"(\w+)\"", text))
        keys |= set(re.findall(r"data-i18n(?:-placeholder|-title)?=\"(\w+)\"", text))
        keys |= set(re.findall(r"\"(err_\w+)\"", text))  # errors.js: status/reason → key
    return keys


def test_zh_and_en_have_the_same_keys() -> None:
    zh, en = _catalogue("zh"), _catalogue("en")
    assert len(zh) > 200
    assert zh - en == set() and en - zh == set()


def test_every_key_used_is_defined() -> None:
    used = _used()
    assert {"call_customer", "err_no_pbx", "state_not_changed", "all_tickets"} <= used
    assert used - _catalogue("en") == set()
