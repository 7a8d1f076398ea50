"""Schemathesis with every check against the real app over HTTP, as an admin and as
nobody: no server error, no response the API description does not allow.

The run is bounded and repeatable (a fixed seed, deterministic generation, few examples
per operation) so it fits CI; the same test runs more thoroughly by hand with
``HOTLINE_FUZZ_EXAMPLES=100 .venv/bin/pytest -s tests/web/test_schemathesis.py``.

The admin is a user of its own with an id no generator reaches (2,000,000,000), so
``PATCH /api/v1/users/{id}`` with a new password or ``is_active: false`` on the small ids
does not void the run's token; logging out (which voids it on purpose) is fuzzed in the
anonymous run only.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from tests.support.db import SqliteFactory
from tests.support.live import LiveServer
from tickets.schemas import UserIn
from tickets.users import create_user
from web.app import create_app
from web.settings import Settings

pytestmark = pytest.mark.slow

EXAMPLES = int(os.environ.get("HOTLINE_FUZZ_EXAMPLES", "6"))
FUZZ_ADMIN = ("fuzzadmin", "fuzz-admin-pass-2026")
FUZZ_ADMIN_ID = 2_000_000_000
ST = str(Path(sys.executable).with_name("st"))
CONFIG = Path(__file__).with_name("schemathesis.toml")


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    tmp = tmp_path_factory.mktemp("fuzz")
    import asyncio

    url = asyncio.run(SqliteFactory(tmp).new(demo=True))
    settings = Settings(database_url=url, data_dir=tmp / "var", secret_key="f" * 40,
                        ami_url="off", docs_public=True, redis_url=None, vosk_model=None)
    server = LiveServer(create_app(settings))
    server.start()

    async def add_admin() -> None:
        async with server.services.db() as session:
            user = await create_user(session, UserIn(username=FUZZ_ADMIN[0],
                                                     password=FUZZ_ADMIN[1], role="admin"))
            await session.execute(text("UPDATE users SET id = :new WHERE id = :old"),
                                  {"new": FUZZ_ADMIN_ID, "old": user.id})
            await session.commit()

    server.call(add_admin())
    yield server
    server.stop()


def served(server: LiveServer) -> dict[str, int]:
    """Requests the app answered so far, by status (its own Prometheus histogram; the
    edge's early 401/413 are not in it)."""
    token = httpx.post(f"{server.url}/api/v1/auth/login",
                       json={"username": FUZZ_ADMIN[0], "password": FUZZ_ADMIN[1]}
                       ).json()["access_token"]
    text = httpx.get(f"{server.url}/metrics",
                     headers={"Authorization": f"Bearer {token}"}).text
    counts: dict[str, int] = {}
    for m in re.finditer(r'^hotline_http_request_seconds_count\{.*status="(\d+)".*\} (\S+)$',
                         text, re.M):
        counts[m.group(1)] = counts.get(m.group(1), 0) + int(float(m.group(2)))
    return counts


def schemathesis(server: LiveServer, *extra: str) -> tuple[int, str]:
    cmd = [ST, "--config-file", str(CONFIG), "run", f"{server.url}/openapi.json", "--checks", "all",
           "--max-examples", str(EXAMPLES), "--seed", "20261130",
           "--generation-deterministic", "--workers", "1", "--no-color",
           "--request-timeout", "10", "--suppress-health-check", "all",
           *extra]
    before = served(server)
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600,
                          cwd=server.services.settings.data_dir.parent,
                          env={**os.environ, "SCHEMATHESIS_TELEMETRY": "false"})
    after = served(server)
    by_status = {s: n - before.get(s, 0) for s, n in sorted(after.items())
                 if n - before.get(s, 0)}
    out = (done.stdout + done.stderr +
           f"\nrequests the app answered: {sum(by_status.values())}, by status {by_status}\n")
    print(out)
    assert not [s for s in by_status if s.startswith("5")], by_status
    return done.returncode, out


def _summary(out: str) -> str:
    lines = [ln for ln in out.splitlines() if re.search(
        r"(test cases|API Operations|Test Phases|passed|failed|generated|Summary|\d+ failures?)",
        ln)]
    return "\n".join(lines[-12:])


def test_schemathesis_as_admin(fuzz_server: LiveServer) -> None:
    token = httpx.post(f"{fuzz_server.url}/api/v1/auth/login",
                       json={"username": FUZZ_ADMIN[0], "password": FUZZ_ADMIN[1]}
                       ).json()["access_token"]
    code, out = schemathesis(fuzz_server, "-H", f"Authorization: Bearer {token}",
                             "--exclude-path-regex", "^/api/v1/auth/logout")
    assert code == 0, _summary(out)


#: The anonymous run: what answers without a login, and the tickets' routes as a sample of
#: the protected ones (their 401 must match the description too). Every other route's 401 is
#: checked route by route in tests/web/test_rbac_matrix.py; fuzzing them all anonymously
#: took a minute of CI for 5,000 identical 401s.
ANONYMOUS_PATHS = r"^/(healthz|readyz)$|^/api/v1/auth/|^/api/v1/tickets(/\{ticket_id\})?$"


def test_schemathesis_anonymous(fuzz_server: LiveServer) -> None:
    code, out = schemathesis(fuzz_server, "--include-path-regex", ANONYMOUS_PATHS)
    assert code == 0, _summary(out)
