"""Counters of queue outcomes over rolling windows and since the site's midnight.

Why per-second buckets with running sums: a wallboard asks for the 15- and 60-minute figures
of every queue several times a second (every push), so a figure must cost O(1), and memory
must not grow with the call rate. A window is a deque of one bucket per second that saw an
outcome (at most ``span`` of them, whatever the rate) plus the running :class:`Tally` of the
deque: an outcome adds to the newest bucket and the sums; rolling off subtracts a whole
bucket. Windows are exact to the second: an outcome at ``t`` counts in the window at ``now``
while ``int(now) - int(t) < span``.

The day tally is reset when the site's local date changes (``zoneinfo``: daylight-saving
days are 23 or 25 hours long, Asia/Shanghai always 24).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, fields
from datetime import UTC, datetime, time, timedelta, tzinfo

from tickets.messages import WindowStats


@dataclass(slots=True)
class Tally:
    """Sums of outcomes. ``wait_s`` sums the waits of answered calls (ASA = wait_s /
    answered); ``handle_s`` sums talk + hold + wrap-up of ``handled`` calls (AHT)."""

    offered: int = 0
    answered: int = 0
    abandoned: int = 0
    short_abandoned: int = 0
    within_sl: int = 0
    wait_s: float = 0.0
    handled: int = 0
    handle_s: float = 0.0

    def add(self, other: Tally, sign: int = 1) -> None:
        self.offered += sign * other.offered
        self.answered += sign * other.answered
        self.abandoned += sign * other.abandoned
        self.short_abandoned += sign * other.short_abandoned
        self.within_sl += sign * other.within_sl
        self.wait_s += sign * other.wait_s
        self.handled += sign * other.handled
        self.handle_s += sign * other.handle_s

    def view(self) -> WindowStats:
        """The contract's figures: SL = within / (offered - short abandons); abandon rate =
        (abandoned - short) / (offered - short); null when a denominator is 0."""
        base = self.offered - self.short_abandoned
        return {
            "offered": self.offered, "answered": self.answered, "abandoned": self.abandoned,
            "short_abandoned": self.short_abandoned, "answered_within_sl": self.within_sl,
            "service_level": round(self.within_sl / base, 4) if base > 0 else None,
            "abandon_rate": round((self.abandoned - self.short_abandoned) / base, 4)
            if base > 0 else None,
            "asa_s": round(self.wait_s / self.answered, 3) if self.answered else None,
            "aht_s": round(self.handle_s / self.handled, 3) if self.handled else None,
        }


TALLY_FIELDS = tuple(f.name for f in fields(Tally))


class Rolling:
    """A :class:`Tally` of the last ``span_s`` seconds (per-second buckets, see module doc)."""

    __slots__ = ("buckets", "span_s", "total")

    def __init__(self, span_s: int) -> None:
        self.span_s = span_s
        self.buckets: deque[tuple[int, Tally]] = deque()
        self.total = Tally()

    def bucket(self, t: float) -> Tally:
        """The bucket of second ``t`` (created; an outcome older than the newest bucket, a
        rebuild from the call log, goes into its own second, kept in order)."""
        sec = int(t)
        b = self.buckets
        if b and b[-1][0] == sec:
            return b[-1][1]
        if not b or b[-1][0] < sec:
            tally = Tally()
            b.append((sec, tally))
            return tally
        for s, tally in b:  # out of order (rare): find or insert
            if s == sec:
                return tally
        tally = Tally()
        items = sorted([*b, (sec, tally)], key=lambda x: x[0])
        b.clear()
        b.extend(items)
        return tally

    def record(self, t: float, delta: Tally) -> None:
        self.bucket(t).add(delta)
        self.total.add(delta)

    def roll(self, now: float) -> bool:
        """Drop buckets older than the window; True when something rolled off."""
        b = self.buckets
        oldest = int(now) - self.span_s  # second s counts while int(now) - s < span
        rolled = False
        while b and b[0][0] <= oldest:
            self.total.add(b.popleft()[1], -1)
            rolled = True
        if not b:
            self.total = Tally()  # no float residue from add/subtract cycles
        return rolled


def midnight_after(t: float, zone: tzinfo) -> float:
    """Unix time of the first local midnight after ``t`` in ``zone``."""
    local = datetime.fromtimestamp(t, zone)
    nxt = datetime.combine(local.date() + timedelta(days=1), time(0), zone)
    return nxt.astimezone(UTC).timestamp()


def midnight_before(t: float, zone: tzinfo) -> float:
    """Unix time of the local midnight that began ``t``'s day in ``zone``."""
    local = datetime.fromtimestamp(t, zone)
    return datetime.combine(local.date(), time(0), zone).astimezone(UTC).timestamp()
