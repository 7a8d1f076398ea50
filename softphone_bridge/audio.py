"""Audio for the IVR: espeak-ng speech, WAV in and out, tones, and a speech detector.

Everything the IVR plays or hears is what pyVoIP's ``write_audio``/``read_audio`` speak:
8 kHz, mono, 8-bit **unsigned** linear PCM ("u8"; 160 bytes = 20 ms, silence ``0x80``; see
:mod:`softphone_bridge.ivr.ports`). This module turns other audio into that and back:

* :func:`synthesize` — text → u8 with espeak-ng (the only function here that runs a process);
* :func:`read_wav` / :func:`wav_to_u8` — any PCM WAV (8/16/24/32-bit integer, 32/64-bit float,
  A-law, µ-law; any rate; any channels; ``WAVE_FORMAT_EXTENSIBLE``; the bogus sizes espeak-ng
  writes to a pipe) → 16-bit mono samples / u8;
* :func:`u8_to_wav` — u8 → a 16-bit 8 kHz mono WAV file (a message's attachment, ASR input);
* :func:`tone`, :func:`silence` — the record beep and gaps;
* :class:`SpeechDetector` — frame energy → "the caller spoke" and "then went quiet".

Why pure Python (the ``array`` module) rather than numpy or ``audioop``: numpy is not a
dependency of Hotline, and ``audioop`` is deprecated (removed in Python 3.13) and its
``ratecv`` has no anti-aliasing filter — espeak-ng speaks at 22 050 Hz with energy up to
11 kHz, which would fold into the telephone band as hiss. :func:`resample` is a windowed-sinc
resampler evaluated only at the output samples, fast enough for prompts (about 20 ms of CPU
per second of speech) that are synthesized once and cached.
"""

from __future__ import annotations

import io
import math
import operator
import shutil
import struct
import subprocess
import sys
import wave
from array import array
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache

from softphone_bridge.ivr.ports import FRAME_BYTES, SAMPLE_RATE, SILENCE_BYTE

__all__ = [
    "SILENT_FRAME",
    "AudioError",
    "Pcm16",
    "SpeechDetector",
    "SynthesisError",
    "frame_rms",
    "read_wav",
    "resample",
    "s16_to_u8",
    "silence",
    "synthesize",
    "tone",
    "u8_to_s16",
    "u8_to_wav",
    "voices",
    "wav_to_u8",
]

_BIG_ENDIAN = sys.byteorder == "big"
_PCM, _FLOAT, _ALAW, _MULAW, _EXTENSIBLE = 1, 3, 6, 7, 0xFFFE


class AudioError(ValueError):
    """Audio that cannot be used: not a WAV, an unsupported encoding, no samples."""


class SynthesisError(RuntimeError):
    """espeak-ng is missing, failed, timed out or produced no audio."""


@dataclass(frozen=True)
class Pcm16:
    """Mono signed 16-bit samples (``array('h')``) at ``rate`` Hz."""

    samples: array[int]
    rate: int

    @property
    def duration_s(self) -> float:
        return len(self.samples) / self.rate


# -- sample conversions ---------------------------------------------------------------------

def u8_to_s16(pcm: bytes) -> array[int]:
    """u8 PCM → signed 16-bit samples (``0x80`` → 0, each step 256)."""
    return array("h", ((b - 128) << 8 for b in pcm))


def s16_to_u8(samples: Iterable[int]) -> bytes:
    """Signed 16-bit samples → u8 PCM, rounded to the nearest step (clamped)."""
    return bytes(min(255, ((s + 32768 + 128) >> 8)) for s in samples)


def _s16_from_le(raw: bytes) -> array[int]:
    out = array("h", raw)
    if _BIG_ENDIAN:
        out.byteswap()
    return out


@cache
def _g711_table(law: int) -> tuple[int, ...]:
    """The 256 16-bit values of A-law (6) or µ-law (7) code words (ITU-T G.711)."""
    table = []
    for code in range(256):
        if law == _MULAW:
            u = ~code & 0xFF
            exponent, mantissa = (u >> 4) & 0x07, u & 0x0F
            magnitude = (((mantissa << 3) + 0x84) << exponent) - 0x84
            table.append(-magnitude if u & 0x80 else magnitude)
        else:
            a = code ^ 0x55
            exponent, mantissa = (a >> 4) & 0x07, a & 0x0F
            magnitude = (mantissa << 4) + 8 if exponent == 0 \
                else ((mantissa << 4) + 0x108) << (exponent - 1)
            table.append(magnitude if a & 0x80 else -magnitude)
    return tuple(table)


def _decode_samples(raw: bytes, fmt: int, width: int) -> array[int]:
    """Interleaved samples of one encoding → signed 16-bit (channels still interleaved)."""
    if fmt in (_ALAW, _MULAW):
        if width != 1:
            raise AudioError(f"G.711 WAV with {8 * width}-bit samples")
        table = _g711_table(fmt)
        return array("h", (table[b] for b in raw))
    if fmt == _FLOAT:
        if width not in (4, 8):
            raise AudioError(f"float WAV with {8 * width}-bit samples")
        floats = array("f" if width == 4 else "d", raw)
        if _BIG_ENDIAN:
            floats.byteswap()
        return array("h", (round(max(-1.0, min(1.0, x)) * 32767) if x == x else 0
                           for x in floats))
    if fmt != _PCM:
        raise AudioError(f"unsupported WAV encoding (format tag {fmt:#x})")
    if width == 1:
        return u8_to_s16(raw)
    if width == 2:
        return _s16_from_le(raw)
    if width in (3, 4):  # keep the two most significant bytes of each sample
        top = bytearray(2 * (len(raw) // width))
        top[0::2] = raw[width - 2::width]
        top[1::2] = raw[width - 1::width]
        return _s16_from_le(bytes(top))
    raise AudioError(f"integer WAV with {8 * width}-bit samples")


def _mono(samples: array[int], channels: int) -> array[int]:
    if channels == 1:
        return samples
    columns = [samples[k::channels] for k in range(channels)]
    return array("h", (sum(frame) // channels for frame in zip(*columns, strict=True)))


# -- WAV ------------------------------------------------------------------------------------

def _chunks(data: bytes) -> dict[bytes, bytes]:
    """The RIFF/WAVE file's first ``fmt `` and ``data`` chunks; a size past the end of the
    file (espeak-ng writing to a pipe says 0x7ffff000) is clamped to what is there."""
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise AudioError("not a WAV file (no RIFF/WAVE header)")
    found: dict[bytes, bytes] = {}
    pos = 12
    while pos + 8 <= len(data) and len(found) < 2:
        cid, size = data[pos:pos + 4], struct.unpack_from("<I", data, pos + 4)[0]
        body = data[pos + 8:pos + 8 + size]
        if cid in (b"fmt ", b"data") and cid not in found:
            found[cid] = body
        pos += 8 + size + (size & 1)
    if b"fmt " not in found or len(found[b"fmt "]) < 16:
        raise AudioError("WAV file without a format chunk")
    if b"data" not in found:
        raise AudioError("WAV file without a data chunk")
    return found


def read_wav(data: bytes) -> Pcm16:
    """A WAV file's bytes → mono 16-bit samples at the file's rate (channels averaged).

    Reads integer PCM of 8–32 bits, float PCM of 32/64 bits, A-law and µ-law, plain or
    ``WAVE_FORMAT_EXTENSIBLE``. A truncated last frame is dropped. Raises
    :class:`AudioError` for anything else (not a WAV, compressed, no channels or rate).
    """
    chunks = _chunks(data)
    fmt, channels, rate, _byte_rate, _block, bits = struct.unpack_from("<HHIIHH",
                                                                       chunks[b"fmt "])
    if fmt == _EXTENSIBLE:
        if len(chunks[b"fmt "]) < 26:
            raise AudioError("WAVE_FORMAT_EXTENSIBLE without its sub-format")
        fmt = struct.unpack_from("<H", chunks[b"fmt "], 24)[0]
    if channels < 1 or rate < 1 or bits < 1:
        raise AudioError(f"WAV with {channels} channels at {rate} Hz, {bits} bits")
    width = (bits + 7) // 8
    block = width * channels  # not the header's block align: some writers get it wrong
    raw = chunks[b"data"]
    raw = raw[:len(raw) - len(raw) % block]
    samples = _mono(_decode_samples(raw, fmt, width), channels)
    return Pcm16(samples, rate)


def wav_to_u8(data: bytes) -> bytes:
    """Any WAV :func:`read_wav` reads → u8 PCM at 8 kHz (resampled if needed).
    Raises :class:`AudioError` for unreadable audio or a file without samples."""
    pcm = read_wav(data)
    if not pcm.samples:
        raise AudioError("WAV file without samples")
    return s16_to_u8(resample(pcm.samples, pcm.rate, SAMPLE_RATE))


def u8_to_wav(pcm: bytes) -> bytes:
    """u8 PCM (8 kHz mono) → the bytes of a 16-bit 8 kHz mono WAV file."""
    samples = u8_to_s16(pcm)
    if _BIG_ENDIAN:
        samples.byteswap()
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(SAMPLE_RATE)
        w.writeframes(samples.tobytes())
    return out.getvalue()


# -- resampling -----------------------------------------------------------------------------

_PHASES = 128        # fractional positions the kernel is tabulated at (error ≤ 1/256 sample)
_ZERO_CROSSINGS = 6  # per side: the kernel's length, i.e. how steep the low-pass is


@cache
def _kernels(src_rate: int, dst_rate: int) -> tuple[int, tuple[tuple[float, ...], ...]]:
    """(half width, one low-pass interpolation kernel per phase), each summing to 1.

    The cut-off is 90 % of the lower Nyquist frequency, so going down to 8 kHz nothing above
    3.6 kHz folds back into the band.
    """
    fc = 0.9 * min(1.0, dst_rate / src_rate)  # cycles per input sample, relative to Nyquist
    half = math.ceil(_ZERO_CROSSINGS / fc)
    table = []
    for p in range(_PHASES):
        frac = p / _PHASES
        taps = []
        for k in range(-half + 1, half + 1):
            t = k - frac
            x = math.pi * fc * t
            sinc = 1.0 if x == 0 else math.sin(x) / x
            window = 0.5 + 0.5 * math.cos(math.pi * t / half) if abs(t) < half else 0.0
            taps.append(sinc * window)
        total = sum(taps)
        table.append(tuple(tap / total for tap in taps))
    return half, tuple(table)


def resample(samples: Sequence[int], src_rate: int, dst_rate: int) -> array[int]:
    """16-bit samples at ``src_rate`` → at ``dst_rate`` (band-limited, clamped to 16 bits).

    The output has exactly ``round(len(samples) * dst_rate / src_rate)`` samples, so N
    seconds stay N seconds. Raises ``ValueError`` for a rate below 1.
    """
    if src_rate < 1 or dst_rate < 1:
        raise ValueError(f"bad sample rates {src_rate} → {dst_rate}")
    if src_rate == dst_rate:
        return array("h", samples)
    n_out = round(len(samples) * dst_rate / src_rate)
    half, kernels = _kernels(src_rate, dst_rate)
    width = 2 * half
    padded = [0.0] * half + [float(s) for s in samples] + [0.0] * (half + 1)
    step = src_rate / dst_rate
    mul = operator.mul
    out = array("h", bytes(2 * n_out))
    for i in range(n_out):
        pos = i * step
        base = int(pos)
        phase = round((pos - base) * _PHASES)
        if phase == _PHASES:
            base, phase = base + 1, 0
        # kernel tap k (from -half+1) weighs input sample base + k, at padded[base + k + half]
        start = base + 1
        value = sum(map(mul, kernels[phase], padded[start:start + width]))
        out[i] = max(-32768, min(32767, round(value)))
    return out


# -- tones and silence ----------------------------------------------------------------------

def silence(duration_s: float) -> bytes:
    """``duration_s`` of u8 silence (``0x80``), rounded to the sample."""
    if not duration_s >= 0:
        raise ValueError(f"bad duration {duration_s!r}")
    return bytes([SILENCE_BYTE]) * round(duration_s * SAMPLE_RATE)


def tone(freq_hz: float = 1000.0, duration_s: float = 0.4, *, level: float = 0.5,
         fade_s: float = 0.005) -> bytes:
    """A sine tone as u8 PCM at 8 kHz (the record beep: 0.4 s at 1 kHz).

    ``level``: peak amplitude as a fraction of full scale (0–1). ``fade_s``: linear fade in
    and out, so the tone starts and stops without a click. Raises ``ValueError`` for a
    frequency outside (0, 4000) Hz, a negative duration or a level outside 0–1.
    """
    if not 0 < freq_hz < SAMPLE_RATE / 2:
        raise ValueError(f"tone frequency {freq_hz!r} Hz is outside (0, 4000)")
    if not duration_s >= 0 or not 0 <= level <= 1:
        raise ValueError(f"bad tone duration {duration_s!r} or level {level!r}")
    n = round(duration_s * SAMPLE_RATE)
    fade = max(1, round(fade_s * SAMPLE_RATE))
    w = 2 * math.pi * freq_hz / SAMPLE_RATE
    return s16_to_u8(
        round(32767 * level * min(1.0, i / fade, (n - 1 - i) / fade) * math.sin(w * i))
        for i in range(n))


# -- speech detection -----------------------------------------------------------------------

def frame_rms(frame: bytes) -> float:
    """Root-mean-square amplitude of u8 PCM around ``0x80`` (0 = silence, ~127 = full scale);
    0.0 for an empty frame."""
    if not frame:
        return 0.0
    return math.sqrt(sum((b - 128) * (b - 128) for b in frame) / len(frame))


class SpeechDetector:
    """Energy-based speech detection on u8 frames, for recording a voice message.

    Feed the line's audio in order (20 ms frames of :data:`~softphone_bridge.ivr.ports.
    FRAME_BYTES` bytes; other lengths work, their duration counts)::

        detector = SpeechDetector(silence_s=3)
        for frame in frames:
            detector.feed(frame)
            if detector.finished:      # spoke, then 3 s of quiet
                break
        has_speech = detector.speech_heard

    A frame is speech when its RMS is above ``threshold`` and above ``ratio`` × the line's
    noise floor: the quietest frame of the last ``floor_window_s`` (speech always has quiet
    gaps between syllables, steady hiss does not, so a hissy line is not taken for talking).
    ``speech_heard`` needs ``min_speech_s`` of speech in runs of at least ``min_run_s`` (a
    click is not a message). Not thread-safe: one call's thread.
    """

    def __init__(self, silence_s: float = 3.0, *, threshold: float = 6.0, ratio: float = 2.5,
                 floor_window_s: float = 1.0, min_speech_s: float = 0.3,
                 min_run_s: float = 0.06) -> None:
        if not silence_s > 0 or not threshold > 0 or not ratio >= 1 or not floor_window_s > 0:
            raise ValueError("silence_s, threshold and floor_window_s must be > 0, ratio ≥ 1")
        self.silence_s = silence_s
        self.threshold = threshold
        self.ratio = ratio
        self.min_speech_s = min_speech_s
        self.min_run_s = min_run_s
        #: The line's RMS when nobody speaks (the quietest recent frame).
        self.noise_floor = 0.0
        #: Seconds of speech counted so far (in long-enough runs).
        self.speech_s = 0.0
        #: Seconds since the last speech frame (all audio so far if none).
        self.quiet_s = 0.0
        self._recent: deque[float] = deque(
            maxlen=max(1, round(floor_window_s * SAMPLE_RATE / FRAME_BYTES)))
        self._run_s = 0.0
        self._heard = False

    @property
    def speech_heard(self) -> bool:
        """At least ``min_speech_s`` of speech so far."""
        return self._heard

    @property
    def finished(self) -> bool:
        """Speech was heard, then ``silence_s`` of quiet: the caller is done talking."""
        return self._heard and self.quiet_s >= self.silence_s

    def feed(self, frame: bytes) -> bool:
        """Take the next frame; True when it is speech."""
        if not frame:
            return False
        seconds = len(frame) / SAMPLE_RATE
        rms = frame_rms(frame)
        self._recent.append(rms)
        self.noise_floor = min(self._recent)
        speech = rms > max(self.threshold, self.ratio * self.noise_floor)
        if speech:
            self._run_s += seconds
            self.quiet_s = 0.0
            if self._run_s >= self.min_run_s:
                # the run's earlier frames count once it is long enough
                self.speech_s += seconds if self._run_s - seconds >= self.min_run_s \
                    else self._run_s
                self._heard = self._heard or self.speech_s >= self.min_speech_s
        else:
            self._run_s = 0.0
            self.quiet_s += seconds
        return speech


# -- espeak-ng --------------------------------------------------------------------------------

def _espeak() -> str:
    path = shutil.which("espeak-ng")
    if path is None:
        raise SynthesisError("espeak-ng is not installed (apt-get install espeak-ng)")
    return path


def voices(timeout_s: float = 10.0) -> frozenset[str]:
    """The language names espeak-ng's ``-v`` accepts (``cmn``, ``cmn-latn-pinyin``, ``en``…).
    Raises :class:`SynthesisError` when espeak-ng is missing or fails."""
    try:
        done = subprocess.run([_espeak(), "--voices"], capture_output=True, timeout=timeout_s,
                              check=False)
    except (OSError, subprocess.SubprocessError) as exc:
        raise SynthesisError(f"espeak-ng --voices failed: {exc}") from exc
    if done.returncode != 0:
        raise SynthesisError(f"espeak-ng --voices failed: {_tail(done.stderr)}")
    names = set()
    for line in done.stdout.decode(errors="replace").splitlines()[1:]:
        cols = line.split()
        if len(cols) >= 2:
            names.add(cols[1].lower())
    return frozenset(names)


def _tail(stderr: bytes) -> str:
    text = stderr.decode(errors="replace").strip()
    return text[-300:] or "no message"


def synthesize(text: str, voice: str, *, speed_wpm: int | None = None,
               timeout_s: float = 30.0) -> bytes:
    """``text`` spoken by espeak-ng's ``voice`` → u8 PCM at 8 kHz.

    The text goes to espeak-ng on stdin (UTF-8), so nothing in it is taken for an option.
    ``speed_wpm``: words per minute (espeak-ng's default is 175). Raises ``ValueError`` for
    empty text and :class:`SynthesisError` when espeak-ng is missing, rejects the voice,
    fails, exceeds ``timeout_s`` or produces no audio.
    """
    if not text.strip():
        raise ValueError("nothing to say")
    cmd = [_espeak(), "--stdout", "-b", "1", "-v", voice]
    if speed_wpm is not None:
        cmd += ["-s", str(int(speed_wpm))]
    try:
        done = subprocess.run(cmd, input=text.encode(), capture_output=True,
                              timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired as exc:
        raise SynthesisError(f"espeak-ng took more than {timeout_s} s") from exc
    except OSError as exc:
        raise SynthesisError(f"espeak-ng could not run: {exc}") from exc
    if done.returncode != 0:
        raise SynthesisError(f"espeak-ng -v {voice} failed: {_tail(done.stderr)}")
    try:
        pcm = read_wav(done.stdout)
    except AudioError as exc:
        raise SynthesisError(f"espeak-ng -v {voice} produced no usable audio: {exc}") from exc
    if not pcm.samples:
        raise SynthesisError(f"espeak-ng -v {voice} produced no audio")
    return s16_to_u8(resample(pcm.samples, pcm.rate, SAMPLE_RATE))


#: 20 ms of u8 silence, the unit the line is paced in.
SILENT_FRAME = bytes([SILENCE_BYTE]) * FRAME_BYTES
