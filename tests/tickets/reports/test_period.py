"""Local-time buckets (pure): periods in the site zone, offset segments around DST changes,
bucket keys and their local starts, and the bounds a report refuses."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from tickets.reports.period import MAX_DAYS, Period, bucket_key, bucket_start, segments

SH = ZoneInfo("Asia/Shanghai")
BERLIN = ZoneInfo("Europe/Berlin")


def test_a_period_is_local_midnight_to_local_midnight() -> None:
    p = Period(date(2026, 3, 2), date(2026, 3, 3), SH)
    assert p.start == datetime(2026, 3, 1, 16, tzinfo=UTC)
    assert p.end == datetime(2026, 3, 3, 16, tzinfo=UTC)
    assert p.days == 2


def test_bounds() -> None:
    with pytest.raises(ValueError, match="from is after to"):
        Period(date(2026, 3, 3), date(2026, 3, 2), SH)
    Period(date(2025, 1, 1), date(2025, 1, 1).replace(year=2026), SH)  # 366 days: fine
    with pytest.raises(ValueError, match=f"at most {MAX_DAYS}"):
        Period(date(2025, 1, 1), date(2026, 1, 2), SH)


def test_segments() -> None:
    p = Period(date(2026, 3, 1), date(2026, 3, 31), SH)
    assert segments(SH, p.start, p.end) == [(int(p.start.timestamp()), 8 * 3600)]
    spring = Period(date(2026, 3, 28), date(2026, 3, 30), BERLIN)
    change = int(datetime(2026, 3, 29, 1, tzinfo=UTC).timestamp())
    assert segments(BERLIN, spring.start, spring.end) == [
        (int(spring.start.timestamp()), 3600), (change, 7200)]
    year = Period(date(2026, 1, 1), date(2026, 12, 31), BERLIN)
    assert [o for _, o in segments(BERLIN, year.start, year.end)] == [3600, 7200, 3600]


def test_keys_and_starts_around_the_autumn_change() -> None:
    # 2026-10-25: 03:00 +02:00 becomes 02:00 +01:00 (01:00 UTC)
    first = datetime(2026, 10, 25, 0, 30, tzinfo=UTC)   # 02:30 +02:00
    second = datetime(2026, 10, 25, 1, 30, tzinfo=UTC)  # 02:30 +01:00
    assert bucket_key(first, BERLIN, "hour") == bucket_key(second, BERLIN, "hour")
    assert bucket_start(bucket_key(first, BERLIN, "hour"), BERLIN, "hour").isoformat() == \
        "2026-10-25T02:00:00+02:00"
    day = bucket_key(datetime(2026, 10, 25, 22, 59, tzinfo=UTC), BERLIN, "day")
    assert bucket_start(day, BERLIN, "day").isoformat() == "2026-10-25T00:00:00+02:00"
    sh = bucket_key(datetime(2026, 3, 1, 16, 30, tzinfo=UTC), SH, "day")
    assert bucket_start(sh, SH, "day").isoformat() == "2026-03-02T00:00:00+08:00"
