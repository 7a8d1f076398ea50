"""Business time with hand-computed values (Asia/Shanghai is UTC+8 all year)."""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from tickets.sla import calendar as calendar_module
from tickets.sla.calendar import (
    Calendar,
    Span,
    add_business,
    business_between,
    holiday_source,
    parse_span,
    twenty_four_seven,
    week_spans,
)

SH = ZoneInfo("Asia/Shanghai")
OFFICE = {d: ["09:00-12:00", "13:30-18:00"] for d in ("mon", "tue", "wed", "thu", "fri")}


def cal(region: str = "CN", **kw: object) -> Calendar:
    return Calendar(zone=SH, week=week_spans(OFFICE), holidays=holiday_source(region),
                    **kw)  # type: ignore[arg-type]


def sh(y: int, mo: int, d: int, h: int, mi: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=SH)


def test_local_hours_are_utc_plus_eight() -> None:
    (a, b), _ = cal().intervals(date(2026, 11, 30))  # a Monday
    assert a == datetime(2026, 11, 30, 1, 0, tzinfo=UTC)
    assert b == datetime(2026, 11, 30, 4, 0, tzinfo=UTC)


def test_across_a_weekend() -> None:
    # Fri 2026-11-27 17:00: one hour left that day, Sat and Sun closed, Mon 09:00 + 1 h
    assert add_business(cal(), sh(2026, 11, 27, 17), timedelta(hours=2)) == sh(2026, 11, 30, 10)


def test_lunch_break_between_two_spans() -> None:
    # Mon 11:30 + 1 h = 30 min to noon, lunch, 13:30 + 30 min
    assert add_business(cal(), sh(2026, 11, 30, 11, 30), timedelta(hours=1)) \
        == sh(2026, 11, 30, 14)
    assert add_business(cal(), sh(2026, 11, 30, 12, 10), timedelta(minutes=1)) \
        == sh(2026, 11, 30, 13, 31)


def test_ending_on_a_span_end_stays_there() -> None:
    assert add_business(cal(), sh(2026, 11, 30, 17), timedelta(hours=1)) == sh(2026, 11, 30, 18)


def test_a_make_up_saturday_is_a_working_day() -> None:
    # 2026-02-14 is a Saturday worked instead of the Spring Festival days (调休)
    assert date(2026, 2, 14).weekday() == 5
    assert add_business(cal(), sh(2026, 2, 13, 17), timedelta(hours=2)) == sh(2026, 2, 14, 10)


def test_spring_festival_is_closed() -> None:
    # Sat 2026-02-14 (worked) 17:00 + 2 h: one hour that day, then 2026-02-15 … 02-23
    # (Spring Festival, Monday 02-16 to 02-23 included) closed, Tue 02-24 09:00 + 1 h
    assert add_business(cal(), sh(2026, 2, 14, 17), timedelta(hours=2)) == sh(2026, 2, 24, 10)
    assert business_between(cal(), sh(2026, 2, 14, 17), sh(2026, 2, 24, 10)) \
        == timedelta(hours=2)


def test_without_holidays_the_festival_weekdays_count() -> None:
    # region none: Mon 2026-02-16 is an ordinary Monday, the make-up Saturday is closed
    assert add_business(cal("none"), sh(2026, 2, 13, 17), timedelta(hours=2)) \
        == sh(2026, 2, 16, 10)


def test_business_between_counts_only_open_time() -> None:
    # Fri 10:00 → Mon 10:00: 2 h + 4.5 h on Friday, 1 h on Monday
    assert business_between(cal(), sh(2026, 11, 27, 10), sh(2026, 11, 30, 10)) \
        == timedelta(hours=7, minutes=30)
    assert business_between(cal(), sh(2026, 11, 30, 10), sh(2026, 11, 27, 10)) \
        == -timedelta(hours=7, minutes=30)
    assert business_between(cal(), sh(2026, 11, 28, 10), sh(2026, 11, 29, 20)) == timedelta(0)


def test_add_and_between_agree() -> None:
    start = sh(2026, 2, 10, 15, 7)
    for minutes in (1, 59, 450, 451, 3000, 9999):
        end = add_business(cal(), start, timedelta(minutes=minutes))
        assert business_between(cal(), start, end) == timedelta(minutes=minutes)


def test_site_days_win_over_the_library() -> None:
    closed = cal(closed=frozenset({date(2026, 11, 30)}))
    assert add_business(closed, sh(2026, 11, 27, 17), timedelta(hours=2)) == sh(2026, 12, 1, 10)
    extra = cal(open_days=frozenset({date(2026, 11, 28)}))  # a Saturday the site works
    assert add_business(extra, sh(2026, 11, 27, 17), timedelta(hours=2)) == sh(2026, 11, 28, 10)


def test_twenty_four_seven_is_wall_clock() -> None:
    start = sh(2026, 2, 16, 3)  # Spring Festival, 03:00
    assert add_business(twenty_four_seven(SH), start, timedelta(hours=30)) \
        == start + timedelta(hours=30)
    assert business_between(twenty_four_seven(), start, start + timedelta(days=2)) \
        == timedelta(days=2)


def test_a_zone_with_daylight_saving_counts_real_time() -> None:
    ny = ZoneInfo("America/New_York")
    allday = {d: ["00:00-24:00"] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
    c = Calendar(zone=ny, week=week_spans(allday))
    # 2026-03-08: clocks go forward, the local day has 23 hours
    day = business_between(c, datetime(2026, 3, 8, tzinfo=ny), datetime(2026, 3, 9, tzinfo=ny))
    assert day == timedelta(hours=23)
    assert add_business(c, datetime(2026, 3, 8, tzinfo=ny), timedelta(hours=23)) \
        == datetime(2026, 3, 9, tzinfo=ny)


def test_a_year_the_library_lacks_falls_back_to_weekdays(
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, "tickets.sla.calendar")
    calendar_module._warned.clear()
    # chinesecalendar 1.11 knows up to 2026; 2027-01-01 (a Friday) counts as a weekday
    assert add_business(cal(), sh(2026, 12, 31, 17), timedelta(hours=2)) == sh(2027, 1, 1, 10)
    assert add_business(cal(), sh(2027, 1, 1, 17), timedelta(hours=2)) == sh(2027, 1, 4, 10)
    assert len([r for r in caplog.records if "2027" in r.getMessage()]) == 1


def test_other_regions_from_the_holidays_package() -> None:
    us = Calendar(zone=ZoneInfo("America/New_York"), week=week_spans(OFFICE),
                  holidays=holiday_source("US"))
    ny = ZoneInfo("America/New_York")
    # Thanksgiving 2026 is Thursday 11-26: Wed 17:00 + 2 h → Fri 10:00
    assert add_business(us, datetime(2026, 11, 25, 17, tzinfo=ny), timedelta(hours=2)) \
        == datetime(2026, 11, 27, 10, tzinfo=ny)
    with pytest.raises(ValueError, match="holiday region"):
        holiday_source("XX")


def test_bad_hours_name_what_is_wrong() -> None:
    assert parse_span("09:00-12:00") == Span(540, 720)
    for bad in ("9-12", "12:00-09:00", "09:00-25:00", "x"):
        with pytest.raises(ValueError):
            parse_span(bad)
    with pytest.raises(ValueError, match="overlap"):
        week_spans({"mon": ["09:00-12:00", "11:00-13:00"]})
    with pytest.raises(ValueError, match="weekday"):
        week_spans({"monday": ["09:00-12:00"]})
    with pytest.raises(ValueError, match="no open hours"):  # (searched 20 years)
        add_business(Calendar(zone=SH), sh(2026, 1, 5, 9), timedelta(minutes=1))
    with pytest.raises(ValueError, match="aware"):
        add_business(cal(), datetime(2026, 1, 5, 9), timedelta(minutes=1))
