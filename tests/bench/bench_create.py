"""Ticket creates over HTTP: one ``hotline serve`` driven by ``wrk`` at a fixed concurrency.

Run from the repository root (about a minute):
    .venv/bin/python -m tests.bench.bench_create [--db pg|sqlite] [--concurrency 20]
        [--seconds 20] [--warmup 5] [--workers N] [--profile FILE.svg|FILE.txt]
Against any other helpdesk (or a Hotline started elsewhere), the same load generator:
    .venv/bin/python -m tests.bench.bench_create --url http://host:port --path /api/... \\
        --token TOKEN [--header 'Cookie: …'] [--body '{"json": …}'] [--server-pid PID]

Set-up, all real: a throwaway PostgreSQL server (``tests/support/servers.py``; or a temporary
SQLite file with ``--db sqlite``), migrated, with the demo data; ``hotline serve`` (the real
CLI, its access log on as in production) in its own process; ``alice`` (an agent) logs in
once. The load generator is ``wrk`` (C, one thread, keep-alive HTTP/1.1; installed by
``scripts/setup.sh test``) in a third process, so the client costs the server's two cores
almost nothing — a Python client (httpx) ate about as much CPU as the server did. Every
request is the same agent's ``POST /api/v1/tickets``: a repair ticket for a known customer,
as an agent files it during a call (type → flow group, customer check, history row, bus
event).

A warm-up run (discarded), a wait for the machine to go quiet (``common.settle``), then the
measured run. Printed: the machine, the load average before, the CPU busy % and load during
the measured window (``common.LoadSampler``), creates/s (2xx answers only), median, p99 and
max latency, error counts (connect/read/write/timeout, non-2xx), and the server's CPU time
per create (``/proc/<pid>/stat`` of the server and its child processes, before/after) — the
figure that holds still when other work shares the machine.

``--workers N`` is passed to ``hotline serve --workers N``; with N > 1 the benchmark starts a
throwaway Redis too (``serve`` needs ``HOTLINE_REDIS_URL`` then). ``--workers 1,2`` measures
each in turn on the same database (a fresh server each) and prints the ratio: the scaling
figure of issue #19 (2 workers ≥ 1.3× one on PostgreSQL), both sides in one run.

Targets (issue #19), one process, concurrency 20: PostgreSQL ≥ 400 creates/s with
p99 ≤ 100 ms; SQLite p99 ≤ 250 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.bench.common import LoadSampler, machine, settle, stop_process, wait_http  # noqa: E402
from tests.support.db import PostgresFactory, SqliteFactory  # noqa: E402
from tests.support.servers import free_port, postgres_server, redis_server  # noqa: E402

TARGET_RATE = {"pg": 400.0}
TARGET_P99_MS = {"pg": 100.0, "sqlite": 250.0}
CLK_TCK = os.sysconf("SC_CLK_TCK")

#: ``wrk``'s script: the request is fixed (pre-encoded once); ``done`` prints one JSON line.
WRK_LUA = r"""
wrk.method = "POST"
wrk.body = __BODY__
__HEADERS__
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'RESULT {"requests": %d, "duration_us": %d, "connect": %d, "read": %d, "write": %d, ' ..
    '"status": %d, "timeout": %d, "p50_us": %d, "p99_us": %d, "max_us": %d, ' ..
    '"mean_us": %.1f}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99), latency.max, latency.mean))
end
"""


def lua_string(text: str) -> str:
    return json.dumps(text)  # a JSON string of ASCII is a valid Lua string literal


def wrk_script(body: str, headers: dict[str, str]) -> str:
    lines = "\n".join(f"wrk.headers[{lua_string(k)}] = {lua_string(v)}"
                      for k, v in headers.items())
    return WRK_LUA.replace("__BODY__", lua_string(body)).replace("__HEADERS__", lines)


@dataclass
class WrkResult:
    requests: int
    seconds: float
    errors: dict[str, int]
    p50_ms: float
    p99_ms: float
    max_ms: float

    @property
    def ok(self) -> int:
        return self.requests - self.errors["status"]


def run_wrk(url: str, script: Path, connections: int, seconds: float) -> WrkResult:
    """One ``wrk`` run (one thread, ``connections`` keep-alive connections)."""
    wrk = shutil.which("wrk")
    if wrk is None:
        raise SystemExit("wrk not found: run 'bash scripts/setup.sh test' (it installs wrk)")
    out = subprocess.run(
        [wrk, "-t", "1", "-c", str(connections), "-d", f"{seconds:g}s", "--timeout", "10s",
         "-s", str(script), url], capture_output=True, text=True, check=True).stdout
    match = re.search(r"^RESULT (\{.*\})$", out, re.M)
    if match is None:
        raise RuntimeError(f"wrk printed no result:\n{out}")
    r = json.loads(match.group(1))
    return WrkResult(requests=r["requests"], seconds=r["duration_us"] / 1e6,
                     errors={k: r[k] for k in ("connect", "read", "write", "timeout", "status")},
                     p50_ms=r["p50_us"] / 1000, p99_ms=r["p99_us"] / 1000,
                     max_ms=r["max_us"] / 1000)


def tree_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of ``pid`` and every live descendant (``--workers``)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(entry))
    total, todo = 0.0, [pid]
    while todo:
        p = todo.pop()
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime, stime
        todo.extend(children.get(p, []))
    return total


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"{one:.2f} (5 min {five:.2f})"


@contextmanager
def database(kind: str, tmp: Path) -> Iterator[str]:
    """A migrated database with the demo data: its URL."""
    if kind == "sqlite":
        yield asyncio.run(SqliteFactory(tmp).new(demo=True))
        return
    with postgres_server() as server_url:
        yield asyncio.run(PostgresFactory(server_url).new(demo=True))


def start_server(port: int, db_url: str, tmp: Path, workers: int | None,
                 redis_url: str | None = None) -> subprocess.Popen[bytes]:
    """The real ``hotline serve`` (access log on, as in production), output to a file."""
    env = {**os.environ, "HOTLINE_DATABASE_URL": db_url, "HOTLINE_AMI_URL": "off",
           "HOTLINE_SECRET_KEY": "bench-secret-0123456789abcdef0123456789",
           "HOTLINE_DATA_DIR": str(tmp / "var")}
    if redis_url:
        env["HOTLINE_REDIS_URL"] = redis_url
    hotline = Path(sys.executable).with_name("hotline")
    cmd = [str(hotline), "serve", "--port", str(port), "--no-migrate"]
    if workers is not None:
        cmd += ["--workers", str(workers)]
    return subprocess.Popen(cmd, env=env, cwd=tmp, stdout=open(tmp / "server.log", "wb"),
                            stderr=subprocess.STDOUT)


def hotline_request(base: str) -> tuple[str, dict[str, str]]:
    """Log in as the agent ``alice``; the create's body and headers."""
    with httpx.Client(base_url=base, timeout=30) as client:
        r = client.post("/api/v1/auth/login", json={"username": "alice", "password": "demo"})
        r.raise_for_status()
        headers = {"Authorization": f"Bearer {r.json()['access_token']}",
                   "Content-Type": "application/json"}
        customers = client.get("/api/v1/customers", params={"limit": 1}, headers=headers)
        customers.raise_for_status()
        body = {"title": "Washing machine does not spin",
                "description": "Customer called: the drum stops after filling.",
                "type": "repair", "fields": {"fault": "drum does not spin"},
                "customer_id": customers.json()[0]["id"], "channel": "phone"}
        probe = client.post("/api/v1/tickets", json=body, headers=headers)
        if probe.status_code != 201:
            raise RuntimeError(f"a create was refused: {probe.status_code} {probe.text}")
    return json.dumps(body, ensure_ascii=True), headers


def measure(url: str, body: str, headers: dict[str, str], args: argparse.Namespace,
            server_pid: int | None, label: str) -> WrkResult:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(wrk_script(body, headers))
        script = Path(f.name)
    try:
        if args.warmup > 0:
            run_wrk(url, script, args.concurrency, args.warmup)
        if args.settle > 0:
            settle(timeout_s=args.settle)  # the set-up and the warm-up's load
        print(f"load avg before: {load()}", flush=True)
        cpu0 = tree_cpu_seconds(server_pid) if server_pid else 0.0
        profiler = None
        if args.profile and server_pid:
            py_spy = Path(sys.executable).with_name("py-spy")
            profiler = subprocess.Popen(
                [str(py_spy), "record", "-p", str(server_pid), "-o", args.profile,
                 "-d", str(int(args.seconds)), "-r", "100", "--subprocesses",
                 "-f", "flamegraph" if args.profile.endswith(".svg") else "raw"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        with LoadSampler("the measured window") as sampler:
            result = run_wrk(url, script, args.concurrency, args.seconds)
        during = load()
        cpu = tree_cpu_seconds(server_pid) - cpu0 if server_pid else None
        if profiler is not None:
            profiler.wait(60)
    finally:
        script.unlink()
    errors = {k: v for k, v in result.errors.items() if v}
    print(f"{label}: concurrency {args.concurrency}, {result.seconds:.1f} s: "
          f"{result.ok / result.seconds:.1f} creates/s  median={result.p50_ms:.1f} ms "
          f"p99={result.p99_ms:.1f} ms max={result.max_ms:.1f} ms  "
          f"errors={errors or 0}")
    if cpu is not None and result.ok:
        print(f"server CPU: {cpu:.2f} s = {cpu / result.ok * 1000:.2f} ms per create")
    print(sampler.report())
    print(f"load avg at the end of the measured window: {during}")
    if args.profile and server_pid:
        print(f"py-spy profile of the measured window: {args.profile}")
    return result


def run_one(args: argparse.Namespace, db_url: str, tmp: Path, workers: int | None,
            redis_url: str | None) -> WrkResult:
    """Start ``hotline serve [--workers N]``, log in, measure, stop it."""
    port = free_port()
    server = start_server(port, db_url, tmp, workers, redis_url)
    base = f"http://127.0.0.1:{port}"
    try:
        asyncio.run(wait_http(base + "/healthz"))
        body, headers = hotline_request(base)
        label = f"hotline serve{f' --workers {workers}' if workers else ''} on {args.db}"
        return measure(base + "/api/v1/tickets", body, headers, args, server.pid, label)
    finally:
        stop_process(server)


def run_local(args: argparse.Namespace) -> int:
    counts: list[int | None] = ([int(n) for n in args.workers.split(",")] if args.workers
                                else [None])
    tmp = Path(tempfile.mkdtemp(prefix="bench-create-"))
    results: list[WrkResult] = []
    try:
        with database(args.db, tmp) as db_url:
            if any((n or 1) > 1 for n in counts):
                with redis_server() as (redis_url, _):
                    for n in counts:
                        results.append(run_one(args, db_url, tmp, n, redis_url))
            else:
                for n in counts:
                    results.append(run_one(args, db_url, tmp, n, None))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if len(results) > 1:
        base = results[0].ok / results[0].seconds
        for n, r in zip(counts[1:], results[1:], strict=True):
            rate = r.ok / r.seconds
            print(f"--workers {n} vs --workers {counts[0] or 1}: "
                  f"{rate:.1f} / {base:.1f} creates/s = {rate / base:.2f}x (target with 2 on "
                  f"PostgreSQL: >= 1.3x)")
    if (counts[0] or 1) > 1:
        return 0  # the targets below are for one process
    result = results[0]
    rate = result.ok / result.seconds
    met = rate >= TARGET_RATE.get(args.db, 0.0) and result.p99_ms <= TARGET_P99_MS[args.db]
    want = (f"≥ {TARGET_RATE[args.db]:.0f}/s and " if args.db in TARGET_RATE else "") + \
        f"p99 ≤ {TARGET_P99_MS[args.db]:.0f} ms"
    print(f"target ({args.db}, one process, concurrency 20): {want}: "
          f"{'met' if met else 'MISSED'}")
    return 0 if met else 1


def run_remote(args: argparse.Namespace) -> int:
    headers = {"Content-Type": "application/json"}
    if args.token:
        headers["Authorization"] = f"Bearer {args.token}"
    for h in args.header:
        name, _, value = h.partition(":")
        headers[name.strip()] = value.strip()
    body = args.body or json.dumps({"title": "Washing machine does not spin",
                                    "description": "the drum stops after filling"})
    url = args.url.rstrip("/") + args.path
    measure(url, body, headers, args, args.server_pid, url)
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", choices=("pg", "sqlite"), default="pg")
    ap.add_argument("--concurrency", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=20.0, help="measured window")
    ap.add_argument("--warmup", type=float, default=5.0, help="discarded run before it")
    ap.add_argument("--settle", type=float, default=20.0,
                    help="wait at most this long for the machine to go quiet before the "
                         "measured window (common.settle); 0: do not wait")
    ap.add_argument("--workers", metavar="N[,N...]",
                    help="passed to 'hotline serve --workers N' (with a throwaway Redis when "
                         "N > 1); a list measures each in turn and prints the ratio")
    ap.add_argument("--profile", metavar="FILE",
                    help="py-spy profile of the server during the measured window "
                         "(flame graph if FILE ends in .svg, else collapsed stacks)")
    ap.add_argument("--url", help="drive this server instead (e.g. another helpdesk)")
    ap.add_argument("--path", default="/api/v1/tickets", help="with --url: the create route")
    ap.add_argument("--token", help="with --url: sent as 'Authorization: Bearer TOKEN'")
    ap.add_argument("--header", action="append", default=[], help="with --url: 'Name: value'")
    ap.add_argument("--body", help="with --url: the JSON body of each create")
    ap.add_argument("--server-pid", type=int, help="with --url: for the CPU per create")
    args = ap.parse_args()
    print(f"machine: {machine()}")
    return run_remote(args) if args.url else run_local(args)


if __name__ == "__main__":
    sys.exit(main())
