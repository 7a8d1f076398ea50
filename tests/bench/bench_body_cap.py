"""Oversized bodies against the real app: time to the answer and memory, per case.

Run: ``.venv/bin/python tests/bench/bench_body_cap.py [--repeat 5]`` (about 20 s).

The app runs under uvicorn in a thread of this process (tests/support/live.py) on a
migrated SQLite demo database, so this process's RSS is the server's memory (the client
sends from a generator and keeps nothing). Cases, as the attack ran them: an anonymous
100 MiB JSON body (declared), four of them at once, an anonymous 300 MiB upload (declared),
and an authenticated 100 MiB chunked JSON body (no Content-Length: counted as it comes).
Prints per case the status, the median and p99 time to the answer, the body bytes the
client got to send, and RSS before → after the case.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.bench.common import LoadSampler, machine, settle  # noqa: E402
from tests.support.db import SqliteFactory  # noqa: E402
from tests.support.live import SECRET, LiveServer  # noqa: E402
from tests.web.test_edge import MiB, chunked, raw, rss_mib, token, zeros  # noqa: E402
from web.app import create_app  # noqa: E402
from web.settings import Settings  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-body-"))
    url = asyncio.run(SqliteFactory(tmp).new(demo=True))
    server = LiveServer(create_app(Settings(database_url=url, data_dir=tmp / "var",
                                            secret_key=SECRET, ami_url="off")))
    server.start()
    tok = token(server)
    port = server.port
    cases = {
        "anonymous 100 MiB JSON (declared)": lambda: raw(
            port, "POST /api/v1/tickets HTTP/1.1\r\nHost: x\r\nContent-Type: application/json"
                  f"\r\nContent-Length: {100 * MiB}\r\n\r\n", zeros(100 * MiB)),
        "anonymous 300 MiB upload (declared)": lambda: raw(
            port, "POST /api/v1/tickets/1/attachments HTTP/1.1\r\nHost: x\r\n"
                  "Content-Type: multipart/form-data; boundary=xyz\r\n"
                  f"Content-Length: {300 * MiB}\r\n\r\n", zeros(300 * MiB)),
        "admin 100 MiB JSON (chunked)": lambda: raw(
            port, f"POST /api/v1/tickets HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {tok}\r\n"
                  "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n",
            chunked(100 * MiB)),
    }
    print(f"machine: {machine()}")
    try:
        settle()  # the app's start-up (migrations, demo data) in this process
        for name, case in cases.items():
            before, times, statuses, sent = rss_mib(), [], set(), 0
            load = LoadSampler(name).start()
            for _ in range(args.repeat):
                t = time.perf_counter()
                status, _, _, sent = case()
                times.append(time.perf_counter() - t)
                statuses.add(status)
            load.stop()
            times.sort()
            p99 = times[min(len(times) - 1, int(len(times) * 0.99))]
            print(f"{name}: status {sorted(statuses)}, median {statistics.median(times) * 1000:.1f}"
                  f" ms, p99 {p99 * 1000:.1f} ms, body sent {sent / MiB:.1f} MiB, "
                  f"RSS {before:.0f} → {rss_mib():.0f} MiB")
            print(f"  {load.report()}")
        before = rss_mib()
        t = time.perf_counter()
        with LoadSampler("4 at once") as load, ThreadPoolExecutor(4) as pool:
            results = list(pool.map(lambda _: cases["anonymous 100 MiB JSON (declared)"](),
                                    range(4)))
        print(f"4 × anonymous 100 MiB JSON at once: status {sorted({r[0] for r in results})}, "
              f"{(time.perf_counter() - t) * 1000:.1f} ms, RSS {before:.0f} → {rss_mib():.0f} MiB")
        print(f"  {load.report()}")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
