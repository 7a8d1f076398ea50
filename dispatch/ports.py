"""The plain values the pure parts of dispatch work on: who can go (``dispatch.assignment``)
and in which order (``dispatch.planning``).

Why a module of its own: the ranking and the day plan are pure functions over these values
(no database, no clock, no I/O), unit-tested on generated fleets and benchmarked alone; the
service (``dispatch.service``) reads rows, builds these values, calls the functions and
writes the outcome. Times inside are **local wall-clock datetimes of the site's zone**
(``HOTLINE_TIMEZONE``, tz-aware), because working hours and appointment windows are local;
distances are kilometres, durations minutes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

#: priority → weight, for workload ("open tickets weighted by priority") and ranking
PRIORITY_WEIGHT: Mapping[str, float] = {"low": 0.5, "normal": 1.0, "high": 2.0, "urgent": 4.0}


@dataclass(frozen=True)
class Point:
    """WGS84 degrees."""

    lat: float
    lon: float


@dataclass(frozen=True)
class EngineerState:
    """One engineer as the ranking sees them.

    ``position``: the last known position when fresh, else the base, else None (then the
    distance is unknown and ranked last). ``booked_by_day``: ISO date → orders held that day;
    ``held_load``: open held orders weighted by :data:`PRIORITY_WEIGHT`.
    """

    user_id: int
    name: str
    skills: frozenset[str]
    region: str | None
    on_duty: bool
    is_active: bool
    position: Point | None
    position_source: str  # "last" | "base" | "none"
    work_start_min: int
    work_end_min: int
    work_days: frozenset[int]  # ISO weekdays
    daily_capacity: int
    booked_by_day: Mapping[str, int]
    held_load: float
    seniority: int = 0


@dataclass(frozen=True)
class Job:
    """A work order to place. ``window_*``: local, tz-aware, both or neither."""

    work_order_id: int
    position: Point | None
    region: str | None
    required_skills: frozenset[str]
    priority: str
    duration_min: int
    window_start: datetime | None
    window_end: datetime | None
    declined_by: frozenset[int] = frozenset()


@dataclass(frozen=True)
class Reason:
    """Why a candidate was ranked or refused: a stable ``code`` (the pages translate it) and
    its parameters, e.g. ``Reason("skill_missing", {"skills": ["hvac"]})``."""

    code: str
    params: Mapping[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class Ranked:
    """A fit candidate: lower ``score`` is better; ``distance_km``/``travel_min`` None when
    either position is unknown."""

    user_id: int
    score: float
    distance_km: float | None
    travel_min: float | None
    reasons: tuple[Reason, ...]


@dataclass(frozen=True)
class Refused:
    user_id: int
    reasons: tuple[Reason, ...]


@dataclass(frozen=True)
class Ranking:
    ranked: Sequence[Ranked]  # best first, ties broken by user_id
    refused: Sequence[Refused]


@dataclass(frozen=True)
class Visit:
    """A stop of a day plan: where, how long, and the window (local; None: any time)."""

    work_order_id: int
    position: Point | None
    duration_min: int
    window_start: datetime | None
    window_end: datetime | None
    priority: str = "normal"


@dataclass(frozen=True)
class PlannedStop:
    work_order_id: int
    seq: int  # 1-based visiting order
    arrival: datetime  # local
    start: datetime  # local; later than arrival when waiting for the window to open
    travel_min: float


@dataclass(frozen=True)
class DayPlan:
    """The visiting order for one engineer and day; ``unplanned``: visits that fit no
    feasible plan (window already past, beyond the working day) with the reason code."""

    stops: Sequence[PlannedStop]
    unplanned: Sequence[tuple[int, str]]
    travel_min: float
    solver: str  # e.g. "ortools-routing"
    solve_ms: float
