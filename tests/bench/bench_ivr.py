"""IVR SIP endpoint benchmark: answer time, concurrent calls held on this machine, CPU per call.

Issue #12's figures. Run from the repository root (about 5 minutes; ``--quick`` about 1 minute):
    .venv/bin/python -m tests.bench.bench_ivr [--quick] [--levels 100,140,180] [--call-s S]

The IVR (``softphone_bridge.sip.IvrEndpoint`` in direct mode, on loopback) runs in this
process; sipp (Debian ``sip-tester``) plays the callers in its own process
(``tests/softphone_bridge/sipp/uac_wait_bye.xml``), so its CPU is not counted.

1. **Answer time**: INVITE datagram read → 200 OK sent, timed by the endpoint
   (``IvrEndpoint.answer_times_s``: parsing, checks, the RTP socket bound, the call thread
   started, the SDP answer built and sent), and as sipp sees it (INVITE sent → 200 OK
   received, its ``-trace_rtt``, whole milliseconds only): 200 calls at 20 calls/s, each
   playing 0.5 s and hanging up.
2. **Concurrent calls held**: levels of N calls at once, each playing ``--call-s`` seconds
   of audio in real time (``play`` paced against the transmitter's monotonic clock). For
   every 20 ms RTP frame the transmitter notes how late it went out; a level holds when
   the p99 lateness stays within one frame (20 ms) and every ``play`` ended within 100 ms of
   the audio's length. Levels go up until one fails (or ``--max-calls``).
3. **CPU per call**: this process's CPU time during each level divided by the call-seconds
   it carried (a call costs this whether or not the machine is busy with other work), and
   the calls that would fill one core at that cost: the IVR is one Python process, and its
   threads run Python one at a time (the GIL), so the second core helps only sipp, the
   kernel's UDP work and other processes.

The machine is shared: the load is printed before each part (after waiting for the set-up's
own load to settle) and during it.
"""

from __future__ import annotations

import argparse
import csv
import logging
import statistics
import tempfile
import threading
import time
from pathlib import Path

from softphone_bridge.ivr.ports import CallChannel
from softphone_bridge.sip import IvrEndpoint
from tests.bench.common import LoadSampler, machine, pct, settle
from tests.softphone_bridge.sipp_peer import SCENARIOS, free_udp_port

TONE_PERIOD = 20  # samples: a 400 Hz square-ish tone, not silence


def tone(seconds: float) -> bytes:
    n = int(seconds * 8000)
    return bytes(128 + (50 if (i // (TONE_PERIOD // 2)) % 2 else -50) for i in range(n))


def sipp(ivr_port: int, sipp_port: int, calls: int, rate: float, limit: int,
         workdir: Path, timeout_s: float) -> tuple[int, list[float]]:
    """Run ``calls`` callers; ``(exit code, answer times in ms)``."""
    import subprocess

    cmd = ["sipp", "-sf", str(SCENARIOS / "uac_wait_bye.xml"), "-p", str(sipp_port),
           "-i", "127.0.0.1", "-mi", "127.0.0.1", "-mp", str(free_udp_port()),
           "-key", "caller", "13800138000", "-key", "mode", "menu",
           "-key", "rtp_sink", str(free_udp_port()),
           "-m", str(calls), "-r", str(rate), "-l", str(limit),
           "-timeout", f"{int(timeout_s)}s", "-timeout_error", "-nostdin",
           "-trace_rtt", "-rtt_freq", "1", "-trace_err", "-error_file",
           str(workdir / "errors.log"), f"127.0.0.1:{ivr_port}"]
    proc = subprocess.run(cmd, capture_output=True, timeout=timeout_s + 20, cwd=workdir)
    if proc.returncode != 0 and (workdir / "errors.log").exists():
        lines = (workdir / "errors.log").read_text(errors="replace").splitlines()
        print("   sipp errors:", " | ".join(line for line in lines[:6] if line.strip()))
    (workdir / "errors.log").unlink(missing_ok=True)
    times: list[float] = []
    for path in workdir.glob("uac_wait_bye_*_rtt.csv"):
        with path.open() as f:
            for row in csv.reader(f, delimiter=";"):
                try:
                    times.append(float(row[1]))
                except (IndexError, ValueError):
                    continue  # the header
        path.unlink()
    return proc.returncode, times


class Recorder:
    """The test-only session: play ``audio`` in real time, note timings, hang up."""

    def __init__(self) -> None:
        self.audio = b""
        self.lock = threading.Lock()
        self.lateness_s: list[float] = []
        self.overrun_s: list[float] = []
        self.frames = 0
        self.calls = 0

    def __call__(self, ch: CallChannel) -> None:
        t0 = time.monotonic()
        ch.play(self.audio, interruptible=False)
        overrun = time.monotonic() - t0 - len(self.audio) / 8000
        frames, lateness = ch.media_stats()  # type: ignore[attr-defined]
        ch.hangup()
        with self.lock:
            self.calls += 1
            self.frames += frames
            self.lateness_s += lateness
            self.overrun_s.append(overrun)

    def reset(self, audio: bytes) -> None:
        with self.lock:
            self.audio = audio
            self.lateness_s, self.overrun_s, self.frames, self.calls = [], [], 0, 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer calls, shorter calls")
    parser.add_argument("--call-s", type=float, default=None, help="audio per call (s)")
    parser.add_argument("--max-calls", type=int, default=400)
    parser.add_argument("--levels", default="", help="concurrency levels, e.g. 100,140,180")
    args = parser.parse_args()
    call_s = args.call_s or (3.0 if args.quick else 6.0)
    logging.basicConfig(level=logging.ERROR)
    print("machine:", machine())

    recorder = Recorder()
    sipp_port = free_udp_port()
    ivr = IvrEndpoint("127.0.0.1", sipp_port, bind="127.0.0.1", sip_port=0, password=None,
                      rtp_ports=(30000, 30000 + 2 * args.max_calls + 99),
                      max_calls=args.max_calls + 50, on_call=recorder)
    ivr.start()
    work = Path(tempfile.mkdtemp(prefix="bench-ivr-"))
    try:
        # 1. answer time
        n = 60 if args.quick else 200
        recorder.reset(tone(0.5))
        settle()
        ivr.answer_times_s.clear()
        with LoadSampler("answer time") as load:
            rc, sipp_ms = sipp(ivr.local_port, sipp_port, n, 20, 50, work, 60)
        times = [x * 1000 for x in ivr.answer_times_s]
        print(f"1. answer time INVITE → 200 OK ({n} calls at 20/s, sipp exit {rc}), endpoint: "
              f"n={len(times)} median {statistics.median(times):.2f} ms, "
              f"p99 {pct(times, 99):.2f} ms, max {max(times):.2f} ms; sipp (whole ms): "
              f"median {statistics.median(sipp_ms):.0f} ms, p99 {pct(sipp_ms, 99):.0f} ms")
        print("  ", load.report())

        # 2 + 3. concurrent calls playing in real time
        levels = ([int(x) for x in args.levels.split(",")] if args.levels else
                  [10, 20, 40] if args.quick else
                  [10, 20, 40, 60, 80, 100, 120, 140, 160, 180, 200, 250, 300, 400])
        held = 0
        cpu_per_call_s: list[float] = []
        for level in [x for x in levels if x <= args.max_calls]:
            recorder.reset(tone(call_s))
            settle()
            cpu0 = time.process_time()
            with LoadSampler(f"{level} calls") as load:
                rc, _ = sipp(ivr.local_port, sipp_port, level, 200, level, work, call_s + 30)
            cpu = time.process_time() - cpu0
            late_ms = [x * 1000 for x in recorder.lateness_s]
            over_ms = [x * 1000 for x in recorder.overrun_s]
            call_seconds = recorder.frames * 0.02
            per_call = cpu / call_seconds if call_seconds else float("nan")
            cpu_per_call_s.append(per_call)
            ok = (rc == 0 and recorder.calls == level and pct(late_ms, 99) <= 20.0
                  and max(over_ms) <= 100.0)
            print(f"2. {level} calls × {call_s:g} s (sipp exit {rc}, {recorder.calls} played): "
                  f"frame lateness median {statistics.median(late_ms):.2f} ms, "
                  f"p99 {pct(late_ms, 99):.2f} ms, max {max(late_ms):.1f} ms; play overrun "
                  f"median {statistics.median(over_ms):.1f} ms, max {max(over_ms):.1f} ms "
                  f"→ {'held' if ok else 'NOT held'}")
            print(f"3.   CPU {cpu:.2f} s for {call_seconds:.0f} call-s: "
                  f"{per_call * 1000:.1f} ms CPU per call-second ({per_call * 100:.2f} % of "
                  f"one core per call; the process runs Python on one core at a time (GIL): "
                  f"one core ≈ {1 / per_call:.0f} calls at this cost)")
            print("  ", load.report())
            if not ok:
                break
            held = level
        print(f"summary: answer median {statistics.median(times):.2f} ms / p99 "
              f"{pct(times, 99):.2f} ms; {held} concurrent real-time calls held "
              f"(highest level tried that passed); CPU per call "
              f"{statistics.median(cpu_per_call_s) * 100:.2f} % of one core")
    finally:
        ivr.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
