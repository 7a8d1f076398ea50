"""Speech for the demo PBX: a short caller utterance synthesized with espeak-ng and turned
into 8 kHz s16le mono PCM (what an AudioSocket stream carries) with sox.

Neither tool is a dependency of Hotline: on a machine without them there is no demo speech
(:func:`utterance` returns None and says why), never a failure.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import tempfile
import wave
from pathlib import Path

log = logging.getLogger(__name__)

#: What the demo caller says (Chinese, like the demo site): a broken air conditioner.
DEMO_UTTERANCE = ("我的空调坏了，不制冷，需要维修", "cmn")


def utterance(text: str = DEMO_UTTERANCE[0], voice: str = DEMO_UTTERANCE[1],
              timeout_s: float = 30.0) -> bytes | None:
    """``text`` spoken by espeak-ng ``voice`` as 8 kHz s16le mono PCM, or None (logged)
    when espeak-ng or sox is missing or fails."""
    missing = [tool for tool in ("espeak-ng", "sox") if shutil.which(tool) is None]
    if missing:
        log.info("demo PBX speech off: %s not installed", " and ".join(missing))
        return None
    with tempfile.TemporaryDirectory(prefix="hotline-speech-") as tmp:
        raw, out = Path(tmp) / "raw.wav", Path(tmp) / "call.wav"
        try:
            subprocess.run(["espeak-ng", "-v", voice, "-w", str(raw), text], check=True,
                           timeout=timeout_s, capture_output=True)
            subprocess.run(["sox", str(raw), "-r", "8000", "-c", "1", "-b", "16", "-e",
                            "signed-integer", str(out), "pad", "0.3", "0.8"], check=True,
                           timeout=timeout_s, capture_output=True)
            with wave.open(str(out), "rb") as w:
                return w.readframes(w.getnframes())
        except (OSError, subprocess.SubprocessError, wave.Error) as exc:
            log.info("demo PBX speech off: synthesis failed: %s", exc)
            return None
