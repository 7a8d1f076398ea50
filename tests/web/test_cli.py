"""The ``hotline`` command, run as a user would run it (a real subprocess)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.support.servers import free_port

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


def test_demo_user_add_and_serve_on_embedded_defaults(tmp_path: Path) -> None:
    env = _env(tmp_path)
    first = run(["demo"], env, tmp_path)
    assert first.returncode == 0, first.stderr
    assert "6 users" in first.stdout and (tmp_path / "hotline.db").exists()
    again = run(["demo"], env, tmp_path)
    assert "0 users, 0 groups, 0 types, 0 customers, 0 orders, 0 tickets, 0 kb, 0 products " \
        "added" in again.stdout

    made = run(["user", "add", "carol", "--role", "agent", "--password", PW,
                "--extension", "6003"], env, tmp_path)
    assert made.returncode == 0 and "created user carol" in made.stdout
    dup = run(["user", "add", "carol", "--role", "agent", "--password", PW], env,
              tmp_path)
    assert dup.returncode == 1 and "taken" in dup.stderr
    bad = run(["user", "add", "x y", "--role", "agent", "--password", PW], env,
              tmp_path)
    assert bad.returncode == 2 and "invalid user" in bad.stderr
    weak = run(["user", "add", "erin", "--role", "agent", "--password", "1234"], env, tmp_path)
    assert weak.returncode == 2 and "password" in weak.stderr and "10 characters" in weak.stderr
    # A customer login belongs to a customer record (the portal shows that customer's tickets).
    unlinked = run(["user", "add", "li", "--role", "customer", "--password", PW], env,
                   tmp_path)
    assert unlinked.returncode == 1 and "customer_id" in unlinked.stderr
    linked = run(["user", "add", "li", "--role", "customer", "--password", PW,
                  "--customer", "3"], env, tmp_path)
    assert linked.returncode == 0 and "role customer" in linked.stdout

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
        bad = run(["demo", "call", "--url", base, "--scenario", "nope"], env, tmp_path)
        assert bad.returncode == 1 and "422" in bad.stderr and "scenario" in bad.stderr
    finally:
        proc.terminate()
        proc.wait(10)
    gone = run(["demo", "call", "--url", base], env, tmp_path)
    assert gone.returncode == 1 and "cannot reach" in gone.stderr


def test_a_bad_setting_is_one_line_naming_it_without_its_value(
        monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    from web.cli import main

    monkeypatch.setenv("HOTLINE_WORKERS", "0")
    monkeypatch.setenv("HOTLINE_DB_POOL_SIZE", "lots-s3cret")
    assert main(["db", "upgrade"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all(line.startswith("hotline: HOTLINE_") for line in err)
    assert any(line.startswith("hotline: HOTLINE_WORKERS: ") for line in err)
    assert any(line.startswith("hotline: HOTLINE_DB_POOL_SIZE: ") for line in err)
    assert "lots-s3cret" not in "\n".join(err)
