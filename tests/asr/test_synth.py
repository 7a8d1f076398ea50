"""Demo speech: 8 kHz PCM from espeak-ng + sox, or None (never an error) without them."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from asr import synth


def test_utterance_is_8khz_pcm_of_the_spoken_text() -> None:
    pcm = synth.utterance("维修", "cmn")
    assert pcm is not None and len(pcm) % 2 == 0
    assert 0.8 * 16000 < len(pcm) < 10 * 16000  # 0.3 s + speech + 0.8 s at 16 000 B/s
    assert any(pcm[i] for i in range(0, len(pcm), 97))  # not silence


def test_no_speech_tools_means_no_speech_and_a_log_line(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(synth.shutil, "which", lambda tool: None)
    with caplog.at_level(logging.INFO, logger="asr.synth"):
        assert synth.utterance() is None
    assert "espeak-ng and sox not installed" in caplog.text


def test_a_failing_synthesizer_means_no_speech(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    for tool in ("espeak-ng", "sox"):  # installed, but broken
        (tmp_path / tool).write_text("#!/bin/sh\nexit 3\n")
        (tmp_path / tool).chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    with caplog.at_level(logging.INFO, logger="asr.synth"):
        assert synth.utterance() is None
    assert "synthesis failed" in caplog.text
