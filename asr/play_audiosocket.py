"""Play a recording into an AudioSocket server, the way Asterisk would.

    python -m asr.play_audiosocket 127.0.0.1:9092 call.wav [--uuid UUID] [--fast]

For demos and end-to-end checks of a running ``hotline serve``: the recording is converted
to 8 kHz mono 16-bit (sox) when needed, sent in 20 ms frames in real time (``--fast``: as
fast as the server reads), then hung up. The UUID is printed first so it can be linked
to a call (``asr_link`` on the bus) before the audio runs out of the server's hold time.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import subprocess
import sys
import uuid
import wave
from pathlib import Path

from asr.audiosocket import SAMPLE_RATE, parse_address, send_call
from asr.engine import AsrError


def load_8k(path: str | Path) -> bytes:
    """8 kHz s16le mono samples of any audio file sox can read."""
    p = Path(path)
    if not p.is_file():
        raise AsrError(f"audio file {str(p)!r} does not exist")
    try:
        with wave.open(str(p), "rb") as w:
            if (w.getnchannels(), w.getsampwidth(), w.getframerate(), w.getcomptype()) == (
                1, 2, SAMPLE_RATE, "NONE",
            ):
                return w.readframes(w.getnframes())
    except (wave.Error, EOFError):
        pass
    sox = shutil.which("sox")
    if sox is None:
        raise AsrError(f"{str(p)!r} needs conversion to 8 kHz but sox is not installed")
    done = subprocess.run(
        [sox, "-V1", str(p), "-t", "raw", "-r", str(SAMPLE_RATE), "-c", "1", "-b", "16",
         "-e", "signed-integer", "-L", "-"],
        capture_output=True, timeout=120, check=False,
    )
    if done.returncode != 0:
        raise AsrError(f"sox cannot read {str(p)!r}: {done.stderr.decode(errors='replace')}")
    return done.stdout


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m asr.play_audiosocket",
                                     description=__doc__)
    parser.add_argument("address", help="AudioSocket server, host:port")
    parser.add_argument("audio", help="recording to play (any format sox reads)")
    parser.add_argument("--uuid", default=None, help="stream UUID (default: random)")
    parser.add_argument("--fast", action="store_true", help="do not pace in real time")
    args = parser.parse_args(argv)
    try:
        host, port = parse_address(args.address)
        sid = str(uuid.UUID(args.uuid)) if args.uuid else str(uuid.uuid4())
        pcm = load_8k(args.audio)
    except (ValueError, AsrError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(sid, flush=True)
    try:
        asyncio.run(send_call(host, port, sid, pcm, realtime=not args.fast))
    except OSError as exc:
        print(f"error: AudioSocket {host}:{port}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
