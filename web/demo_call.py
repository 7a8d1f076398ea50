"""``hotline demo call``: ring someone now through the demo PBX of a running server.

The demo PBX lives inside the ``hotline serve`` process, so the command posts to that
server's ``POST /api/v1/demo/calls``. It authenticates as the first active admin with a
token it signs itself for 60 s: it runs with the server's settings (the same database and
signing key), so whoever may run it may already act as that admin; no password is asked.
"""

from __future__ import annotations

import asyncio
import json
import sys
import urllib.error
import urllib.request

from sqlalchemy import select

from tickets.db import make_engine, make_sessionmaker
from tickets.models import User
from web.security import create_token
from web.settings import Settings


async def _admin_token(settings: Settings) -> str | None:
    engine = make_engine(settings.async_database_url)
    try:
        async with make_sessionmaker(engine)() as session:
            user = (await session.execute(
                select(User).where(User.role == "admin", User.is_active.is_(True))
                .order_by(User.id).limit(1))).scalar_one_or_none()
    finally:
        await engine.dispose()
    return None if user is None else create_token(settings.resolved_secret_key(), user, 60)


def ring_now(settings: Settings, url: str, *, to: str | None = None,
             scenario: str | None = None) -> int:
    """Post the call; print what rings. Exit status 0, or 1 with the reason on stderr."""
    token = asyncio.run(_admin_token(settings))
    if token is None:
        print("hotline: no active admin user in the database (run 'hotline demo' first)",
              file=sys.stderr)
        return 1
    body = json.dumps({k: v for k, v in (("to", to), ("scenario", scenario)) if v}).encode()
    request = urllib.request.Request(
        url.rstrip("/") + "/api/v1/demo/calls", data=body, method="POST",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            started = json.loads(response.read())
    except urllib.error.HTTPError as exc:
        detail = json.loads(exc.read() or b"{}").get("detail", exc.reason)
        print(f"hotline: {url} answered {exc.code}: {detail}", file=sys.stderr)
        return 1
    except (urllib.error.URLError, OSError) as exc:
        print(f"hotline: cannot reach {url} (is 'hotline serve' running?): {exc}",
              file=sys.stderr)
        return 1
    print(f"ringing: {started['scenario']} call from {started['caller']}")
    return 0
