"""HTML pages and their static assets: ``/login``, ``/console``, ``/wallboard``, ``/engineer``,
``/portal``, ``/admin/routing`` (the routing rules: admins edit, supervisors read and try them),
``/admin/sla`` (SLA policies and calendars: admins edit, supervisors read),
``/admin/notifications`` (the outbox with its dead letters, and webhooks: admins only),
``/reports`` (charts, tables and exports of the reports: supervisors and admins),
``/dispatch`` (the dispatcher board of field work orders: supervisors and admins),
``/engineer-sw.js`` (the engineer app's service worker) and ``/static/…``.

The pages are plain HTML shells; their ES modules fetch data from the REST API and the
websocket. No build step. Every page is served with a strict Content-Security-Policy (no
inline script, no third-party origin), a second line of defence behind the scripts' rule of
never putting outside text into markup.

A page that needs a login checks the ``hotline_token`` cookie server-side and redirects to
``/login?next=…`` instead of rendering an empty shell; a page for another role gets a 403.
"""

from __future__ import annotations

import html
import logging
import mimetypes
from pathlib import Path
from urllib.parse import quote, urlsplit

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response

from web.security import COOKIE_NAME, Principal, principal_from_token

log = logging.getLogger(__name__)

router = APIRouter(include_in_schema=False)

STATIC_DIR = Path(__file__).resolve().parent / "static"

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
       "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
       "frame-ancestors 'none'")
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}

#: page path → (html file, roles allowed; None = anyone logged in)
PAGES: dict[str, tuple[str, frozenset[str] | None]] = {
    "/console": ("console.html", frozenset({"agent", "supervisor", "admin"})),
    "/wallboard": ("wallboard.html", frozenset({"supervisor", "admin"})),
    "/engineer": ("engineer.html", frozenset({"engineer", "supervisor", "admin"})),
    "/portal": ("portal.html", frozenset({"customer", "admin"})),
    "/admin/routing": ("routing.html", frozenset({"supervisor", "admin"})),
    "/admin/sla": ("sla.html", frozenset({"supervisor", "admin"})),
    "/admin/notifications": ("notifications.html", frozenset({"admin"})),
    "/reports": ("reports.html", frozenset({"supervisor", "admin"})),
    "/dispatch": ("dispatch.html", frozenset({"supervisor", "admin"})),
}
#: where each role lands after logging in
HOME_BY_ROLE = {"agent": "/console", "supervisor": "/wallboard", "admin": "/console",
                "engineer": "/engineer", "customer": "/portal"}


def _html(name: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse((STATIC_DIR / name).read_text(encoding="utf-8"), status_code=status,
                        headers=SECURITY_HEADERS)


#: the dispatcher board's placeholders: the tile URL template (HOTLINE_MAP_TILES) and the
#: site's zone (HOTLINE_TIMEZONE: the API's times are UTC, the board shows the site's hours)
_TILES_META = '<meta name="hotline-map-tiles" content="">'
_ZONE_META = '<meta name="hotline-timezone" content="">'


def dispatch_html(tiles: str | None, timezone: str) -> HTMLResponse:
    """The board with the site's zone and the configured tile URL in its ``<meta>`` tags
    (HTML-escaped), and the tiles' origin allowed as an image source (none without tiles)."""
    text = (STATIC_DIR / "dispatch.html").read_text(encoding="utf-8")
    text = text.replace(_ZONE_META, f'<meta name="hotline-timezone" '
                        f'content="{html.escape(timezone, quote=True)}">')
    headers = dict(SECURITY_HEADERS)
    if tiles:
        parts = urlsplit(tiles)
        host = parts.netloc  # "{s}.tile.example" (subdomains a, b, c): "*.tile.example"
        origin = f"{parts.scheme}://{'*.' + host[4:] if host.startswith('{s}.') else host}"
        text = text.replace(_TILES_META, f'<meta name="hotline-map-tiles" '
                            f'content="{html.escape(tiles, quote=True)}">')
        headers["Content-Security-Policy"] = CSP.replace(
            "img-src 'self' data: blob:", f"img-src 'self' data: blob: {origin}")
    return HTMLResponse(text, headers=headers)


async def _cookie_principal(request: Request) -> Principal | None:
    token = request.cookies.get(COOKIE_NAME)
    if not token:
        return None
    try:
        return await principal_from_token(request.app.state.services, token)
    except Exception:  # e.g. the database is down: show the login page, not a 500
        log.exception("page auth failed")
        return None


async def _page(request: Request, path: str) -> Response:
    name, roles = PAGES[path]
    principal = await _cookie_principal(request)
    if principal is None:
        return RedirectResponse(f"/login?next={quote(path)}", status_code=303)
    if roles is not None and principal.role not in roles:
        return _html("forbidden.html", status=403)
    if path == "/dispatch":
        settings = request.app.state.services.settings
        return dispatch_html(settings.map_tiles, settings.timezone)
    return _html(name)


@router.get("/login", response_class=HTMLResponse)
async def login_page() -> Response:
    return _html("login.html")


@router.get("/", response_class=HTMLResponse)
async def home(request: Request) -> Response:
    """Send a logged-in user to their role's page, anyone else to the login form."""
    principal = await _cookie_principal(request)
    if principal is None:
        return RedirectResponse("/login", status_code=303)
    return RedirectResponse(HOME_BY_ROLE.get(principal.role, "/login"), status_code=303)


@router.get("/console", response_class=HTMLResponse)
async def console_page(request: Request) -> Response:
    return await _page(request, "/console")


@router.get("/wallboard", response_class=HTMLResponse)
async def wallboard_page(request: Request) -> Response:
    return await _page(request, "/wallboard")


@router.get("/engineer", response_class=HTMLResponse)
async def engineer_page(request: Request) -> Response:
    return await _page(request, "/engineer")


@router.get("/portal", response_class=HTMLResponse)
async def portal_page(request: Request) -> Response:
    return await _page(request, "/portal")


@router.get("/admin/routing", response_class=HTMLResponse)
async def routing_page(request: Request) -> Response:
    return await _page(request, "/admin/routing")


@router.get("/admin/sla", response_class=HTMLResponse)
async def sla_page(request: Request) -> Response:
    return await _page(request, "/admin/sla")


@router.get("/reports", response_class=HTMLResponse)
async def reports_page(request: Request) -> Response:
    return await _page(request, "/reports")


@router.get("/dispatch", response_class=HTMLResponse)
async def dispatch_page(request: Request) -> Response:
    return await _page(request, "/dispatch")


@router.get("/admin/notifications", response_class=HTMLResponse)
async def notifications_page(request: Request) -> Response:
    return await _page(request, "/admin/notifications")


@router.get("/engineer-sw.js")
async def engineer_worker() -> Response:
    """The engineer app's service worker. Served from the root rather than ``/static/`` so
    that its scope may be ``/engineer`` (a worker controls pages at or under its own path);
    no login needed: it holds no data, only the caching rules (``static/engineer-sw.js``)."""
    return FileResponse(STATIC_DIR / "engineer-sw.js", media_type="text/javascript", headers={
        "X-Content-Type-Options": "nosniff", "Cache-Control": "no-cache"})


def resolve_static(rel: str) -> Path | None:
    """The file under ``static/`` that ``rel`` names, or None (missing, or outside it)."""
    try:
        path = (STATIC_DIR / rel).resolve()
    except (OSError, ValueError):
        return None
    if not path.is_relative_to(STATIC_DIR) or not path.is_file():
        return None
    return path


@router.get("/static/{rel:path}")
async def static_file(rel: str) -> Response:
    """Static assets. A route rather than a mount, so including this router is enough."""
    path = resolve_static(rel)
    if path is None:
        raise HTTPException(404, "no such file")
    media = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    if path.suffix == ".js":
        media = "text/javascript"
    elif path.suffix == ".webmanifest":
        media = "application/manifest+json"
    return FileResponse(path, media_type=media, headers={
        "X-Content-Type-Options": "nosniff", "Cache-Control": "no-cache"})
