"""Call bursts over AMI vs. API responsiveness: issue #9's "a burst of calls takes the API down".

Run from the repository root (about 2.5 minutes with the defaults):
    .venv/bin/python -m tests.bench.bench_burst [--postgres] [--rates 20,100,500]
        [--seconds 10] [--settle 30] [--hold 1.0] [--no-ring]

Three processes, so that the load generator and the probes do not share the app's core time:

* **the app**: the real ``hotline`` app (``web.app.create_app`` under uvicorn, configured by
  ``HOTLINE_*`` like ``hotline serve``) on a fresh database with the demo data: SQLite by
  default, ``--postgres`` for a throwaway PostgreSQL server. Its stderr goes to a file; the
  number of ``QueuePool limit`` errors and ERROR lines in it is printed per run.
* **the PBX**: :class:`telephony.simulator.FakeAsterisk` (real TCP, real login and resync);
  on "go" it writes, for each call, a ``Newchannel`` from a caller never seen before (unique
  number), with ``--ring`` (the default) an agent leg on ``PJSIP/6001`` (alice) that rings (a
  ``Newchannel`` + ``Newstate Ringing``: a screen pop and its caller lookup), and ``--hold``
  seconds later the ``Hangup`` of every leg. Calls are started on a 10 ms tick at the given
  rate for ``--seconds``; its socket writes wait when the app stops reading (TCP
  back-pressure), so the calls/s actually sent are printed too.
* **the probes** (this process): ``GET /api/v1/tickets`` (logged in as admin) and
  ``GET /readyz``, each ``--probe-hz`` times a second, with a 10 s timeout (a timeout counts
  as 10,000 ms), and the app's RSS (``/proc/<pid>/status``) every 0.25 s.

Per rate: API p50/p99 during the burst (both probes together and each), the call-log rows
written vs. calls sent (counted in the database until they match, at most ``--rows-wait`` s),
RSS at the burst's start / peak / ``--settle`` s after the burst, and the recovery time: from
the end of the burst until the API's rolling 2 s p99 is back under
``max(2 × baseline p99, baseline p99 + 20 ms)`` (baseline: the 5 s of probes before the
first burst) *and* RSS is within 10 % of the RSS at the start of the run. Target (issue #9):
API p99 ≤ 250 ms at 500 calls/s; memory back within 10 % of the start within 30 s.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing as mp
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import httpx

from tests.bench.common import LoadSampler, asettle, machine, pct
from tests.support.servers import free_port, postgres_server

ROOT = Path(__file__).resolve().parents[2]
SECRET = "bench-burst-secret-0123456789abcdef0123456789"
TIMEOUT_S = 10.0


# --------------------------------------------------------------------------- the PBX process
def fake_pbx(conn: Connection) -> None:
    asyncio.run(_fake_pbx(conn))


async def _fake_pbx(conn: Connection) -> None:
    """Serve AMI; on ("go", params) play one burst and report what was sent."""
    from telephony.simulator import FakeAsterisk

    server = FakeAsterisk()
    port = await server.start()
    conn.send(port)
    first = 0
    try:
        while True:
            cmd, params = await asyncio.to_thread(conn.recv)
            if cmd != "go":
                return
            conn.send(await _burst(server, first, params))
            first += params["calls"]
    finally:
        await server.stop()


async def _burst(server: Any, first: int, params: dict[str, Any]) -> dict[str, Any]:
    from telephony.simulator import burst_call

    rate, calls, hold, ring = params["rate"], params["calls"], params["hold"], params["ring"]
    base = 1_900_000_000
    hangups: list[tuple[float, bytes]] = []
    t0 = time.monotonic()
    started = 0
    t_started = t0
    while started < calls or hangups:
        now = time.monotonic()
        due = min(calls, int((now - t0) * rate) + 1)
        chunk = []
        while started < due:
            start, end = burst_call(first + started, base, "6001" if ring else None)
            chunk.append(start)
            hangups.append((now + hold, end))
            started += 1
            t_started = now
        while hangups and hangups[0][0] <= now:
            chunk.append(hangups.pop(0)[1])
        if chunk:
            await server.broadcast(b"".join(chunk))  # waits while the app does not read
        await asyncio.sleep(0.01)
    # Span of the call starts: the rate actually achieved (the socket may have waited).
    return {"sent": calls, "span": max(t_started - t0, 1e-3) * calls / max(calls - 1, 1),
            "first": f"{base}.{2 * first}"}


# --------------------------------------------------------------------------- the app process
def serve(port: int) -> None:
    import logging

    import uvicorn

    from web.app import create_app
    from web.settings import Settings

    logging.basicConfig(level=logging.WARNING,
                        format="app: %(asctime)s %(levelname)s %(name)s: %(message)s")
    with contextlib.suppress(KeyboardInterrupt):
        uvicorn.run(create_app(Settings()), host="127.0.0.1", port=port,
                    log_level="warning", ws_ping_interval=None)


# --------------------------------------------------------------------------- probes
def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


class Probes:
    """API latency samples (t_start, ms, path, ok) and RSS samples (t, MB), all monotonic."""

    def __init__(self, base: str, token: str, pid: int, hz: float) -> None:
        self.base, self.token, self.pid, self.hz = base, token, pid, hz
        self.api: list[tuple[float, float, str, bool]] = []
        self.rss: list[tuple[float, float]] = []
        self._tasks: list[asyncio.Task[None]] = []

    async def __aenter__(self) -> Probes:
        self._tasks = [asyncio.create_task(self._probe("/api/v1/tickets")),
                       asyncio.create_task(self._probe("/readyz")),
                       asyncio.create_task(self._memory())]
        return self

    async def __aexit__(self, *exc: object) -> None:
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _probe(self, path: str) -> None:
        headers = {"Authorization": f"Bearer {self.token}"}
        async with httpx.AsyncClient(base_url=self.base, timeout=TIMEOUT_S,
                                     headers=headers) as client:
            period = 1 / self.hz
            while True:
                t = time.monotonic()

                async def one(t: float = t) -> None:
                    try:
                        r = await client.get(path)
                        ok = r.status_code == 200
                        ms = (time.monotonic() - t) * 1000
                    except httpx.HTTPError:
                        ok, ms = False, TIMEOUT_S * 1000
                    self.api.append((t, ms, path, ok))

                # Each probe on its own task: a slow answer does not thin the samples.
                asyncio.create_task(one())  # noqa: RUF006 - awaited by the deadline
                await asyncio.sleep(max(0.0, t + period - time.monotonic()))

    async def _memory(self) -> None:
        while True:
            self.rss.append((time.monotonic(), rss_mb(self.pid)))
            await asyncio.sleep(0.25)

    def api_between(self, t0: float, t1: float, path: str | None = None) -> list[float]:
        return [ms for t, ms, p, _ in self.api if t0 <= t < t1 and (path is None or p == path)]

    def failed_between(self, t0: float, t1: float) -> int:
        return sum(1 for t, _, _, ok in self.api if t0 <= t < t1 and not ok)

    def rss_between(self, t0: float, t1: float) -> list[float]:
        return [mb for t, mb in self.rss if t0 <= t < t1]

    def rss_at(self, t: float) -> float:
        before = [mb for ts, mb in self.rss if ts <= t]
        return before[-1] if before else float("nan")

    def recovery(self, end: float, limit_ms: float, rss_limit: float) -> float | None:
        """Seconds after ``end`` until the rolling 2 s API p99 <= limit_ms and RSS <=
        rss_limit hold from then on (to the last sample); None if never."""
        last = max((t for t, *_ in self.api), default=end)
        step = 0.25
        t = end
        while t <= last - 2:
            window = self.api_between(t, t + 2)
            later_rss = [mb for ts, mb in self.rss if ts >= t]
            if window and pct(window, 99) <= limit_ms and later_rss and \
                    max(later_rss) <= rss_limit and \
                    all(pct(self.api_between(u, u + 2), 99) <= limit_ms
                        for u in _frange(t, last - 2, 1.0) if self.api_between(u, u + 2)):
                return t - end
            t += step
        return None


def _frange(a: float, b: float, step: float) -> Iterator[float]:
    while a <= b:
        yield a
        a += step


# --------------------------------------------------------------------------- set-up
async def make_database(url: str) -> None:
    from tickets.db import make_engine, make_sessionmaker
    from web.demo import load_demo
    from web.migrate import upgrade
    from web.settings import to_async_url

    await asyncio.to_thread(upgrade, url)
    engine = make_engine(to_async_url(url))
    async with make_sessionmaker(engine)() as s, s.begin():
        await load_demo(s)
    await engine.dispose()


async def count_rows(url: str, first_uid: str, n: int) -> int:
    """Call-log rows of one burst (its Linkedids are ``<base>.<even>`` from first_uid on)."""
    from sqlalchemy import func, select

    from tickets.db import make_engine
    from tickets.models import CallLog
    from web.settings import to_async_url

    engine = make_engine(to_async_url(url))
    base, _, k = first_uid.partition(".")
    ids = [f"pbx1:{base}.{int(k) + 2 * i}" for i in range(n)]
    try:
        async with engine.connect() as conn:
            total = 0
            for i in range(0, n, 500):
                total += int(await conn.scalar(select(func.count()).select_from(CallLog)
                                               .where(CallLog.call_id.in_(ids[i:i + 500])))
                             or 0)
            return total
    finally:
        await engine.dispose()


def start_app(port: int, env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    """The app in its own process (this module's ``--serve``), stderr to ``log_path``."""
    with log_path.open("wb") as log_file:
        return subprocess.Popen([sys.executable, "-m", "tests.bench.bench_burst", "--serve",
                                 str(port)], cwd=ROOT, env=env, stderr=log_file)


async def wait_ready(base: str, proc: subprocess.Popen[bytes], limit: float = 60.0) -> None:
    deadline = time.monotonic() + limit
    async with httpx.AsyncClient(base_url=base) as client:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"the app exited with {proc.returncode}")
            with contextlib.suppress(httpx.HTTPError, ValueError):
                r = await client.get("/readyz")
                pbx = (r.json().get("pbx") or [{}])[0]
                if r.status_code == 200 and pbx.get("connected") and pbx.get("resynced"):
                    return
            await asyncio.sleep(0.1)
    raise RuntimeError("the app or its AMI link did not come up")


async def login(base: str) -> str:
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        r = await client.post("/api/v1/auth/login",
                              json={"username": "admin", "password": "demo"})
        r.raise_for_status()
        return str(r.json()["access_token"])


def log_counts(path: Path, offset: int) -> tuple[int, int, int]:
    """(QueuePool-limit lines, ERROR lines, new offset) of the app's log since offset."""
    data = path.read_bytes()
    new = data[offset:].decode("utf-8", "replace")
    return new.count("QueuePool limit"), new.count(" ERROR "), len(data)


# --------------------------------------------------------------------------- the run
def fmt(values: list[float]) -> str:
    if not values:
        return "no samples"
    return f"p50 {statistics.median(values):7.1f} ms  p99 {pct(values, 99):7.1f} ms"


async def run(args: argparse.Namespace) -> int:
    rates = [float(r) for r in args.rates.split(",")]
    print("machine:", machine())
    print(f"load avg before: {' / '.join(f'{v:.2f}' for v in os.getloadavg())} (1/5/15 min)")
    tmp = Path(tempfile.mkdtemp(prefix="bench-burst-"))
    with contextlib.ExitStack() as stack:
        if args.postgres:
            pg = stack.enter_context(postgres_server())
            import asyncpg
            admin = await asyncpg.connect(pg)
            await admin.execute("DROP DATABASE IF EXISTS hotline_bench_burst")
            await admin.execute("CREATE DATABASE hotline_bench_burst")
            await admin.close()
            url = f"{pg.rsplit('/', 1)[0]}/hotline_bench_burst"
        else:
            url = f"sqlite:///{tmp}/bench.db"
        await make_database(url)
        return await _run(args, rates, url, tmp)
    return 1


async def _run(args: argparse.Namespace, rates: list[float], url: str, tmp: Path) -> int:
    ctx = mp.get_context("spawn")
    here, there = ctx.Pipe()
    pbx = ctx.Process(target=fake_pbx, args=(there,), name="fake-asterisk", daemon=True)
    pbx.start()
    ami_port = await asyncio.to_thread(here.recv)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOTLINE_")}
    env.update(HOTLINE_DATABASE_URL=url, HOTLINE_SECRET_KEY=SECRET,
               HOTLINE_DATA_DIR=str(tmp / "var"), HOTLINE_DEFAULT_REGION="CN",
               HOTLINE_AMI_URL=f"ami://bridge:bridgepass@127.0.0.1:{ami_port}?name=pbx1",
               **dict(kv.split("=", 1) for kv in args.env))
    log_path = tmp / "app.log"
    app = start_app(port, env, log_path)
    base = f"http://127.0.0.1:{port}"
    ok = True
    try:
        await wait_ready(base, app)
        token = await login(base)
        print(f"database: {'PostgreSQL' if args.postgres else 'SQLite'}; calls "
              f"{'ring alice (6001): a screen pop each' if args.ring else 'ring nobody'}; "
              f"hold {args.hold:g} s; probes {args.probe_hz:g}/s each; app log {log_path}")
        offset = 0
        await asettle()  # the app's start-up and migrations
        async with Probes(base, token, app.pid, args.probe_hz) as probes:
            await asyncio.sleep(5)
            t_base = time.monotonic()
            baseline = probes.api_between(t_base - 5, t_base)
            start_rss = probes.rss_at(t_base)
            limit = max(2 * pct(baseline, 99), pct(baseline, 99) + 20)
            print(f"baseline (5 s, no calls): API {fmt(baseline)}; RSS {start_rss:.0f} MB; "
                  f"recovered = rolling 2 s p99 <= {limit:.0f} ms and RSS <= "
                  f"{start_rss * 1.1:.0f} MB")
            for rate in rates:
                ok &= await _one_burst(args, rate, url, here, probes, limit, start_rss)
                pools, errors, offset = log_counts(log_path, offset)
                print(f"  app log: {pools} 'QueuePool limit' lines, {errors} ERROR lines")
    finally:
        app.send_signal(signal.SIGINT)
        try:
            app.wait(30)
        except subprocess.TimeoutExpired:
            app.kill()
        if pbx.is_alive():
            here.send(("stop", None))
            pbx.join(10)
    print(f"load avg after: {' / '.join(f'{v:.2f}' for v in os.getloadavg())}")
    return 0 if ok else 1


async def _one_burst(args: argparse.Namespace, rate: float, url: str, here: Connection,
                     probes: Probes, limit: float, start_rss: float) -> bool:
    calls = round(rate * args.seconds)
    await asettle()  # the previous burst's tail (call-log writes, GC) is not this one's
    t0 = time.monotonic()
    rss0 = probes.rss_at(t0)
    load0 = os.getloadavg()[0]
    sampler = LoadSampler(f"the {rate:g} calls/s burst").start()
    here.send(("go", {"rate": rate, "calls": calls, "hold": args.hold, "ring": args.ring}))
    sent = await asyncio.to_thread(here.recv)
    t1 = time.monotonic()
    sampler.stop()
    load1 = os.getloadavg()[0]
    rows, t_rows = 0, None
    # Rows are counted until all are there (at most --rows-wait s after the burst); the
    # probes and RSS are watched for --settle s whatever.
    while time.monotonic() < t1 + max(args.settle, args.rows_wait if rows < calls else 0):
        if rows < calls:
            rows = await count_rows(url, sent["first"], calls)
            if rows >= calls:
                t_rows = time.monotonic() - t1
        await asyncio.sleep(1.0)
    await asyncio.sleep(1.0)  # probes still in flight finish (or time out) by now
    during = probes.api_between(t0, t1)
    after = probes.rss_at(t1 + args.settle)
    peak = max(probes.rss_between(t0, t1 + args.settle), default=float("nan"))
    rec = probes.recovery(t1, limit, start_rss * 1.1)
    p99 = pct(during, 99) if during else float("inf")
    print(f"{rate:5g} calls/s: {calls} calls sent in {sent['span']:.1f} s "
          f"({calls / sent['span']:.0f}/s; load avg {load0:.2f} -> {load1:.2f})")
    print(f"  {sampler.report()}")
    print(f"  API during the burst ({len(during)} probes, "
          f"{probes.failed_between(t0, t1)} failed/timed out): {fmt(during)}")
    for path in ("/api/v1/tickets", "/readyz"):
        print(f"    {path:16s} {fmt(probes.api_between(t0, t1, path))}")
    print(f"  API in the {args.settle:g} s after: {fmt(probes.api_between(t1, t1 + args.settle))}")
    print(f"  call-log rows: {rows}/{calls}"
          + (f" (all written {t_rows:.1f} s after the burst)" if t_rows is not None else
             f" (MISSING rows {args.rows_wait:g} s after the burst)"))
    print(f"  RSS: start {rss0:.0f} MB, peak {peak:.0f} MB, {args.settle:g} s after "
          f"{after:.0f} MB (run start {start_rss:.0f} MB)")
    print("  recovery: " + (f"{rec:.1f} s" if rec is not None else
                             f"not within {args.settle:g} s"))
    return rows == calls and (rate < 500 or p99 <= 250) and rec is not None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--postgres", action="store_true", help="PostgreSQL instead of SQLite")
    ap.add_argument("--rates", default="20,100,500", help="calls/s, comma-separated")
    ap.add_argument("--seconds", type=float, default=10.0, help="length of each burst")
    ap.add_argument("--settle", type=float, default=30.0, help="seconds watched after each")
    ap.add_argument("--rows-wait", type=float, default=120.0,
                    help="seconds after a burst to wait for every call-log row")
    ap.add_argument("--hold", type=float, default=1.0, help="seconds from call to hangup")
    ap.add_argument("--no-ring", dest="ring", action="store_false",
                    help="calls ring no agent (no screen pops)")
    ap.add_argument("--probe-hz", type=float, default=4.0, help="probes/s per endpoint")
    ap.add_argument("--env", action="append", default=[], metavar="HOTLINE_X=V",
                    help="extra setting for the app (repeatable)")
    ap.add_argument("--serve", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve:
        serve(args.serve)
        return 0
    return asyncio.run(run(args))


if __name__ == "__main__":
    sys.exit(main())
