"""The IVR machine alone: tables of events in, the trace of actions out (no line, no backend).

``drive`` plays a perfect session: every prompt plays through unless the next input is a
barge-in (``PlayFinished(key)``) or a hang-up, every other action takes the next input, and
an exhausted input list hangs up at the next wait. It checks the protocol on every step
(only the last action yields an event; exactly one journey; nothing created or played after
a hang-up).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest

from softphone_bridge.ivr.machine import (
    FIRE_AND_FORGET,
    PROMPT_KEYS,
    Action,
    BackendFailed,
    CheckPin,
    CreateMessage,
    Digit,
    Disconnect,
    End,
    Event,
    FindRatable,
    HungUp,
    IvrMachine,
    LookupTicket,
    LookupTickets,
    MachineError,
    PinNeeded,
    Play,
    PlayFinished,
    RatableFound,
    Rate,
    Rated,
    Record,
    Recorded,
    RecordJourney,
    RequestCallback,
    Started,
    TicketCreated,
    TicketFound,
    TicketNotFound,
    TicketsFound,
    Timeout,
    Transcribe,
    Transcribed,
    Transfer,
    Transferred,
    WaitDigit,
)
from softphone_bridge.ivr.ports import Caller, CallInfo, Journey, Recording, TicketStatus

T0 = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
INFO = CallInfo("c1@ivr", "13800138000", "1700000000.1", "pbx1")
SURVEY = CallInfo("c2@ivr", "13800138000", "1700000000.2", "pbx1", mode="survey")
JANE = Caller(7, "Jane", "en")
WANG = Caller(8, "王", "zh")
PROMISED = datetime(2026, 12, 2, 10, 0, tzinfo=UTC)
T1 = TicketStatus(123, "T-000123", "open", "Kettle", {"zh": "售后组", "en": "After-sales"},
                  PROMISED)
T2 = TicketStatus(122, "T-000122", "pending_customer", "Bill")
T3 = TicketStatus(121, "T-000121", "new", "Door")
T4 = TicketStatus(120, "T-000120", "resolved", "Lamp")
NEW = TicketStatus(200, "T-000200", "new", "msg")
SPEECH = Recording(b"\x90" * 16000, "silence", True)
SPEECH_HANGUP = Recording(b"\x90" * 16000, "hangup", True)
QUIET = Recording(b"\x80" * 24000, "silence", False)
QUIET_HANGUP = Recording(b"\x80" * 800, "hangup", False)
CREATES = (CreateMessage, RequestCallback, Rate)


def key(k: str) -> Digit:
    return Digit(k)


def keys(s: str) -> list[Event]:
    return [Digit(k) for k in s]


def barge(k: str) -> PlayFinished:
    return PlayFinished(k)


TOKENS: dict[type, str] = {
    WaitDigit: "?", Record: "REC", Transcribe: "ASR", LookupTickets: "TICKETS",
    CheckPin: "PIN?", LookupTicket: "LOOKUP", CreateMessage: "MESSAGE",
    RequestCallback: "CALLBACK", FindRatable: "RATABLE", Rate: "RATE", Transfer: "TRANSFER",
    RecordJourney: "JOURNEY", Disconnect: "BYE", End: "END",
}


def token(a: Action) -> str:
    if isinstance(a, Play):
        return a.key
    if isinstance(a, End) and a.transferred:
        return "END(transferred)"
    return TOKENS[type(a)]


@dataclass
class Run:
    machine: IvrMachine
    actions: list[Action] = field(default_factory=list)
    left: list[Event] = field(default_factory=list)

    @property
    def trace(self) -> str:
        return " ".join(token(a) for a in self.actions)

    def of(self, kind: type) -> list[Action]:
        return [a for a in self.actions if isinstance(a, kind)]

    @property
    def journey(self) -> Journey:
        (rj,) = self.of(RecordJourney)
        assert isinstance(rj, RecordJourney)
        return rj.journey

    def plays(self) -> list[Play]:
        return [a for a in self.actions if isinstance(a, Play)]


def drive(inputs: list[Event], *, caller: Caller | None = None, info: CallInfo = INFO,
          busy: bool = False, lang: str = "zh", **kw: float) -> Run:
    m = IvrMachine(digit_timeout_s=6, message_max_s=kw.pop("message_max_s", 120), **kw)
    run = Run(m)
    todo = list(inputs)
    at = 0.0
    actions = m.feed(Started(info, caller, lang, T0, busy), at)  # type: ignore[arg-type]
    hung_up = False
    while True:
        assert actions, "the machine must always say what to do"
        run.actions.extend(actions)
        *effects, last = actions
        assert all(isinstance(a, FIRE_AND_FORGET) for a in effects), actions
        if hung_up:  # nothing is created or played after the caller left
            assert all(isinstance(a, RecordJourney | End) for a in actions), actions
        if isinstance(last, End):
            break
        assert not isinstance(last, FIRE_AND_FORGET)
        at += 1.0
        if isinstance(last, Play):
            if todo and isinstance(todo[0], HungUp | PlayFinished):
                event: Event = todo.pop(0)
            else:  # prompts play through; an exhausted script hangs up at the next wait
                event = PlayFinished(None)
        else:
            event = todo.pop(0) if todo else HungUp()
        hung_up = hung_up or isinstance(event, HungUp)
        actions = m.feed(event, at)
    run.left = todo
    assert len(run.of(RecordJourney)) == 1, run.trace
    assert m.state == "ended"
    with pytest.raises(MachineError):
        m.feed(Timeout(), at)
    return run


# ---- the main menu ----

MENU_CASES = [
    # (name, inputs, expected trace)
    ("hang up at once", [HungUp()], "welcome JOURNEY END"),
    ("hang up in the menu", [], "welcome menu ? JOURNEY END"),
    ("star repeats the menu", [key("*")], "welcome menu ? menu ? JOURNEY END"),
    ("barge in on welcome", [barge("*")], "welcome menu ? JOURNEY END"),
    ("invalid key", [key("7")], "welcome menu ? invalid menu ? JOURNEY END"),
    ("hash is invalid", [key("#")], "welcome menu ? invalid menu ? JOURNEY END"),
    ("timeout", [Timeout()], "welcome menu ? timeout menu ? JOURNEY END"),
    ("three strikes", [Timeout(), key("8"), Timeout()],
     "welcome menu ? timeout menu ? invalid menu ? transfer_strikes transfer JOURNEY TRANSFER "
     "END"),
    ("barge-in on the strike prompt", [key("8"), barge("*")],
     "welcome menu ? invalid menu ? JOURNEY END"),
    ("agent", [key("0"), Transferred(True)], "welcome menu ? transfer JOURNEY TRANSFER "
     "END(transferred)"),
]


@pytest.mark.parametrize(("name", "inputs", "trace"), MENU_CASES, ids=[c[0] for c in MENU_CASES])
def test_menu(name: str, inputs: list[Event], trace: str) -> None:
    run = drive(inputs)
    assert run.trace == trace
    assert not run.left


def test_three_strikes_counts_every_kind_together() -> None:
    # a not-found number, a timeout and an invalid key: three different strikes
    run = drive([key("1"), *keys("99#"), PinNeeded(True), *keys("1#"), TicketNotFound(),
                 Timeout(), key("#"), Transferred(True)])
    assert run.trace == (
        "welcome menu ? enter_ticket_number ? ? ? PIN? enter_pin ? ? LOOKUP not_found "
        "enter_ticket_number ? timeout enter_ticket_number ? "
        "transfer_strikes transfer JOURNEY TRANSFER END(transferred)")
    assert run.machine.strikes == 3
    assert run.journey.outcome == "agent"
    assert [(s.kind, s.detail) for s in run.journey.steps] == [
        ("menu", "1"), ("invalid", "not_found"), ("timeout", "ticket"), ("invalid", "#"),
        ("agent", "strikes")]
    assert run.journey.steps[-1].detail == "strikes"


def test_star_in_the_menu_is_not_a_strike() -> None:
    run = drive([key("*"), key("*"), key("*"), key("*")])
    assert run.machine.strikes == 0
    assert run.trace.count("menu") == 5


def test_language_switch_replays_the_menu_in_english_and_back() -> None:
    run = drive([key("9"), key("9")], lang="zh")
    assert [(p.key, p.lang) for p in run.plays()] == [
        ("welcome", "zh"), ("menu", "zh"), ("menu", "en"), ("menu", "zh")]
    assert run.journey.language == "zh"
    run = drive([key("9")])
    assert run.journey.language == "en"
    assert [(s.kind, s.detail) for s in run.journey.steps] == [("menu", "9")]


def test_known_caller_hears_their_language_and_no_name() -> None:
    run = drive([], caller=JANE, lang="zh")
    assert {p.lang for p in run.plays()} == {"en"}
    assert all(not p.params for p in run.plays())  # the welcome does not read the name


def test_journey_steps_carry_at_s_from_the_events() -> None:
    run = drive([key("7"), key("0"), Transferred(True)])
    assert [(s.at_s, s.kind, s.detail) for s in run.journey.steps] == [
        (3.0, "invalid", "7"), (6.0, "agent", "0")]
    assert run.journey.started_at == T0
    assert run.journey.info == INFO


# ---- key 1: ticket status ----

def test_known_caller_hears_up_to_three_tickets_then_other() -> None:
    run = drive([key("1"), TicketsFound((T1, T2, T3, T4))], caller=WANG)
    assert run.trace == ("welcome menu ? TICKETS status_count status_ticket status_ticket "
                         "status_ticket status_other ? JOURNEY END")
    (lookup,) = run.of(LookupTickets)
    assert lookup == LookupTickets(8, 10)
    plays = run.plays()
    assert plays[2].params == {"count": 4}
    assert plays[3].params == {"number": "T-000123", "status": "open", "group": "售后组",
                               "when": PROMISED}
    assert plays[4].params == {"number": "T-000122", "status": "pending_customer"}
    assert [s.detail for s in run.journey.steps if s.kind == "status"] == [
        "T-000123", "T-000122", "T-000121"]


def test_group_is_read_in_the_callers_language() -> None:
    run = drive([key("1"), TicketsFound((T1,))], caller=JANE)
    assert run.plays()[3].params["group"] == "After-sales"


def test_known_caller_without_tickets_is_asked_for_a_number() -> None:
    run = drive([key("1"), TicketsFound(())], caller=WANG)
    assert run.trace == "welcome menu ? TICKETS status_none enter_ticket_number ? JOURNEY END"


ENTRY_CASES = [
    ("unknown caller, no pin needed", [key("1"), *keys("123#"), PinNeeded(False),
                                        TicketFound(T1)],
     "welcome menu ? enter_ticket_number ? ? ? ? PIN? LOOKUP status_ticket status_other ? "
     "JOURNEY END", LookupTicket("123", None, None)),
    ("with pin", [key("1"), *keys("123#"), PinNeeded(True), *keys("654321#"), TicketFound(T1)],
     "welcome menu ? enter_ticket_number ? ? ? ? PIN? enter_pin ? ? ? ? ? ? ? LOOKUP "
     "status_ticket status_other ? JOURNEY END", LookupTicket("123", None, "654321")),
    ("star clears the number", [key("1"), *keys("99*"), *keys("12#"), PinNeeded(False),
                                TicketFound(T1)],
     "welcome menu ? enter_ticket_number ? ? ? enter_ticket_number ? ? ? PIN? LOOKUP "
     "status_ticket status_other ? JOURNEY END", LookupTicket("12", None, None)),
    ("star clears the pin", [key("1"), *keys("5#"), PinNeeded(True), *keys("11*22#"),
                             TicketFound(T1)],
     "welcome menu ? enter_ticket_number ? ? PIN? enter_pin ? ? ? enter_pin ? ? ? LOOKUP "
     "status_ticket status_other ? JOURNEY END", LookupTicket("5", None, "22")),
    ("the inter-digit timeout ends the number", [key("1"), *keys("42"), Timeout(),
                                                 PinNeeded(False), TicketFound(T1)],
     "welcome menu ? enter_ticket_number ? ? ? PIN? LOOKUP status_ticket status_other ? "
     "JOURNEY END", LookupTicket("42", None, None)),
    ("ten digits end the number", [key("1"), *keys("1234567890"), PinNeeded(False),
                                   TicketNotFound()],
     "welcome menu ? enter_ticket_number " + "? " * 10 + "PIN? LOOKUP not_found "
     "enter_ticket_number ? JOURNEY END", LookupTicket("1234567890", None, None)),
    ("digits barge in on the prompt", [key("1"), barge("7"), *keys("#"), PinNeeded(False),
                                       TicketFound(T1)],
     "welcome menu ? enter_ticket_number ? PIN? LOOKUP status_ticket status_other ? "
     "JOURNEY END", LookupTicket("7", None, None)),
]


@pytest.mark.parametrize(("name", "inputs", "trace", "lookup"), ENTRY_CASES,
                         ids=[c[0] for c in ENTRY_CASES])
def test_ticket_entry(name: str, inputs: list[Event], trace: str,
                      lookup: LookupTicket) -> None:
    run = drive(inputs)
    assert run.trace == trace
    assert run.of(LookupTicket) == [lookup]
    assert "654321" not in repr(run.actions)  # the PIN stays out of reprs
    assert all("654321" not in s.detail for s in run.journey.steps)


def test_known_callers_check_pin_uses_their_customer_id() -> None:
    run = drive([key("1"), TicketsFound((T1,)), *keys("55#"), PinNeeded(False),
                 TicketFound(T2)], caller=WANG)
    assert run.of(CheckPin) == [CheckPin("55", 8)]
    assert run.of(LookupTicket) == [LookupTicket("55", 8, None)]


def test_empty_entry_hash_and_timeout_are_strikes() -> None:
    run = drive([key("1"), key("#"), Timeout()])
    assert run.trace == ("welcome menu ? enter_ticket_number ? invalid enter_ticket_number ? "
                         "timeout enter_ticket_number ? JOURNEY END")
    assert run.machine.strikes == 2


STATUS_OTHER_CASES = [
    ("star: main menu", [key("*")], "menu ? JOURNEY END"),
    ("timeout: main menu, no strike", [Timeout()], "menu ? JOURNEY END"),
    ("0: agent", [key("0"), Transferred(True)], "transfer JOURNEY TRANSFER END(transferred)"),
    ("hash: invalid", [key("#")], "invalid status_other ? JOURNEY END"),
    ("another number", [*keys("9#"), PinNeeded(False), TicketFound(T2)],
     "? PIN? LOOKUP status_ticket status_other ? JOURNEY END"),
]


@pytest.mark.parametrize(("name", "inputs", "tail"), STATUS_OTHER_CASES,
                         ids=[c[0] for c in STATUS_OTHER_CASES])
def test_after_a_status(name: str, inputs: list[Event], tail: str) -> None:
    head = [key("1"), TicketsFound((T1,))]
    run = drive([*head, *inputs], caller=WANG)
    prefix = "welcome menu ? TICKETS status_count status_ticket status_other ? "
    assert run.trace == prefix + tail
    assert run.machine.strikes == (1 if "invalid" in tail else 0)


# ---- key 2: voice message ----

MESSAGE_CASES = [
    ("speech", [key("2"), Recorded(SPEECH), Transcribed("hello"), TicketCreated(NEW)],
     "welcome menu ? record_prompt beep REC ASR MESSAGE message_saved menu ? JOURNEY END",
     "hangup"),
    ("no speech", [key("2"), Recorded(QUIET)],
     "welcome menu ? record_prompt beep REC message_empty menu ? JOURNEY END", "hangup"),
    ("hang-up with speech creates the ticket, silently",
     [key("2"), Recorded(SPEECH_HANGUP), Transcribed("hello"), TicketCreated(NEW)],
     "welcome menu ? record_prompt beep REC ASR MESSAGE JOURNEY END", "hangup"),
    ("hang-up without speech creates nothing", [key("2"), Recorded(QUIET_HANGUP)],
     "welcome menu ? record_prompt beep REC JOURNEY END", "hangup"),
    ("no transcript: the message is kept",
     [key("2"), Recorded(SPEECH), BackendFailed(), TicketCreated(NEW)],
     "welcome menu ? record_prompt beep REC ASR MESSAGE message_saved menu ? JOURNEY END",
     "hangup"),
    ("creation fails: sorry and an agent",
     [key("2"), Recorded(SPEECH), Transcribed("x"), BackendFailed(), Transferred(True)],
     "welcome menu ? record_prompt beep REC ASR MESSAGE sorry_unavailable transfer JOURNEY "
     "TRANSFER END(transferred)", "agent"),
    ("creation fails after the hang-up", [key("2"), Recorded(SPEECH_HANGUP), Transcribed("x"),
                                          BackendFailed()],
     "welcome menu ? record_prompt beep REC ASR MESSAGE JOURNEY END", "hangup"),
    ("hang-up during the record prompt", [key("2"), HungUp()],
     "welcome menu ? record_prompt JOURNEY END", "hangup"),
]


@pytest.mark.parametrize(("name", "inputs", "trace", "outcome"), MESSAGE_CASES,
                         ids=[c[0] for c in MESSAGE_CASES])
def test_message(name: str, inputs: list[Event], trace: str, outcome: str) -> None:
    run = drive(inputs, message_max_s=90)
    assert run.trace == trace
    assert run.journey.outcome == outcome
    if run.of(Record):
        assert run.of(Record) == [Record(90.0, 3.0)]
        assert run.plays()[2].params == {"max_s": 90}
        assert not run.plays()[2].interruptible and not run.plays()[3].interruptible


def test_message_transcript_and_caller_reach_the_backend() -> None:
    run = drive([key("2"), Recorded(SPEECH), Transcribed("订单没到"), TicketCreated(NEW)],
                caller=WANG)
    assert run.of(CreateMessage) == [CreateMessage(WANG, SPEECH, "订单没到")]
    assert run.plays()[4].params == {"number": "T-000200"}
    assert ("message", "T-000200") in [(s.kind, s.detail) for s in run.journey.steps]


# ---- key 3: call-back ----

CALLBACK_CASES = [
    ("an hour", keys("14#"), 14, "callback_hour ? ? ? CALLBACK callback_saved menu ?"),
    ("hash alone: as soon as possible", keys("#"), None,
     "callback_hour ? CALLBACK callback_saved menu ?"),
    ("zero", keys("0#"), 0, "callback_hour ? ? CALLBACK callback_saved menu ?"),
    ("24 is invalid, then 9", [*keys("24#"), *keys("9#")], 9,
     "callback_hour ? ? ? invalid callback_hour ? ? CALLBACK callback_saved menu ?"),
    ("three digits are invalid", [*keys("123"), *keys("23#")], 23,
     "callback_hour ? ? ? invalid callback_hour ? ? ? CALLBACK callback_saved menu ?"),
    ("star clears", [*keys("2*"), *keys("8#")], 8,
     "callback_hour ? ? callback_hour ? ? CALLBACK callback_saved menu ?"),
    ("timeout after a digit ends it", [key("7"), Timeout()], 7,
     "callback_hour ? ? CALLBACK callback_saved menu ?"),
]


@pytest.mark.parametrize(("name", "entry", "hour", "middle"), CALLBACK_CASES,
                         ids=[c[0] for c in CALLBACK_CASES])
def test_callback(name: str, entry: list[Event], hour: int | None, middle: str) -> None:
    run = drive([key("3"), *entry, TicketCreated(NEW)], caller=WANG)
    assert run.trace == f"welcome menu ? {middle} JOURNEY END"
    assert run.of(RequestCallback) == [RequestCallback(WANG, hour)]
    saved = next(p for p in run.plays() if p.key == "callback_saved")
    assert saved.params == {"number": "T-000200", "hour": hour}
    assert run.machine.strikes == (1 if "invalid" in middle else 0)


def test_callback_timeout_without_digits_is_a_strike() -> None:
    run = drive([key("3"), Timeout()])
    assert run.trace == "welcome menu ? callback_hour ? timeout callback_hour ? JOURNEY END"


# ---- key 4 and survey: rating ----

RATE_CASES = [
    ("rate 5", [key("4"), RatableFound(T4), key("5"), Rated()],
     "welcome menu ? RATABLE rate_intro ? RATE rate_thanks menu ? JOURNEY END"),
    ("nothing to rate", [key("4"), RatableFound(None)],
     "welcome menu ? RATABLE rate_none menu ? JOURNEY END"),
    ("6 is invalid, then 1", [key("4"), RatableFound(T4), key("6"), key("1"), Rated()],
     "welcome menu ? RATABLE rate_intro ? invalid rate_intro ? RATE rate_thanks menu ? "
     "JOURNEY END"),
    ("timeout asks again", [key("4"), RatableFound(T4), Timeout(), key("3"), Rated()],
     "welcome menu ? RATABLE rate_intro ? timeout rate_intro ? RATE rate_thanks menu ? "
     "JOURNEY END"),
    ("star: back to the menu", [key("4"), RatableFound(T4), key("*")],
     "welcome menu ? RATABLE rate_intro ? menu ? JOURNEY END"),
]


@pytest.mark.parametrize(("name", "inputs", "trace"), RATE_CASES, ids=[c[0] for c in RATE_CASES])
def test_rate(name: str, inputs: list[Event], trace: str) -> None:
    run = drive(inputs, caller=WANG)
    assert run.trace == trace
    assert run.of(FindRatable) == [FindRatable(WANG)]
    for rate in run.of(Rate):
        assert isinstance(rate, Rate) and rate.ticket_id == T4.ticket_id
    if run.of(Rate):
        assert ("rating", "T-000120") in [(s.kind, s.detail) for s in run.journey.steps]
        intro = next(p for p in run.plays() if p.key == "rate_intro")
        assert intro.params == {"number": "T-000120"}


SURVEY_CASES = [
    ("rated", [RatableFound(T4), key("4"), Rated()],
     "welcome_survey RATABLE rate_intro ? RATE JOURNEY rate_thanks goodbye BYE END", "done"),
    ("nothing to rate", [RatableFound(None)],
     "welcome_survey RATABLE JOURNEY rate_none goodbye BYE END", "done"),
    ("invalid then rated", [RatableFound(T4), key("0"), key("2"), Rated()],
     "welcome_survey RATABLE rate_intro ? invalid rate_intro ? RATE JOURNEY rate_thanks "
     "goodbye BYE END", "done"),
    ("three strikes: goodbye, not an agent", [RatableFound(T4), Timeout(), key("*"), key("9")],
     "welcome_survey RATABLE rate_intro ? timeout rate_intro ? invalid rate_intro ? JOURNEY "
     "goodbye BYE END", "done"),
    ("hang-up", [RatableFound(T4)], "welcome_survey RATABLE rate_intro ? JOURNEY END",
     "hangup"),
    ("backend down: sorry and an agent", [BackendFailed(), Transferred(True)],
     "welcome_survey RATABLE sorry_unavailable transfer JOURNEY TRANSFER END(transferred)",
     "agent"),
]


@pytest.mark.parametrize(("name", "inputs", "trace", "outcome"), SURVEY_CASES,
                         ids=[c[0] for c in SURVEY_CASES])
def test_survey(name: str, inputs: list[Event], trace: str, outcome: str) -> None:
    run = drive(inputs, info=SURVEY, caller=WANG)
    assert run.trace == trace
    assert run.journey.outcome == outcome
    assert not any(p.key in ("menu", "welcome") for p in run.plays())


# ---- key 0, transfer, backend down ----

def test_journey_is_recorded_before_the_transfer_with_every_step() -> None:
    run = drive([key("7"), key("0"), Transferred(True)])
    rj = run.actions.index(run.of(RecordJourney)[0])
    assert isinstance(run.actions[rj + 1], Transfer)
    assert run.journey.outcome == "agent"
    assert [s.kind for s in run.journey.steps] == ["invalid", "agent"]


def test_transfer_fails_then_callback_then_goodbye() -> None:
    run = drive([key("0"), Transferred(False), TicketCreated(NEW)], caller=WANG)
    assert run.trace == ("welcome menu ? transfer JOURNEY TRANSFER no_agent CALLBACK "
                         "callback_saved goodbye BYE END")
    assert run.of(RequestCallback) == [RequestCallback(WANG, None)]
    saved = run.plays()[-2]
    assert saved.params == {"number": "T-000200", "hour": None}
    assert run.journey.outcome == "agent"  # recorded once, before the transfer was tried


@pytest.mark.parametrize("failure", [Transferred(False), BackendFailed()])
def test_no_agent_and_no_callback_either(failure: Event) -> None:
    run = drive([key("0"), failure, BackendFailed()])
    assert run.trace == ("welcome menu ? transfer JOURNEY TRANSFER no_agent CALLBACK "
                         "sorry_unavailable goodbye BYE END")


WITHHELD = CallInfo("c2@ivr", "anonymous", "1700000000.2", "pbx1")


def test_a_withheld_number_is_not_offered_a_call_back() -> None:
    """Nobody could dial "anonymous": 3 says so and returns to the menu (no strike, no
    ticket); no agent free → "call again later", not a call-back promise."""
    run = drive([key("3"), key("0"), Transferred(False)], info=WITHHELD)
    assert run.trace == ("welcome menu ? callback_no_number menu ? transfer JOURNEY "
                         "TRANSFER no_agent_call_later goodbye BYE END")
    assert not run.of(RequestCallback)
    assert [s.kind for s in run.journey.steps] == ["menu", "agent"]


def test_hang_up_during_no_agent_creates_nothing() -> None:
    run = drive([key("0"), Transferred(False), HungUp()])
    assert run.trace == "welcome menu ? transfer JOURNEY TRANSFER no_agent END"
    assert not run.of(RequestCallback)


UNAVAILABLE_CASES = [
    ("status list", [key("1"), BackendFailed()], WANG, "TICKETS"),
    ("pin check", [key("1"), *keys("1#"), BackendFailed()], None, "PIN?"),
    ("lookup", [key("1"), *keys("1#"), PinNeeded(False), BackendFailed()], None, "LOOKUP"),
    ("callback", [key("3"), *keys("#"), BackendFailed()], None, "CALLBACK"),
    ("ratable", [key("4"), BackendFailed()], None, "RATABLE"),
    ("rate", [key("4"), RatableFound(T4), key("5"), BackendFailed()], None, "RATE"),
]


@pytest.mark.parametrize(("name", "inputs", "caller", "failed"), UNAVAILABLE_CASES,
                         ids=[c[0] for c in UNAVAILABLE_CASES])
def test_backend_unavailable_sorry_then_agent(name: str, inputs: list[Event],
                                              caller: Caller | None, failed: str) -> None:
    run = drive([*inputs, Transferred(True)], caller=caller)
    assert run.trace.endswith(
        f"{failed} sorry_unavailable transfer JOURNEY TRANSFER END(transferred)")
    assert run.journey.steps[-1].kind == "agent"
    assert run.journey.steps[-1].detail == "unavailable"
    assert not run.plays()[-1].interruptible


def test_busy() -> None:
    run = drive([], busy=True)
    assert run.trace == "JOURNEY busy BYE END"
    assert run.journey.outcome == "busy"
    assert [s.kind for s in run.journey.steps] == ["busy"]
    run = drive([HungUp()], busy=True)
    assert run.trace == "JOURNEY busy END"


# ---- a hang-up at every point creates nothing half-way ----

LONG_RUNS = [
    ([key("9"), key("1"), TicketsFound((T1, T2)), *keys("5#"), PinNeeded(True), *keys("1234#"),
      TicketFound(T3), key("*"), key("3"), *keys("10#"), TicketCreated(NEW), key("4"),
      RatableFound(T4), key("5"), Rated(), key("2"), Recorded(SPEECH), Transcribed("hi"),
      TicketCreated(NEW), key("0"), Transferred(False), TicketCreated(NEW)], WANG, INFO),
    ([RatableFound(T4), key("7"), key("4"), Rated()], None, SURVEY),
]


@pytest.mark.parametrize(("inputs", "caller", "info"), LONG_RUNS)
def test_hang_up_at_every_point(inputs: list[Event], caller: Caller | None,
                                info: CallInfo) -> None:
    full = drive(inputs, caller=caller, info=info)
    assert not full.left and full.actions[-1] == End()
    for cut in range(len(inputs) + 1):
        run = drive(inputs[:cut], caller=caller, info=info)  # then the caller hangs up
        # (drive checks that nothing is created or played after the hang-up)
        expected = ("agent" if run.of(Transfer) else "done" if run.of(Disconnect)
                    else "hangup")
        assert run.journey.outcome == expected
        creates = [a for a in run.actions if isinstance(a, CREATES)]
        assert creates == [a for a in full.actions if isinstance(a, CREATES)][:len(creates)]


def test_hang_up_in_every_input_and_prompt_state() -> None:
    prefixes = {
        "menu": [], "ticket": [key("1")], "pin": [key("1"), *keys("1#"), PinNeeded(True)],
        "other": [key("1"), *keys("1#"), PinNeeded(False), TicketFound(T1)],
        "hour": [key("3")], "rate": [key("4"), RatableFound(T4)],
        "tickets-prompts": [key("1"), TicketsFound((T1,))],
    }
    for name, prefix in prefixes.items():
        for last in (HungUp(),):
            run = drive([*prefix, last], caller=WANG if name == "tickets-prompts" else None)
            assert run.trace.endswith("JOURNEY END"), name
            assert run.journey.outcome == "hangup"
            assert not run.of(CreateMessage) and not run.of(RequestCallback)


# ---- protocol errors and parameters ----

def test_out_of_order_events_are_errors() -> None:
    m = IvrMachine()
    with pytest.raises(MachineError):
        m.feed(Digit("1"), 0)
    with pytest.raises(MachineError):
        m.journey("done")
    m.feed(Started(INFO, None, "zh", T0), 0)
    with pytest.raises(MachineError, match="while a prompt plays"):
        m.feed(Digit("1"), 1)
    with pytest.raises(MachineError, match="Started twice"):
        m.feed(Started(INFO, None, "zh", T0), 1)
    m.feed(PlayFinished(), 1)
    m.feed(PlayFinished(), 2)  # menu played: waiting for a key
    with pytest.raises(MachineError, match="TicketFound in state menu"):
        m.feed(TicketFound(T1), 3)
    with pytest.raises(MachineError):
        m.feed(PlayFinished(), 3)


@pytest.mark.parametrize("kw", [{"digit_timeout_s": 0}, {"message_max_s": -1},
                                {"max_strikes": 0}])
def test_bad_parameters(kw: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        IvrMachine(**kw)  # type: ignore[arg-type]


def test_strikes_and_timeouts_are_configurable() -> None:
    m = IvrMachine(digit_timeout_s=2.5, max_strikes=1)
    m.feed(Started(INFO, None, "en", T0), 0)
    m.feed(PlayFinished(), 1)
    assert m.feed(PlayFinished(), 2) == [WaitDigit(2.5)]
    out = m.feed(Digit("8"), 3)
    assert out[0] == Play("transfer_strikes", "en", {}, False)


def test_every_prompt_key_is_used_and_known() -> None:
    used: set[str] = set()
    for case in [*MENU_CASES]:
        used |= {p.key for p in drive(case[1]).plays()}
    for inputs, caller, info in LONG_RUNS:
        used |= {p.key for p in drive(inputs, caller=caller, info=info).plays()}
    used |= {p.key for p in drive([key("1"), TicketsFound(())], caller=WANG).plays()}
    used |= {p.key for p in drive([key("2"), Recorded(QUIET)]).plays()}
    used |= {p.key for p in drive([key("4"), RatableFound(None)]).plays()}
    used |= {p.key for p in drive([key("1"), BackendFailed()], caller=WANG).plays()}
    used |= {p.key for p in drive([], busy=True).plays()}
    used |= {p.key for p in drive([key("3"), key("0"), Transferred(False)],
                                  info=WITHHELD).plays()}
    used |= {p.key for p in drive([key("1"), *keys("1#"), PinNeeded(False), TicketNotFound()]
                                  ).plays()}
    assert used == set(PROMPT_KEYS)
