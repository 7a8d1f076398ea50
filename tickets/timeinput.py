"""One rule for every date/time a client sends (query filters and bodies alike).

A client may write a date (``2026-11-30``: the start of that day), a local time without
offset (``2026-11-30T09:30``: the site's time zone, ``HOTLINE_TIMEZONE``) or a time with an
offset (``2026-11-30T09:30+08:00``, ``…Z``). Anything else is a 422 naming the field: no
epoch numbers, no free text. The result is always an aware :class:`datetime`, so comparing
it with stored UTC columns can no longer fail with "naive datetime" (a 500).

Upper bounds (``*_to``) use :data:`MomentEnd`: a bare date there means the *end* of that day
(the start of the next one, compared with ``<``), so ``created_to=2026-11-30`` includes the
whole of the 30th; a time is taken as written.

The site zone is process-wide state set once by the composition root
(:func:`set_site_timezone`), because FastAPI query parameters get no validation context.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BeforeValidator, WithJsonSchema

DEFAULT_TIMEZONE = "Asia/Shanghai"
_site_zone: tzinfo = ZoneInfo(DEFAULT_TIMEZONE)

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_MOMENT = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?"
                     r"(Z|[+-]\d{2}:?\d{2})?$")
_EXPECTED = ("expected a date (2026-11-30), a local time (2026-11-30T09:30) or a time with "
             "offset (2026-11-30T09:30+08:00)")


def zone(name: str) -> tzinfo:
    """The IANA zone ``name``; ``ValueError`` if unknown (a settings error, said at start)."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r} (use an IANA name such as "
                         f"{DEFAULT_TIMEZONE})") from None


def set_site_timezone(name: str) -> None:
    """Make ``name`` the zone of times written without offset (called by the app factory)."""
    global _site_zone
    _site_zone = zone(name)


def site_timezone() -> tzinfo:
    return _site_zone


def parse_moment(value: object, *, end_of_day: bool = False) -> datetime:
    """An aware datetime from what a client wrote; ``ValueError`` with the accepted forms.

    ``end_of_day``: a bare date means the start of the *next* day (an exclusive bound).
    A time that has no UTC equivalent (``0001-01-01`` east of UTC) is a ``ValueError`` too:
    stored columns are UTC, and the overflow would otherwise surface as a 500.
    """
    try:
        moment = _parse_moment(value, end_of_day)
        moment.astimezone(UTC)
    except OverflowError:
        raise ValueError(f"out of range: {value!r}") from None
    return moment


def _parse_moment(value: object, end_of_day: bool) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=_site_zone)
    if isinstance(value, date):
        return _day_start(value, end_of_day)
    if not isinstance(value, str):
        raise ValueError(_EXPECTED)
    text = value.strip()
    if _DATE.match(text):
        try:
            return _day_start(date.fromisoformat(text), end_of_day)
        except ValueError:
            raise ValueError(f"no such day: {text!r}") from None
    if not _MOMENT.match(text):
        raise ValueError(_EXPECTED)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"no such time: {text!r}") from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=_site_zone)


def _day_start(day: date, end_of_day: bool) -> datetime:
    if end_of_day:
        day += timedelta(days=1)
    return datetime.combine(day, time(), tzinfo=_site_zone)


def as_moment(value: object) -> datetime:
    """The :data:`Moment` validator."""
    return parse_moment(value)


def as_moment_end(value: object) -> datetime:
    """The :data:`MomentEnd` validator."""
    return parse_moment(value, end_of_day=True)


_SCHEMA = {"type": "string", "format": "date-time",
           "description": "a date (start of day), a local time in the site's time zone, or a "
                          "time with offset", "examples": ["2026-11-30", "2026-11-30T09:30",
                                                           "2026-11-30T09:30+08:00"]}
_END_SCHEMA = {**_SCHEMA, "description": "exclusive bound: a date means the end of that day "
                                         "(the whole day included), a time is taken as written"}

#: Every date/time input: a date, a local time or an offset time → an aware datetime.
Moment = Annotated[datetime, BeforeValidator(as_moment), WithJsonSchema(_SCHEMA)]
#: An exclusive upper bound (``*_to``): a bare date includes that whole day.
MomentEnd = Annotated[datetime, BeforeValidator(as_moment_end), WithJsonSchema(_END_SCHEMA)]


def as_local_date(value: object) -> date:
    """The :data:`LocalDate` validator: ``YYYY-MM-DD`` (or a ``date``), nothing else — not a
    number (pydantic would read it as Unix seconds) nor a time."""
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, str) and len(value) == 10:
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise ValueError("expected a date as YYYY-MM-DD")


#: A calendar day in the site's time zone (report periods): ``2026-11-30``.
LocalDate = Annotated[date, BeforeValidator(as_local_date),
                      WithJsonSchema({"type": "string", "format": "date",
                                      "examples": ["2026-11-30"]})]
