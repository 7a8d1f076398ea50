"""``hotline serve --workers N``: several web processes, one of them running the components.

Why it is shaped this way:

* **uvicorn runs the processes.** ``uvicorn.run("web.workers:worker_app", factory=True,
  workers=N)`` binds the listening socket once in the supervising process and spawns N
  worker processes that accept on it; uvicorn also replaces a worker that dies. Nothing here
  manages processes. ``hotline serve`` sets ``UV_TCP_SINGLE_ACCEPT=1`` for them: libuv
  (uvloop) otherwise accepts every pending connection at once, so a client opening its
  keep-alive pool in one go landed on one worker (``bench_create --workers 1,2``: 1.10×
  before, 1.38× after).
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
* **Live state is asked of the process that holds it.** The live call model (calls, queues,
  agent states, the PBX links) lives in the components' process only. That process also
  serves the app on a private unix socket beside the lock file (a second uvicorn server,
  leaving signals to the main one), and every other worker forwards the requests that need
  that model (:data:`LIVE_PATHS`) there as they came, headers and body (:class:`ForwardLive`),
  with the scheme and client address it saw. That process checks login, role and origin as
  for any request. One local HTTP hop on these few, infrequent requests keeps the handlers
  unaware of workers. Left per process (issue #16): an agent's websocket ``watch_call``
  check, ``/readyz``'s PBX and ASR parts, ``/metrics``, and the login throttle.
* **PostgreSQL only.** SQLite takes one writer at a time: more processes would add lock
  waits, not throughput, so :func:`refusal` refuses N > 1 on it.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import logging
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import httpx
import uvicorn
from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from web.services import Services
from web.settings import Settings
from web.wiring import start_components, stop_components

log = logging.getLogger(__name__)

#: Environment variable (set by the supervising ``hotline serve``) naming the lock file
#: whose holder runs the components. Unset: a single process, which runs them itself.
LOCK_ENV = "HOTLINE_INTERNAL_COMPONENTS_LOCK"
#: Seconds between a web-only worker's attempts to take the components over.
CLAIM_INTERVAL_S = 1.0
#: Why a worker could not answer a live-state request (HTTP 503): the process holding the
#: live call model did not answer (it is starting, or another worker is taking over).
ELSEWHERE = ("live call and PBX state is held by another worker process of this server, "
             "which did not answer (hotline serve --workers; see README, 'Several worker "
             "processes'): try again")
#: The requests that need the live call model (``web/api/calls.py``, ``web/api/pbx.py``,
#: ``web/api/stats.py``, ``web/api/floor.py``'s PBX actions).
LIVE_PATHS = re.compile(r"/api/v1/(?:calls/live|queues|pbx|calls/originate|"
                        r"calls/[^/]+/(?:hangup|transfer|spy)|agents/me/state|demo/calls|"
                        r"stats/(?:live|trend)|agents/[0-9]+/(?:pause|logout)|"
                        r"abandoned/[^/]+/callback)")
#: Seconds a forwarded request may take (a PBX action waits for Asterisk's answer).
FORWARD_TIMEOUT_S = 30.0
#: Headers of one hop only, not forwarded either way (the server adds its own date/server).
_HOP = frozenset({"connection", "keep-alive", "transfer-encoding", "content-length", "te",
                  "upgrade", "proxy-connection", "trailer", "date", "server"})
#: Replaced on the way to the components' process by what this worker made of them.
_PROXY = frozenset({"x-forwarded-for", "x-forwarded-proto", "forwarded"})


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


def socket_path(lock: Path) -> Path:
    """The private unix socket of the components' process, beside the lock file (in the
    supervisor's own 0700 temporary directory)."""
    return lock.with_name("components.sock")


def worker_app() -> FastAPI:
    """The app factory each worker process calls (``uvicorn.run(..., factory=True)``):
    settings from the environment, log lines like the single process's, and the components
    only if this worker holds the lock of :data:`LOCK_ENV`."""
    from web.app import create_app  # web.app imports this module

    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s [%(process)d]: %(message)s")
    # One log line per request: the forwarding worker's. httpx would add one for its hop
    # and this socket's server another (uvicorn's access logger is one per process).
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("uvicorn.access").addFilter(_not_forwarded)
    lock = os.environ.get(LOCK_ENV)
    return create_app(components_lock=Path(lock) if lock else None)


def _not_forwarded(record: logging.LogRecord) -> bool:
    """False for the access line of a request that came over the components socket: its
    client is ``host:0`` (the X-Forwarded-For of :class:`ForwardLive` carries no port; a
    TCP client never has port 0)."""
    args = record.args
    return not (isinstance(args, tuple) and args and str(args[0]).endswith(":0"))


class _BesideServer(uvicorn.Server):
    """A uvicorn server running beside the worker's main one, in the same event loop: it
    leaves the signals to the main server (which stops it through the app's lifespan)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class ComponentsClaim:
    """One worker's claim on the components: :meth:`start` tries the lock once (starting
    the components and the private socket when it is free) and keeps retrying in the
    background until it gets it; :meth:`stop` stops whatever runs here and releases it.

    ``services.process_role`` says where this process stands: ``"components"`` or ``"web"``.
    """

    def __init__(self, path: Path, services: Services) -> None:
        self.path = path
        self.socket = socket_path(path)
        self._services = services
        self._file: IO[bytes] | None = None
        self._task: asyncio.Task[None] | None = None
        self._server: _BesideServer | None = None
        self._serving: asyncio.Task[None] | None = None
        self._client: httpx.AsyncClient | None = None

    @property
    def elsewhere(self) -> bool:
        """Whether the components run in another worker (live-state requests go there)."""
        return self._services.components_elsewhere

    def client(self) -> httpx.AsyncClient:
        """The HTTP client to the components' process (over :attr:`socket`)."""
        if self._client is None:
            self._client = httpx.AsyncClient(
                transport=httpx.AsyncHTTPTransport(uds=str(self.socket)),
                timeout=FORWARD_TIMEOUT_S)
        return self._client

    def _try_lock(self) -> bool:
        handle = self.path.open("ab")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            return False
        self._file = handle
        return True

    async def _claim(self, app: ASGIApp) -> bool:
        if not self._try_lock():
            return False
        log.info("worker %d runs the components (PBX bridge, demo PBX, ASR)", os.getpid())
        self._services.process_role = "components"
        await start_components(self._services)
        await self._serve(app)
        return True

    async def _serve(self, app: ASGIApp) -> None:
        """Serve ``app`` on :attr:`socket` for the other workers' forwarded requests."""
        # log_config/log_level None: the main server's logging stays as it is configured.
        # Its only clients are this server's workers (the socket's directory is 0700): their
        # X-Forwarded-Proto/-For (ForwardLive sets both) are trusted.
        config = uvicorn.Config(app, uds=str(self.socket), lifespan="off", ws="none",
                                log_config=None, log_level=None, timeout_graceful_shutdown=2,
                                proxy_headers=True, forwarded_allow_ips="*")
        self._server = _BesideServer(config)
        self._serving = asyncio.create_task(self._server.serve(), name="components-socket")
        while not self._server.started and not self._serving.done():
            await asyncio.sleep(0.01)
        if self._serving.done():  # could not bind: the others get 503s, the rest works
            log.error("components socket %s: %s", self.socket, self._serving.exception())

    async def _retry(self, app: ASGIApp) -> None:
        while not await self._claim(app):
            await asyncio.sleep(CLAIM_INTERVAL_S)

    async def start(self, app: ASGIApp) -> None:
        self._services.process_role = "web"
        if not await self._claim(app):
            log.info("worker %d serves web and websockets; another worker runs the "
                     "components", os.getpid())
            self._task = asyncio.create_task(self._retry(app), name="components-claim")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._client is not None:
            await self._client.aclose()
            self._client = None
        if self._server is not None and self._serving is not None:
            self._server.should_exit = True
            with contextlib.suppress(Exception):
                await self._serving
            self._server = self._serving = None
        if self._file is not None:
            await stop_components(self._services)
            self._file.close()  # releases the lock: another worker may take over
            self._file = None


class ForwardLive:
    """ASGI middleware: in a worker whose sibling runs the components, the requests of
    :data:`LIVE_PATHS` go to that sibling's private socket (method, path, query, headers and
    body as they came) and its answer comes back unchanged; 503 :data:`ELSEWHERE` when it
    does not answer within :data:`FORWARD_TIMEOUT_S`. Everything else, and everything in the
    components' own process, passes through."""

    def __init__(self, app: ASGIApp, claim: ComponentsClaim) -> None:
        self.app = app
        self._claim = claim

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (scope["type"] != "http" or not self._claim.elsewhere
                or not LIVE_PATHS.fullmatch(scope["path"])):
            await self.app(scope, receive, send)
            return
        body = b""
        while True:
            message: Message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        query = scope.get("query_string", b"").decode("latin-1")
        url = f"http://components{scope['path']}" + (f"?{query}" if query else "")
        headers = [(k, v) for k, v in scope["headers"]
                   if k.decode("latin-1").lower() not in _HOP | _PROXY]
        # The scheme and client address as this worker saw them (after uvicorn's own proxy
        # headers handling): the origin check and the cookie flags there see the same.
        headers.append((b"x-forwarded-proto", scope["scheme"].encode("latin-1")))
        if scope.get("client"):
            headers.append((b"x-forwarded-for", scope["client"][0].encode("latin-1")))
        try:
            answer = await self._claim.client().request(
                scope["method"], url, headers=headers, content=body)
        except httpx.HTTPError as exc:
            log.warning("forwarding %s %s to the components' process failed: %s",
                        scope["method"], scope["path"], exc)
            data = json.dumps({"detail": ELSEWHERE}).encode()
            await send({"type": "http.response.start", "status": 503,
                        "headers": [(b"content-type", b"application/json"),
                                    (b"content-length", str(len(data)).encode())]})
            await send({"type": "http.response.body", "body": data})
            return
        out = [(k, v) for k, v in answer.headers.raw if k.decode("latin-1").lower() not in _HOP]
        out.append((b"content-length", str(len(answer.content)).encode()))
        await send({"type": "http.response.start", "status": answer.status_code, "headers": out})
        await send({"type": "http.response.body", "body": answer.content})
