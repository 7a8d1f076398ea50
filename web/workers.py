"""``hotline serve --workers N``: several web processes, one of them running the components.

Why it is shaped this way:

* **uvicorn runs the processes.** ``uvicorn.run("web.workers:worker_app", factory=True,
  workers=N)`` binds the listening socket once in the supervising process and spawns N
  worker processes that accept on it (the kernel spreads connections between them); uvicorn
  also replaces a worker that dies. Nothing here manages processes.
* **The components run in exactly one process.** The AMI bridge(s), the demo PBX and the
  AudioSocket/ASR server (``web.wiring``) must not run twice: two bridges would drive one
  PBX and pop every call twice, and the second AudioSocket listener could not bind its
  port. uvicorn gives its workers no index, so the supervisor creates a lock file
  (:data:`LOCK_ENV` names it) and each worker tries ``flock`` on it: the holder runs the
  components; the others serve web and websockets only and retry every
  :data:`CLAIM_INTERVAL_S`, so when the holder exits (it crashed and uvicorn replaced it,
  or SIGHUP's rolling restart retired it) another worker takes the components over within
  about a second. The kernel releases the lock with the process, whatever kills it. This is
  a lease for one machine only; issue #16 replaces it with one in Redis (standby bridges on
  other machines) without changing the rest.
* **Everything crosses processes through Redis or the database.** Pops and call updates are
  bus events: with ``HOTLINE_REDIS_URL`` every worker's hub gets every event, so a console
  gets its pops whichever worker its websocket landed on; without Redis a worker's consoles
  would only hear that worker's events, so :func:`refusal` refuses N > 1 then. Tokens and
  session cookies are signed with one key (:func:`prepare` makes sure it exists before the
  workers start) and checked against the shared database, so a login on one worker holds on
  every other.
* **Not shared (yet)**: the live call model lives in the components' process. A worker
  without the components answers the live-state endpoints with 503 naming the reason
  (:data:`ELSEWHERE`) rather than an empty, wrong answer; issue #16 makes live state
  readable from every process. The login throttle and ``/metrics`` are per process.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
from pathlib import Path
from typing import IO

from fastapi import FastAPI

from web.services import Services
from web.settings import Settings
from web.wiring import start_components, stop_components

log = logging.getLogger(__name__)

#: Environment variable (set by the supervising ``hotline serve``) naming the lock file
#: whose holder runs the components. Unset: a single process, which runs them itself.
LOCK_ENV = "HOTLINE_INTERNAL_COMPONENTS_LOCK"
#: Seconds between a web-only worker's attempts to take the components over.
CLAIM_INTERVAL_S = 1.0
#: Why a web-only worker cannot answer a live-state request (HTTP 503).
ELSEWHERE = ("live call and PBX state is held by another worker process of this server "
             "(hotline serve --workers > 1; see README, 'Several worker processes'): "
             "try again")


def refusal(settings: Settings, workers: int) -> str | None:
    """Why ``hotline serve`` cannot run ``workers`` processes with ``settings`` (one line),
    or None when it can."""
    if workers <= 1:
        return None
    if not settings.redis_url:
        return (f"--workers {workers} needs HOTLINE_REDIS_URL: pops and call updates must "
                "reach the consoles of every worker process through Redis")
    if settings.database_url.startswith("sqlite"):
        return (f"--workers {workers} needs PostgreSQL (HOTLINE_DATABASE_URL): SQLite takes "
                "one writer at a time, so more processes add lock waits, not throughput")
    return None


def prepare(settings: Settings, lock_dir: Path) -> Path:
    """In the supervising process, before any worker starts: create what the workers must
    share rather than each make their own (the signing key when generated), and the lock
    file. Returns the lock file's path (to put in the environment as :data:`LOCK_ENV`)."""
    settings.resolved_secret_key()  # generated once here, read by every worker
    path = lock_dir / "components.lock"
    path.touch()
    return path


def worker_app() -> FastAPI:
    """The app factory each worker process calls (``uvicorn.run(..., factory=True)``):
    settings from the environment, log lines like the single process's, and the components
    only if this worker holds the lock of :data:`LOCK_ENV`."""
    from web.app import create_app  # web.app imports this module

    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s [%(process)d]: %(message)s")
    lock = os.environ.get(LOCK_ENV)
    return create_app(components_lock=Path(lock) if lock else None)


class ComponentsClaim:
    """One worker's claim on the components: :meth:`start` tries the lock once (starting
    the components when it is free) and keeps retrying in the background until it gets
    it; :meth:`stop` stops the components if they run here and releases the lock.

    ``services.process_role`` says where this process stands: ``"components"`` or ``"web"``.
    """

    def __init__(self, path: Path, services: Services) -> None:
        self._path = path
        self._services = services
        self._file: IO[bytes] | None = None
        self._task: asyncio.Task[None] | None = None

    def _try_lock(self) -> bool:
        handle = self._path.open("ab")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            return False
        self._file = handle
        return True

    async def _claim(self) -> bool:
        if not self._try_lock():
            return False
        log.info("worker %d runs the components (PBX bridge, demo PBX, ASR)", os.getpid())
        self._services.process_role = "components"
        await start_components(self._services)
        return True

    async def _retry(self) -> None:
        while not await self._claim():
            await asyncio.sleep(CLAIM_INTERVAL_S)

    async def start(self) -> None:
        self._services.process_role = "web"
        if not await self._claim():
            log.info("worker %d serves web and websockets; another worker runs the "
                     "components", os.getpid())
            self._task = asyncio.create_task(self._retry(), name="components-claim")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._file is not None:
            await stop_components(self._services)
            self._file.close()  # releases the lock: another worker may take over
            self._file = None
