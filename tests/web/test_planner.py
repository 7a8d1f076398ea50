"""The day-plan worker pool (``web.planner``): the plan comes from another process, and the
event loop keeps running while OR-Tools searches (it holds the GIL: a thread would not)."""

from __future__ import annotations

import asyncio
import random
import time
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from dispatch.ports import Point, Visit
from web.planner import PlannerPool

DAY = datetime(2026, 12, 2, 9, tzinfo=ZoneInfo("Asia/Shanghai"))


async def test_a_solve_in_the_pool_leaves_the_loop_free() -> None:
    rng = random.Random(7)
    visits = [Visit(i, Point(31.2 + rng.random() / 10, 121.4 + rng.random() / 10), 20,
                    None, None) for i in range(20)]
    pool = PlannerPool(workers=1)
    try:
        await pool(None, DAY, DAY + timedelta(hours=1), [], 0.01)  # the process is up
        solving = asyncio.ensure_future(pool(None, DAY, DAY + timedelta(hours=9), visits, 0.5))
        worst, last = 0.0, time.perf_counter()
        while not solving.done():
            await asyncio.sleep(0.005)
            now = time.perf_counter()
            worst, last = max(worst, now - last), now
        plan = solving.result()
    finally:
        pool.close()
    assert sorted(s.work_order_id for s in plan.stops) == list(range(20))
    assert worst < 0.25, f"the loop stalled {worst * 1000:.0f} ms during a 500 ms solve"
