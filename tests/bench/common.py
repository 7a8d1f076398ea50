"""Helpers shared by the benchmarks: the machine line, percentile figures, and load.

The machine is shared (several people and their benchmarks on 2 cores), so a figure alone
says little: every benchmark prints the load before its measured part (:func:`settle`, which
first waits for the set-up's own load to die down) and during it (:class:`LoadSampler`), so a
reader can tell a slow run from a busy machine. CPU busy % is machine-wide, all cores
together (100 % = every core busy), from ``/proc/stat``; load averages from
``/proc/loadavg``. On a system without ``/proc`` the figures read ``n/a``.
"""

from __future__ import annotations

import asyncio
import os
import platform
import statistics
import subprocess
import threading
import time
from collections import deque
from types import TracebackType

import httpx


def machine() -> str:
    model = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return (f"{os.cpu_count()} cores, {model}, Python {platform.python_version()}, "
            f"load avg {os.getloadavg()[0]:.2f}")


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


def summary(name: str, values_ms: list[float]) -> str:
    return (f"{name}: n={len(values_ms)} median={statistics.median(values_ms):.3f} ms "
            f"p99={pct(values_ms, 99):.3f} ms max={max(values_ms):.3f} ms")


def stop_process(proc: subprocess.Popen[bytes], grace_s: float = 15.0) -> None:
    """SIGTERM ``proc`` (a server the benchmark started), SIGKILL after ``grace_s`` seconds."""
    proc.terminate()
    try:
        proc.wait(grace_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


async def wait_http(url: str, limit: float = 60.0) -> None:
    """Poll ``url`` until it answers 200; ``RuntimeError`` after ``limit`` seconds."""
    deadline = time.monotonic() + limit
    async with httpx.AsyncClient() as client:
        while time.monotonic() < deadline:
            try:
                if (await client.get(url)).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


# ---------------------------------------------------------------------------- load
def loadavg() -> tuple[float, float, float]:
    """The 1, 5 and 15 minute load averages (runnable tasks, not %)."""
    return os.getloadavg()


def cpu_ticks() -> tuple[int, int] | None:
    """Machine-wide ``(busy, total)`` CPU time in clock ticks since boot, from the ``cpu``
    line of ``/proc/stat`` (idle and iowait count as not busy); None without ``/proc``."""
    try:
        with open("/proc/stat") as f:
            fields = [int(v) for v in f.readline().split()[1:9]]
    except (OSError, ValueError):
        return None
    total = sum(fields)
    return total - fields[3] - fields[4], total


def busy_pct(a: tuple[int, int] | None, b: tuple[int, int] | None) -> float | None:
    """CPU busy % of all cores between two :func:`cpu_ticks` readings (None: unknown)."""
    if a is None or b is None or b[1] <= a[1]:
        return None
    return 100.0 * (b[0] - a[0]) / (b[1] - a[1])


def _fmt_pct(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.0f} %"


def _fmt_load(v: tuple[float, float, float]) -> str:
    return " / ".join(f"{x:.2f}" for x in v)


class _Settle:
    """State of one wait for quiet: CPU readings over the last ``window_s`` seconds."""

    def __init__(self, below_pct: float, window_s: float, timeout_s: float,
                 step_s: float) -> None:
        self.below_pct, self.window_s, self.timeout_s, self.step_s = \
            below_pct, window_s, timeout_s, step_s
        self.t0 = time.monotonic()
        self.readings: deque[tuple[float, tuple[int, int] | None]] = deque()
        self.last: float | None = None

    def step(self) -> bool:
        """Take a reading; True when the wait is over (quiet, timed out or no /proc)."""
        now = time.monotonic()
        ticks = cpu_ticks()
        if ticks is None:
            return True
        self.readings.append((now, ticks))
        while len(self.readings) > 2 and now - self.readings[1][0] >= self.window_s:
            self.readings.popleft()
        oldest_t, oldest = self.readings[0]
        if now - oldest_t >= self.window_s:
            self.last = busy_pct(oldest, ticks)
            if self.last is not None and self.last < self.below_pct:
                return True
        return now - self.t0 >= self.timeout_s

    def report(self) -> str:
        waited = time.monotonic() - self.t0
        quiet = self.last is not None and self.last < self.below_pct
        verdict = ("settled" if quiet else
                   f"NOT settled (still busy after the {self.timeout_s:g} s limit: "
                   "other load present, figures are noisy)")
        return (f"load before: {verdict}; waited {waited:.1f} s; CPU busy "
                f"{_fmt_pct(self.last)} over the last {self.window_s:g} s (threshold "
                f"{self.below_pct:g} %); load avg {_fmt_load(loadavg())} (1/5/15 min)")


def settle(below_pct: float = 20.0, window_s: float = 2.0, timeout_s: float = 20.0,
           quiet: bool = False) -> str:
    """Wait until the machine's CPU busy % (all cores) over the last ``window_s`` seconds
    is below ``below_pct``, or ``timeout_s`` seconds passed; call it after the set-up and
    right before the measured part. Prints (unless ``quiet``) and returns one line saying
    how long it waited, the last busy % and the load averages. Blocks the thread: in a
    process that serves while it waits, use :func:`asettle`."""
    s = _Settle(below_pct, window_s, timeout_s, 0.25)
    while not s.step():
        time.sleep(s.step_s)
    line = s.report()
    if not quiet:
        print(line, flush=True)
    return line


async def asettle(below_pct: float = 20.0, window_s: float = 2.0, timeout_s: float = 20.0,
                  quiet: bool = False) -> str:
    """:func:`settle` for a running event loop (waits with ``asyncio.sleep``)."""
    s = _Settle(below_pct, window_s, timeout_s, 0.25)
    while not s.step():
        await asyncio.sleep(s.step_s)
    line = s.report()
    if not quiet:
        print(line, flush=True)
    return line


class LoadSampler:
    """The machine's load during a measured part: a daemon thread reads ``/proc/stat`` and
    ``/proc/loadavg`` every ``interval_s`` seconds (cheap: two small reads per wake-up).

    Use as ``with LoadSampler() as load: ...`` then ``print(load.report())``; or
    :meth:`start` / :meth:`stop`. Figures: CPU busy % of all cores over the whole window
    (and the busiest ``interval_s`` slice), the share of that which was this process (the
    rest is other processes: a server the benchmark started, or somebody else), and the
    1-minute load average at the start and its maximum during the window.
    """

    def __init__(self, label: str = "measured part", interval_s: float = 0.5) -> None:
        self.label = label
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.seconds = 0.0
        self.busy: float | None = None  # % of all cores over the window
        self.busy_max: float | None = None  # % of all cores, busiest slice
        self.own: float | None = None  # % of all cores used by this process
        self.load_start = (0.0, 0.0, 0.0)
        self.load1_max = 0.0

    def start(self) -> LoadSampler:
        self.load_start = loadavg()
        self.load1_max = self.load_start[0]
        self._t0 = time.monotonic()
        self._cpu0 = self._prev = cpu_ticks()
        self._own0 = time.process_time()
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="load-sampler", daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        ticks = cpu_ticks()
        slice_busy = busy_pct(self._prev, ticks)
        if slice_busy is not None:
            self.busy_max = max(self.busy_max or 0.0, slice_busy)
        self._prev = ticks
        self.load1_max = max(self.load1_max, loadavg()[0])

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self._sample()

    def stop(self) -> str:
        """End the window; returns :meth:`report`."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self._sample()
        self.seconds = time.monotonic() - self._t0
        self.busy = busy_pct(self._cpu0, self._prev)
        ncpu = os.cpu_count() or 1
        if self.seconds > 0:
            self.own = 100.0 * (time.process_time() - self._own0) / self.seconds / ncpu
        return self.report()

    def report(self) -> str:
        """One line: ``load during <label> (<s> s): CPU busy ... ; load avg ...``."""
        others = (None if self.busy is None or self.own is None
                  else max(0.0, self.busy - self.own))
        return (f"load during {self.label} ({self.seconds:.1f} s): CPU busy "
                f"{_fmt_pct(self.busy)} of {os.cpu_count()} cores (busiest "
                f"{self.interval_s:g} s: {_fmt_pct(self.busy_max)}), this process "
                f"{_fmt_pct(self.own)}, other processes {_fmt_pct(others)}; load avg 1 min "
                f"{self.load_start[0]:.2f} at start, max {self.load1_max:.2f}")

    def __enter__(self) -> LoadSampler:
        return self.start()

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
