"""RateLimitedLog: one line per key per interval, and the count of those not logged."""

from __future__ import annotations

import logging

import pytest

from tickets.ratelog import RateLimitedLog


def test_one_line_per_key_per_interval_with_the_count(caplog: pytest.LogCaptureFixture) -> None:
    now = [100.0]
    limited = RateLimitedLog(logging.getLogger("test.ratelog"), 10.0, clock=lambda: now[0])
    with caplog.at_level(logging.WARNING, logger="test.ratelog"):
        assert limited.warning("flood", "refused %s", "a") is True
        for i in range(500):
            now[0] += 0.01
            assert limited.warning("flood", "refused %s", i) is False
        assert limited.warning("other", "something else") is True  # its own budget
        now[0] = 111.0
        assert limited.warning("flood", "refused %s", "z") is True
    assert [r.getMessage() for r in caplog.records] == [
        "refused a", "something else",
        "refused z (500 more like this in the last 11 s not logged)"]
    assert limited.suppressed_total == 500


def test_keys_cannot_grow_without_bound() -> None:
    limited = RateLimitedLog(logging.getLogger("test.ratelog"), 10.0, max_keys=8)
    for i in range(100):
        limited.info(f"k{i}", "x")
    assert len(limited._last) <= 8
