"""The HTTP edge: what every request passes before routing (one plain ASGI middleware).

Three rules live here because they must hold for every route at once, including routes
added later, and because two of them must act *before* FastAPI reads a body (FastAPI reads
and parses the whole body, JSON or multipart, before it resolves any dependency — so the
login check in :mod:`web.deps` comes too late to spare the memory and the seconds):

* **Body size.** A body over its limit is a 413 naming the limit: at once when
  ``Content-Length`` says so (nothing is read), else when the bytes received so far pass it
  (chunked or lying clients; the app's own answer is replaced by the 413). JSON and every
  other body: ``HOTLINE_BODY_MAX_BYTES`` (1 MiB); ``multipart/form-data`` (attachments):
  ``HOTLINE_ATTACHMENT_MAX_BYTES`` + :data:`MULTIPART_MARGIN` for the part headers.
* **Login before the body.** A write (POST/PUT/PATCH/DELETE) to a route that needs a login
  (its dependencies include :func:`web.deps.get_principal`) without a token whose signature
  and expiry check out is a 401 before a byte of the body is read. This is a cheap gate, not
  the authentication: the route's own dependency still checks the database (revocation,
  disabled user, role). A request for a route that does not exist, or a method a path does
  not allow, passes through untouched, so its 404/405 stay what they are.
* ``X-Content-Type-Options: nosniff`` on every response (API, attachments, pages).

It is plain ASGI rather than Starlette's ``BaseHTTPMiddleware`` so that streaming bodies
and responses pass through without being buffered, and so that it can answer before the app
runs. Starlette's own body limit (1.x) only acts when the app reads, answers in plain text,
and does not name the limit.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from starlette.datastructures import Headers
from starlette.requests import cookie_parser
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from web.security import COOKIE_NAME, decode_token

#: Room for the multipart boundaries and part headers around an attachment's bytes.
MULTIPART_MARGIN = 64 * 1024
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
#: The same sentence as the dependency's 401 (web.deps.get_principal).
NOT_AUTHENTICATED = ("not authenticated: log in at /api/v1/auth/login and send "
                     "'Authorization: Bearer …'")


def _mib(n: int) -> str:
    return f"{n / (1024 * 1024):g} MiB" if n >= 1024 * 1024 else f"{n} bytes"


async def _json(send: Send, status: int, detail: str,
                headers: list[tuple[bytes, bytes]] | None = None) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send({"type": "http.response.start", "status": status, "headers": [
        (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"), *(headers or [])]})
    await send({"type": "http.response.body", "body": body})


class Edge:
    """ASGI middleware: body limits, the pre-body login gate, ``nosniff``, and a true
    ``Allow`` on 405s. ``routes``: the app's routes (:class:`RouteTable`); ``secret_key``:
    to check token signatures."""

    def __init__(self, app: ASGIApp, *, body_max_bytes: int, upload_max_bytes: int,
                 secret_key: str, routes: RouteTable) -> None:
        self.app = app
        self.body_max_bytes = body_max_bytes
        self.upload_max_bytes = upload_max_bytes + MULTIPART_MARGIN
        self.secret_key = secret_key
        self.routes = routes

    def limit_for(self, headers: Headers) -> tuple[int, str]:
        """The byte limit of a request with these headers, and what it is called."""
        if headers.get("content-type", "").lower().startswith("multipart/form-data"):
            return self.upload_max_bytes, "an upload (attachment limit plus part headers)"
        return self.body_max_bytes, "a request body"

    def has_valid_token(self, headers: Headers) -> bool:
        scheme, _, token = headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            token = cookie_parser(headers.get("cookie", "")).get(COOKIE_NAME, "")
        return bool(token) and decode_token(self.secret_key, token.strip()) is not None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_nosniff(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                if not any(k.lower() == b"x-content-type-options" for k, _ in headers):
                    headers.append((b"x-content-type-options", b"nosniff"))
                if message["status"] == 405:
                    # Starlette names the methods of the first route on the path only; a
                    # path served by several routes (GET and POST /x) allows them all.
                    allow = ", ".join(sorted(self.routes.allowed(scope)))
                    headers = [(k, v) for k, v in headers if k.lower() != b"allow"]
                    headers.append((b"allow", allow.encode()))
                message = {**message, "headers": headers}
            await send(message)

        headers = Headers(scope=scope)
        limit, what = self.limit_for(headers)
        too_large = f"{what} may be at most {limit} bytes ({_mib(limit)})"
        length = headers.get("content-length")
        if length is not None and length.strip().isdigit() and int(length) > limit:
            await _json(send_nosniff, 413, too_large)
            return
        # The token first: with one (the usual case) the route table is not searched.
        if scope["method"] in WRITE_METHODS and not self.has_valid_token(headers) \
                and self.routes.needs_login(scope):
            await _json(send_nosniff, 401, NOT_AUTHENTICATED,
                        [(b"www-authenticate", b"Bearer")])
            return
        await self._counted(scope, receive, send_nosniff, limit, too_large)

    async def _counted(self, scope: Scope, receive: Receive, send: Send, limit: int,
                       too_large: str) -> None:
        """Run the app, cutting the body off once more than ``limit`` bytes came in."""
        received = 0
        exceeded = False
        started = False

        async def limited_receive() -> Message:
            nonlocal received, exceeded
            if exceeded:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    # To the app the client went away: whatever it answers is dropped
                    # and the 413 below goes out instead.
                    exceeded = True
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if exceeded and not started:
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except Exception:
            if not exceeded or started:
                raise
        if exceeded and not started:
            await _json(send, 413, too_large)


def depends_on(dependant: Any, target: Callable[..., Any]) -> bool:
    """Whether a FastAPI dependant needs ``target``, directly or through other dependencies."""
    return any(d.call is target or depends_on(d, target) for d in dependant.dependencies)


def flat_routes(app: Any) -> list[Any]:
    """Every route of ``app`` with its full path, the routers' routes included (recent
    FastAPI keeps an included router as one entry, ``original_router``; older versions
    copied its routes into the app's list). Routers are included without a prefix here, so
    the routes' own paths are the full ones."""
    out: list[Any] = []

    def walk(routes: list[Any]) -> None:
        for route in routes:
            inner = getattr(route, "original_router", None)
            if inner is not None:
                walk(inner.routes)
            else:
                out.append(route)

    walk(list(app.router.routes))
    return out


class RouteTable:
    """What the edge needs to know of the app's routes, read on first use (after every
    router is included): which route serves a request, whether it needs a login
    (depends on ``get_principal``), which methods a path allows."""

    def __init__(self, app: Any, get_principal: Callable[..., Any]) -> None:
        self.app = app
        self.get_principal = get_principal
        self._routes: list[tuple[Any, bool]] = []

    def _table(self) -> list[tuple[Any, bool]]:
        if not self._routes:
            self._routes = [(route, depends_on(route.dependant, self.get_principal))
                            for route in flat_routes(self.app) if hasattr(route, "dependant")]
        return self._routes

    def needs_login(self, scope: Scope) -> bool:
        """True when the route that fully matches the request (path *and* method) needs
        a login; false for a path or method no route serves (its 404/405 stays)."""
        for route, needs in self._table():
            match, _ = route.matches(scope)
            if match == Match.FULL:
                return needs
        return False

    def allowed(self, scope: Scope) -> set[str]:
        """Every method some route serves on the request's path."""
        methods: set[str] = set()
        for route, _ in self._table():
            match, _ = route.matches(scope)
            if match != Match.NONE:
                methods |= set(getattr(route, "methods", None) or ())
        return methods
