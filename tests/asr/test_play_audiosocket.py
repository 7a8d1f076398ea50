"""``python -m asr.play_audiosocket``: a recording played into a running server (subprocess)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid
from pathlib import Path

from asr.context import CallContext, StaticPrefillContext
from asr.engine import VoskEngine
from tests.asr.test_audiosocket import CALL, GRAMMAR, collect, has_prefill, running

ROOT = Path(__file__).resolve().parents[2]


def make(cmd: list[str]) -> None:
    subprocess.run(cmd, check=True, capture_output=True)


async def run_client(*args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "asr.play_audiosocket", *args, cwd=ROOT,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    return proc.returncode or 0, out.decode(), err.decode()


async def test_client_plays_a_wide_band_recording(engine: VoskEngine, tmp_path: Path) -> None:
    wav = tmp_path / "refund.wav"  # espeak's own 22.05 kHz output: the client resamples
    await asyncio.to_thread(make, ["espeak-ng", "-v", "ko", "-w", str(wav), "환불"])
    sid = str(uuid.uuid4())
    ctx = StaticPrefillContext(CallContext(grammar=GRAMMAR))
    async with running(engine, context=ctx) as (server, bus):
        server.link(sid, CALL)
        events, task = await collect(bus, has_prefill)
        code, out, err = await run_client(f"127.0.0.1:{server.port}", str(wav),
                                          "--uuid", sid, "--fast")
        assert (code, out.strip()) == (0, sid), err
        await task
        assert [e["text"] for e in events if e["type"] == "asr" and e["final"]] == ["환불"]


async def test_client_reports_bad_input(tmp_path: Path) -> None:
    code, _, err = await run_client("127.0.0.1:9", str(tmp_path / "none.wav"))
    assert code == 2 and "does not exist" in err
    code, _, err = await run_client("127.0.0.1:x", str(tmp_path / "none.wav"))
    assert code == 2 and "port must be a number" in err
    wav = tmp_path / "a.wav"
    await asyncio.to_thread(make, ["sox", "-n", "-r", "8000", "-c", "1", "-b", "16",
                                   str(wav), "trim", "0", "0.1"])
    code, _, err = await run_client("127.0.0.1:9", str(wav))  # nothing listens on port 9
    assert code == 1 and "AudioSocket 127.0.0.1:9" in err
