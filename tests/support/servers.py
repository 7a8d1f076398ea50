"""Real PostgreSQL and Redis servers for the tests, started in a temporary directory.

A given URL (``HOTLINE_TEST_PG_URL`` / ``HOTLINE_TEST_REDIS_URL``) is used instead; otherwise
the servers come from Debian's binaries, on free loopback ports, and die with the session.
They never touch a server that happens to run on the machine.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_port(port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"server on port {port} did not start in {timeout}s")


def _pg_bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if not found:
        raise RuntimeError("PostgreSQL binaries not found; install Debian's 'postgresql' "
                           "or set HOTLINE_TEST_PG_URL")
    return found[-1]


@contextmanager
def postgres_server() -> Iterator[str]:
    """Yield a ``postgresql://`` URL of a throwaway server (superuser ``postgres``)."""
    given = os.environ.get("HOTLINE_TEST_PG_URL")
    if given:
        yield given
        return
    tmp = Path(tempfile.mkdtemp(prefix="hotline-pg-"))
    data, port = tmp / "data", free_port()
    as_root = os.geteuid() == 0
    # initdb refuses to run as root: run the server as the 'postgres' system user.
    prefix = ["runuser", "-u", "postgres", "--"] if as_root else []
    if as_root:
        shutil.chown(tmp, "postgres")
    subprocess.run([*prefix, _pg_bin("initdb"), "-D", str(data), "-U", "postgres",
                    "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8"],
                   check=True, capture_output=True)
    proc = subprocess.Popen(
        [*prefix, _pg_bin("postgres"), "-D", str(data), "-p", str(port), "-h", "127.0.0.1",
         "-k", str(tmp), "-c", "fsync=off", "-c", "synchronous_commit=off",
         "-c", "full_page_writes=off", "-c", "max_connections=200"],
        stdout=subprocess.DEVNULL, stderr=open(tmp / "pg.log", "wb"))
    try:
        _wait_port(port)
        time.sleep(0.2)
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        remove_later(tmp)


def remove_later(path: Path) -> None:
    """Delete ``path`` in a detached ``rm -rf`` that outlives this process.

    A test server's data directory holds a database per test (~70,000 files after 150 of
    them): deleting it took 15 s of every test process's end, in CI's time, for nothing the
    tests look at.
    """
    try:
        subprocess.Popen(["rm", "-rf", "--", str(path)], stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         start_new_session=True)
    except OSError:
        shutil.rmtree(path, ignore_errors=True)


@contextmanager
def redis_server() -> Iterator[tuple[str, subprocess.Popen[bytes] | None]]:
    """Yield ``(redis:// URL, process or None when given)``."""
    given = os.environ.get("HOTLINE_TEST_REDIS_URL")
    if given:
        yield given, None
        return
    binary = shutil.which("redis-server") or "/usr/bin/redis-server"
    tmp = Path(tempfile.mkdtemp(prefix="hotline-redis-"))
    port = free_port()
    proc = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "no", "--dir", str(tmp)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_port(port)
        yield f"redis://127.0.0.1:{port}/0", proc
    finally:
        proc.terminate()
        proc.wait(10)
        shutil.rmtree(tmp, ignore_errors=True)
