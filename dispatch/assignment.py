"""Who can take a work order, best first, and why the others cannot (pure: no I/O, no clock).

Why this shape: the dispatcher's candidate list, the automatic assignment and the hand-over
when an engineer declines or goes off duty all ask the same question, so one pure function
answers it over plain values (:mod:`dispatch.ports`) that the service builds from rows. It is
called once per decision over the whole fleet, so it is written for speed: one pass, sets
precomputed by the caller (skills, work days), no sorting of refused engineers, the job's
values hoisted out of the loop (≈ 1–2 ms for 200 engineers; ``tests/bench/bench_dispatch``).

**Filters** (an engineer failing any is *refused*, with every reason that applies):

=====================  ====================================================================
code                   params / when
=====================  ====================================================================
``inactive``           the user is deactivated
``off_duty``           not on duty
``declined``           they declined this order before (never offered again automatically)
``skill_missing``      ``{"skills": [...]}``: the required skills they lack (sorted)
``region_mismatch``    ``{"region", "job_region"}``: both set and different
``not_working_day``    ``{"day": "YYYY-MM-DD", "weekday": 1..7}``
``outside_hours``      ``{"work_start", "work_end", "window_start", "window_end"}`` ("HH:MM")
``capacity_full``      ``{"day", "booked", "capacity"}``: ``booked_by_day[day] ≥ daily_capacity``
=====================  ====================================================================

**The day and the hours.** A job with a window is for the local day its window starts on;
the visit must be able to *start* inside both the window and the engineer's working hours
and *end* by the end of those hours: ``max(window_start, work_start) ≤ min(window_end,
work_end − duration)`` in minutes after local midnight (a window running past midnight counts
to 24:00). A job without a window is "any time on ``day``": the caller passes the day it is
for (the service: today, local); it must be a working day, under capacity, and the duration
must fit in the working hours. Without a window and without ``day``, no day check is made.

**Score** (lower is better; all in minutes, so the terms add up)::

    score = travel_weight(priority) × travel_min  +  LOAD_MINUTES × held_load
    travel_weight = 1 + TRAVEL_URGENCY × (PRIORITY_WEIGHT[priority] − 1)
                  = low 0.875, normal 1, high 1.25, urgent 1.75

One unit of weighted open work (a normal order held) costs as much as :data:`LOAD_MINUTES`
of driving, so a free engineer a little farther away beats a busy one next door; an urgent
order weighs the drive more (the customer waits for it). Candidates whose travel time is
unknown (their position or the job's is unknown) come after every known one, ordered among
themselves by the load term alone. Ties (equal rounded score) are broken by ``user_id``.

Ranked reasons: ``travel`` ``{distance_km, travel_min, position_source}`` or
``position_unknown`` ``{position_source}`` / ``job_position_unknown``; ``load`` ``{load,
booked}``; ``priority`` ``{priority, travel_weight}``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from datetime import date

from dispatch.ports import (
    PRIORITY_WEIGHT,
    EngineerState,
    Job,
    Point,
    Ranked,
    Ranking,
    Reason,
    Refused,
)
from dispatch.travel import EARTH_RADIUS_KM, ROAD_DETOUR, URBAN_SPEED_KMH

#: minutes of travel that one unit of weighted held work (a normal open order) is worth
LOAD_MINUTES = 15.0
#: how much more the drive weighs per priority-weight unit above normal
TRAVEL_URGENCY = 0.25
#: the score rounding that makes near-equal scores ties (broken by user id)
SCORE_DECIMALS = 3

_MIN_PER_KM = ROAD_DETOUR / URBAN_SPEED_KMH * 60.0
_RAD = math.pi / 180.0


def travel_weight(priority: str) -> float:
    """The factor on travel minutes for a job of ``priority`` (unknown priorities: normal)."""
    return 1.0 + TRAVEL_URGENCY * (PRIORITY_WEIGHT.get(priority, 1.0) - 1.0)


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


class _Day:
    """The job's day and window in local minutes, computed once per call."""

    __slots__ = ("duration", "end", "iso", "start", "weekday", "window_txt")

    def __init__(self, the_day: date, start: int, end: int, duration: int,
                 window_txt: tuple[str, str] | None) -> None:
        self.iso = the_day.isoformat()
        self.weekday = the_day.isoweekday()
        self.start, self.end, self.duration = start, end, duration
        self.window_txt = window_txt


def _job_day(job: Job, day: date | None) -> _Day | None:
    ws, we = job.window_start, job.window_end
    if ws is not None and we is not None:
        ws_min = ws.hour * 60 + ws.minute
        we_min = we.hour * 60 + we.minute if we.date() == ws.date() else 1440
        return _Day(ws.date(), ws_min, we_min, job.duration_min,
                    (_hhmm(ws_min), _hhmm(we_min)))
    if day is None:
        return None
    return _Day(day, 0, 1440, job.duration_min, None)


def _day_refusals(e: EngineerState, d: _Day, reasons: list[Reason] | None
                  ) -> tuple[list[Reason] | None, int]:
    """Add the day's refusals (work day, hours, capacity) to ``reasons``; also the count
    booked that day."""
    if d.weekday not in e.work_days:
        (reasons := reasons or []).append(
            Reason("not_working_day", {"day": d.iso, "weekday": d.weekday}))
    else:
        start = d.start if d.start > e.work_start_min else e.work_start_min
        latest = e.work_end_min - d.duration
        if d.end < latest:
            latest = d.end
        if start > latest:
            txt = d.window_txt
            (reasons := reasons or []).append(Reason("outside_hours", {
                "work_start": _hhmm(e.work_start_min), "work_end": _hhmm(e.work_end_min),
                "window_start": txt[0] if txt else None,
                "window_end": txt[1] if txt else None}))
    booked = e.booked_by_day.get(d.iso, 0)
    if booked >= e.daily_capacity:
        (reasons := reasons or []).append(Reason("capacity_full", {
            "day": d.iso, "booked": booked, "capacity": e.daily_capacity}))
    return reasons, booked


def _refusals(e: EngineerState, job: Job) -> list[Reason] | None:
    """The refusals that do not depend on the day (None: none)."""
    reasons: list[Reason] | None = None
    if not e.is_active:
        reasons = [Reason("inactive")]
    if not e.on_duty:
        (reasons := reasons or []).append(Reason("off_duty"))
    if e.user_id in job.declined_by:
        (reasons := reasons or []).append(Reason("declined"))
    required = job.required_skills
    if required and not required <= e.skills:
        (reasons := reasons or []).append(
            Reason("skill_missing", {"skills": sorted(required - e.skills)}))
    if job.region is not None and e.region is not None and e.region != job.region:
        (reasons := reasons or []).append(
            Reason("region_mismatch", {"region": e.region, "job_region": job.region}))
    return reasons


def rank(job: Job, engineers: Sequence[EngineerState], *,
         travel_min: Callable[[Point, Point], float] | None = None,
         day: date | None = None) -> Ranking:
    """Rank ``engineers`` for ``job``: ``Ranking(ranked=best first, refused=in input order)``.

    ``travel_min(engineer_position, job_position)``: travel minutes (default: the straight
    line of :mod:`dispatch.travel`, computed inline). ``day``: the local day a job *without*
    a window is for (ignored when the job has a window). Never raises for a well-formed
    input; an unknown priority ranks as ``normal``.
    """
    weight = travel_weight(job.priority)
    jpos = job.position
    jlat = jlon = jcos = 0.0
    if jpos is not None:
        jlat, jlon = jpos.lat * _RAD, jpos.lon * _RAD
        jcos = math.cos(jlat)
    the_day = _job_day(job, day)
    priority_reason = Reason("priority", {"priority": job.priority, "travel_weight": weight})
    job_unknown_reason = Reason("job_position_unknown", {})

    keyed: list[tuple[int, float, int, Ranked]] = []
    refused: list[Refused] = []
    for e in engineers:
        reasons = _refusals(e, job)
        booked = 0
        if the_day is not None:
            reasons, booked = _day_refusals(e, the_day, reasons)
        if reasons is not None:
            refused.append(Refused(e.user_id, tuple(reasons)))
            continue
        load_term = LOAD_MINUTES * e.held_load
        load_reason = Reason("load", {"load": e.held_load, "booked": booked})
        epos = e.position
        if jpos is None or epos is None:
            score = round(load_term, SCORE_DECIMALS)
            first = (job_unknown_reason if jpos is None else
                     Reason("position_unknown", {"position_source": e.position_source}))
            keyed.append((1, score, e.user_id, Ranked(
                e.user_id, score, None, None, (first, load_reason, priority_reason))))
            continue
        elat = epos.lat * _RAD
        h = (math.sin((jlat - elat) * 0.5) ** 2
             + jcos * math.cos(elat) * math.sin((jlon - epos.lon * _RAD) * 0.5) ** 2)
        km = 2.0 * EARTH_RADIUS_KM * math.asin(math.sqrt(h) if h < 1.0 else 1.0)
        minutes = travel_min(epos, jpos) if travel_min is not None else km * _MIN_PER_KM
        score = round(weight * minutes + load_term, SCORE_DECIMALS)
        keyed.append((0, score, e.user_id, Ranked(
            e.user_id, score, km, minutes,
            (Reason("travel", {"distance_km": round(km, 2), "travel_min": round(minutes, 1),
                               "position_source": e.position_source}),
             load_reason, priority_reason))))
    keyed.sort(key=_sort_key)
    return Ranking(ranked=[k[3] for k in keyed], refused=refused)


def _sort_key(k: tuple[int, float, int, Ranked]) -> tuple[int, float, int]:
    return k[0], k[1], k[2]
