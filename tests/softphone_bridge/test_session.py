"""run_call over the in-memory ports: prompts heard, backend calls, journeys, hang-ups, failures."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from softphone_bridge.ivr.fakes import (
    CallerHangsUp,
    FakeBackend,
    FakePromptBook,
    NoKey,
    Press,
    ScriptedChannel,
    ScriptItem,
    Speak,
    speech,
)
from softphone_bridge.ivr.ports import Hangup, Journey, Recording
from softphone_bridge.ivr.session import run_call

T0 = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
PHONE = "13800138000"


@dataclass
class Call:
    channel: ScriptedChannel
    backend: FakeBackend
    book: FakePromptBook
    journey: Journey

    @property
    def heard(self) -> str:
        """The prompts the caller heard (by their audio), in order."""
        return " ".join(self.book.key_for(a) for a in self.channel.played)

    @property
    def asked(self) -> str:
        return " ".join(self.book.keys())


def call(script: list[ScriptItem], backend: FakeBackend | None = None, *,
         language: str = "zh", mode: str = "menu", busy: bool = False,
         book: FakePromptBook | None = None, channel: ScriptedChannel | None = None) -> Call:
    backend = backend if backend is not None else FakeBackend()
    book = book or FakePromptBook()
    channel = channel or ScriptedChannel(script, caller=PHONE, mode=mode)
    journey = run_call(channel, backend, book, language=language,
                       digit_timeout_s=6, message_max_s=60, busy=busy, clock=channel.clock,
                       now=lambda: T0)
    assert backend.names().count("record_journey") == 1
    assert not channel.remaining, channel.remaining
    return Call(channel, backend, book, journey)


def known(language: str = "zh") -> FakeBackend:
    backend = FakeBackend()
    backend.add_customer(PHONE, 7, "王", language)
    return backend


def test_caller_hangs_up_in_the_menu() -> None:
    c = call([])
    assert c.heard == "welcome menu"
    assert c.journey.outcome == "hangup"
    assert c.backend.journeys == [c.journey]
    assert c.journey.started_at == T0 and c.journey.info == c.channel.info
    assert c.backend.names() == ["identify", "record_journey"]
    assert c.channel.hangups == 1  # hung up at the end (idempotent on a gone caller)


def test_barge_in_cuts_the_welcome_and_at_s_follows_the_clock() -> None:
    c = call([Press("7", barge=True), Press("0", after_s=2.0)])
    # welcome is cut halfway, menu skipped; invalid + menu play through
    assert c.heard == "welcome invalid menu transfer"
    assert c.asked == "welcome invalid menu transfer"  # the menu after welcome: skipped
    welcome = len(c.channel.played[0]) / 8000 / 2  # cut halfway
    invalid, menu = (len(a) / 8000 for a in c.channel.played[1:3])
    steps = [(s.kind, s.detail, s.at_s) for s in c.journey.steps]
    assert steps == [("invalid", "7", pytest.approx(welcome)),
                     ("agent", "0", pytest.approx(welcome + invalid + menu + 2.0))]
    assert c.journey.outcome == "agent"
    assert c.channel.hangups == 0  # transferred: the PBX has the caller


def test_known_caller_status_in_their_language() -> None:
    backend = known("en")
    t = backend.add_ticket(7, status="open", group={"zh": "售后组", "en": "After-sales"})
    backend.add_ticket(7, status="closed")
    c = call(["1", "*"], backend)
    assert c.heard == "welcome menu status_count status_ticket status_other menu"
    assert {lang for _, lang, _ in c.book.log} == {"en"}
    assert c.book.log[2][2] == {"count": 1}
    assert c.book.log[3][2] == {"number": t.number, "status": "open", "group": "After-sales"}
    assert ("open_tickets", 7, 10) in c.backend.calls
    assert c.journey.language == "en"


def test_unknown_caller_ticket_with_pin() -> None:
    backend = FakeBackend()
    t = backend.add_ticket(99, pin="246810", status="pending_customer")
    number = str(t.ticket_id)
    c = call(["1", f"{number}#", "246810#", "*"], backend)
    assert c.heard == ("welcome menu enter_ticket_number enter_pin status_ticket status_other "
                       "menu")
    assert ("ticket_by_number", number, None, "246810") in c.backend.calls
    assert ("status", t.number) in [(s.kind, s.detail) for s in c.journey.steps]


def test_wrong_pin_is_a_strike_and_three_strikes_transfer() -> None:
    backend = FakeBackend()
    t = backend.add_ticket(99, pin="111111")
    number = str(t.ticket_id)
    c = call(["1", f"{number}#", "222222#", NoKey(), f"{number}#", "333333#"], backend)
    assert c.heard == ("welcome menu enter_ticket_number enter_pin not_found "
                       "enter_ticket_number timeout enter_ticket_number enter_pin "
                       "transfer_strikes transfer")
    assert c.journey.outcome == "agent"
    assert c.backend.names()[-2:] == ["record_journey", "transfer_to_agent"]


def test_the_pin_is_never_logged(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)

    class Leaky(FakeBackend):
        def ticket_by_number(self, number: str, *, customer_id: int | None,
                             pin: str | None) -> None:
            raise RuntimeError(f"SELECT … WHERE pin = '{pin}'")

    backend = Leaky()
    c = call(["1", "5#", "987654#"], backend)
    assert c.heard.endswith("enter_pin sorry_unavailable transfer")
    assert "987654" not in caplog.text
    assert "RuntimeError" in caplog.text
    assert all("987654" not in s.detail for s in c.journey.steps)


def test_message_with_speech_then_menu() -> None:
    backend = known()
    c = call(["2", Speak(speech(4.0)), "*"], backend)
    assert c.heard == "welcome menu record_prompt beep message_saved menu menu"
    assert c.book.log[2][2] == {"max_s": 60}
    created = [x for x in c.backend.calls if x[0] == "create_message"]
    assert created == [("create_message", "call-1@test", backend.customers[PHONE], 4.0,
                        "我的订单还没到")]
    number = max(backend.tickets)
    assert c.book.log[4][2] == {"number": f"T-{number:06d}"}


def test_hang_up_during_the_message_with_speech_still_creates_it() -> None:
    c = call(["2", Speak(speech(3.0, ended_by="hangup"))])
    assert c.heard == "welcome menu record_prompt beep"
    assert c.backend.names() == ["identify", "transcribe", "create_message", "record_journey"]
    assert c.journey.outcome == "hangup"
    assert [s.kind for s in c.journey.steps] == ["menu", "message"]


def test_hang_up_during_the_message_without_speech_creates_nothing() -> None:
    c = call(["2", Speak(Recording(b"\x80" * 8000, "hangup", False))])
    assert c.backend.names() == ["identify", "record_journey"]
    assert c.journey.outcome == "hangup"


def test_message_without_speech() -> None:
    c = call(["2", NoKey()])
    assert c.heard == "welcome menu record_prompt beep message_empty menu"
    assert "create_message" not in c.backend.names()


def test_transcription_down_keeps_the_message() -> None:
    backend = FakeBackend(fail={"transcribe"})
    c = call(["2", Speak(speech(2.0))], backend)
    assert ("create_message", "call-1@test", None, 2.0, "") in c.backend.calls
    assert c.heard.endswith("message_saved menu")


def test_callback_hour() -> None:
    c = call(["3", "25#", "14#"])
    assert c.heard == ("welcome menu callback_hour invalid callback_hour callback_saved menu")
    assert ("request_callback", "call-1@test", None, 14) in c.backend.calls
    assert c.book.log[-2][2]["hour"] == 14


def test_rating_from_the_menu() -> None:
    backend = known()
    t = backend.add_ticket(7, status="resolved")
    c = call(["4", "5"], backend)
    assert c.heard == "welcome menu rate_intro rate_thanks menu"
    assert backend.ratings == {t.ticket_id: 5}


def test_survey_mode() -> None:
    backend = FakeBackend()
    t = backend.add_ticket(3, status="resolved", call_id="pbx1:1700000000.1")
    c = call(["9", "4"], backend, mode="survey")
    assert c.heard == "welcome_survey rate_intro invalid rate_intro rate_thanks goodbye"
    assert backend.ratings == {t.ticket_id: 4}
    assert c.journey.outcome == "done"
    assert c.channel.hangups == 2  # the machine's goodbye, then the session's (idempotent)


def test_survey_with_nothing_to_rate() -> None:
    c = call([], mode="survey")
    assert c.heard == "welcome_survey rate_none goodbye"
    assert c.journey.outcome == "done"


def test_agent_transfer_records_the_journey_first() -> None:
    c = call(["0"])
    assert c.heard == "welcome menu transfer"
    assert c.backend.names() == ["identify", "record_journey", "transfer_to_agent"]
    assert c.journey.outcome == "agent"
    assert c.channel.hangups == 0


def test_transfer_refused_falls_back_to_a_callback() -> None:
    backend = known()
    backend.transfer_ok = False
    c = call(["0"], backend)
    assert c.heard == "welcome menu transfer no_agent callback_saved goodbye"
    assert c.backend.names() == ["identify", "record_journey", "transfer_to_agent",
                                 "request_callback"]
    assert ("request_callback", "call-1@test", backend.customers[PHONE], None) in backend.calls
    assert c.channel.hangups >= 1 and c.channel.hung_up


def test_backend_down_everywhere() -> None:
    backend = FakeBackend(fail={"*"})
    c = call(["1", "5#"], backend)
    # identify failed: default language, unknown caller; the PIN check fails: sorry, agent;
    # the transfer fails too: no agent, the call-back fails: sorry, goodbye
    assert c.heard == ("welcome menu enter_ticket_number sorry_unavailable transfer no_agent "
                       "sorry_unavailable goodbye")
    assert c.backend.names() == ["identify", "needs_pin", "record_journey",
                                 "transfer_to_agent", "request_callback"]
    assert c.journey.outcome == "agent"
    assert c.channel.hung_up


def test_backend_crash_is_like_unavailable(caplog: pytest.LogCaptureFixture) -> None:
    backend = known()
    backend.crash = {"open_tickets"}
    c = call(["1"], backend)
    assert c.heard == "welcome menu sorry_unavailable transfer"
    assert "open_tickets failed" in caplog.text


def test_busy() -> None:
    c = call([], busy=True, language="en")
    assert c.heard == "busy"
    assert c.book.log == [("busy", "en", {})]
    assert c.backend.names() == ["record_journey"]  # not even identify
    assert c.journey.outcome == "busy"
    assert c.channel.hangups == 2


def test_missing_prompt_is_skipped(caplog: pytest.LogCaptureFixture) -> None:
    book = FakePromptBook()
    book.missing = {"welcome"}
    c = call(["*"], book=book)
    assert c.heard == "menu menu"
    assert "no audio for prompt zh/welcome" in caplog.text


def test_caller_hangs_up_during_a_prompt() -> None:
    backend = known()
    backend.add_ticket(7)
    c = call(["1", CallerHangsUp()], backend)
    assert c.heard == "welcome menu status_count"
    assert c.journey.outcome == "hangup"


class BrokenLine(ScriptedChannel):
    def read_digit(self, timeout_s: float) -> str | None:
        raise OSError("socket closed")


def test_a_broken_line_is_a_hang_up(caplog: pytest.LogCaptureFixture) -> None:
    c = call([], channel=BrokenLine([]))
    assert c.journey.outcome == "hangup"
    assert "the line failed in read_digit" in caplog.text


def test_a_machine_bug_still_records_and_hangs_up(caplog: pytest.LogCaptureFixture,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from softphone_bridge.ivr import machine

    def boom(self: machine.IvrMachine, key: str) -> list[machine.Action]:
        raise ZeroDivisionError("bug")

    monkeypatch.setattr(machine.IvrMachine, "_menu_key", boom)
    channel = ScriptedChannel(["1"])
    c = call([], channel=channel)
    assert c.journey.outcome == "done"
    assert [s.kind for s in c.journey.steps] == []
    assert c.channel.hangups == 1
    assert "the call's logic failed" in caplog.text


def test_record_journey_failing_is_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    backend = FakeBackend(fail={"record_journey"})
    c = call(["0"], backend)
    assert c.backend.names() == ["identify", "record_journey", "transfer_to_agent"]
    assert "unavailable for record_journey" in caplog.text
    assert c.journey.outcome == "agent"


def test_scripted_channel_contract() -> None:
    ch = ScriptedChannel([Press("12", barge=True), CallerHangsUp()])
    assert ch.play(b"\x80" * 1600) == "1"
    assert ch.now == pytest.approx(0.1)
    assert ch.play(b"\x80" * 800, interruptible=False) is None  # no barge: plays through
    assert ch.read_digit(5) == "2"
    with pytest.raises(Hangup):
        ch.read_digit(5)
    with pytest.raises(Hangup):
        ch.play(b"\x80")
    assert ch.record(10, 3).ended_by == "hangup"
    ch.hangup()
    ch.hangup()
    assert ch.hangups == 2 and ch.hung_up
    ch = ScriptedChannel([Press("5", barge=True)])
    assert ch.play(b"\x80" * 800, interruptible=False) is None
    assert ch.read_digit(5) == "5"  # kept for the next wait
    ch = ScriptedChannel([Speak(speech(10.0))])
    rec = ch.record(4, 3)
    assert rec.ended_by == "max" and rec.duration_s == 4.0


def test_fake_prompt_book_lengths() -> None:
    book = FakePromptBook()
    assert len(book.prompt("welcome", "zh")) == 800
    assert len(book.prompt("menu", "en")) == 2400
    assert book.key_for(book.prompt("goodbye", "zh", x=1)) == "goodbye"
    with pytest.raises(KeyError):
        book.prompt("nope", "zh")
    with pytest.raises(KeyError):
        book.key_for(b"\x80" * 801)
