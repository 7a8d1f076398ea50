"""Cross-site request refusal: the session cookie only speaks for pages of this site.

A browser attaches the ``hotline_token`` cookie (SameSite=Lax) to a cross-site top-level
form POST too in some browsers and cases, and to every request from a same-site page on
another port or subdomain; a multipart upload and a form POST with
``Origin: http://evil.example`` were accepted. So a write that rides on the cookie
(POST/PUT/PATCH/DELETE, no ``Authorization`` header) must come from this site: the
``Origin`` header names it, else ``Sec-Fetch-Site`` says ``same-origin``/``none``, else the
``Referer`` does. A request with none of the three is not from a browser page (a browser
sends ``Origin`` with every cross-origin write) and passes. Bearer tokens are exempt: a
page of another site cannot make the browser send one.

"This site" is the request's own origin (scheme and ``Host``; behind a proxy, uvicorn's
``--proxy-headers`` set the scheme) or one of ``HOTLINE_ALLOWED_ORIGINS``. The websocket
handshake applies the same rule to its cookie (``web/ws.py``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from urllib.parse import urlsplit

from starlette.types import ASGIApp, Receive, Scope, Send

from web.security import COOKIE_NAME

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_DEFAULT_PORTS = {"http": "80", "https": "443", "ws": "80", "wss": "443"}


def normalise_origin(value: str) -> str | None:
    """``scheme://host[:port]`` in lower case, default port dropped; ``None`` for anything
    that is not such an origin (``null``, a bare path, a URL without host)."""
    try:
        parts = urlsplit(value.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        return None
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    if port is not None and str(port) != _DEFAULT_PORTS[scheme]:
        host = f"{host}:{port}"
    return f"{scheme}://{host}"


def own_origin(scheme: str, host_header: str | None) -> str | None:
    """The origin a request was addressed to (``ws``/``wss`` count as http/https)."""
    if not host_header:
        return None
    scheme = {"ws": "http", "wss": "https"}.get(scheme, scheme)
    return normalise_origin(f"{scheme}://{host_header}")


def foreign_origin(headers: Mapping[str, str], own: str | None,
                   allowed: Iterable[str] = ()) -> str | None:
    """Why a cookie-carrying browser request is not from this site, or ``None`` when it is
    (or shows no sign of coming from a browser page). ``headers``: lower-case names."""
    trusted = {o for o in (own, *allowed) if o}
    origin = headers.get("origin")
    if origin is not None:
        if normalise_origin(origin) in trusted:
            return None
        return f"Origin {origin[:100]!r} is not this site"
    fetch_site = headers.get("sec-fetch-site")
    if fetch_site is not None:
        if fetch_site in ("same-origin", "none"):
            return None
        return f"Sec-Fetch-Site is {fetch_site[:20]!r}"
    referer = headers.get("referer")
    if referer is not None:
        if normalise_origin(referer) in trusted:
            return None
        return "Referer is not this site"
    return None


def _has_cookie(cookie_header: str) -> bool:
    return any(part.strip().startswith(COOKIE_NAME + "=") for part in cookie_header.split(";"))


#: The password login: guarded for cross-site posts even without a session cookie.
LOGIN_PATH = "/api/v1/auth/login"


class CrossSiteGuard:
    """ASGI middleware: 403 for a cookie-authenticated unsafe request, or a login, from
    another site."""

    def __init__(self, app: ASGIApp, allowed_origins: Iterable[str] = ()) -> None:
        self.app = app
        self.allowed = tuple(allowed_origins)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in UNSAFE_METHODS:
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        bearer = headers.get("authorization", "")[:7].lower() == "bearer "
        # The login form is guarded too, cookie or not: a foreign page must not log the
        # browser into another account (login CSRF). Clients sending no Origin pass.
        login = scope["path"] == LOGIN_PATH
        if bearer or not (login or _has_cookie(headers.get("cookie", ""))):
            await self.app(scope, receive, send)
            return
        reason = foreign_origin(headers, own_origin(scope["scheme"], headers.get("host")),
                                self.allowed)
        if reason is None:
            await self.app(scope, receive, send)
            return
        body = json.dumps({"detail": f"cross-site request refused: {reason} "
                                     "(the session cookie only works from this site's "
                                     "pages; API clients send Authorization: Bearer)"}
                          ).encode()
        await send({"type": "http.response.start", "status": 403,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(body)).encode()),
                                (b"x-content-type-options", b"nosniff")]})
        await send({"type": "http.response.body", "body": body})
