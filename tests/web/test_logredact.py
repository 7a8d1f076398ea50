"""No token, password, secret or one-time code in any log line: the redaction rules, and a
real ``hotline serve`` (uvicorn, its access log on) whose captured output is grepped after
logins, bad logins, websocket connects and requests carrying credentials."""

from __future__ import annotations

import logging
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from websockets.sync.client import connect

from tests.support.servers import free_port
from tests.web.test_cli import HOTLINE, _env, run
from web.logredact import RedactFilter, install_redaction, redact

JWT = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxIiwiZXhwIjoxfQ.c2lnbmF0dXJlLXBhcnQ"


@pytest.mark.parametrize(("line", "secret"), [
    (f'127.0.0.1:5 - "GET /ws?token={JWT} HTTP/1.1" 101', JWT),
    ("GET /ws?token=opaque-session-123 HTTP/1.1", "opaque-session-123"),
    ("POST /cb?code=493817&state=x", "493817"),
    ("GET /x?access_token=abc123def&page=2", "abc123def"),
    ("url: /reset?password=hunter2", "hunter2"),
    ("{'username': 'alice', 'password': 'hunter2'}", "hunter2"),
    ('{"secret": "s3cr3t-value", "ok": 1}', "s3cr3t-value"),
    ("headers: Authorization: Bearer abc.def.ghi", "abc.def.ghi"),
    (f"bare token in text {JWT} end", JWT),
    ("HOTLINE_SECRET_KEY=verysecretkey", "verysecretkey"),
    ("otp=112233 sent", "112233"),
    ("ivr lookup number=123&pin=042917", "042917"),
    ('{"number": "T-000123", "pin": "042917"}', "042917"),
])
def test_credentials_are_masked(line: str, secret: str) -> None:
    out = redact(line)
    assert secret not in out and "[redacted]" in out


@pytest.mark.parametrize("line", ["GET /api/v1/tickets?q=E21&limit=50 HTTP/1.1 200",
                                  "call pbx1:1795400001.101 answered by 6001",
                                  "customer +8613911112222 found",
                                  "mapping=zh spin=3 shipping=2"])
def test_ordinary_lines_are_untouched(line: str) -> None:
    assert redact(line) == line


def test_records_keep_their_argument_shape(caplog: pytest.LogCaptureFixture) -> None:
    install_redaction()
    logger = logging.getLogger("hotline.test")
    with caplog.at_level(logging.INFO, logger="hotline.test"):
        logger.info('%s - "%s %s HTTP/%s" %d', "127.0.0.1:1", "GET", f"/ws?token={JWT}",
                    "1.1", 101)
        logger.info("login failed for %(user)s with %(body)s",
                    {"user": "bob", "body": "password=wrong-pass"})
    text = caplog.text
    assert JWT not in text and "wrong-pass" not in text
    assert "/ws?token=[redacted]" in text and "login failed for bob" in text
    record = logging.LogRecord("x", logging.INFO, "f", 1, "a %s", ("token=zzz",), None)
    assert RedactFilter().filter(record) and record.getMessage() == "a token=[redacted]"


def test_objects_logged_as_arguments_are_redacted_as_they_print(
        caplog: pytest.LogCaptureFixture) -> None:
    """httpx logs ``HTTP Request: %s %s`` with an ``httpx.URL``, not a str."""
    install_redaction()
    logger = logging.getLogger("hotline.test")
    with caplog.at_level(logging.INFO, logger="hotline.test"):
        logger.info("HTTP Request: %s %s", "GET",
                    httpx.URL(f"http://127.0.0.1:1/ws?token={JWT}"))
        logger.info("headers %s", {"authorization": f"Bearer {JWT}"})
        logger.info("raw %s", b"password=hunter2&x=1")
        logger.info("took %d ms for %s", 12, httpx.URL("http://127.0.0.1:1/healthz"))
    assert JWT not in caplog.text and "hunter2" not in caplog.text
    assert "took 12 ms for http://127.0.0.1:1/healthz" in caplog.text


def test_a_real_server_logs_no_credentials(tmp_path: Path) -> None:
    env = {**_env(tmp_path), "HOTLINE_SECRET_KEY": "server-signing-key-" + "q" * 30}
    assert run(["demo"], env, tmp_path).returncode == 0
    port = free_port()
    log_path = tmp_path / "serve.log"
    with log_path.open("wb") as log_file:
        proc = subprocess.Popen([*HOTLINE, "serve", "--port", str(port)], env=env,
                                cwd=tmp_path, stdout=log_file, stderr=subprocess.STDOUT)
        try:
            tokens = _exercise(f"127.0.0.1:{port}")
        finally:
            proc.terminate()
            proc.wait(15)
    lines = log_path.read_text(errors="replace")
    assert "/ws?token=[redacted]" in lines  # the access log did write the websocket lines
    assert "POST /api/v1/auth/login" in lines
    for secret in [*tokens, "demo-wrong-pass", "query-pass-77", "server-signing-key-"]:
        assert secret not in lines, secret
    assert "eyJ" not in lines


def _exercise(host: str) -> list[str]:
    base = f"http://{host}"
    with httpx.Client(base_url=base, timeout=10) as client:
        for _ in range(300):
            try:
                client.get("/healthz")
                break
            except httpx.TransportError:
                time.sleep(0.1)
        tokens = []
        for user in ["alice", "bob"]:
            resp = client.post("/api/v1/auth/login", json={"username": user,
                                                           "password": "demo"})
            assert resp.status_code == 200, resp.text
            tokens.append(resp.json()["access_token"])
        bad = client.post("/api/v1/auth/login", json={"username": "alice",
                                                      "password": "demo-wrong-pass"})
        assert bad.status_code == 401
        client.get("/api/v1/tickets", params={"password": "query-pass-77",
                                              "access_token": tokens[0]})
        client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {tokens[1]}"})
    for token in tokens:
        with connect(f"ws://{host}/ws?token={token}") as ws:
            ws.recv(timeout=5)
    return tokens
