"""``/docs`` (Swagger UI) served entirely from Hotline, so it works offline.

FastAPI's defaults load both from a CDN, which an offline site cannot reach and the pages'
Content-Security-Policy forbids anyway: the docs were blank. The assets come from the
``fastapi-offline`` package (a kept PyPI dependency that ships Swagger UI and ReDoc
builds); the page is our own HTML shell with the same strict CSP as every other page,
so its start-up code is a same-origin script (``/static/docs/swagger-init.js``), not inline.
ReDoc is not offered: it injects ``<style>`` elements, which that CSP refuses.

Outside a demo install the docs and ``/openapi.json`` need a login (``HOTLINE_DOCS_PUBLIC``,
:meth:`web.settings.Settings.docs_are_public`): the document lists every route and field.

The document tells every error a route can give (:func:`document_errors`), derived from
what the route depends on rather than written by hand per route, so a new route is
documented the day it is added: a login (401, 403 — a role or a domain rule, 503 — the
database behind the login check), path parameters or a body (404 — the path's record or
one the body names), a write (409 — duplicate, stale version, illegal move; 413 — body over
its limit), the PBX (404, 409, 503, 504). Every error body is ``{"detail": …}``: a sentence,
or for 422 either a sentence (a rule the request broke, naming the field) or the list of
``{"loc", "msg", "type"}`` that field validation gives.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote

import fastapi_offline
from fastapi import APIRouter, FastAPI, HTTPException, Request
from fastapi.openapi.utils import get_openapi
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from pydantic import BaseModel

from web.deps import get_principal, optional_principal
from web.edge import NOT_AUTHENTICATED, depends_on, flat_routes
from web.pages import SECURITY_HEADERS
from web.services import Services

router = APIRouter(include_in_schema=False)

ASSET_DIR = Path(fastapi_offline.__file__).resolve().parent / "static"
#: the files the pages use: name → media type (nothing else of the package is served)
ASSETS = {"swagger-ui-bundle.js": "text/javascript", "swagger-ui.css": "text/css",
          "favicon.png": "image/png"}

_SHELL = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Hotline API</title>
<link rel="icon" href="/docs/assets/favicon.png">
<link rel="stylesheet" href="/docs/assets/swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="/docs/assets/swagger-ui-bundle.js"></script>
<script src="/static/docs/swagger-init.js"></script>
</body>
</html>
"""


async def _may_read(request: Request) -> bool:
    services: Services = request.app.state.services
    if services.settings.docs_are_public:
        return True
    try:
        return await optional_principal(request) is not None
    except Exception:  # the database is down: nobody can be checked
        return False


@router.get("/docs")
async def swagger_ui(request: Request) -> Response:
    if not await _may_read(request):
        return RedirectResponse(f"/login?next={quote('/docs')}", status_code=303)
    return HTMLResponse(_SHELL, headers=SECURITY_HEADERS)


@router.get("/openapi.json")
async def openapi_document(request: Request) -> JSONResponse:
    if not await _may_read(request):
        return JSONResponse({"detail": NOT_AUTHENTICATED}, status_code=401,
                            headers={"WWW-Authenticate": "Bearer"})
    return JSONResponse(request.app.openapi())


@router.get("/docs/assets/{name}")
async def asset(name: str) -> FileResponse:
    media = ASSETS.get(name)
    if media is None:
        raise HTTPException(404, "no such file")
    return FileResponse(ASSET_DIR / name, media_type=media, headers={
        "X-Content-Type-Options": "nosniff", "Cache-Control": "public, max-age=86400"})


class Error(BaseModel):
    """Every error but field validation's: ``{"detail": "a sentence"}``."""

    detail: str


class Issue(BaseModel):
    """One field validation error: where (``["body", "title"]``), what, and its kind."""

    loc: list[str | int]
    msg: str
    type: str


class Invalid(BaseModel):
    """A 422: a sentence naming the field (a rule the schema cannot express), or the list
    of field validation errors."""

    detail: str | list[Issue]


def _component_schemas() -> dict[str, Any]:
    out: dict[str, Any] = {}
    for model in (Error, Invalid):
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        out.update(schema.pop("$defs", {}))
        out[model.__name__] = schema
    return out


_MEANING = {
    400: "the body could not be parsed (not UTF-8 JSON, a broken multipart form)",
    401: "not logged in, or the token is expired, revoked or of a disabled user",
    403: "your role (or a rule of the record) does not allow this",
    404: "the record is unknown, or not visible to you",
    409: "conflicts with the record's state or existing data (or the PBX refused)",
    413: "the body is over its limit (named in detail)",
    422: "invalid input: a sentence naming the field, or the list of field errors",
    503: "the database or the PBX is unavailable; try again",
    504: "the PBX did not answer in time",
}
_PBX_TAGS = {"calls", "pbx"}


def route_errors(route: APIRoute) -> set[int]:
    """The error statuses ``route`` can give, from what it depends on (module docstring)."""
    codes: set[int] = set()
    dependant = route.dependant
    # a body declared by hand (a route reading JSON or multipart itself) is a body too
    has_body = route.body_field is not None or bool((route.openapi_extra or {})
                                                    .get("requestBody"))
    writes = bool((route.methods or set()) & {"POST", "PUT", "PATCH", "DELETE"})
    if depends_on(dependant, get_principal):
        codes |= {401, 403, 503}
    if dependant.path_params or has_body or dependant.query_params:
        codes |= {404, 422}
    if writes:
        codes |= {409}
    if has_body:
        codes |= {400, 413}  # a body that cannot be parsed (not UTF-8, broken multipart)
    if _PBX_TAGS & {str(t) for t in route.tags}:
        codes |= {404, 409, 503, 504}
    return codes


def document_errors(app: FastAPI) -> None:
    """Make ``app.openapi()`` list each route's errors with the shared error shapes."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        doc = get_openapi(title=app.title, version=app.version, description=app.description,
                          routes=app.routes)
        schemas = doc.setdefault("components", {}).setdefault("schemas", {})
        schemas.pop("HTTPValidationError", None)
        schemas.pop("ValidationError", None)
        schemas.update(_component_schemas())
        for route in flat_routes(app):
            if not isinstance(route, APIRoute) or not route.include_in_schema:
                continue
            path = doc["paths"].get(route.path_format, {})
            for method in route.methods or ():
                operation = path.get(method.lower())
                if operation is None:
                    continue
                if operation.get("security") and not depends_on(route.dependant,
                                                                get_principal):
                    # Reads a token if there is one (logout), answers without one too.
                    operation["security"] = [{}, *operation["security"]]
                responses = operation.setdefault("responses", {})
                for code in sorted(route_errors(route) | {int(c) for c in responses
                                                          if c.isdigit() and int(c) >= 400}):
                    ref = "Invalid" if code == 422 else "Error"
                    entry = responses.setdefault(str(code), {"description": _MEANING.get(
                        code, "error")})
                    entry["content"] = {"application/json": {
                        "schema": {"$ref": f"#/components/schemas/{ref}"}}}
        app.openapi_schema = doc
        return doc

    app.openapi = openapi  # type: ignore[method-assign]
