"""web/edge.py over a real uvicorn: body limits (declared and streamed), the login gate
before any body is read, and ``nosniff`` everywhere.

The bodies are real: tens of MiB pushed through a socket, declared or chunked. The server
runs in this process (tests/support/live.py), so this process's RSS is the server's memory:
a body read into memory would show there.
"""

from __future__ import annotations

import json
import re
import select
import socket
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.support.live import LiveServer
from web.edge import MULTIPART_MARGIN

MiB = 1024 * 1024


def rss_mib() -> float:
    with open("/proc/self/status") as f:
        kb = next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))
    return kb / 1024


def raw(port: int, head: str, body: Iterator[bytes] = iter(())) -> tuple[int, dict[str, str],
                                                                          bytes, int]:
    """Send ``head`` then ``body`` chunk by chunk, stopping as soon as the server answers;
    → (status, headers, body, body bytes sent)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    sent = 0
    try:
        sock.sendall(head.encode())
        for chunk in body:
            readable, _, _ = select.select([sock], [], [], 0)
            if readable:
                break  # the server answered (and will close): stop sending
            try:
                sock.sendall(chunk)
            except (BrokenPipeError, ConnectionResetError):
                break
            sent += len(chunk)
        data = b""
        while b"\r\n\r\n" not in data or len(data) < _wanted(data):
            part = sock.recv(65536)
            if not part:
                break
            data += part
    finally:
        sock.close()
    head_raw, _, rest = data.partition(b"\r\n\r\n")
    lines = head_raw.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:])}
    return status, headers, rest, sent


def _wanted(data: bytes) -> int:
    head, _, _ = data.partition(b"\r\n\r\n")
    m = re.search(rb"content-length:\s*(\d+)", head, re.I)
    return len(head) + 4 + (int(m.group(1)) if m else 0)


def zeros(total: int, chunk: int = 256 * 1024) -> Iterator[bytes]:
    block = b"0" * chunk
    for _ in range(total // chunk):
        yield block


PART_HEAD = (b'--xyz\r\nContent-Disposition: form-data; name="file"; filename="a.bin"\r\n'
             b"Content-Type: text/plain\r\n\r\n")


def chunked(total: int, chunk: int = 256 * 1024, first: bytes = b"") -> Iterator[bytes]:
    block = b"0" * chunk
    frame = f"{chunk:x}\r\n".encode() + block + b"\r\n"
    if first:
        yield f"{len(first):x}\r\n".encode() + first + b"\r\n"
    for _ in range(total // chunk):
        yield frame
    yield b"0\r\n\r\n"


def token(server: LiveServer, username: str = "admin") -> str:
    r = httpx.post(f"{server.url}/api/v1/auth/login",
                   json={"username": username, "password": "demo"})
    r.raise_for_status()
    return str(r.json()["access_token"])


def test_anonymous_100mib_json_is_refused_unread(live_server: LiveServer) -> None:
    before = rss_mib()
    started = time.monotonic()
    status, headers, body, _ = raw(
        live_server.port,
        "POST /api/v1/tickets HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Content-Length: {100 * MiB}\r\n\r\n", zeros(100 * MiB))
    assert status == 413
    assert "1048576 bytes" in json.loads(body)["detail"]
    assert headers["x-content-type-options"] == "nosniff"
    assert time.monotonic() - started < 5
    assert rss_mib() - before < 30, "the declared body must not be read into memory"


def test_anonymous_upload_gets_401_before_its_body(live_server: LiveServer) -> None:
    """5 MiB declared (within the upload limit), not a byte sent: the 401 comes anyway."""
    status, headers, body, _ = raw(
        live_server.port,
        "POST /api/v1/tickets/1/attachments HTTP/1.1\r\nHost: x\r\n"
        "Content-Type: multipart/form-data; boundary=xyz\r\n"
        f"Content-Length: {5 * MiB}\r\n\r\n")
    assert status == 401
    assert headers["www-authenticate"] == "Bearer"
    assert "not authenticated" in json.loads(body)["detail"]


def test_forged_token_is_401_before_the_body(live_server: LiveServer) -> None:
    status, _, _, _ = raw(
        live_server.port,
        "POST /api/v1/customers HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer abc.def.ghi\r\n"
        f"Content-Type: application/json\r\nContent-Length: {512 * 1024}\r\n\r\n")
    assert status == 401


def test_oversized_upload_is_413_naming_the_limit(live_server: LiveServer) -> None:
    limit = live_server.services.settings.attachment_max_bytes + MULTIPART_MARGIN
    status, _, body, _ = raw(
        live_server.port,
        f"POST /api/v1/tickets/1/attachments HTTP/1.1\r\nHost: x\r\n"
        f"Authorization: Bearer {token(live_server)}\r\n"
        "Content-Type: multipart/form-data; boundary=xyz\r\n"
        f"Content-Length: {300 * MiB}\r\n\r\n", zeros(300 * MiB))
    assert status == 413
    assert f"{limit} bytes" in json.loads(body)["detail"]


@pytest.mark.parametrize(("path", "content_type"), [
    ("/api/v1/tickets", "application/json"),
    ("/api/v1/tickets/1/attachments", "multipart/form-data; boundary=xyz")])
def test_chunked_body_is_cut_at_the_limit(live_server: LiveServer, path: str,
                                          content_type: str) -> None:
    """No Content-Length: the bytes are counted, the body cut off, memory stays flat."""
    tok = token(live_server)
    raw(live_server.port, f"GET /api/v1/auth/me HTTP/1.1\r\nHost: x\r\n"
                          f"Authorization: Bearer {tok}\r\nConnection: close\r\n\r\n")
    before = rss_mib()
    status, headers, body, sent = raw(
        live_server.port,
        f"POST {path} HTTP/1.1\r\nHost: x\r\n"
        f"Authorization: Bearer {tok}\r\nContent-Type: {content_type}\r\n"
        "Transfer-Encoding: chunked\r\n\r\n",
        chunked(100 * MiB, first=PART_HEAD if "multipart" in content_type else b""))
    grown = rss_mib() - before
    assert status == 413, body
    assert "may be at most" in json.loads(body)["detail"]
    assert headers["x-content-type-options"] == "nosniff"
    assert sent < 60 * MiB, "the server must stop reading, not drain 100 MiB"
    assert grown < 30, f"RSS grew {grown:.0f} MiB"


def test_bodies_within_the_limit_still_work(live_server: LiveServer) -> None:
    headers = {"Authorization": f"Bearer {token(live_server)}"}
    big = httpx.post(f"{live_server.url}/api/v1/tickets", headers=headers,
                     json={"title": "edge test", "description": "x" * (900 * 1024)})
    assert big.status_code == 422, big.text  # read and parsed whole: the field rule answers
    assert big.json()["detail"][0]["loc"] == ["body", "description"]
    r = httpx.post(f"{live_server.url}/api/v1/tickets", headers=headers,
                   json={"title": "edge test"})
    assert r.status_code == 201, r.text
    files = {"file": ("a.txt", b"a" * (2 * MiB), "text/plain")}
    up = httpx.post(f"{live_server.url}/api/v1/tickets/{r.json()['id']}/attachments",
                    headers=headers, files=files)
    assert up.status_code == 201, up.text
    down = httpx.get(f"{live_server.url}/api/v1/tickets/{r.json()['id']}/attachments/"
                     f"{up.json()['id']}", headers=headers)
    assert down.status_code == 200
    assert down.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize("path", ["/api/v1/tickets", "/api/v1/auth/me", "/no/such/route",
                                  "/readyz", "/healthz", "/login", "/static/js/socket.js"])
def test_every_response_has_nosniff(live_server: LiveServer, path: str) -> None:
    r = httpx.get(f"{live_server.url}{path}")
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers.get_list("x-content-type-options") == ["nosniff"]


def test_gate_leaves_unknown_routes_and_methods_alone(live_server: LiveServer) -> None:
    """404 and 405 stay what they are; public writes (login) are not gated."""
    assert httpx.post(f"{live_server.url}/api/v1/nothing-here").status_code == 404
    r = httpx.post(f"{live_server.url}/api/v1/auth/me")
    assert r.status_code == 405 and "GET" in r.headers["allow"]
    bad = httpx.post(f"{live_server.url}/api/v1/auth/login",
                     json={"username": "nobody", "password": "x"})
    assert bad.status_code == 401 and bad.json()["detail"] == "wrong username or password"
