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
    """ASGI middleware: body limits, the pre-body login gate, ``nosniff``.

    ``needs_login(scope)``: whether the route that would serve this request requires a login
    (see :func:`login_routes`); ``secret_key``: to check token signatures.
    """

    def __init__(self, app: ASGIApp, *, body_max_bytes: int, upload_max_bytes: int,
                 secret_key: str, needs_login: Callable[[Scope], bool]) -> None:
        self.app = app
        self.body_max_bytes = body_max_bytes
        self.upload_max_bytes = upload_max_bytes + MULTIPART_MARGIN
        self.secret_key = secret_key
        self.needs_login = needs_login

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
                message = {**message, "headers": headers}
            await send(message)

        headers = Headers(scope=scope)
        limit, what = self.limit_for(headers)
        too_large = f"{what} may be at most {limit} bytes ({_mib(limit)})"
        length = headers.get("content-length")
        if length is not None and length.strip().isdigit() and int(length) > limit:
            await _json(send_nosniff, 413, too_large)
            return
        if scope["method"] in WRITE_METHODS and self.needs_login(scope) \
                and not self.has_valid_token(headers):
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


def login_routes(app: Any, get_principal: Callable[..., Any]) -> Callable[[Scope], bool]:
    """``needs_login(scope)`` for :class:`Edge`: true when the route that fully matches the
    request (path *and* method) depends on ``get_principal``. The routes are read on first
    use, after every router is included."""
    cache: list[tuple[Any, bool]] = []

    def needs_login(scope: Scope) -> bool:
        if not cache:
            cache.extend((route, depends_on(route.dependant, get_principal))
                         for route in flat_routes(app) if hasattr(route, "dependant"))
        for route, needs in cache:
            match, _ = route.matches(scope)
            if match == Match.FULL:
                return needs
        return False

    return needs_login
