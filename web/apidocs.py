"""``/docs`` (Swagger UI) served entirely from Hotline, so it works offline.

FastAPI's defaults load both from a CDN, which an offline site cannot reach and the pages'
Content-Security-Policy forbids anyway: the docs were blank. The assets come from the
``fastapi-offline`` package (a kept PyPI dependency that ships Swagger UI and ReDoc
builds); the page is our own HTML shell with the same strict CSP as every other page,
so its start-up code is a same-origin script (``/static/docs/swagger-init.js``), not inline.
ReDoc is not offered: it injects ``<style>`` elements, which that CSP refuses.
"""

from __future__ import annotations

from pathlib import Path

import fastapi_offline
from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse, HTMLResponse

from web.pages import SECURITY_HEADERS

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


@router.get("/docs")
async def swagger_ui() -> HTMLResponse:
    return HTMLResponse(_SHELL, headers=SECURITY_HEADERS)


@router.get("/docs/assets/{name}")
async def asset(name: str) -> FileResponse:
    media = ASSETS.get(name)
    if media is None:
        raise HTTPException(404, "no such file")
    return FileResponse(ASSET_DIR / name, media_type=media, headers={
        "X-Content-Type-Options": "nosniff", "Cache-Control": "public, max-age=86400"})
