"""EspeakPromptBook: real espeak-ng prompts, the disk and memory caches, recorded overrides,
threads. Only a few prompts are really synthesized; the rest use a recording synthesizer."""

from __future__ import annotations

import logging
import re
import struct
import subprocess
import threading
import time
import wave
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from softphone_bridge import audio
from softphone_bridge.ivr import catalogue
from softphone_bridge.ivr.catalogue import PromptParamError
from softphone_bridge.ivr.ports import PromptBook
from softphone_bridge.ivr.prompts import DEFAULT_VOICES, SEGMENT_GAP_S, EspeakPromptBook

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)


class Recorder:
    """A synthesizer that remembers what it was asked (optionally by the real espeak-ng)."""

    def __init__(self, real: bool = False, delay_s: float = 0.0) -> None:
        self.calls: list[tuple[str, str, int | None]] = []
        self.real = real
        self.delay_s = delay_s
        self._lock = threading.Lock()

    def __call__(self, text: str, voice: str, *, speed_wpm: int | None = None,
                 timeout_s: float = 30.0) -> bytes:
        with self._lock:
            self.calls.append((text, voice, speed_wpm))
        if self.delay_s:
            time.sleep(self.delay_s)
        if self.real:
            return audio.synthesize(text, voice, speed_wpm=speed_wpm, timeout_s=timeout_s)
        return bytes([0x90]) * (10 * len(text))

    @property
    def texts(self) -> list[str]:
        return [text for text, _voice, _speed in self.calls]


def book(tmp_path: Path, synth: Recorder, **kwargs: object) -> EspeakPromptBook:
    return EspeakPromptBook(tmp_path / "cache", kwargs.pop("overrides", None),  # type: ignore[arg-type]
                            tz=SHANGHAI, clock=lambda: NOW, synthesize=synth,
                            **kwargs)  # type: ignore[arg-type]


def test_real_espeak_prompts_are_cached_and_not_synthesized_again(tmp_path: Path) -> None:
    synth = Recorder(real=True)
    prompts: PromptBook = book(tmp_path, synth)
    welcome = prompts.prompt("welcome", "zh")
    status = prompts.prompt("status_ticket", "en", number="T-000123", status="in_progress",
                            when=datetime(2026, 12, 1, 7, 30, tzinfo=UTC))
    for pcm in (welcome, status):
        assert 0.3 < len(pcm) / 8000 < 15
        detector = audio.SpeechDetector()
        for i in range(0, len(pcm), 160):
            detector.feed(pcm[i:i + 160])
        assert detector.speech_heard
    assert synth.calls == [
        ("您好，欢迎致电客户服务热线。", "cmn-latn-pinyin", 165),
        ("Ticket one two three is in progress, expected by today at 3:30 p.m.", "en-us", 160),
    ]
    # the same book: from memory; a new book on the same directory: from disk
    assert prompts.prompt("welcome", "zh") == welcome
    again = book(tmp_path, synth)
    assert again.prompt("welcome", "zh") == welcome
    assert again.prompt("status_ticket", "en", number="T-000123", status="in_progress",
                        when=datetime(2026, 12, 1, 7, 30, tzinfo=UTC)) == status
    assert len(synth.calls) == 2
    assert not list((tmp_path / "cache").rglob(".tmp-*"))  # atomic writes leave nothing


def test_a_recorded_override_replaces_a_fixed_prompt(tmp_path: Path,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    overrides = tmp_path / "recorded"
    (overrides / "zh").mkdir(parents=True)
    recording = overrides / "zh" / "welcome.wav"
    recording.write_bytes(audio.u8_to_wav(audio.tone(500, 1.0)))
    synth = Recorder()
    prompts = book(tmp_path, synth, overrides=overrides)
    assert prompts.prompt("welcome", "zh") == audio.tone(500, 1.0)
    assert synth.calls == []
    assert prompts.prompt("welcome", "en") != audio.tone(500, 1.0)  # no English recording
    assert synth.texts == ["Hello, and thank you for calling customer service."]
    # a new recording is picked up without a restart; 16 kHz stereo becomes 8 kHz u8
    samples = audio.resample(audio.u8_to_s16(audio.tone(700, 2.0)), 8000, 16000)
    with wave.open(str(recording), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(b"".join(struct.pack("<hh", s, s) for s in samples))
    converted = prompts.prompt("welcome", "zh")
    assert len(converted) == 16000 and len(synth.calls) == 1  # the English one
    assert sum(abs(a - b) for a, b in zip(converted, audio.tone(700, 2.0), strict=True)) \
        < 2 * len(converted)  # the same tone, give or take the resampler's rounding
    # a broken one is logged and the synthesized prompt is used
    recording.write_bytes(b"not a wav file")
    with caplog.at_level(logging.WARNING, logger="softphone_bridge.ivr.prompts"):
        fallback = prompts.prompt("welcome", "zh")
    assert fallback == bytes([0x90]) * (10 * len("您好，欢迎致电客户服务热线。"))
    assert "welcome.wav not used" in caplog.text


def test_overrides_do_not_replace_prompts_with_parameters(tmp_path: Path) -> None:
    overrides = tmp_path / "recorded"
    (overrides / "en").mkdir(parents=True)
    (overrides / "en" / "status_count.wav").write_bytes(audio.u8_to_wav(audio.tone(500, 1.0)))
    synth = Recorder()
    assert book(tmp_path, synth, overrides=overrides).prompt(
        "status_count", "en", count=2) != audio.tone(500, 1.0)
    assert synth.texts == ["You have two open tickets."]


def test_beep_is_the_tone_and_errors_are_the_catalogue_s(tmp_path: Path) -> None:
    synth = Recorder()
    prompts = book(tmp_path, synth)
    assert prompts.prompt("beep", "zh") == prompts.prompt("beep", "en") == audio.tone(1000, 0.4)
    with pytest.raises(KeyError):
        prompts.prompt("no_such_prompt", "zh")
    with pytest.raises(PromptParamError, match="missing count"):
        prompts.prompt("status_count", "zh")
    with pytest.raises(PromptParamError, match="unexpected count"):
        prompts.prompt("welcome", "zh", count=1)
    with pytest.raises(ValueError, match="unknown language"):
        prompts.prompt("welcome", "fr")  # type: ignore[arg-type]
    assert synth.calls == []


def test_the_menu_offers_the_other_language_in_its_voice(tmp_path: Path) -> None:
    synth = Recorder()
    pcm = book(tmp_path, synth).prompt("menu", "zh")
    assert [voice for _text, voice, _speed in synth.calls] == ["cmn-latn-pinyin", "en-us"]
    assert synth.texts[1] == "For English, press nine."
    gap = audio.silence(SEGMENT_GAP_S)
    assert pcm == gap.join(bytes([0x90]) * (10 * len(t)) for t in synth.texts)


def test_moments_are_read_in_the_site_timezone_at_the_book_s_clock(tmp_path: Path) -> None:
    synth = Recorder()
    book(tmp_path, synth).prompt("status_ticket", "zh", number="T-000042", status="open",
                                 group={"zh": "售后组", "en": "After-sales"},
                                 when=datetime(2026, 12, 2, 1, 0, tzinfo=UTC))
    assert synth.texts == ["工单四二，状态：处理中，由售后组负责，预计明天上午九点前完成。"]


def test_warm_makes_every_fixed_prompt_once(tmp_path: Path) -> None:
    synth = Recorder()
    assert book(tmp_path, synth).warm() == 2 * len(catalogue.fixed_keys())
    # one call per segment: the menu has two in each language
    assert len(synth.calls) == 2 * len(catalogue.fixed_keys()) + 2
    later = Recorder()
    assert book(tmp_path, later).warm(["en"]) == len(catalogue.fixed_keys())
    assert later.calls == []


def test_warm_fails_loudly_without_espeak(tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    prompts = EspeakPromptBook(tmp_path / "cache", tz=SHANGHAI)
    with pytest.raises(audio.SynthesisError, match="not installed"):
        prompts.warm()


def test_threads_asking_for_the_same_new_text_synthesize_it_once(tmp_path: Path) -> None:
    synth = Recorder(delay_s=0.2)
    prompts = book(tmp_path, synth)
    results: list[bytes] = []
    start = threading.Barrier(8)

    def call() -> None:
        start.wait()
        results.append(prompts.prompt("message_saved", "en", number="T-000777"))

    threads = [threading.Thread(target=call) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert len(results) == 8 and len(set(results)) == 1
    assert synth.texts == ["Thank you. Your message is saved as ticket seven seven seven, "
                           "and we will get back to you soon."]


def test_different_texts_are_synthesized_in_parallel(tmp_path: Path) -> None:
    synth = Recorder(delay_s=0.3)
    prompts = book(tmp_path, synth)
    threads = [threading.Thread(target=prompts.prompt, args=("rate_intro", "zh"),
                                kwargs={"number": f"T-{n}"}) for n in range(6)]
    began = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert len(synth.calls) == 6
    assert time.monotonic() - began < 6 * 0.3  # not one after the other


def test_the_memory_lru_and_the_said_directory_are_bounded(tmp_path: Path) -> None:
    synth = Recorder()
    prompts = book(tmp_path, synth, memory_items=3, max_said_files=20)
    for n in range(200):
        prompts.prompt("rate_intro", "en", number=str(n))
    assert len(list((tmp_path / "cache" / "said").rglob("*.u8"))) <= 20
    synth.calls.clear()
    prompts.prompt("rate_intro", "en", number="199")  # in memory
    prompts.prompt("rate_intro", "en", number="0")    # neither in memory nor on disk
    assert synth.texts == ["Please rate how we handled ticket zero. "
                           "Press one to five; five means very satisfied."]


def test_an_unwritable_cache_is_logged_and_prompts_still_play(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    blocker = tmp_path / "cache"
    blocker.write_text("a file where the cache directory should be")
    synth = Recorder()
    prompts = book(tmp_path, synth)
    with caplog.at_level(logging.WARNING, logger="softphone_bridge.ivr.prompts"):
        assert prompts.prompt("goodbye", "en")
        assert prompts.prompt("rate_intro", "en", number="1")
        assert prompts.prompt("rate_intro", "en", number="2")
    assert caplog.text.count("not writable") == 1
    assert prompts.prompt("goodbye", "en") and len(synth.calls) == 3  # kept in memory


def test_each_voice_reads_every_prompt_in_its_own_language() -> None:
    """espeak-ng's phonemes (``-x``) mark a switch to another language's rules, e.g.
    ``(en)`` when the Mandarin voice falls back to English: never in our prompts (the plain
    ``cmn`` voice of espeak-ng 1.51 does it for most characters)."""
    sample = {"count": 2, "number": "T-000123", "status": "pending_customer",
              "group": {"zh": "售后组", "en": "After-sales"}, "hour": 14, "max_s": 120,
              "when": datetime(2026, 12, 5, 7, 30, tzinfo=UTC)}
    said: dict[str, list[str]] = {"zh": [], "en": []}
    for key in catalogue.KEYS:
        if key in catalogue.TONES:
            continue
        spec = catalogue.prompt(key)
        params = {name: sample[name] for name in (*spec.params, *spec.optional)}
        for lang in catalogue.LANGS:
            for seg_lang, text in catalogue.render(key, lang, now=NOW, tz=SHANGHAI, **params):
                said[seg_lang].append(text)
    for lang, voice in DEFAULT_VOICES.items():
        done = subprocess.run(["espeak-ng", "-q", "-x", "-v", voice],
                              input="\n".join(said[lang]).encode(), capture_output=True,
                              timeout=60, check=True)
        phonemes = done.stdout.decode()
        assert phonemes.count("_|") > 300 if lang == "zh" else len(phonemes) > 1000
        assert not re.search(r"\((en|cmn|zh)\)", phonemes), phonemes
        assert "tS'aIni:z" not in phonemes  # "Chinese letter"
