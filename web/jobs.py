"""The job engine: tasks deferred to a time, periodic tasks run once per tick across every
``hotline serve`` process, and per-process loops — procrastinate on PostgreSQL, a small
in-process runner on SQLite.

Which runs where:

* **PostgreSQL** — :class:`ProcrastinateEngine`: `procrastinate`_ 3 over psycopg 3 (its own
  pool, a few connections). Its schema is applied at start when missing (under an advisory
  lock, so two processes starting together apply it once). Every process runs a worker;
  periodic tasks are procrastinate periodic tasks: each worker's deferrer tries to defer the
  tick, and procrastinate's unique ``(task, periodic_id, timestamp)`` row lets one through,
  so a tick runs exactly once however many processes run. Deferred jobs survive restarts
  (they are rows) and are taken by one worker (procrastinate's ``FOR UPDATE SKIP LOCKED``).
* **SQLite** (the embedded default) — :class:`LocalEngine`: an asyncio loop in the process.
  procrastinate needs PostgreSQL (its InMemoryConnector is for tests: it forgets jobs on
  restart and cannot see another process), so the runner keeps its state in two tables of
  our own schema: ``hotline_jobs`` (deferred jobs: kept across restarts) and
  ``hotline_job_ticks`` (the last tick of each periodic task; a process claims a tick with
  ``UPDATE … WHERE tick < :tick``, which SQLite's single writer makes atomic, so several
  processes on one database file still run each tick once). It is deliberately small: poll
  once a second, run, record failures; no priorities, no retries of failed tasks.

Per-process loops (:meth:`JobRegistry.loop`) run in *every* process on both backends: they
are for work that is itself a queue with its own claim, like the outbox delivery (rows
claimed ``FOR UPDATE SKIP LOCKED`` with a lease), where every process helping means more
throughput and never a duplicate.

Other domains register plain async functions (no arguments for periodic tasks and loops;
JSON-serialisable keyword arguments for deferred tasks) in ``web/wiring.py``::

    jobs.periodic("sla_sweep", 30, sweep)        # once per 30-s tick, cluster-wide
    jobs.task("remind", remind)                  # await engine.defer("remind", at=t, id=1)
    jobs.loop("outbox", 1.0, dispatcher.run_once)

.. _procrastinate: https://procrastinate.readthedocs.io/
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import insert, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from tickets.db import transaction, utcnow
from tickets.notify.models import DeferredJob, JobTick

log = logging.getLogger(__name__)

#: A periodic task or loop body.
Periodic = Callable[[], Awaitable[Any]]
#: A deferred task: called with the keyword arguments given to ``defer``.
Task = Callable[..., Awaitable[Any]]
Clock = Callable[[], datetime]


@dataclass(frozen=True)
class PeriodicSpec:
    name: str
    every_s: int
    fn: Periodic


@dataclass(frozen=True)
class LoopSpec:
    name: str
    every_s: float
    fn: Periodic


@dataclass
class JobRegistry:
    """What the process runs; filled in ``web/wiring.py`` before the engine starts."""

    tasks: dict[str, Task] = field(default_factory=dict)
    periodics: dict[str, PeriodicSpec] = field(default_factory=dict)
    loops: dict[str, LoopSpec] = field(default_factory=dict)

    def task(self, name: str, fn: Task) -> None:
        """Register ``fn`` under ``name`` for :meth:`JobEngine.defer`."""
        self._free(name)
        self.tasks[name] = fn

    def periodic(self, name: str, every_s: int, fn: Periodic) -> None:
        """Run ``fn()`` once per ``every_s``-second tick across all processes.

        ``every_s``: a divisor of 60 (1…30 s) or a multiple of 60 dividing 3600 (whole
        minutes), so a tick is a cron expression; ValueError otherwise."""
        cron_of(every_s)
        self._free(name)
        self.periodics[name] = PeriodicSpec(name, every_s, fn)

    def loop(self, name: str, every_s: float, fn: Periodic) -> None:
        """Run ``fn()`` every ``every_s`` seconds in *every* process (its own claim makes
        that safe); a failing run is logged and the loop goes on."""
        if every_s <= 0:
            raise ValueError("every_s must be positive")
        self._free(name)
        self.loops[name] = LoopSpec(name, every_s, fn)

    def _free(self, name: str) -> None:
        if name in self.tasks or name in self.periodics or name in self.loops:
            raise ValueError(f"job {name!r} is registered already")


def cron_of(every_s: int) -> str:
    """The cron line (croniter's 6-field form, seconds last) of an ``every_s`` tick."""
    if 1 <= every_s < 60 and 60 % every_s == 0:
        return f"* * * * * */{every_s}"
    if every_s == 3600:
        return "0 * * * *"
    if every_s >= 60 and every_s % 60 == 0 and 3600 % every_s == 0:
        return f"*/{every_s // 60} * * * *"
    raise ValueError(f"a periodic task runs every divisor of 60 s or of 60 min; not {every_s} s")


class JobEngine(Protocol):
    """What the rest of the process sees of either engine."""

    registry: JobRegistry

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def defer(self, name: str, *, at: datetime | None = None, **kwargs: Any) -> None:
        """Run task ``name`` with ``kwargs`` at ``at`` (None: now). KeyError: unknown task."""


class _Loops:
    """The per-process loops, shared by both engines."""

    def __init__(self, registry: JobRegistry) -> None:
        self.registry = registry
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        for spec in self.registry.loops.values():
            self._tasks.append(asyncio.create_task(self._run(spec), name=f"loop:{spec.name}"))

    async def _run(self, spec: LoopSpec) -> None:
        while True:
            try:
                await spec.fn()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("job loop %s failed; going on", spec.name)
            await asyncio.sleep(spec.every_s)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()


class LocalEngine:
    """The in-process runner (SQLite; also usable on PostgreSQL in tests).

    ``clock`` is injected: :meth:`run_due` does one pass (due deferred jobs, due periodic
    ticks) at ``clock()``, which tests call directly; :meth:`start` calls it every
    ``poll_s`` seconds."""

    def __init__(self, registry: JobRegistry, db: async_sessionmaker[AsyncSession], *,
                 clock: Clock = utcnow, poll_s: float = 1.0) -> None:
        self.registry = registry
        self.db = db
        self.clock = clock
        self.poll_s = poll_s
        self._loops = _Loops(registry)
        self._runner: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._loops.start()
        self._runner = asyncio.create_task(self._poll(), name="jobs:local")

    async def stop(self) -> None:
        if self._runner is not None:
            self._runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._runner
            self._runner = None
        await self._loops.stop()

    async def _poll(self) -> None:
        while True:
            try:
                await self.run_due()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("job runner pass failed; retrying")
            await asyncio.sleep(self.poll_s)

    async def defer(self, name: str, *, at: datetime | None = None, **kwargs: Any) -> None:
        if name not in self.registry.tasks:
            raise KeyError(f"unknown task {name!r}")
        async with transaction(self.db) as session:
            await session.execute(insert(DeferredJob).values(
                task=name, args=kwargs, run_at=at or self.clock(), status="todo", attempts=0))

    async def run_due(self) -> int:
        """Run what is due at ``clock()``: periodic ticks this process claims, then deferred
        jobs. Returns how many ran."""
        now = self.clock()
        ran = 0
        for spec in self.registry.periodics.values():
            if await self._claim_tick(spec, now):
                ran += 1
                try:
                    await spec.fn()
                except Exception:
                    log.exception("periodic task %s failed", spec.name)
        ran += await self._run_deferred(now)
        return ran

    async def _claim_tick(self, spec: PeriodicSpec, now: datetime) -> bool:
        tick = math.floor(now.timestamp() / spec.every_s)
        async with transaction(self.db) as session:
            dialect = (await session.connection()).dialect.name
            ins = (postgresql.insert(JobTick) if dialect == "postgresql"
                   else sqlite.insert(JobTick))
            await session.execute(ins.values(name=spec.name, tick=0)
                                  .on_conflict_do_nothing(index_elements=["name"]))
            result = await session.execute(
                update(JobTick).where(JobTick.name == spec.name, JobTick.tick < tick)
                .values(tick=tick).execution_options(synchronize_session=False))
            return bool(getattr(result, "rowcount", 0) == 1)

    async def _run_deferred(self, now: datetime) -> int:
        ran = 0
        while True:
            async with transaction(self.db) as session:
                job = await session.scalar(
                    select(DeferredJob).where(DeferredJob.status == "todo",
                                              DeferredJob.run_at <= now)
                    .order_by(DeferredJob.run_at, DeferredJob.id).limit(1)
                    .with_for_update(skip_locked=True))
                if job is None:
                    return ran
                # leased: another process skips it until then (a crash lets it run again)
                claimed = await session.execute(
                    update(DeferredJob).where(DeferredJob.id == job.id,
                                              DeferredJob.run_at == job.run_at)
                    .values(run_at=now + timedelta(minutes=5), attempts=job.attempts + 1)
                    .execution_options(synchronize_session=False))
                if getattr(claimed, "rowcount", 0) != 1:
                    continue
                job_id, name, args = job.id, job.task, dict(job.args or {})
            error: str | None = None
            fn = self.registry.tasks.get(name)
            try:
                if fn is None:
                    raise KeyError(f"unknown task {name!r}")
                await fn(**args)
            except Exception as exc:
                log.exception("deferred task %s failed", name)
                error = f"{type(exc).__name__}: {exc}"[:500]
            async with transaction(self.db) as session:
                if error is None:
                    await session.execute(text("DELETE FROM hotline_jobs WHERE id = :id"),
                                          {"id": job_id})
                else:
                    await session.execute(update(DeferredJob).where(DeferredJob.id == job_id)
                                          .values(status="failed", last_error=error))
            ran += 1


def psycopg_conninfo(database_url: str) -> str:
    """``postgresql+asyncpg://u:p@h/db`` (any driver suffix) → ``postgresql://u:p@h/db``."""
    scheme, sep, rest = database_url.partition("://")
    if not sep or not scheme.startswith(("postgresql", "postgres")):
        raise ValueError("procrastinate needs a PostgreSQL URL")
    return "postgresql://" + rest


class ProcrastinateEngine:
    """procrastinate on PostgreSQL: a worker in this process, periodic tasks once per tick
    cluster-wide, deferred jobs as procrastinate jobs."""

    def __init__(self, registry: JobRegistry, database_url: str, *,
                 poll_s: float = 1.0, concurrency: int = 2, pool_max: int = 4) -> None:
        import procrastinate  # only where PostgreSQL is configured

        self.registry = registry
        self.poll_s = poll_s
        self.concurrency = concurrency
        self.app = procrastinate.App(connector=procrastinate.PsycopgConnector(
            conninfo=psycopg_conninfo(database_url), min_size=1, max_size=pool_max))
        self._loops = _Loops(registry)
        self._worker: asyncio.Task[None] | None = None
        self._tasks: dict[str, Any] = {}
        for name, fn in registry.tasks.items():
            self._tasks[name] = self.app.task(name=name)(_deferred(fn))
        for spec in registry.periodics.values():
            task = self.app.task(name=f"periodic:{spec.name}")(_ticked(spec.fn))
            self.app.periodic(cron=cron_of(spec.every_s), periodic_id=spec.name)(task)

    async def start(self) -> None:
        await self.app.open_async()
        await apply_schema(self.app)
        self._worker = asyncio.create_task(self.app.run_worker_async(
            install_signal_handlers=False, concurrency=self.concurrency,
            fetch_job_polling_interval=self.poll_s, delete_jobs="successful"),
            name="jobs:procrastinate")
        self._loops.start()

    async def stop(self) -> None:
        await self._loops.stop()
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
            self._worker = None
        await self.app.close_async()

    async def defer(self, name: str, *, at: datetime | None = None, **kwargs: Any) -> None:
        task = self._tasks[name]  # KeyError: unknown task
        if at is not None:
            await task.configure(schedule_at=at.astimezone(UTC)).defer_async(**kwargs)
        else:
            await task.defer_async(**kwargs)


def _deferred(fn: Task) -> Callable[..., Awaitable[None]]:
    async def run(**kwargs: Any) -> None:
        await fn(**kwargs)
    return run


def _ticked(fn: Periodic) -> Callable[[int], Awaitable[None]]:
    async def run(timestamp: int) -> None:  # procrastinate passes the tick's timestamp
        await fn()
    return run


async def apply_schema(app: Any) -> None:
    """procrastinate's schema, once: skipped when its tables exist; an advisory lock makes
    processes starting together wait for the first one to finish."""
    async with app.connector.pool.connection() as conn, conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(7411002)")
        cur = await conn.execute("SELECT to_regclass('procrastinate_jobs') IS NOT NULL")
        row = await cur.fetchone()
        if row and row[0]:
            return
        await conn.execute(app.schema_manager.get_schema())
        log.info("procrastinate schema applied")


def make_job_engine(registry: JobRegistry, database_url: str, engine: AsyncEngine,
                    db: async_sessionmaker[AsyncSession], *, poll_s: float = 1.0) -> JobEngine:
    """procrastinate on PostgreSQL, :class:`LocalEngine` on SQLite (``engine``'s dialect)."""
    if engine.dialect.name == "postgresql":
        return ProcrastinateEngine(registry, database_url, poll_s=poll_s)
    return LocalEngine(registry, db, poll_s=poll_s)
