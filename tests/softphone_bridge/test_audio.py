"""Audio for the IVR: conversions, WAV reading (checked against sox), the resampler, tones,
the speech detector on real espeak-ng speech, and espeak-ng's failures."""

from __future__ import annotations

import io
import itertools
import math
import random
import struct
import subprocess
import wave
from array import array
from pathlib import Path

import pytest

from softphone_bridge import audio
from softphone_bridge.ivr.ports import FRAME_BYTES, SAMPLE_RATE


def sine(freq: float, seconds: float, rate: int, amplitude: float = 0.5) -> list[int]:
    return [round(32767 * amplitude * math.sin(2 * math.pi * freq * i / rate))
            for i in range(round(seconds * rate))]


def rms(samples: list[int] | array[int]) -> float:
    return math.sqrt(sum(s * s for s in samples) / len(samples)) if samples else 0.0


def crossings(samples: list[int] | array[int] | bytes, centre: int = 0) -> int:
    signs = [s >= centre for s in samples]
    return sum(a != b for a, b in itertools.pairwise(signs))


def wav_bytes(samples: list[int], rate: int, *, width: int = 2, channels: int = 1) -> bytes:
    """A WAV written by the stdlib (``samples`` already interleaved), in ``width`` bytes."""
    if width == 1:
        raw = bytes((s >> 8) + 128 for s in samples)
    elif width == 2:
        raw = b"".join(struct.pack("<h", s) for s in samples)
    elif width == 3:
        raw = b"".join(struct.pack("<i", s << 8)[:3] for s in samples)
    else:
        raw = b"".join(struct.pack("<i", s << 16) for s in samples)
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(width)
        w.setframerate(rate)
        w.writeframes(raw)
    return out.getvalue()


def riff(fmt_chunk: bytes, data: bytes, *, data_size: int | None = None) -> bytes:
    size = len(data) if data_size is None else data_size
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt_chunk)) + fmt_chunk \
        + b"data" + struct.pack("<I", size) + data
    return b"RIFF" + struct.pack("<I", len(body)) + body


# -- sample conversions ------------------------------------------------------------------------

def test_u8_and_s16_round_trip_every_value() -> None:
    every = bytes(range(256))
    assert audio.s16_to_u8(audio.u8_to_s16(every)) == every
    assert list(audio.u8_to_s16(b"\x80\x00\xff")) == [0, -32768, 32512]
    assert audio.s16_to_u8([32767, -32768, 127, 128, -129]) == bytes([255, 0, 128, 129, 127])


def test_u8_to_wav_is_a_16_bit_8khz_mono_wav_of_the_same_audio() -> None:
    pcm = audio.tone(440, 1.0) + audio.silence(0.5)
    data = audio.u8_to_wav(pcm)
    with wave.open(io.BytesIO(data), "rb") as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, 8000)
        assert w.getnframes() == len(pcm) == 12000
    assert audio.wav_to_u8(data) == pcm  # 8 kHz in, nothing resampled
    back = audio.read_wav(data)
    assert back.rate == 8000 and back.duration_s == 1.5


@pytest.mark.parametrize(("rate", "width", "channels"), [
    (8000, 1, 1), (11025, 1, 2), (16000, 2, 1), (22050, 2, 1), (44100, 2, 2),
    (48000, 3, 1), (32000, 4, 2), (96000, 2, 1),
])
def test_any_pcm_wav_becomes_8khz_u8_of_the_same_length_and_pitch(
        rate: int, width: int, channels: int) -> None:
    seconds = 1.5
    mono = sine(440, seconds, rate)
    interleaved = [s for s in mono for _ in range(channels)]
    pcm = audio.wav_to_u8(wav_bytes(interleaved, rate, width=width, channels=channels))
    assert len(pcm) == round(seconds * SAMPLE_RATE)  # exact: N seconds stay N seconds
    middle = pcm[800:-800]  # away from the filter's edges
    assert 0.33 < audio.frame_rms(middle) / 128 < 0.38  # amplitude 0.5 → RMS 0.354
    assert abs(crossings(middle, 128) / (len(middle) / SAMPLE_RATE) - 880) < 10


@pytest.mark.parametrize("rate", [8000, 11025, 16000, 22050, 44100, 48000, 7999, 8001])
@pytest.mark.parametrize("seconds", [0.02, 1.0, 2.5, 3.0])
def test_resampled_lengths_are_exact(rate: int, seconds: float) -> None:
    samples = array("h", bytes(2 * round(seconds * rate)))
    out = audio.resample(samples, rate, SAMPLE_RATE)
    assert abs(len(out) - seconds * SAMPLE_RATE) <= 1


def test_the_resampler_removes_what_would_fold_into_the_phone_band() -> None:
    rate = 22050  # espeak-ng's own rate
    passed = audio.resample(sine(1000, 1.0, rate), rate, 8000)
    assert 0.95 < rms(passed[200:-200]) / (32767 * 0.5 / math.sqrt(2)) < 1.05
    # 6 kHz cannot exist at 8 kHz: a plain decimation would make it a loud 2 kHz tone
    folded = audio.resample(sine(6000, 1.0, rate), rate, 8000)
    assert rms(folded[200:-200]) < 0.01 * 32767 * 0.5
    up = audio.resample(sine(440, 1.0, 8000), 8000, 16000)
    assert len(up) == 16000 and abs(crossings(up[100:-100]) / 0.9875 - 880) < 10


def test_resample_refuses_a_zero_rate() -> None:
    with pytest.raises(ValueError, match="bad sample rates"):
        audio.resample([0, 1], 0, 8000)


# -- WAV encodings -----------------------------------------------------------------------------

def sox(*args: str) -> None:
    subprocess.run(["sox", *args], check=True, capture_output=True, timeout=60)


@pytest.mark.parametrize("encoding", ["u-law", "a-law"])
def test_g711_wavs_decode_exactly_as_sox_decodes_them(tmp_path: Path, encoding: str) -> None:
    coded, linear = tmp_path / "coded.wav", tmp_path / "linear.wav"
    sox("-n", "-r", "8000", "-c", "1", "-e", encoding, str(coded), "synth", "0.5", "sine",
        "300-3000", "vol", "0.9")
    sox(str(coded), "-e", "signed-integer", "-b", "16", str(linear))
    ours = audio.read_wav(coded.read_bytes())
    theirs = audio.read_wav(linear.read_bytes())
    assert ours.rate == 8000 and len(ours.samples) == 4000
    assert ours.samples == theirs.samples


def test_float_and_extensible_wavs(tmp_path: Path) -> None:
    floats = tmp_path / "float.wav"
    sox("-n", "-r", "16000", "-c", "2", "-e", "floating-point", "-b", "32", str(floats),
        "synth", "1", "sine", "440", "vol", "0.5")
    pcm = audio.wav_to_u8(floats.read_bytes())
    assert len(pcm) == 8000
    assert abs(crossings(pcm[400:-400], 128) / (7200 / 8000) - 880) < 10
    # WAVE_FORMAT_EXTENSIBLE with a 24-bit PCM sub-format (what many recorders write)
    samples = sine(440, 0.5, 8000)
    data = b"".join(struct.pack("<i", s << 8)[:3] for s in samples)
    guid = struct.pack("<H", 1) + b"\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"
    fmt = struct.pack("<HHIIHHHHI", 0xFFFE, 1, 8000, 24000, 3, 24, 22, 24, 4) + guid
    assert list(audio.read_wav(riff(fmt, data)).samples) == samples


def test_float_samples_are_clamped_and_nan_is_silence() -> None:
    fmt = struct.pack("<HHIIHH", 3, 1, 8000, 32000, 4, 32)
    data = struct.pack("<4f", 2.0, -2.0, float("nan"), 0.5)
    assert list(audio.read_wav(riff(fmt, data)).samples) == [32767, -32767, 0, 16384]


def test_espeak_pipe_header_sizes_and_odd_endings_are_tolerated() -> None:
    fmt = struct.pack("<HHIIHH", 1, 1, 8000, 16000, 2, 16)
    data = struct.pack("<3h", 100, -200, 300) + b"\x01"  # a half sample at the end
    pcm = audio.read_wav(riff(fmt, data, data_size=0x7FFFF000))
    assert list(pcm.samples) == [100, -200, 300]
    # a chunk before fmt (LIST), with an odd size and its pad byte
    extra = b"LIST" + struct.pack("<I", 3) + b"abc\x00"
    body = riff(fmt, data)
    assert list(audio.read_wav(body[:12] + extra + body[12:]).samples) == [100, -200, 300]


@pytest.mark.parametrize(("data", "message"), [
    (b"", "not a WAV"),
    (b"ID3\x04" + bytes(100), "not a WAV"),
    (b"RIFF\x04\x00\x00\x00WAVE", "without a format chunk"),
    (riff(struct.pack("<HHIIHH", 2, 1, 8000, 4000, 256, 4), b"\x00" * 16), "format tag 0x2"),
    (riff(struct.pack("<HHIIHH", 1, 0, 8000, 0, 0, 16), b""), "0 channels"),
    (riff(struct.pack("<HHIIHH", 7, 1, 8000, 16000, 2, 16), b"\x00" * 4), "G.711"),
    (riff(struct.pack("<HHIIHH", 1, 1, 8000, 8000, 1, 8), b"")[:-8], "without a data chunk"),
])
def test_unusable_wavs_are_clear_errors(data: bytes, message: str) -> None:
    with pytest.raises(audio.AudioError, match=message):
        audio.read_wav(data)


def test_a_wav_without_samples_cannot_be_a_prompt() -> None:
    with pytest.raises(audio.AudioError, match="without samples"):
        audio.wav_to_u8(wav_bytes([], 8000))


# -- tones --------------------------------------------------------------------------------------

def test_the_beep_is_a_clean_1khz_tone() -> None:
    beep = audio.tone()
    assert len(beep) == 3200  # 0.4 s
    assert abs(crossings(beep, 128) - 800) <= 2  # two per cycle
    assert max(beep) <= 128 + 64 and min(beep) >= 128 - 64  # level 0.5
    assert abs(beep[0] - 128) <= 1 and abs(beep[-1] - 128) <= 1  # faded: no click
    assert audio.silence(0.02) == audio.SILENT_FRAME == b"\x80" * FRAME_BYTES


@pytest.mark.parametrize("args", [(0.0, 0.4), (4000.0, 0.4), (1000.0, -1.0)])
def test_bad_tones(args: tuple[float, float]) -> None:
    with pytest.raises(ValueError):
        audio.tone(*args)


# -- speech detection ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def speech() -> bytes:
    """About two seconds of espeak-ng Mandarin at 8 kHz u8."""
    return audio.synthesize("您好，我的空调坏了，需要维修。", "cmn-latn-pinyin")


def frames(pcm: bytes) -> list[bytes]:
    return [pcm[i:i + FRAME_BYTES] for i in range(0, len(pcm), FRAME_BYTES)]


def noise(seconds: float, spread: int, seed: int = 7) -> bytes:
    rnd = random.Random(seed)
    return bytes(128 + rnd.randint(-spread, spread) for _ in range(round(seconds * 8000)))


def test_frame_rms() -> None:
    assert audio.frame_rms(b"") == 0.0
    assert audio.frame_rms(audio.SILENT_FRAME) == 0.0
    assert audio.frame_rms(bytes([138, 118] * 80)) == 10.0


def test_speech_is_heard_and_then_the_silence_after_it(speech: bytes) -> None:
    detector = audio.SpeechDetector(silence_s=1.0)
    line = noise(1.0, 2) + speech + noise(3.0, 2, seed=8)
    finished_at = None
    for i, frame in enumerate(frames(line)):
        detector.feed(frame)
        if detector.finished and finished_at is None:
            finished_at = (i + 1) * 0.02
    assert detector.speech_heard
    assert detector.speech_s > 0.5
    end_of_speech = (8000 + len(speech)) / 8000
    assert finished_at is not None
    # espeak ends with a little silence of its own; finished 1 s after the last sound
    assert end_of_speech < finished_at + 0.5 < end_of_speech + 1.5


@pytest.mark.parametrize("line", [
    b"\x80" * 40000,                                   # digital silence
    noise(5.0, 2),                                     # a quiet line
    noise(5.0, 14),                                    # hiss, louder than the threshold
    (b"\x80" * 800 + bytes([200]) * 80) * 20,          # clicks
])
def test_no_speech_on_silence_noise_or_clicks(line: bytes) -> None:
    detector = audio.SpeechDetector(silence_s=3.0)
    for frame in frames(line):
        detector.feed(frame)
    assert not detector.speech_heard and not detector.finished


def test_speech_over_hiss_is_still_speech(speech: bytes) -> None:
    hiss = noise(len(speech) / 8000 + 2, 6, seed=3)
    line = hiss[:16000] + bytes(min(255, max(0, a + b - 128))
                                for a, b in zip(speech, hiss[16000:], strict=False))
    detector = audio.SpeechDetector()
    heard = [detector.feed(f) for f in frames(line)]
    assert detector.speech_heard
    assert not any(heard[:50])  # the first second, only hiss


def test_the_detector_checks_its_settings() -> None:
    with pytest.raises(ValueError):
        audio.SpeechDetector(silence_s=0)
    assert audio.SpeechDetector().feed(b"") is False


# -- espeak-ng -----------------------------------------------------------------------------------

def test_espeak_speech_is_8khz_u8(speech: bytes) -> None:
    assert 1.0 < len(speech) / 8000 < 8.0
    assert audio.frame_rms(speech) > 8
    assert "cmn-latn-pinyin" in audio.voices() and "en-us" in audio.voices()


def test_espeak_failures_are_clear(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError, match="nothing to say"):
        audio.synthesize("  ", "en")
    with pytest.raises(audio.SynthesisError, match="failed"):
        audio.synthesize("hello", "xx")
    fake = tmp_path / "espeak-ng"
    fake.write_text("#!/bin/sh\nexec /bin/sleep 5\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(audio.SynthesisError, match=r"more than 0\.2 s"):
        audio.synthesize("hello", "en", timeout_s=0.2)
    fake.write_text("#!/bin/sh\necho not audio\n")
    with pytest.raises(audio.SynthesisError, match="no usable audio"):
        audio.synthesize("hello", "en")
    fake.unlink()
    with pytest.raises(audio.SynthesisError, match="not installed"):
        audio.synthesize("hello", "en")
    with pytest.raises(audio.SynthesisError, match="not installed"):
        audio.voices()


def test_text_goes_to_espeak_on_stdin_never_as_an_option() -> None:
    pcm = audio.synthesize("--help -v xx", "en-us")  # read aloud, not taken for options
    assert len(pcm) > 4000 and audio.frame_rms(pcm) > 5
