"""Business time: which instants a calendar counts, adding it to an instant, measuring it.

Pure (no I/O, no clock): a :class:`Calendar` is a value built from the admin's calendar row
and the site's settings, so due times are reproducible and unit-tested with hand-computed
values. Days are decided in the calendar's time zone, spans are converted to UTC instants
before any arithmetic, so a zone with daylight saving time counts the real elapsed time.

Public holidays and China's make-up working days (调休: a Saturday or Sunday that is a
working day) come from kept libraries behind :class:`HolidaySource`: ``chinesecalendar``
for ``CN`` (its data is the State Council's yearly notice, so it knows only the years it
was released with), ``holidays`` for other regions (rule based, years 1950–2100 or so).
A year a source does not know falls back to plain weekdays (plus the site's own days) and
logs one warning per region and year, never an exception: a ticket opened in a year the
library does not cover yet still gets due times.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Literal, Protocol
from zoneinfo import ZoneInfo

log = logging.getLogger(__name__)

#: How a source classes a day: a public holiday (closed), a make-up working day (open with
#: working-day hours although it falls on a weekend), or nothing special.
DayKind = Literal["holiday", "workday", "normal"]
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
#: The longest stretch searched for open time: a calendar with no hours for this long is
#: an error (ValueError), not an endless loop. Twenty years: the longest target a policy
#: may set (a year of business minutes) on a thin calendar (a few hours a week) fits.
_HORIZON_DAYS = 20 * 366


class UnknownYear(Exception):
    """The source has no data for the year (the caller falls back to plain weekdays)."""


class HolidaySource(Protocol):
    """Public holidays of one region: ``kind(day)``; UnknownYear for a year it lacks."""

    region: str

    def kind(self, day: date) -> DayKind: ...


class NoHolidays:
    """No public holidays at all (region ``none``)."""

    region = "none"

    def kind(self, day: date) -> DayKind:
        return "normal"


class ChinaHolidays:
    """Mainland China from ``chinesecalendar``: holidays and make-up working days (调休)."""

    region = "CN"

    def kind(self, day: date) -> DayKind:
        import chinese_calendar

        try:
            workday = chinese_calendar.is_workday(day)
        except NotImplementedError:  # the library's message: "not supported" year
            raise UnknownYear(f"chinesecalendar has no data for {day.year}") from None
        weekend = day.weekday() >= 5
        if weekend and workday:
            return "workday"
        if not weekend and not workday:
            return "holiday"
        return "normal"


class RegionHolidays:
    """Another region's public holidays from the ``holidays`` package (e.g. ``US``, ``HK``,
    ``DE-BY`` for a subdivision). ValueError for a region the package does not know."""

    def __init__(self, region: str) -> None:
        import holidays

        country, _, subdiv = region.partition("-")
        try:
            self._days = holidays.country_holidays(country, subdiv=subdiv or None)
        except NotImplementedError:
            raise ValueError(f"unknown holiday region {region!r}") from None
        self.region = region
        self._first = int(getattr(self._days, "start_year", 1950))
        self._last = int(getattr(self._days, "end_year", 2100))

    def kind(self, day: date) -> DayKind:
        if not self._first <= day.year <= self._last:
            raise UnknownYear(f"holidays has no data for {self.region} in {day.year}")
        return "holiday" if day in self._days else "normal"


@lru_cache(maxsize=64)
def holiday_source(region: str) -> HolidaySource:
    """The source for ``region`` (``CN``, ``none``, or a ``holidays`` country code such as
    ``US`` / ``DE-BY``); ValueError for an unknown region. Cached: one object per region."""
    key = region.strip()
    if key.upper() == "CN":
        return ChinaHolidays()
    if key.lower() in ("", "none", "off"):
        return NoHolidays()
    return RegionHolidays(key.upper())


_warned: set[tuple[str, int]] = set()


def _day_kind(source: HolidaySource, day: date) -> DayKind:
    try:
        return source.kind(day)
    except UnknownYear as exc:
        if (source.region, day.year) not in _warned:
            _warned.add((source.region, day.year))
            log.warning("%s: counting plain weekdays (and the site's own days) for %d",
                        exc, day.year)
        return "normal"


@dataclass(frozen=True)
class Span:
    """Open from ``start`` to ``end`` minutes after local midnight (end ≤ 1440)."""

    start: int
    end: int

    def __post_init__(self) -> None:
        if not 0 <= self.start < self.end <= 1440:
            raise ValueError(f"span {self.start}-{self.end}: need 0 ≤ start < end ≤ 24:00")


def parse_span(text: str) -> Span:
    """``"09:00-12:00"`` → Span(540, 720); ``24:00`` allowed as an end. ValueError names it."""
    try:
        a, b = (part.strip() for part in text.split("-"))
        return Span(_minutes(a), _minutes(b))
    except ValueError as exc:
        raise ValueError(f"bad span {text!r} (want HH:MM-HH:MM): {exc}") from None


def _minutes(text: str) -> int:
    hh, mm = text.split(":")
    h, m = int(hh), int(mm)
    if not (0 <= h <= 24 and 0 <= m < 60) or (h == 24 and m):
        raise ValueError(f"{text!r} is not a time of day")
    return h * 60 + m


def format_span(span: Span) -> str:
    return (f"{span.start // 60:02d}:{span.start % 60:02d}-"
            f"{span.end // 60:02d}:{span.end % 60:02d}")


def week_spans(hours: Mapping[str, Iterable[str]]) -> tuple[tuple[Span, ...], ...]:
    """``{"mon": ["09:00-12:00", "13:30-18:00"], …}`` → seven sorted, non-overlapping span
    tuples (Monday first; a missing day is closed). ValueError names the bad day."""
    unknown = set(hours) - set(WEEKDAYS)
    if unknown:
        raise ValueError(f"unknown weekday {sorted(unknown)[0]!r}; use {', '.join(WEEKDAYS)}")
    week = []
    for name in WEEKDAYS:
        spans = sorted((parse_span(s) for s in hours.get(name, ())), key=lambda s: s.start)
        for a, b in itertools.pairwise(spans):
            if b.start < a.end:
                raise ValueError(f"{name}: spans {format_span(a)} and {format_span(b)} overlap")
        week.append(tuple(spans))
    return tuple(week)


@dataclass(frozen=True)
class Calendar:
    """When business time runs.

    ``week``: seven span tuples, Monday first. ``holidays``: the public-holiday source
    (closed days; make-up working days open with ``workday_spans``, the first of Monday to
    Friday that has hours). ``closed`` / ``open_days``: the site's own closed days and
    extra working days (they win over the source). ``always_open``: 24×7, nothing else
    matters.
    """

    zone: ZoneInfo
    week: tuple[tuple[Span, ...], ...] = ((),) * 7
    holidays: HolidaySource = field(default_factory=NoHolidays)
    closed: frozenset[date] = frozenset()
    open_days: frozenset[date] = frozenset()
    always_open: bool = False

    @property
    def workday_spans(self) -> tuple[Span, ...]:
        return next((s for s in self.week[:5] if s), ())

    def spans_of(self, day: date) -> tuple[Span, ...]:
        """The day's open spans (local minutes), every rule applied."""
        if self.always_open:
            return (Span(0, 1440),)
        if day in self.closed:
            return ()
        if day in self.open_days:
            return self.week[day.weekday()] or self.workday_spans
        kind = _day_kind(self.holidays, day)
        if kind == "holiday":
            return ()
        if kind == "workday":
            return self.workday_spans
        return self.week[day.weekday()]

    def intervals(self, day: date) -> tuple[tuple[datetime, datetime], ...]:
        """The day's open intervals as UTC instants (cached per calendar and day)."""
        return _intervals(self, day)


def twenty_four_seven(zone: ZoneInfo | str = "UTC") -> Calendar:
    """Always open (urgent lines): business time is wall-clock time."""
    return Calendar(zone=ZoneInfo(zone) if isinstance(zone, str) else zone, always_open=True)


def _instant(day: date, minute: int, zone: ZoneInfo) -> datetime:
    local = datetime.combine(day, time(0), tzinfo=zone)
    if minute == 1440:
        local = datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone)
    else:
        local = local.replace(hour=minute // 60, minute=minute % 60)
    return local.astimezone(UTC)


@lru_cache(maxsize=65536)
def _intervals(cal: Calendar, day: date) -> tuple[tuple[datetime, datetime], ...]:
    return tuple((_instant(day, s.start, cal.zone), _instant(day, s.end, cal.zone))
                 for s in cal.spans_of(day))


def _utc(at: datetime) -> datetime:
    if at.tzinfo is None:
        raise ValueError("business time needs aware datetimes")
    return at.astimezone(UTC)


def add_business(cal: Calendar, start: datetime, amount: timedelta) -> datetime:
    """The instant ``amount`` of business time after ``start`` (UTC, aware).

    Starting outside hours counts from the next opening; a result that lands exactly on a
    span's end stays there (not the next opening). ``amount`` ≤ 0 → ``start``. ValueError
    for a naive ``start`` or a calendar with no open time within three years."""
    start = _utc(start)
    if amount <= timedelta(0):
        return start
    if cal.always_open:
        return start + amount
    left = amount
    day = start.astimezone(cal.zone).date() - timedelta(days=1)  # a span may cross midnight
    for _ in range(_HORIZON_DAYS):
        for a, b in cal.intervals(day):
            if b <= start:
                continue
            begin = max(a, start)
            if left <= b - begin:
                return begin + left
            left -= b - begin
        day += timedelta(days=1)
    raise ValueError("the calendar has no open hours within twenty years")


def business_between(cal: Calendar, a: datetime, b: datetime) -> timedelta:
    """Business time from ``a`` to ``b`` (negative when ``b`` is before ``a``)."""
    a, b = _utc(a), _utc(b)
    if b < a:
        return -business_between(cal, b, a)
    if cal.always_open:
        return b - a
    total = timedelta(0)
    day = a.astimezone(cal.zone).date() - timedelta(days=1)
    last = b.astimezone(cal.zone).date()
    while day <= last:
        for s, e in cal.intervals(day):
            lo, hi = max(s, a), min(e, b)
            if hi > lo:
                total += hi - lo
        day += timedelta(days=1)
    return total
