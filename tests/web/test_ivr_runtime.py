"""``web.ivr_runtime`` and the IVR's start in ``web.wiring``: what an operator sees when the
IVR cannot start, and what a log line shows of a caller's number."""

from __future__ import annotations

from web.ivr_runtime import masked


def test_masked_never_shows_most_of_a_number() -> None:
    assert masked("+8613800138000") == "+86*******8000"
    assert masked("13800138000") == "138****8000"
    for number in ("6001", "1234567", "62345678", "0105551234"):
        shown = sum(a == b for a, b in zip(masked(number), number, strict=True))
        assert shown <= len(number) // 2, masked(number)
