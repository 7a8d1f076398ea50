"""The cross-site rule (web/origin.py), pure: which headers make a cookie request foreign."""

from __future__ import annotations

import pytest

from web.origin import foreign_origin, normalise_origin, own_origin

OWN = "http://hotline:8000"


@pytest.mark.parametrize(("value", "expected"), [
    ("http://Hotline:8000", "http://hotline:8000"), ("https://h.example:443", "https://h.example"),
    ("http://h.example:80/", "http://h.example"), ("http://[::1]:8000", "http://[::1]:8000"),
    ("null", None), ("/relative", None), ("javascript:alert(1)", None),
    ("http://h:notaport", None), ("file:///etc", None)])
def test_normalise_origin(value: str, expected: str | None) -> None:
    assert normalise_origin(value) == expected


def test_own_origin_maps_websocket_schemes() -> None:
    assert own_origin("ws", "hotline:8000") == OWN
    assert own_origin("wss", "h.example") == "https://h.example"
    assert own_origin("http", None) is None


@pytest.mark.parametrize(("headers", "foreign"), [
    ({"origin": OWN}, False),
    ({"origin": "http://hotline:8001"}, True),  # another port is another origin
    ({"origin": "https://hotline:8000"}, True),  # and another scheme
    ({"origin": "http://evil.example", "sec-fetch-site": "same-origin"}, True),
    ({"sec-fetch-site": "same-origin"}, False), ({"sec-fetch-site": "none"}, False),
    ({"sec-fetch-site": "same-site"}, True), ({"sec-fetch-site": "cross-site"}, True),
    ({"referer": f"{OWN}/console?x=1"}, False), ({"referer": "http://evil.example/"}, True),
    ({}, False),  # no browser page behind it (curl with a cookie)
    ({"origin": "https://proxy.example"}, False),  # allowed below
])
def test_foreign_origin(headers: dict[str, str], foreign: bool) -> None:
    reason = foreign_origin(headers, OWN, ["https://proxy.example"])
    assert (reason is not None) == foreign, reason
