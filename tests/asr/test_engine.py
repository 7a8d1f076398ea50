"""The vosk engine with the real Korean model on espeak-ng speech."""

from __future__ import annotations

import os
import statistics
import subprocess
from pathlib import Path

import pytest

from asr.engine import (
    AsrError,
    VoskEngine,
    clean_text,
    read_audio,
    transcribe_file,
    transcribe_file_async,
)
from asr.model_store import ModelError, check_model_folder, find_packaged_model, supports_grammar
from tests.asr.conftest import Speak, pcm_of

GRAMMAR = ["환불", "네", "아니요", "배송", "수리"]


@pytest.mark.parametrize("word", ["환불", "네", "아니요"])
def test_grammar_mode_hears_the_word(engine: VoskEngine, speak: Speak, word: str) -> None:
    assert engine.transcribe_file(speak(word), GRAMMAR) == word


def test_grammar_mode_hears_a_sequence(engine: VoskEngine, speak: Speak,
                                       tmp_path: Path) -> None:
    joined = tmp_path / "call.wav"
    subprocess.run(["sox", speak("환불"), speak("네"), speak("아니요"), joined], check=True)
    assert transcribe_file(engine, joined, GRAMMAR) == "환불 네 아니요"


def test_free_form_decodes_speech_and_not_silence(engine: VoskEngine, speak: Speak,
                                                  tmp_path: Path) -> None:
    # Free-form text from espeak is unreliable (and reused recognizers adapt to earlier
    # audio), so only "speech gives words, silence gives none" is asserted here.
    assert engine.transcribe_file(speak("네")).startswith("네")
    silence = tmp_path / "silence.wav"
    subprocess.run(["sox", "-n", "-r", "8000", "-c", "1", "-b", "16", str(silence),
                    "trim", "0", "2"], check=True)
    assert engine.transcribe_file(silence) == ""


def test_recordings_in_other_formats_are_converted(engine: VoskEngine, speak: Speak,
                                                   tmp_path: Path) -> None:
    src = speak("환불")
    wide = tmp_path / "wide.wav"  # espeak's own 22.05 kHz output
    subprocess.run(["espeak-ng", "-v", "ko", "-w", wide, "환불"], check=True)
    assert engine.transcribe_file(wide, GRAMMAR) == "환불"
    assert read_audio(wide)[1] == 16000
    for name, args in {
        "stereo.wav": ["-c", "2"],
        "ulaw.wav": ["-e", "u-law"],
        "float.wav": ["-e", "floating-point", "-b", "32"],
    }.items():
        out = tmp_path / name
        subprocess.run(["sox", src, *args, out], check=True)
        assert engine.transcribe_file(out, GRAMMAR) == "환불", name
    pcm, rate = read_audio(tmp_path / "ulaw.wav")
    assert rate == 8000 and len(pcm) == len(pcm_of(src))


def test_unreadable_audio_is_a_clear_error(engine: VoskEngine, tmp_path: Path) -> None:
    with pytest.raises(AsrError, match="does not exist"):
        engine.transcribe_file(tmp_path / "nope.wav")
    junk = tmp_path / "junk.wav"
    junk.write_bytes(b"RIFF not really audio")
    with pytest.raises(AsrError, match="sox cannot read"):
        engine.transcribe_file(junk)


def test_streaming_gives_partials_before_the_final(engine: VoskEngine, speak: Speak) -> None:
    rec = engine.new_recognizer(8000, GRAMMAR)
    pcm = pcm_of(speak("아니요"))
    partials: list[str] = []
    finals: list[str] = []
    for i in range(0, len(pcm), 1600):
        res = rec.accept_audio(pcm[i : i + 1600])
        (finals if res.final else partials).append(res.text)
    finals.append(rec.final().text)
    assert any(p for p in partials)
    assert [f for f in finals if f] == ["아니요"]


def test_odd_byte_chunks_are_reassembled(engine: VoskEngine, speak: Speak) -> None:
    rec = engine.new_recognizer(8000, GRAMMAR)
    pcm = pcm_of(speak("환불"))
    texts = []
    for i in range(0, len(pcm), 333):  # odd sizes split samples across calls
        res = rec.accept_audio(pcm[i : i + 333], partial=False)
        if res.final:
            texts.append(res.text)
    texts.append(rec.final().text)
    assert " ".join(t for t in texts if t) == "환불"


def test_bad_sample_rate_is_refused(engine: VoskEngine) -> None:
    with pytest.raises(AsrError, match="sample rate"):
        engine.new_recognizer(100)


def test_state_reports_the_model(engine: VoskEngine, model_path: Path) -> None:
    state = engine.state()
    assert state["model_loaded"] is True
    assert state["model_path"] == str(model_path.resolve())
    assert state["grammar"] is True


def test_clean_text() -> None:
    assert clean_text("하고 [2] [05] [unk] 위 <noise>  다") == "하고 2 05 위 다"
    assert clean_text("[unk]") == ""


# -- model folders ----------------------------------------------------------------------


def test_packaged_model_is_found(model_path: Path) -> None:
    assert (model_path / "am" / "final.mdl").is_file()
    assert supports_grammar(model_path)
    assert find_packaged_model("no_such_model_package_xyz") is None
    assert find_packaged_model("json") is None  # a package without a model folder


def test_missing_model_folder(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="does not exist"):
        VoskEngine(tmp_path / "absent")
    (tmp_path / "file").write_text("x")
    with pytest.raises(ModelError, match="not a folder"):
        check_model_folder(tmp_path / "file")


def test_incomplete_model_folder(tmp_path: Path) -> None:
    (tmp_path / "am").mkdir()
    (tmp_path / "am" / "final.mdl").write_bytes(b"x")
    with pytest.raises(ModelError, match=r"missing conf/model\.conf"):
        VoskEngine(tmp_path)
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "model.conf").write_text("")
    with pytest.raises(ModelError, match="no decoding graph"):
        VoskEngine(tmp_path)


def test_corrupt_model_folder_is_an_error_not_a_crash(model_path: Path,
                                                      tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    for sub in ("am", "conf", "graph", "ivector"):
        (broken / sub).mkdir(parents=True)
    for f in (model_path / "conf").iterdir():
        os.symlink(f, broken / "conf" / f.name)
    for f in (model_path / "ivector").iterdir():
        os.symlink(f, broken / "ivector" / f.name)
    (broken / "am" / "final.mdl").write_bytes(b"\0garbage" * 100)
    (broken / "graph" / "HCLr.fst").write_bytes(b"garbage")
    (broken / "graph" / "Gr.fst").write_bytes(b"garbage")
    with pytest.raises(ModelError, match="could not load"):
        VoskEngine(broken)


def test_finished_free_form_recognizers_are_reused_without_carry_over(
    engine: VoskEngine, speak: Speak, tmp_path: Path
) -> None:
    src = speak("안녕하세요 환불 문의 드립니다")
    assert engine.transcribe_file(src)
    before = engine.state()["recognizers_reused"]
    assert all(engine.transcribe_file(src) for _ in range(2))
    assert engine.state()["recognizers_reused"] >= before + 2
    # A reused recognizer starts clean: no text from the previous call comes out.
    rec = engine.new_recognizer(8000)
    assert rec.final().text == ""
    rec.close()
    rec.close()  # closing twice parks it once
    assert engine.state()["recognizers_idle"] <= engine.max_idle
    # Grammar recognizers are cheap to build and never parked.
    idle = engine.state()["recognizers_idle"]
    g = engine.new_recognizer(8000, GRAMMAR)
    g.final()
    g.close()
    assert engine.state()["recognizers_idle"] == idle


async def test_engine_loads_off_the_event_loop_and_reuse_can_be_off(
    model_path: Path, speak: Speak
) -> None:
    # A second model load is the price of checking the async path and fresh decoding.
    fresh = await VoskEngine.load(model_path, reuse_recognizers=False)
    src = speak("안녕하세요 환불 문의 드립니다")
    texts = [await transcribe_file_async(fresh, src) for _ in range(2)]
    # vosk's free-form output varies slightly run to run even with fresh recognizers, so
    # only "words came out of each" is asserted, plus that nothing was reused.
    assert all(texts)
    assert fresh.state()["recognizers_reused"] == 0
    assert fresh.state()["recognizers_created"] == 2


def _first_partial_s(engine: VoskEngine, pcm: bytes) -> float:
    """Audio seconds fed (20 ms at a time) until a fresh recognizer's first partial."""
    rec = engine.new_recognizer(8000)
    for i in range(0, len(pcm), 320):
        if rec.accept_audio(pcm[i : i + 320]).text:
            return (i + 320) / 16000
    return float("inf")


def _median_first_partial(engine: VoskEngine, pcm: bytes) -> float:
    # The delay depends on where speech starts within a decoder chunk: average over starts.
    starts = [b"\0\0" * (480 * k) for k in range(5)]  # 0, 60, ... 240 ms of silence
    return statistics.median(_first_partial_s(engine, lead + pcm) - len(lead) / 16000
                             for lead in starts)


def test_smaller_decoder_chunks_give_earlier_partials(model_path: Path, engine: VoskEngine,
                                                     speak: Speak) -> None:
    tuned = VoskEngine(model_path, reuse_recognizers=False, frames_per_chunk=6)
    conf = (tuned_dir := Path(tuned._model_view)) / "conf" / "model.conf"
    assert conf.read_text().splitlines()[-1] == "--frames-per-chunk=6"
    assert (tuned_dir / "am").resolve() == (model_path / "am").resolve()  # linked, not copied
    assert tuned.transcribe_file(speak("환불"), GRAMMAR) == "환불"  # still decodes right
    pcm = pcm_of(speak("환불 해 주세요 주문 번호는 일 이 삼 사 입니다"))
    # The session's engine is the plain one (default chunking; its recognizers are fresh:
    # _first_partial_s never returns one to the pool).
    # Measured: median 0.83 s → 0.71 s after speech onset with 6 (the model's floor ~0.67 s).
    assert _median_first_partial(tuned, pcm) < _median_first_partial(engine, pcm) - 0.05
    with pytest.raises(ModelError, match="frames per chunk"):
        VoskEngine(model_path, frames_per_chunk=0)
