"""A report's period and its hour/day buckets in the site's time zone, as pure functions.

Why this shape: SQLite has no time-zone database and PostgreSQL's ``AT TIME ZONE`` is not
available there, yet both must bucket identically. Within any period a zone has a handful of
UTC offsets at most (one for Asia/Shanghai; two or three around a DST change), so the SQL
turns a UTC instant into local time with ``epoch + CASE <segment> THEN <offset> END`` and
integer-divides by 3600 or 86400: the bucket key is the number of local hours (days) since
1970-01-01 local. :func:`segments` finds the offsets and where they change; the keys come
back to local datetimes through :func:`bucket_start`. The same integers on both backends.

DST: in the hour a clock is set back, the two local 01:00–02:00 hours share one key (one
bucket, labelled with the first offset); the hour skipped in spring has no key at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Literal

Bucket = Literal["hour", "day"]
BUCKET_S: dict[str, int] = {"hour": 3600, "day": 86400}
#: The longest period a report covers (days, both ends included).
MAX_DAYS = 366
_EPOCH = datetime(1970, 1, 1)


@dataclass(frozen=True)
class Period:
    """Local dates ``first``..``last`` (both included) in ``zone``."""

    first: date
    last: date
    zone: tzinfo

    def __post_init__(self) -> None:
        if self.first > self.last:
            raise ValueError("from is after to")
        if self.days > MAX_DAYS:
            raise ValueError(f"the period is {self.days} days; at most {MAX_DAYS}")

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1

    @property
    def start(self) -> datetime:
        """The first local midnight, in UTC (included)."""
        return local_midnight(self.first, self.zone)

    @property
    def end(self) -> datetime:
        """The local midnight after ``last``, in UTC (excluded)."""
        return local_midnight(self.last + timedelta(days=1), self.zone)


def local_midnight(day: date, zone: tzinfo) -> datetime:
    """The instant (UTC) ``day`` starts in ``zone`` (the first 00:00; a zone that skips
    midnight: the first instant of the day)."""
    naive = datetime.combine(day, time())
    aware = naive.replace(tzinfo=zone)
    instant = aware.astimezone(UTC)
    if instant.astimezone(zone).replace(tzinfo=None) != naive:  # midnight skipped (a gap)
        instant = (naive - _offset_before(aware)).replace(tzinfo=UTC)
    return instant


def _offset_before(aware: datetime) -> timedelta:
    before = aware - timedelta(hours=3)
    return before.utcoffset() or timedelta()


def _offset(instant: datetime, zone: tzinfo) -> int:
    off = instant.astimezone(zone).utcoffset()
    return int(off.total_seconds()) if off is not None else 0


def segments(zone: tzinfo, start: datetime, end: datetime) -> list[tuple[int, int]]:
    """``[(from_epoch_s, offset_s), …]``: the zone's UTC offset from each instant (UTC epoch
    seconds) on, covering ``[start, end)``; the first segment starts at ``start``. Offsets
    are sampled hourly and each change is narrowed to the second by bisection."""
    out = [(int(start.timestamp()), _offset(start, zone))]
    t = start
    while t < end:
        nxt = min(t + timedelta(hours=1), end)
        if _offset(nxt, zone) != out[-1][1]:
            lo, hi = int(t.timestamp()), int(nxt.timestamp())
            while hi - lo > 1:
                mid = (lo + hi) // 2
                if _offset(datetime.fromtimestamp(mid, UTC), zone) == out[-1][1]:
                    lo = mid
                else:
                    hi = mid
            out.append((hi, _offset(datetime.fromtimestamp(hi, UTC), zone)))
        t = nxt
    return out


def bucket_key(instant: datetime, zone: tzinfo, bucket: Bucket) -> int:
    """The key :mod:`tickets.reports.service` computes in SQL, for one instant (tests)."""
    return (int(instant.timestamp()) + _offset(instant, zone)) // BUCKET_S[bucket]


def bucket_start(key: int, zone: tzinfo, bucket: Bucket) -> datetime:
    """The local start of bucket ``key`` as an aware datetime in ``zone`` (fold 0)."""
    naive = _EPOCH + timedelta(seconds=key * BUCKET_S[bucket])
    if bucket == "day":
        return local_midnight(naive.date(), zone).astimezone(zone)
    return naive.replace(tzinfo=zone)
