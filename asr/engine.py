"""The speech engine interface, and vosk behind it.

The AudioSocket server and the IVR only see :class:`Engine` and :class:`Recognizer`, so
another engine can be added without touching them. :class:`VoskEngine` loads one vosk
``Model`` (hundreds of MB) once per process and hands out cheap per-call recognizers.

Recognizers are not thread-safe: one caller at a time (the server feeds each call's
recognizer from one worker at a time). vosk's C calls release the GIL, so several calls
decode in parallel in a thread pool.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import shutil
import subprocess
import threading
import time
import wave
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from asr.model_store import ModelError, check_model_folder, supports_grammar, tuned_model_folder

log = logging.getLogger(__name__)

#: Rate used when a recording must be converted before decoding.
FILE_RATE = 16000
#: WAV rates decoded as they are; others are resampled by sox, whose resampler serves the
#: model better than the feature extractor's (22.05 kHz speech decoded worse unconverted).
DIRECT_RATES = frozenset({8000, 16000})
#: Audio handed to vosk at once when transcribing a file (0.2 s at 16 kHz, 16-bit).
_FILE_CHUNK = 6400

_BRACKET_NUMBER = re.compile(r"\[(\d{1,3})\]")
_NOISE = re.compile(r"\[[^\]\d]*\]|<[^>]*>")
_SPACES = re.compile(r"\s+")


class AsrError(RuntimeError):
    """Speech recognition could not run on this input (bad audio, bad grammar, no sox)."""


@dataclass(frozen=True)
class AsrResult:
    """A recognizer's view after some audio: a final utterance or the current partial."""

    text: str
    final: bool


class Recognizer(Protocol):
    """One audio stream's decoder."""

    def accept_audio(self, pcm: bytes, partial: bool = True) -> AsrResult:
        """Feed 16-bit signed little-endian mono audio.

        Returns the finished utterance (``final=True``) when the engine detects its end,
        else the current partial text (possibly unchanged, possibly empty). With
        ``partial=False`` the partial is not computed (it costs CPU) and the text is "".
        """
        ...

    def final(self) -> AsrResult:
        """Flush: the last utterance (``final=True``, maybe empty). The stream is done."""
        ...

    def close(self) -> None:
        """Done with this recognizer (after :meth:`final`); the engine may reuse it."""
        ...


class Engine(Protocol):
    """Creates recognizers; holds whatever is shared (the model)."""

    def new_recognizer(
        self, sample_rate: int = 8000, grammar: Sequence[str] | None = None
    ) -> Recognizer: ...

    def state(self) -> dict[str, Any]: ...


def clean_text(text: str) -> str:
    """Engine text for people and extraction: ``[5]`` → ``5``, noise tags dropped.

    The Korean vosk model writes numbers as bracketed tokens (``[5]``, ``[05]``) and
    unknown words as ``[unk]``; neither should reach an agent's screen as is.
    """
    text = _BRACKET_NUMBER.sub(r"\1", text)
    text = _NOISE.sub(" ", text)
    return _SPACES.sub(" ", text).strip()


class VoskRecognizer:
    """A vosk ``KaldiRecognizer`` behind :class:`Recognizer`."""

    def __init__(self, recognizer: Any, engine: VoskEngine | None = None,
                 reusable: bool = False) -> None:
        self._rec = recognizer
        self._engine = engine
        self._reusable = reusable
        self._odd = b""  # a trailing half sample, kept for the next chunk

    def accept_audio(self, pcm: bytes, partial: bool = True) -> AsrResult:
        data = self._odd + pcm
        if len(data) % 2:
            data, self._odd = data[:-1], data[-1:]
        else:
            self._odd = b""
        if not data:
            return AsrResult("", False)
        if self._rec.AcceptWaveform(data):
            return AsrResult(clean_text(json.loads(self._rec.Result()).get("text", "")), True)
        if not partial:
            return AsrResult("", False)
        return AsrResult(
            clean_text(json.loads(self._rec.PartialResult()).get("partial", "")), False
        )

    def final(self) -> AsrResult:
        self._odd = b""
        return AsrResult(clean_text(json.loads(self._rec.FinalResult()).get("text", "")), True)

    def close(self) -> None:
        engine, self._engine = self._engine, None
        if engine is not None and self._reusable:
            engine._park(self._rec)


class VoskEngine:
    """One vosk model for the process; recognizers on demand.

    Construction loads the model (1-3 s of CPU for the Korean model): call it off the event
    loop, e.g. ``await VoskEngine.load(path)``. Raises :class:`ModelError` with a readable
    message when the folder is missing, incomplete or unreadable.
    """

    def __init__(
        self,
        model_path: str | Path,
        log_level: int = -1,
        reuse_recognizers: bool = True,
        max_idle: int = 8,
        frames_per_chunk: int | None = None,
    ) -> None:
        import vosk  # imported here so a process without ASR never loads the library

        folder = check_model_folder(model_path)
        vosk.SetLogLevel(log_level)
        started = time.monotonic()
        load_from = folder if frames_per_chunk is None else \
            tuned_model_folder(folder, frames_per_chunk)
        self.frames_per_chunk = frames_per_chunk
        self._model_view = load_from
        try:
            self._model = vosk.Model(str(load_from))
        except Exception as exc:  # vosk raises a bare Exception for every load failure
            raise ModelError(
                f"vosk could not load the model in {str(folder)!r}: {exc} "
                "(corrupt or incompatible model files?)"
            ) from None
        self._vosk = vosk
        self.path = folder
        self.grammar_capable = supports_grammar(folder)
        self.load_seconds = round(time.monotonic() - started, 2)
        self._lock = threading.Lock()
        self.recognizers_created = 0
        self.recognizers_reused = 0
        # Free-form recognizers expand the lookahead graph lazily and keep what they
        # expanded: a fresh one spends ~0.7 s of CPU on its first words (measured with the
        # Korean model), a reset one does not. Finished calls park theirs here for reuse.
        # The price: vosk may keep its online speaker adaptation (i-vector) state across
        # a reset, so a call can start from the previous caller's adaptation, as every
        # utterance after the first does within one call. No text carries over.
        # ``reuse_recognizers=False`` gives every call a fresh recognizer instead.
        self._idle: list[Any] = []
        self.reuse_recognizers = reuse_recognizers
        self.max_idle = max_idle if reuse_recognizers else 0
        log.info("vosk model loaded from %s in %.1f s", folder, self.load_seconds)

    @classmethod
    async def load(
        cls, model_path: str | Path, log_level: int = -1, reuse_recognizers: bool = True,
        frames_per_chunk: int | None = None,
    ) -> VoskEngine:
        """Load the model in a worker thread so the event loop keeps serving."""
        return await asyncio.to_thread(cls, model_path, log_level, reuse_recognizers, 8,
                                       frames_per_chunk)

    def new_recognizer(
        self, sample_rate: int = 8000, grammar: Sequence[str] | None = None
    ) -> VoskRecognizer:
        """A recognizer for one stream; ``grammar`` restricts it to those words/phrases.

        Grammar words the model does not know are ignored by vosk (logged at its level);
        ``[unk]`` is added so out-of-grammar speech does not force a grammar word.
        """
        if not 4000 <= sample_rate <= 48000:
            raise AsrError(f"unsupported sample rate {sample_rate} Hz")
        try:
            if grammar:
                if not self.grammar_capable:
                    raise AsrError(f"model {self.path} has no grammar (HCLr/Gr) graph")
                words = [w for w in dict.fromkeys(grammar) if w.strip()]
                if "[unk]" not in words:
                    words.append("[unk]")
                rec = self._vosk.KaldiRecognizer(
                    self._model, float(sample_rate), json.dumps(words, ensure_ascii=False)
                )
                reusable = False
            else:
                reusable = self.reuse_recognizers and sample_rate == 8000
                rec = self._take_idle() if reusable else None
                if rec is not None:
                    return VoskRecognizer(rec, self, reusable)
                rec = self._vosk.KaldiRecognizer(self._model, float(sample_rate))
        except AsrError:
            raise
        except Exception as exc:
            raise AsrError(f"vosk could not create a recognizer: {exc}") from None
        with self._lock:
            self.recognizers_created += 1
        return VoskRecognizer(rec, self, reusable)

    def _take_idle(self) -> Any | None:
        with self._lock:
            if not self._idle:
                return None
            self.recognizers_reused += 1
            return self._idle.pop()

    def _park(self, rec: Any) -> None:
        """Reset a finished 8 kHz free-form recognizer and keep it for the next call.

        Reset clears the decoding state (no text carries over) but keeps the expanded
        graph (and possibly vosk's speaker adaptation state, see ``__init__``).
        """
        try:
            rec.Reset()
        except Exception:  # a recognizer that cannot reset is simply not reused
            return
        with self._lock:
            if len(self._idle) < self.max_idle:
                self._idle.append(rec)

    def state(self) -> dict[str, Any]:
        return {
            "engine": "vosk",
            "model_loaded": True,
            "model_path": str(self.path),
            "grammar": self.grammar_capable,
            "load_seconds": self.load_seconds,
            "reuse_recognizers": self.reuse_recognizers,
            "recognizers_created": self.recognizers_created,
            "recognizers_reused": self.recognizers_reused,
            "recognizers_idle": len(self._idle),
        }

    def transcribe_file(self, path: str | Path, grammar: Sequence[str] | None = None) -> str:
        """See :func:`transcribe_file`."""
        return transcribe_file(self, path, grammar)


def transcribe_file(engine: Engine, path: str | Path, grammar: Sequence[str] | None = None) -> str:
    """The text of a recording (any rate; any format sox reads), utterances joined.

    16-bit mono WAV at 8 or 16 kHz is decoded as is; anything else (other rates, stereo,
    8-bit, µ-law, float, MP3...) is converted with sox to mono, 8 kHz if it is telephone
    audio, else 16 kHz. Blocking: from
    async code use :func:`transcribe_file_async`. Raises AsrError for unreadable audio.
    """
    pcm, rate = read_audio(path)
    rec = engine.new_recognizer(rate, grammar)
    texts: list[str] = []
    for i in range(0, len(pcm), _FILE_CHUNK):
        res = rec.accept_audio(pcm[i : i + _FILE_CHUNK])
        if res.final and res.text:
            texts.append(res.text)
    last = rec.final()
    rec.close()
    if last.text:
        texts.append(last.text)
    return " ".join(texts)


async def transcribe_file_async(
    engine: Engine, path: str | Path, grammar: Sequence[str] | None = None
) -> str:
    """:func:`transcribe_file` in a worker thread (for the IVR and web)."""
    return await asyncio.to_thread(transcribe_file, engine, path, grammar)


def read_audio(path: str | Path) -> tuple[bytes, int]:
    """``(pcm16 mono bytes, sample rate)`` of an audio file; raises AsrError if unreadable."""
    p = Path(path)
    if not p.is_file():
        raise AsrError(f"audio file {str(p)!r} does not exist")
    try:
        with wave.open(str(p), "rb") as w:
            if (
                w.getnchannels() == 1
                and w.getsampwidth() == 2
                and w.getcomptype() == "NONE"
                and w.getframerate() in DIRECT_RATES
            ):
                return w.readframes(w.getnframes()), w.getframerate()
    except (wave.Error, EOFError):
        pass  # not a plain PCM WAV: let sox read it
    sox = shutil.which("sox")
    if sox is None:
        raise AsrError(f"{str(p)!r} needs conversion but sox is not installed")
    # Telephone-band audio stays at 8 kHz: upsampling it to 16 kHz leaves the model an
    # empty upper band and it decodes worse than vosk's own 8 kHz path.
    rate = 8000 if _sox_rate(sox, p) <= 8000 else FILE_RATE
    return _sox_to_pcm(sox, p, rate), rate


def _sox_rate(sox: str, path: Path) -> int:
    try:
        done = subprocess.run([sox, "--i", "-r", str(path)], capture_output=True, timeout=30,
                              check=False)
        return int(done.stdout.strip() or 0) if done.returncode == 0 else FILE_RATE
    except (subprocess.TimeoutExpired, ValueError):
        return FILE_RATE


def _sox_to_pcm(sox: str, path: Path, rate: int) -> bytes:
    cmd = [sox, "-V1", str(path), "-t", "raw", "-r", str(rate), "-c", "1",
           "-b", "16", "-e", "signed-integer", "-L", "-"]
    try:
        done = subprocess.run(cmd, capture_output=True, timeout=120, check=False)
    except subprocess.TimeoutExpired:
        raise AsrError(f"sox took too long converting {str(path)!r}") from None
    if done.returncode != 0:
        msg = done.stderr.decode(errors="replace").strip()
        raise AsrError(f"sox cannot read {str(path)!r}: {msg}")
    return done.stdout
