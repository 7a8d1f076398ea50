"""One engineer's day plan: the order to visit their work orders in, as a vehicle routing
problem with time windows solved by OR-Tools' routing solver.

Why this shape:

* **Pure.** :func:`plan_day` takes plain values (:mod:`dispatch.ports`) and returns a
  :class:`~dispatch.ports.DayPlan`; the service reads the rows, calls it (in a thread: it is
  CPU-bound for up to ``time_limit_s``) and writes ``plan_seq`` / ``planned_arrival``. No
  database, clock or I/O here, so it is tested on generated days and benchmarked alone
  (``tests/bench/bench_dayplan.py``).
* **One vehicle, time windows, optional visits.** Nodes are the start (the engineer's
  position, or nowhere), the visits, and a free end (the route ends at the last visit: the
  engineer goes home, and going home is not the dispatcher's to plan). The time dimension
  counts **whole minutes from** ``shift_start``: a visit's cumul is the minute its work
  starts, the transit of an arc is the visit's duration plus the travel, rounded *up* (so a
  plan that fits in whole minutes fits in real ones); slack is the waiting for a window to
  open. A visit's window is intersected with the shift, and the route's end is bounded by
  the shift's end, so the last visit is finished by then. The window bounds the *start* of
  the work (the customer was promised "between 9 and 11"), not its end.
* **Infeasible visits are dropped, not fatal.** Every visit is a disjunction with a penalty
  far above any possible total travel (so a visit is left out only when it cannot fit),
  scaled by its priority (low 1, normal 2, high 4, urgent 8: when only one of an urgent and
  a normal visit fits, the urgent one stays). Dropped visits come back in
  ``unplanned`` with a reason code the pages translate: ``window_passed`` (the window
  ends before the shift starts, or before the engineer could get there), ``outside_shift``
  (the window opens too late to finish within the shift), ``too_long`` (longer than the
  shift), ``no_time_left`` (it fits alone, but not with the visits kept).
* **Search.** ``PATH_CHEAPEST_ARC`` for the first solution, then ``GUIDED_LOCAL_SEARCH``
  until the time limit (guided local search does not stop by itself at a local optimum:
  the limit is the solve time): ``time_limit_s``, or less for a small day — 0.1 s per
  three visits (0.1 s up to 3 visits, 0.33 s for 10, the default second from 30; plenty to
  converge at those sizes, ``tests/bench/bench_dayplan.py``). The objective is the total
  travel in seconds, plus one per minute of the working day used (a tie-break: of two
  routes equally short, the one that waits less and finishes earlier). The order the
  visits were given in (e.g. the engineer's current order) is simulated too; when it is
  feasible and the solver's plan travels no less, the given order is kept
  (``solver="given-order"``), so re-planning never makes a feasible day worse.
* **Travel.** ``travel_min(a, b)`` in minutes; by default the straight-line estimate the
  ranking uses too (:func:`dispatch.travel.straight_line_minutes`).
  A visit without a position costs no travel to or from it (it is planned by its window and
  duration alone); without a ``start`` position the first leg is free.
* Times in and out are local tz-aware datetimes (``dispatch.ports``); the reported
  arrival and start are recomputed from the chosen order with the real (unrounded) travel,
  as early as the windows allow, so they are never later than the solver's.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from dispatch.ports import DayPlan, PlannedStop, Point, Visit
from dispatch.travel import straight_line_minutes

#: solver names reported in :attr:`DayPlan.solver`
SOLVER = "ortools-routing"
#: disjunction penalty multiplier per priority (the base exceeds any total travel)
PRIORITY_PENALTY = {"low": 1, "normal": 2, "high": 4, "urgent": 8}

def _minutes(t: datetime, origin: datetime) -> float:
    return (t - origin).total_seconds() / 60.0


@dataclass(frozen=True)
class _Problem:
    """The day in minutes from the shift start; index ``i`` is ``visits[i]``."""

    visits: Sequence[Visit]
    horizon: float  # shift length, minutes
    open_min: list[float]  # window start within the shift (≥ 0)
    close_min: list[float]  # latest start (window end, shift end − duration)
    first_leg: list[float]  # travel from the start position, minutes
    leg: list[list[float]]  # leg[i][j]: travel from visit i to visit j, minutes


def _problem(start: Point | None, shift_start: datetime, shift_end: datetime,
             visits: Sequence[Visit], travel: Callable[[Point, Point], float]) -> _Problem:
    horizon = _minutes(shift_end, shift_start)
    opens, closes = [], []
    for v in visits:
        lo = 0.0 if v.window_start is None else max(0.0, _minutes(v.window_start, shift_start))
        hi = horizon - v.duration_min
        if v.window_end is not None:
            hi = min(hi, _minutes(v.window_end, shift_start))
        opens.append(lo)
        closes.append(hi)

    def t(a: Point | None, b: Point | None) -> float:
        return 0.0 if a is None or b is None else max(0.0, float(travel(a, b)))

    first = [t(start, v.position) for v in visits]
    leg = [[0.0 if i == j else t(a.position, b.position) for j, b in enumerate(visits)]
           for i, a in enumerate(visits)]
    return _Problem(visits, horizon, opens, closes, first, leg)


def _simulate(p: _Problem, order: Sequence[int], *, skip_misfits: bool = False,
              ) -> tuple[list[tuple[int, float, float, float]], list[int]] | None:
    """Walk ``order`` as early as possible: ``([(i, arrival, start, travel)], skipped)``.
    A visit whose latest start is missed makes the order infeasible (None), or with
    ``skip_misfits`` is skipped (the engineer stays where they were)."""
    out: list[tuple[int, float, float, float]] = []
    skipped: list[int] = []
    now, here = 0.0, -1
    for i in order:
        leg = p.first_leg[i] if here < 0 else p.leg[here][i]
        arrival = now + leg
        start = max(arrival, p.open_min[i])
        if start > p.close_min[i] + 1e-9:
            if not skip_misfits:
                return None
            skipped.append(i)
            continue
        out.append((i, arrival, start, leg))
        now, here = start + p.visits[i].duration_min, i
    return out, skipped


def _alone_reason(p: _Problem, i: int) -> str | None:
    """Why visit ``i`` cannot be planned even alone, or None when it could."""
    v = p.visits[i]
    latest_by_shift = p.horizon - v.duration_min
    if latest_by_shift < 0:
        return "too_long"
    by_window = p.close_min[i] < latest_by_shift  # the window's end is the binding bound
    if p.open_min[i] > latest_by_shift:
        return "outside_shift"
    if p.close_min[i] < 0 or p.open_min[i] > p.close_min[i]:
        return "window_passed"
    if p.first_leg[i] > p.close_min[i]:
        return "window_passed" if by_window else "no_time_left"
    return None


def plan_day(start: Point | None, shift_start: datetime, shift_end: datetime,
             visits: Sequence[Visit], *,
             travel_min: Callable[[Point, Point], float] | None = None,
             time_limit_s: float = 1.0, small_day_limit: bool = True) -> DayPlan:
    """Order ``visits`` for one engineer's shift, minimising the total travel.

    ``start``: where the engineer is at ``shift_start`` (None: unknown, first leg free).
    ``shift_start`` < ``shift_end``, tz-aware local datetimes; visits' windows likewise.
    ``travel_min(a, b)``: minutes from a to b (default: straight line, see the module).
    ``time_limit_s``: the search's time limit; with ``small_day_limit`` a day of fewer than
    30 visits searches less (0.1 s per three visits), False: always the whole limit.
    Returns the stops in visiting order (``seq`` from 1; ``arrival`` ≤ ``start``, the work
    starting within the visit's window and finishing by ``shift_end``), the visits left
    out with their reason code, the total travel in minutes, the solver's name and the
    wall time spent in milliseconds. Never raises for an infeasible day; ``ValueError``
    only for a shift that ends before it starts or a negative duration.
    """
    t0 = time.perf_counter()
    if shift_end <= shift_start:
        raise ValueError("shift_end must be after shift_start")
    if any(v.duration_min < 0 for v in visits):
        raise ValueError("duration_min must not be negative")
    p = _problem(start, shift_start, shift_end, visits, travel_min or straight_line_minutes)

    unplanned: dict[int, str] = {}
    candidates: list[int] = []
    for i in range(len(visits)):
        reason = _alone_reason(p, i)
        if reason is None:
            candidates.append(i)
        else:
            unplanned[i] = reason

    solver = "none"
    order: list[int] = []
    if len(candidates) == 1:
        order, solver = candidates, "direct"
    elif candidates:
        limit_s = min(time_limit_s, 0.1 * max(1.0, len(candidates) / 3)) \
            if small_day_limit else time_limit_s
        order, solver = _solve(p, candidates, limit_s)
        given = _simulate(p, candidates)
        if given is not None and (len(order) < len(candidates) or _travel(p, candidates)
                                  < _travel(p, order) - 1e-9):
            order, solver = list(candidates), "given-order"

    walked = _simulate(p, order, skip_misfits=True)
    assert walked is not None
    kept, skipped = walked
    for i in skipped:  # cannot happen for a solver route (rounded up); kept for safety
        unplanned[i] = "no_time_left"
    for i in candidates:
        if i not in order:
            unplanned[i] = "no_time_left"

    stops = [PlannedStop(work_order_id=visits[i].work_order_id, seq=n,
                         arrival=shift_start + timedelta(minutes=arrival),
                         start=shift_start + timedelta(minutes=begin),
                         travel_min=round(leg, 3))
             for n, (i, arrival, begin, leg) in enumerate(kept, start=1)]
    return DayPlan(
        stops=stops,
        unplanned=[(visits[i].work_order_id, unplanned[i]) for i in sorted(unplanned)],
        travel_min=round(sum(s.travel_min for s in stops), 3),
        solver=solver,
        solve_ms=(time.perf_counter() - t0) * 1000.0)


def _travel(p: _Problem, order: Sequence[int]) -> float:
    total, here = 0.0, -1
    for i in order:
        total += p.first_leg[i] if here < 0 else p.leg[here][i]
        here = i
    return total


def _solve(p: _Problem, candidates: Sequence[int], time_limit_s: float,
           ) -> tuple[list[int], str]:
    """The routing model over ``candidates`` (indices into ``p.visits``); returns the kept
    visits in order. Nodes: 0 the start, 1..n the candidates, n + 1 the (free) end."""
    from ortools.constraint_solver import pywrapcp, routing_enums_pb2

    n = len(candidates)
    end = n + 1

    def leg_min(a: int, b: int) -> float:  # node → node, minutes
        if b == end or a == end or b == 0:
            return 0.0
        if a == 0:
            return p.first_leg[candidates[b - 1]]
        return p.leg[candidates[a - 1]][candidates[b - 1]]

    nodes = range(n + 2)
    cost = [[round(leg_min(a, b) * 60) for b in nodes] for a in nodes]  # seconds
    service = [0] + [p.visits[i].duration_min for i in candidates] + [0]
    transit = [[service[a] + math.ceil(leg_min(a, b) - 1e-9) for b in nodes] for a in nodes]
    horizon = math.floor(p.horizon + 1e-9)

    manager = pywrapcp.RoutingIndexManager(n + 2, 1, [0], [end])
    routing = pywrapcp.RoutingModel(manager)
    routing.SetArcCostEvaluatorOfAllVehicles(routing.RegisterTransitMatrix(cost))
    routing.AddDimension(routing.RegisterTransitMatrix(transit), horizon, horizon, True,
                         "time")
    dim = routing.GetDimensionOrDie("time")
    base = 1 + (n + 1) * max((max(row) for row in cost), default=0)
    for node, i in enumerate(candidates, start=1):
        index = manager.NodeToIndex(node)
        lo = math.ceil(p.open_min[i] - 1e-9)
        hi = math.floor(p.close_min[i] + 1e-9)
        dim.CumulVar(index).SetRange(lo, max(lo, hi))
        routing.AddDisjunction([index], base * PRIORITY_PENALTY.get(p.visits[i].priority, 2))
    dim.CumulVar(routing.End(0)).SetMax(horizon)
    # tie-break: a minute of the working day costs as much as a second of travel, so of two
    # equally short routes the one that finishes earlier (waits less) wins
    dim.SetGlobalSpanCostCoefficient(1)

    params = pywrapcp.DefaultRoutingSearchParameters()
    params.first_solution_strategy = routing_enums_pb2.FirstSolutionStrategy.PATH_CHEAPEST_ARC
    params.local_search_metaheuristic = (
        routing_enums_pb2.LocalSearchMetaheuristic.GUIDED_LOCAL_SEARCH)
    params.time_limit.FromMilliseconds(max(1, int(time_limit_s * 1000)))
    solution = routing.SolveWithParameters(params)
    if solution is None:  # no first solution (not expected: every visit is optional)
        kept, _ = _simulate(p, candidates, skip_misfits=True) or ([], [])
        return [i for i, *_ in kept], "greedy"
    order: list[int] = []
    index = routing.NextVar(routing.Start(0))
    index = solution.Value(index)
    while not routing.IsEnd(index):
        order.append(candidates[manager.IndexToNode(index) - 1])
        index = solution.Value(routing.NextVar(index))
    return order, SOLVER
