"""Day plans solved in a worker process, so a solve never stalls the event loop.

Why a process and not a thread: OR-Tools' routing solver holds the GIL for the whole
search (measured: a thread solving 30 visits with a 1 s limit left the event loop's thread
one 1,001 ms gap), so ``asyncio.to_thread`` would freeze every websocket and request of the
process for as long as the time limit. A small :class:`~concurrent.futures.ProcessPoolExecutor`
(``spawn``: no fork of a process running an event loop and threads) runs
:func:`dispatch.planning.plan_day` instead; its inputs and :class:`~dispatch.ports.DayPlan`
are plain frozen dataclasses, so they cross the process boundary as they are. The
processes start with the first plan (about a second: a fresh interpreter importing
OR-Tools; an app that never plans — most test apps — never pays it) and stop with the app.

``dispatch.service.Ctx.planner`` is the port; tests and the command line leave it unset
and solve in-process.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from datetime import datetime
from functools import partial

from dispatch.planning import plan_day
from dispatch.ports import DayPlan, Point, Visit

log = logging.getLogger(__name__)


class PlannerPool:
    """``await pool(start, shift_start, shift_end, visits, time_limit_s)`` → DayPlan, solved
    in one of ``workers`` processes (default: up to 2, never more than the CPUs)."""

    def __init__(self, workers: int | None = None) -> None:
        self.workers = workers or max(1, min(2, os.cpu_count() or 1))
        self._pool: ProcessPoolExecutor | None = None

    def _executor(self) -> ProcessPoolExecutor:
        if self._pool is None:
            self._pool = ProcessPoolExecutor(
                max_workers=self.workers, mp_context=multiprocessing.get_context("spawn"))
        return self._pool

    async def __call__(self, start: Point | None, shift_start: datetime, shift_end: datetime,
                       visits: Sequence[Visit], time_limit_s: float) -> DayPlan:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor(), partial(
            plan_day, start, shift_start, shift_end, list(visits), time_limit_s=time_limit_s))

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
