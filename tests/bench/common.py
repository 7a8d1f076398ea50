"""Helpers shared by the benchmarks: the machine line and percentile figures."""

from __future__ import annotations

import asyncio
import os
import platform
import statistics
import time

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
