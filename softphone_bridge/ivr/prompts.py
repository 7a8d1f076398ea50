"""Prompt audio: the catalogue's words synthesized by espeak-ng, cached, or a recording.

:class:`EspeakPromptBook` implements :class:`~softphone_bridge.ivr.ports.PromptBook` for
the call threads. Synthesis costs a process and a resample (tens to hundreds of ms), a call
cannot wait for that at every menu, and many calls hear the same words, so audio is kept:

* **on disk**, one file per spoken segment, named by a hash of the format version, the
  voice, its speed and the text (so a reworded prompt or another voice is a new file, never
  stale audio); written atomically (temporary file + rename), so a crash or two processes
  never leave half a file. Fixed prompts go to ``fixed/``; prompts with parameters
  (ticket numbers, times) to ``said/``, which is pruned oldest first past ``max_said_files``;
* **in memory**: fixed prompts for the process's life, prompts with parameters in an LRU.

A WAV recording at ``<overrides_dir>/<lang>/<key>.wav`` (any rate, width, channels)
replaces a fixed prompt — a real voice for the menu — and is re-read when the file changes.
A broken recording is logged and the synthesized prompt is used. ``beep`` is a 0.4 s 1 kHz
tone. :meth:`EspeakPromptBook.warm` synthesizes every fixed prompt at startup, so the first
caller does not wait and a missing espeak-ng is noticed before any call.

Thread-safe: a lock guards the memory caches, and each segment being synthesized has its
own lock, so two calls asking for the same new text synthesize it once while other calls go
on.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import Protocol

from softphone_bridge import audio
from softphone_bridge.ivr import catalogue
from softphone_bridge.ivr.ports import Lang

log = logging.getLogger(__name__)

#: Part of every cache file's name: bump it when the audio pipeline changes (resampler,
#: format), so old files are not used.
FORMAT_VERSION = 1
#: The espeak-ng voices. Mandarin is ``cmn-latn-pinyin``: espeak-ng 1.51's ``cmn`` voice
#: reads the tone digits of its own pinyin as English words ("三" → "san one"; espeak-ng
#: issue #1028), the pinyin voice reads Chinese text correctly.
DEFAULT_VOICES: Mapping[Lang, str] = {"zh": "cmn-latn-pinyin", "en": "en-us"}
#: Words per minute: a little slower than espeak-ng's 175, as hotlines speak.
DEFAULT_SPEED_WPM: Mapping[Lang, int] = {"zh": 165, "en": 160}
#: Pause between the segments of one prompt (the menu and its other-language offer).
SEGMENT_GAP_S = 0.25
#: A recorded override larger than this is not read (a prompt is seconds long).
MAX_OVERRIDE_BYTES = 20 * 1024 * 1024


class Synthesizer(Protocol):
    """``audio.synthesize``'s shape: text and voice → u8 PCM at 8 kHz."""

    def __call__(self, text: str, voice: str, *, speed_wpm: int | None = None,
                 timeout_s: float = 30.0) -> bytes: ...


class EspeakPromptBook:
    """Prompts in u8 8 kHz PCM from the catalogue (see the module docstring).

    ``cache_dir``: where synthesized audio is kept (created if missing). ``overrides_dir``:
    recorded prompts, ``<dir>/<lang>/<key>.wav``, or ``None``. ``tz``: the site's timezone
    (``when`` is read as 今天下午三点 there). ``clock``: the current time (tests fix it).
    ``memory_items``: prompts with parameters kept in memory. ``synthesize``: the synthesizer
    (tests count its calls). A cache directory that cannot be written is logged, not fatal.
    """

    def __init__(self, cache_dir: str | os.PathLike[str],
                 overrides_dir: str | os.PathLike[str] | None = None, *, tz: tzinfo,
                 voices: Mapping[Lang, str] = DEFAULT_VOICES,
                 speed_wpm: Mapping[Lang, int] = DEFAULT_SPEED_WPM,
                 clock: Callable[[], datetime] | None = None, memory_items: int = 256,
                 max_said_files: int = 5000, synthesize: Synthesizer = audio.synthesize,
                 timeout_s: float = 30.0) -> None:
        self._cache_dir = Path(cache_dir)
        self._overrides_dir = Path(overrides_dir) if overrides_dir is not None else None
        self._tz = tz
        self._voices = dict(voices)
        self._speed = dict(speed_wpm)
        self._clock = clock or (lambda: datetime.now(UTC))
        self._memory_items = memory_items
        self._max_said_files = max_said_files
        self._synthesize = synthesize
        self._timeout_s = timeout_s
        self._beep = audio.tone(1000.0, 0.4)
        self._gap = audio.silence(SEGMENT_GAP_S)
        self._lock = threading.Lock()
        self._fixed: dict[tuple[str, Lang], bytes] = {}
        self._said: OrderedDict[tuple[tuple[Lang, str], ...], bytes] = OrderedDict()
        self._overrides: dict[Path, tuple[tuple[int, int], bytes | None]] = {}
        self._inflight: dict[str, threading.Lock] = {}
        self._said_writes = 0
        self._disk_warned = False

    # -- the port ---------------------------------------------------------------------------

    def prompt(self, key: str, lang: Lang, **params: object) -> bytes:
        """The audio of prompt ``key`` in ``lang`` with ``params`` read out (u8, 8 kHz).

        Raises ``KeyError`` for an unknown key, ``ValueError`` (``catalogue.PromptParamError``)
        for missing/unexpected/unreadable parameters or an unknown language, and
        ``audio.SynthesisError`` when espeak-ng cannot say it.
        """
        spec = catalogue.prompt(key)
        if key in catalogue.TONES:
            return self._beep
        if spec.fixed:
            return self._fixed_prompt(key, lang, params)
        segments = catalogue.render(key, lang, now=self._clock(), tz=self._tz, **params)
        with self._lock:
            cached = self._said.get(segments)
            if cached is not None:
                self._said.move_to_end(segments)
                return cached
        pcm = self._join(segments, "said")
        with self._lock:
            self._said[segments] = pcm
            while len(self._said) > self._memory_items:
                self._said.popitem(last=False)
        return pcm

    def warm(self, langs: Iterable[Lang] = catalogue.LANGS) -> int:
        """Make every fixed prompt ready in ``langs`` (synthesize what is not on disk, read
        the recordings); returns how many. Raises ``audio.SynthesisError`` if espeak-ng cannot
        say one (not installed, voice missing) — at startup, before any caller hears it."""
        count = 0
        for lang in langs:
            for key in catalogue.fixed_keys():
                self.prompt(key, lang)
                count += 1
        return count

    # -- fixed prompts and recordings -------------------------------------------------------

    def _fixed_prompt(self, key: str, lang: Lang, params: Mapping[str, object]) -> bytes:
        if params:
            # raises the clear parameter error
            catalogue.render(key, lang, now=self._clock(), tz=self._tz, **params)
        recorded = self._override(key, lang)
        if recorded is not None:
            return recorded
        with self._lock:
            cached = self._fixed.get((key, lang))
        if cached is not None:
            return cached
        pcm = self._join(catalogue.render(key, lang, tz=self._tz), "fixed")
        with self._lock:
            self._fixed[(key, lang)] = pcm
        return pcm

    def _override(self, key: str, lang: Lang) -> bytes | None:
        """The recording replacing ``key`` in ``lang``, re-read when its size or mtime change;
        ``None`` when there is none or it cannot be used (logged once per version)."""
        if self._overrides_dir is None or lang not in catalogue.LANGS:
            return None
        path = self._overrides_dir / lang / f"{key}.wav"
        try:
            st = path.stat()
        except OSError:
            return None
        stamp = (st.st_mtime_ns, st.st_size)
        with self._lock:
            known = self._overrides.get(path)
        if known is not None and known[0] == stamp:
            return known[1]
        pcm: bytes | None = None
        try:
            if st.st_size > MAX_OVERRIDE_BYTES:
                raise audio.AudioError(f"larger than {MAX_OVERRIDE_BYTES} bytes")
            pcm = audio.wav_to_u8(path.read_bytes())
        except (OSError, audio.AudioError) as exc:
            log.warning("IVR prompt recording %s not used (the synthesized prompt is): %s",
                        path, exc)
        with self._lock:
            self._overrides[path] = (stamp, pcm)
        return pcm

    # -- synthesis and the disk cache -------------------------------------------------------

    def _join(self, segments: tuple[tuple[Lang, str], ...], kind: str) -> bytes:
        return self._gap.join(self._segment(lang, text, kind) for lang, text in segments)

    def _segment(self, lang: Lang, text: str, kind: str) -> bytes:
        voice, speed = self._voices[lang], self._speed.get(lang)
        digest = hashlib.sha256(
            f"{FORMAT_VERSION}\0{voice}\0{speed}\0{text}".encode()).hexdigest()
        path = self._cache_dir / kind / f"{digest[:2]}" / f"{digest}.u8"
        pcm = _read(path)
        if pcm is not None:
            return pcm
        with self._lock:
            gate = self._inflight.setdefault(digest, threading.Lock())
        try:
            with gate:
                pcm = _read(path)  # another thread may have just made it
                if pcm is None:
                    pcm = self._synthesize(text, voice, speed_wpm=speed,
                                           timeout_s=self._timeout_s)
                    self._store(path, pcm, kind)
        finally:
            with self._lock:
                self._inflight.pop(digest, None)
        return pcm

    def _store(self, path: Path, pcm: bytes, kind: str) -> None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".u8")
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(pcm)
                os.replace(tmp, path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        except OSError as exc:
            with self._lock:
                warned, self._disk_warned = self._disk_warned, True
            if not warned:
                log.warning("IVR prompt cache %s not writable (prompts kept in memory): %s",
                            self._cache_dir, exc)
            return
        if kind == "said":
            with self._lock:
                self._said_writes += 1
                prune = self._said_writes % 100 == 0
            if prune:
                self._prune_said()

    def _prune_said(self) -> None:
        """Delete the oldest ``said/`` files beyond ``max_said_files`` (down to 90 %)."""
        files = []
        for p in (self._cache_dir / "said").glob("*/*.u8"):
            try:
                files.append((p.stat().st_mtime_ns, p))
            except OSError:  # another process pruned it
                continue
        excess = len(files) - self._max_said_files
        if excess <= 0:
            return
        files.sort()
        for _mtime, p in files[:excess + self._max_said_files // 10]:
            p.unlink(missing_ok=True)


def _read(path: Path) -> bytes | None:
    """A cache file's audio, or ``None`` when missing or empty."""
    try:
        data = path.read_bytes()
    except OSError:
        return None
    return data or None
