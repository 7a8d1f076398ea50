"""A generated field fleet around Shanghai and a stream of orders for it (seeded, so tests and
``tests/bench/bench_dispatch`` see the same world): engineers with skills, regions, hours,
work days, capacities, duty and positions; orders with windows over one working week."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from dispatch.ports import PRIORITY_WEIGHT, EngineerState, Job, Point

TZ = ZoneInfo("Asia/Shanghai")
CENTRE = Point(31.2304, 121.4737)  # People's Square
SKILLS = ("electrical", "fridge", "hvac", "washer", "water_heater")
REGIONS = ("宝山", "徐汇", "浦东", "闵行", "静安")
MONDAY = date(2026, 12, 7)
PRIORITIES = ("low",) * 2 + ("normal",) * 6 + ("high",) * 2 + ("urgent",)


def near(rng: random.Random, spread: float = 0.25) -> Point:
    return Point(round(CENTRE.lat + rng.uniform(-spread, spread), 5),
                 round(CENTRE.lon + rng.uniform(-spread, spread), 5))


def engineers(n: int = 200, seed: int = 14) -> list[EngineerState]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        pos_kind = rng.choices(("last", "base", "none"), (70, 20, 10))[0]
        days = rng.choice((frozenset(range(1, 6)), frozenset(range(1, 7)),
                           frozenset(range(2, 8))))
        out.append(EngineerState(
            user_id=1000 + i, name=f"eng{i:03d}",
            skills=frozenset(rng.sample(SKILLS, rng.randint(1, 3))),
            region=rng.choice((*REGIONS, None)),
            on_duty=rng.random() < 0.9, is_active=rng.random() < 0.97,
            position=None if pos_kind == "none" else near(rng), position_source=pos_kind,
            work_start_min=rng.choice((480, 540, 600)),
            work_end_min=rng.choice((1020, 1080, 1200)),
            work_days=days, daily_capacity=rng.randint(4, 8),
            booked_by_day={}, held_load=round(rng.uniform(0, 5), 1)))
    return out


def jobs(n: int = 2000, seed: int = 15) -> list[Job]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        day = MONDAY + timedelta(days=rng.randrange(6))
        start_h = rng.randint(8, 17)
        ws = datetime(day.year, day.month, day.day, start_h, 0, tzinfo=TZ)
        out.append(Job(
            work_order_id=i + 1,
            position=near(rng) if rng.random() < 0.95 else None,
            region=rng.choice(REGIONS) if rng.random() < 0.8 else None,
            required_skills=frozenset(rng.sample(SKILLS, rng.choice((0, 1, 1, 1, 2)))),
            priority=rng.choice(PRIORITIES), duration_min=rng.choice((30, 60, 90)),
            window_start=ws, window_end=ws + timedelta(hours=2)))
    return out


def book(e: EngineerState, job: Job) -> EngineerState:
    """``e`` after taking ``job``: one more booked that day, its weight added to the load."""
    assert job.window_start is not None
    day = job.window_start.date().isoformat()
    booked = dict(e.booked_by_day)
    booked[day] = booked.get(day, 0) + 1
    return replace(e, booked_by_day=booked,
                   held_load=e.held_load + PRIORITY_WEIGHT.get(job.priority, 1.0))
