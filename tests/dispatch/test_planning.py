"""The day plan (``dispatch.planning.plan_day``) on generated days around Shanghai: every
planned stop starts inside its window and the shift, stops never overlap, the plan is never
worse than a feasible given order, infeasible visits come back unplanned with their reason,
and an urgent visit is kept over a normal one when only one fits."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from dispatch.planning import plan_day
from dispatch.ports import DayPlan, Point, Visit
from dispatch.travel import straight_line_minutes

ZONE = ZoneInfo("Asia/Shanghai")
DAY = datetime(2026, 12, 2, tzinfo=ZONE)  # a Wednesday; never today's date
SHIFT_START, SHIFT_END = DAY.replace(hour=9), DAY.replace(hour=18)
PEOPLES_SQUARE = Point(31.2323, 121.4755)
LIMIT_S = 0.3  # enough for 30 visits in tests; the default (1 s) is benchmarked


def near(rng: random.Random, spread: float = 0.06) -> Point:
    """A point within about ±6 km of People's Square."""
    return Point(PEOPLES_SQUARE.lat + rng.uniform(-spread, spread),
                 PEOPLES_SQUARE.lon + rng.uniform(-spread, spread))


def random_day(seed: int, n: int, *, windows: float = 0.5,
               durations: tuple[int, ...] = (15, 20, 30, 45)) -> list[Visit]:
    """``n`` visits: ``windows`` of them with a 2- or 3-hour window somewhere in the shift
    (a few starting before it or ending after it), durations 15–45 min, mixed priorities,
    one in ten without a position."""
    rng = random.Random(seed)
    visits = []
    for k in range(n):
        ws = we = None
        if rng.random() < windows:
            ws = DAY.replace(hour=rng.randint(8, 16), minute=rng.choice([0, 30]))
            we = ws + timedelta(hours=rng.choice([2, 3]))
        visits.append(Visit(
            work_order_id=100 + k, position=None if rng.random() < 0.1 else near(rng),
            duration_min=rng.choice(durations), window_start=ws, window_end=we,
            priority=rng.choice(["low", "normal", "normal", "high", "urgent"])))
    return visits


def check_plan(plan: DayPlan, visits: list[Visit], start: Point | None) -> None:
    """The invariants every plan keeps."""
    by_id = {v.work_order_id: v for v in visits}
    planned = [s.work_order_id for s in plan.stops]
    assert sorted(planned + [i for i, _ in plan.unplanned]) == sorted(by_id)
    assert [s.seq for s in plan.stops] == list(range(1, len(plan.stops) + 1))
    here = start
    prev_end = SHIFT_START
    for s in plan.stops:
        v = by_id[s.work_order_id]
        expected = (0.0 if here is None or v.position is None
                    else straight_line_minutes(here, v.position))
        assert s.travel_min == pytest.approx(expected, abs=1e-2)
        assert s.arrival <= s.start
        assert s.start >= SHIFT_START
        assert s.start + timedelta(minutes=v.duration_min) <= SHIFT_END
        if v.window_start is not None:
            assert s.start >= v.window_start
        if v.window_end is not None:
            assert s.start <= v.window_end
        # no overlap: the previous stop's work and the drive fit before this arrival
        assert prev_end + timedelta(minutes=s.travel_min) <= s.arrival + timedelta(seconds=1)
        prev_end = s.start + timedelta(minutes=v.duration_min)
        here = v.position  # a visit without a position: no travel to or from it
    assert plan.travel_min == pytest.approx(sum(s.travel_min for s in plan.stops), abs=1e-2)


def given_order_travel(visits: list[Visit], start: Point | None) -> float | None:
    """The travel of visiting ``visits`` as listed, or None when that order misses a window
    or the shift's end (the same walk as the planner's)."""
    now, total = SHIFT_START, 0.0
    here: Point | None = start
    for v in visits:
        leg = (0.0 if v.position is None or here is None
               else straight_line_minutes(here, v.position))
        total += leg
        begin = now + timedelta(minutes=leg)
        if v.window_start is not None:
            begin = max(begin, v.window_start)
        if (v.window_end is not None and begin > v.window_end) or \
                begin + timedelta(minutes=v.duration_min) > SHIFT_END:
            return None
        now = begin + timedelta(minutes=v.duration_min)
        here = v.position
    return total


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5, 6, 7, 8])
def test_random_days_keep_windows_shift_and_no_overlap(seed: int) -> None:
    n = random.Random(seed).randint(10, 30)
    visits = random_day(seed, n)
    plan = plan_day(PEOPLES_SQUARE, SHIFT_START, SHIFT_END, visits, time_limit_s=LIMIT_S)
    check_plan(plan, visits, PEOPLES_SQUARE)
    assert plan.solver in {"ortools-routing", "given-order"}
    assert len(plan.stops) >= n // 2, plan.unplanned  # a ±6 km day mostly fits
    assert all(reason in {"window_passed", "outside_shift", "no_time_left"}
               for _, reason in plan.unplanned)


@pytest.mark.parametrize("seed", [11, 12, 13, 14, 15])
def test_never_worse_than_a_feasible_given_order(seed: int) -> None:
    # no windows and 10 short visits: any order is feasible, so the given one is too
    visits = random_day(seed, 10, windows=0.0, durations=(15,))
    given = given_order_travel(visits, PEOPLES_SQUARE)
    assert given is not None
    plan = plan_day(PEOPLES_SQUARE, SHIFT_START, SHIFT_END, visits, time_limit_s=LIMIT_S)
    check_plan(plan, visits, PEOPLES_SQUARE)
    assert plan.unplanned == []
    assert plan.travel_min <= given + 1e-6
    # and a random order is far from the shortest: the solver earns its keep
    assert plan.travel_min < 0.8 * given


def test_a_good_given_order_is_kept_when_the_solver_finds_nothing_better() -> None:
    # visits on a line east of the start: the given order is the optimum
    visits = [Visit(k, Point(31.2323, 121.4755 + 0.01 * k), 20, None, None)
              for k in range(1, 8)]
    plan = plan_day(PEOPLES_SQUARE, SHIFT_START, SHIFT_END, visits, time_limit_s=LIMIT_S)
    assert [s.work_order_id for s in plan.stops] == list(range(1, 8))
    assert plan.travel_min == pytest.approx(given_order_travel(visits, PEOPLES_SQUARE),
                                            abs=1e-2)


def test_infeasible_visits_are_unplanned_with_their_reason() -> None:
    rng = random.Random(3)
    visits = [
        Visit(1, near(rng), 30, DAY.replace(hour=7), DAY.replace(hour=8, minute=30)),
        Visit(2, near(rng), 30, DAY.replace(hour=18), DAY.replace(hour=20)),
        Visit(3, near(rng), 600, None, None),
        Visit(4, near(rng), 30, DAY.replace(hour=10), DAY.replace(hour=12)),
        # 300 km away: the window closes before the engineer could get there
        Visit(5, Point(33.9, 121.4755), 30, DAY.replace(hour=9), DAY.replace(hour=10)),
    ]
    plan = plan_day(PEOPLES_SQUARE, SHIFT_START, SHIFT_END, visits, time_limit_s=LIMIT_S)
    check_plan(plan, visits, PEOPLES_SQUARE)
    assert [s.work_order_id for s in plan.stops] == [4]
    assert dict(plan.unplanned) == {1: "window_passed", 2: "outside_shift", 3: "too_long",
                                    5: "window_passed"}


def test_no_time_left_when_visits_fit_alone_but_not_together() -> None:
    rng = random.Random(4)
    visits = [Visit(k, near(rng), 240, None, None) for k in range(1, 4)]
    plan = plan_day(PEOPLES_SQUARE, SHIFT_START, SHIFT_END, visits, time_limit_s=LIMIT_S)
    check_plan(plan, visits, PEOPLES_SQUARE)
    assert len(plan.stops) == 2
    assert [reason for _, reason in plan.unplanned] == ["no_time_left"]


@pytest.mark.parametrize("urgent_first", [False, True])
def test_an_urgent_visit_is_kept_over_a_normal_one_when_only_one_fits(
        urgent_first: bool) -> None:
    end = DAY.replace(hour=11)
    normal = Visit(1, Point(31.24, 121.48), 90, None, None, "normal")
    urgent = Visit(2, Point(31.20, 121.43), 90, None, None, "urgent")  # the farther one
    visits = [urgent, normal] if urgent_first else [normal, urgent]
    plan = plan_day(PEOPLES_SQUARE, SHIFT_START, end, visits, time_limit_s=LIMIT_S)
    assert [s.work_order_id for s in plan.stops] == [2]
    assert plan.unplanned == [(1, "no_time_left")]


def test_waits_for_a_window_to_open() -> None:
    # two flats in one building (same travel either way): the one open now goes first
    v = Visit(1, Point(31.24, 121.48), 30, DAY.replace(hour=14), DAY.replace(hour=16))
    other = Visit(2, Point(31.24, 121.48), 30, None, None)
    plan = plan_day(PEOPLES_SQUARE, SHIFT_START, SHIFT_END, [v, other], time_limit_s=LIMIT_S)
    check_plan(plan, [v, other], PEOPLES_SQUARE)
    first, second = plan.stops
    assert first.work_order_id == 2 and first.start < DAY.replace(hour=10)
    assert second.work_order_id == 1
    assert second.arrival < second.start == DAY.replace(hour=14)


def test_zero_and_one_visit_return_at_once() -> None:
    empty = plan_day(PEOPLES_SQUARE, SHIFT_START, SHIFT_END, [])
    assert (empty.stops, empty.unplanned, empty.travel_min) == ([], [], 0)
    one = plan_day(None, SHIFT_START, SHIFT_END,
                   [Visit(7, Point(31.3, 121.5), 45, None, None)])
    assert one.solver == "direct" and one.solve_ms < 50
    (stop,) = one.stops
    # no start position: the first leg is free
    assert (stop.work_order_id, stop.seq, stop.travel_min) == (7, 1, 0.0)
    assert stop.arrival == stop.start == SHIFT_START


def test_a_small_day_does_not_use_the_whole_time_limit() -> None:
    visits = random_day(21, 3, windows=0.0)
    plan = plan_day(PEOPLES_SQUARE, SHIFT_START, SHIFT_END, visits, time_limit_s=5.0)
    assert len(plan.stops) == 3
    assert plan.solve_ms < 2000  # 0.1 s of search for 3 visits (generous for a busy machine)


def test_visits_without_a_position_cost_no_travel() -> None:
    visits = [Visit(k, None, 60, None, None) for k in range(1, 4)]
    plan = plan_day(PEOPLES_SQUARE, SHIFT_START, SHIFT_END, visits, time_limit_s=LIMIT_S)
    assert plan.travel_min == 0
    assert [s.start for s in plan.stops] == [SHIFT_START + timedelta(hours=h)
                                            for h in range(3)]


def test_the_travel_function_is_the_callers() -> None:
    calls: list[tuple[Point, Point]] = []

    def ten_minutes(a: Point, b: Point) -> float:
        calls.append((a, b))
        return 10.0

    visits = [Visit(k, Point(31.2 + k / 100, 121.4), 20, None, None) for k in range(1, 5)]
    plan = plan_day(PEOPLES_SQUARE, SHIFT_START, SHIFT_END, visits, travel_min=ten_minutes,
                    time_limit_s=LIMIT_S)
    assert calls and plan.travel_min == pytest.approx(40.0)
    assert plan.stops[-1].start == SHIFT_START + timedelta(minutes=3 * 30 + 10)


def test_a_shift_that_ends_before_it_starts_is_refused() -> None:
    with pytest.raises(ValueError):
        plan_day(None, SHIFT_END, SHIFT_START, [])
