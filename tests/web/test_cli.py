"""The ``hotline`` command, run as a user would run it (a real subprocess)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.support.servers import free_port
from web.cli import main

HOTLINE = [sys.executable, "-m", "web.cli"]

#: A password the policy accepts (tickets/passwords.py).
PW = "copper-kettle-91"


def run(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*HOTLINE, *args], env=env, cwd=cwd, capture_output=True, text=True,
                          timeout=120)


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOTLINE_")}
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2])
    return env


def in_process(args: list[str], env: dict[str, str], cwd: Path,
               monkeypatch: pytest.MonkeyPatch,
               capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """``hotline …`` through :func:`web.cli.main` in this process: the same code as the
    command without a Python start and the app's import (~1-3 s each on CI's machine), for
    the answers whose point is the message, not the process."""
    with monkeypatch.context() as m:
        m.chdir(cwd)
        for key in [k for k in os.environ if k.startswith("HOTLINE_")]:
            m.delenv(key)
        for key, value in env.items():
            if key.startswith("HOTLINE_"):
                m.setenv(key, value)
        capsys.readouterr()
        code = main(args)
        out, err = capsys.readouterr()
    return code, out, err


def test_demo_user_add_and_serve_on_embedded_defaults(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    env = _env(tmp_path)

    def cli(*args: str) -> tuple[int, str, str]:
        return in_process(list(args), env, tmp_path, monkeypatch, capsys)

    # The real command, as the README gives it: demo data, a user, serve, a demo call.
    first = run(["demo"], env, tmp_path)
    assert first.returncode == 0, first.stderr
    assert "10 users" in first.stdout and (tmp_path / "hotline.db").exists()
    made = run(["user", "add", "carol", "--role", "agent", "--password", PW,
                "--extension", "6003"], env, tmp_path)
    assert made.returncode == 0 and "created user carol" in made.stdout

    code, out, _ = cli("demo")
    assert code == 0 and "0 users, 0 groups, 0 types, 0 customers, 0 orders, 0 tickets, " \
        "0 kb, 0 products, 0 engineers, 0 work_orders, 0 equipment, 0 schedules added" in out
    code, _, err = cli("user", "add", "carol", "--role", "agent", "--password", PW)
    assert code == 1 and "taken" in err
    code, _, err = cli("user", "add", "x y", "--role", "agent", "--password", PW)
    assert code == 2 and "invalid user" in err
    code, _, err = cli("user", "add", "erin", "--role", "agent", "--password", "1234")
    assert code == 2 and "password" in err and "10 characters" in err
    # A customer login belongs to a customer record (the portal shows that customer's tickets).
    code, _, err = cli("user", "add", "li", "--role", "customer", "--password", PW)
    assert code == 1 and "customer_id" in err
    code, out, _ = cli("user", "add", "li", "--role", "customer", "--password", PW,
                       "--customer", "3")
    assert code == 0 and "role customer" in out

    port = free_port()
    proc = subprocess.Popen([*HOTLINE, "serve", "--port", str(port)], env=env, cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.1)
        base = f"http://127.0.0.1:{port}"
        assert httpx.get(f"{base}/healthz").status_code == 200
        token = httpx.post(f"{base}/api/v1/auth/login",
                           json={"username": "carol", "password": PW}).json()
        assert token["token_type"] == "bearer"
        assert httpx.get(f"{base}/readyz").json() == {"status": "ready"}  # anonymous: up/down
        pbx = httpx.get(f"{base}/api/v1/pbx",
                        headers={"Authorization": f"Bearer {token['access_token']}"}).json()
        assert pbx["mode"] == "demo"  # no PBX configured: the demo PBX runs

        # `hotline demo call` reaches the demo PBX inside this separate serve process.
        rung = run(["demo", "call", "--url", base, "--to", "6002", "--scenario", "abandoned"],
                   env, tmp_path)
        assert rung.returncode == 0, rung.stderr
        assert rung.stdout.startswith("ringing: abandoned call from +86")
        code, _, err = cli("demo", "call", "--url", base, "--scenario", "nope")
        assert code == 1 and "422" in err and "scenario" in err
    finally:
        proc.terminate()
        proc.wait(10)
    code, _, err = cli("demo", "call", "--url", base)
    assert code == 1 and "cannot reach" in err


def test_a_bad_setting_is_one_line_naming_it_without_its_value(
        monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("HOTLINE_WORKERS", "0")
    monkeypatch.setenv("HOTLINE_DB_POOL_SIZE", "lots-s3cret")
    assert main(["db", "upgrade"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all(line.startswith("hotline: HOTLINE_") for line in err)
    assert any(line.startswith("hotline: HOTLINE_WORKERS: ") for line in err)
    assert any(line.startswith("hotline: HOTLINE_DB_POOL_SIZE: ") for line in err)
    assert "lots-s3cret" not in "\n".join(err)
