"""The IVR menu as a pure state machine: typed events in, typed actions out.

Pure like :class:`telephony.tracker.CallTracker`: no I/O, no threads, no clock. The session
(:mod:`softphone_bridge.ivr.session`) carries the actions out on the line, the backend and
the prompt book, and feeds each result back as an event together with ``at_s``, the seconds
since the IVR answered (the journey's time base). Keeping every decision here lets the whole
menu agreed for #12 be tested as tables of events, without SIP or a database, and lets the
session stay a dumb executor.

The protocol, one step at a time: :meth:`IvrMachine.feed` returns a non-empty list of
actions. Every action but the last is *fire-and-forget* (:class:`RecordJourney`,
:class:`Disconnect`); the last one either yields exactly one event (:class:`Play` →
:class:`PlayFinished`, :class:`WaitDigit` → :class:`Digit` / :class:`Timeout`, a backend
action → its result or :class:`BackendFailed`, any line action → :class:`HungUp`) or is
:class:`End`. One prompt per :class:`Play` so that a key pressed during a prompt (barge-in,
``PlayFinished.digit``) skips the prompts queued after it and is handled like a key pressed
at the following wait.

Rules the contract asks for and where they live:

* strikes (timeouts, invalid keys, tickets not found, wrong PINs) count together per call;
  the third one transfers (:meth:`IvrMachine._strike`); in survey mode it says goodbye;
* the journey is recorded exactly once: before the transfer (the pop must find it), at the
  goodbye, or when the caller hangs up (:meth:`IvrMachine._record`);
* after a hang-up nothing is created, except a voice message that has speech (the caller
  said what they had to say and hung up: the ticket is created, no prompt follows);
* a PIN never reaches a journey step, an action's ``repr`` or an error message.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from .ports import Caller, CallInfo, Journey, JourneyStep, Lang, Recording, TicketStatus

#: Every prompt key the machine plays (the catalogue, :mod:`softphone_bridge.ivr.catalogue`,
#: must have them all, in both languages).
PROMPT_KEYS: tuple[str, ...] = (
    "welcome", "welcome_survey", "menu", "invalid", "timeout", "transfer_strikes",
    "status_count", "status_ticket", "status_none", "status_other", "enter_ticket_number",
    "enter_pin", "not_found", "record_prompt", "beep", "message_saved", "message_empty",
    "callback_hour", "callback_saved", "rate_intro", "rate_thanks", "rate_none", "transfer",
    "no_agent", "busy", "sorry_unavailable", "goodbye", "callback_no_number",
    "no_agent_call_later",
)

#: Keys a ticket number or PIN may hold at most (a longer entry is taken as typed so far).
MAX_ENTRY_DIGITS = 10
#: How many of a known caller's open tickets are read out (the count covers more).
READ_TICKETS = 3
#: How many open tickets are asked for (the ``status_count`` a caller hears is capped there).
COUNT_TICKETS = 10
#: The quiet that ends a voice message, in seconds.
MESSAGE_SILENCE_S = 3.0
DIGITS = frozenset("0123456789")
#: A caller ID a call-back can dial (not "anonymous", "unknown", an empty or odd From).
DIALABLE = re.compile(r"\+?\d{3,20}")


class MachineError(RuntimeError):
    """An event that cannot come now (a bug in whoever feeds the machine)."""


# ---- events (what happened; fed with ``at_s``) ----

@dataclass(frozen=True, slots=True)
class Started:
    """The IVR answered. ``caller``: the customer the number belongs to (``None``: unknown
    or the lookup failed); ``language``: the default (``HOTLINE_IVR_LANGUAGE``) used when the
    caller is unknown; ``started_at``: UTC, aware; ``busy``: over the concurrency limit (play
    ``busy`` and hang up)."""

    info: CallInfo
    caller: Caller | None
    language: Lang
    started_at: datetime
    busy: bool = False


@dataclass(frozen=True, slots=True)
class PlayFinished:
    """A :class:`Play` ended; ``digit``: the key that interrupted it (barge-in) or ``None``."""

    digit: str | None = None


@dataclass(frozen=True, slots=True)
class Digit:
    """A key (``"0"``–``"9"``, ``"*"``, ``"#"``) answered a :class:`WaitDigit`."""

    key: str


@dataclass(frozen=True, slots=True)
class Timeout:
    """No key within a :class:`WaitDigit`'s ``timeout_s``."""


@dataclass(frozen=True, slots=True)
class Recorded:
    """What a :class:`Record` heard (``ended_by="hangup"``: the caller hung up meanwhile)."""

    recording: Recording


@dataclass(frozen=True, slots=True)
class Transcribed:
    """The transcript of the recording (``""``: nothing recognized)."""

    text: str


@dataclass(frozen=True, slots=True)
class TicketsFound:
    """The caller's open tickets, newest first (answers :class:`LookupTickets`)."""

    tickets: tuple[TicketStatus, ...]


@dataclass(frozen=True, slots=True)
class TicketFound:
    """The typed ticket exists and the caller may hear it (answers :class:`LookupTicket`)."""

    ticket: TicketStatus


@dataclass(frozen=True, slots=True)
class TicketNotFound:
    """No such ticket, or not the caller's and a wrong PIN (the caller cannot tell)."""


@dataclass(frozen=True, slots=True)
class PinNeeded:
    """Whether the typed ticket needs a PIN (answers :class:`CheckPin`)."""

    needed: bool


@dataclass(frozen=True, slots=True)
class TicketCreated:
    """A message or call-back ticket was created (answers :class:`CreateMessage` and
    :class:`RequestCallback`)."""

    ticket: TicketStatus


@dataclass(frozen=True, slots=True)
class RatableFound:
    """The ticket to rate, or ``None`` (answers :class:`FindRatable`)."""

    ticket: TicketStatus | None


@dataclass(frozen=True, slots=True)
class Rated:
    """The score was stored (answers :class:`Rate`)."""


@dataclass(frozen=True, slots=True)
class Transferred:
    """Answers :class:`Transfer`: ``ok`` — the PBX took the caller to the agents' queue."""

    ok: bool


@dataclass(frozen=True, slots=True)
class BackendFailed:
    """A backend action failed (:class:`~softphone_bridge.ivr.ports.BackendUnavailable` or
    any other error): the machine apologises and offers an agent."""


@dataclass(frozen=True, slots=True)
class HungUp:
    """The caller hung up (a line action raised :class:`~softphone_bridge.ivr.ports.Hangup`)."""


Event = (Started | PlayFinished | Digit | Timeout | Recorded | Transcribed | TicketsFound
         | TicketFound | TicketNotFound | PinNeeded | TicketCreated | RatableFound | Rated
         | Transferred | BackendFailed | HungUp)


# ---- actions (what to do) ----

@dataclass(frozen=True, slots=True)
class Play:
    """Play prompt ``key`` in ``lang`` with ``params`` (see the catalogue); → :class:`PlayFinished`
    (with the barge-in key when ``interruptible``) or :class:`HungUp`."""

    key: str
    lang: Lang
    params: Mapping[str, object] = field(default_factory=dict)
    interruptible: bool = True


@dataclass(frozen=True, slots=True)
class WaitDigit:
    """Wait up to ``timeout_s`` seconds for a key; → :class:`Digit`, :class:`Timeout` or
    :class:`HungUp`."""

    timeout_s: float


@dataclass(frozen=True, slots=True)
class Record:
    """Record the caller (u8 PCM) for at most ``max_s`` seconds, ending after ``silence_s``
    of quiet following speech; → :class:`Recorded`."""

    max_s: float
    silence_s: float


@dataclass(frozen=True, slots=True)
class Transcribe:
    """``IvrBackend.transcribe``; → :class:`Transcribed` or :class:`BackendFailed`."""

    recording: Recording = field(repr=False)


@dataclass(frozen=True, slots=True)
class LookupTickets:
    """``IvrBackend.open_tickets``; → :class:`TicketsFound` or :class:`BackendFailed`."""

    customer_id: int
    limit: int


@dataclass(frozen=True, slots=True)
class CheckPin:
    """``IvrBackend.needs_pin``; → :class:`PinNeeded` or :class:`BackendFailed`."""

    number: str
    customer_id: int | None


@dataclass(frozen=True, slots=True)
class LookupTicket:
    """``IvrBackend.ticket_by_number``; → :class:`TicketFound`, :class:`TicketNotFound` or
    :class:`BackendFailed`. ``pin`` is left out of the ``repr`` (logs)."""

    number: str
    customer_id: int | None
    pin: str | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class CreateMessage:
    """``IvrBackend.create_message``; → :class:`TicketCreated` or :class:`BackendFailed`."""

    caller: Caller | None
    recording: Recording = field(repr=False)
    transcript: str


@dataclass(frozen=True, slots=True)
class RequestCallback:
    """``IvrBackend.request_callback`` (``hour`` 0–23 or ``None`` = as soon as possible);
    → :class:`TicketCreated` or :class:`BackendFailed`."""

    caller: Caller | None
    hour: int | None


@dataclass(frozen=True, slots=True)
class FindRatable:
    """``IvrBackend.ratable_ticket``; → :class:`RatableFound` or :class:`BackendFailed`."""

    caller: Caller | None


@dataclass(frozen=True, slots=True)
class Rate:
    """``IvrBackend.rate`` (``score`` 1–5); → :class:`Rated` or :class:`BackendFailed`."""

    ticket_id: int
    score: int


@dataclass(frozen=True, slots=True)
class Transfer:
    """``IvrBackend.transfer_to_agent``; → :class:`Transferred` or :class:`BackendFailed`."""


@dataclass(frozen=True, slots=True)
class RecordJourney:
    """``IvrBackend.record_journey`` (fire-and-forget: a failure is logged, not fed back).
    Issued exactly once per call."""

    journey: Journey


@dataclass(frozen=True, slots=True)
class Disconnect:
    """The IVR ends the call: ``CallChannel.hangup`` (fire-and-forget)."""


@dataclass(frozen=True, slots=True)
class End:
    """The machine is done; ``transferred``: the PBX took the caller (do not hang up)."""

    transferred: bool = False


Action = (Play | WaitDigit | Record | Transcribe | LookupTickets | CheckPin | LookupTicket
          | CreateMessage | RequestCallback | FindRatable | Rate | Transfer | RecordJourney
          | Disconnect | End)

#: Actions that yield no event (the session carries them out and goes on).
FIRE_AND_FORGET = (RecordJourney, Disconnect)

State = Literal[
    "idle",
    # waiting for keys
    "menu", "other", "ticket", "pin", "hour", "rate",
    # waiting for the line or the backend
    "record", "transcribe", "tickets", "check_pin", "lookup", "message", "callback",
    "ratable", "rating", "transfer", "fallback",
    # ending
    "closing", "ended",
]
INPUT_STATES: frozenset[State] = frozenset({"menu", "other", "ticket", "pin", "hour", "rate"})


class IvrMachine:
    """One call's IVR menu. Feed :class:`Started` first, then each action's result.

    ``digit_timeout_s``: the wait for a key (and between the keys of a number), seconds;
    ``message_max_s``: the longest voice message, seconds; ``max_strikes``: timeouts,
    invalid keys, tickets not found and wrong PINs before the caller is sent to an agent.
    Raises ``ValueError`` for a non-positive value.
    """

    def __init__(self, *, digit_timeout_s: float = 6.0, message_max_s: float = 120.0,
                 max_strikes: int = 3) -> None:
        if digit_timeout_s <= 0 or message_max_s <= 0 or max_strikes < 1:
            raise ValueError("digit_timeout_s and message_max_s must be > 0, max_strikes >= 1")
        self.digit_timeout_s = float(digit_timeout_s)
        self.message_max_s = float(message_max_s)
        self.max_strikes = max_strikes
        self.state: State = "idle"
        self.lang: Lang = "zh"
        self.strikes = 0
        self.journey_recorded = False
        self._info: CallInfo | None = None
        self._started_at: datetime | None = None
        self._caller: Caller | None = None
        self._dialable = True  # the caller ID can be called back (set at Started)
        self._steps: list[JourneyStep] = []
        self._at = 0.0
        self._queue: list[Play] = []
        self._then: Callable[[], list[Action]] = list
        self._playing = False
        self._entry = ""            # keys typed so far (ticket number, PIN, hour)
        self._number = ""           # the ticket number being looked up
        self._hour: int | None = None  # the call-back hour asked for
        self._recording: Recording | None = None
        self._rate_ticket: TicketStatus | None = None
        self._gone = False          # the caller hung up while recording
        self._handlers: dict[type, Callable[[Any], list[Action]]] = {
            Digit: self._on_digit, Timeout: self._on_timeout, Recorded: self._on_recorded,
            Transcribed: self._on_transcribed, TicketsFound: self._on_tickets,
            TicketFound: self._on_found, TicketNotFound: self._on_not_found,
            PinNeeded: self._on_pin_needed, TicketCreated: self._on_created,
            RatableFound: self._on_ratable, Rated: self._on_rated,
            Transferred: self._on_transferred, BackendFailed: self._on_backend_failed,
        }

    # ---- public ----

    @property
    def started(self) -> bool:
        return self._info is not None

    @property
    def steps(self) -> tuple[JourneyStep, ...]:
        return tuple(self._steps)

    @property
    def survey(self) -> bool:
        return self._info is not None and self._info.mode == "survey"

    def journey(self, outcome: str) -> Journey:
        """The journey so far with ``outcome``. Raises :class:`MachineError` before
        :class:`Started`."""
        if self._info is None or self._started_at is None:
            raise MachineError("no journey before the call started")
        return Journey(info=self._info, started_at=self._started_at, steps=self.steps,
                       outcome=outcome, language=self.lang)

    def feed(self, event: Event, at_s: float) -> list[Action]:
        """Apply ``event`` (``at_s``: seconds since the IVR answered); return what to do next.

        Raises :class:`MachineError` for an event that cannot come now (before
        :class:`Started`, after :class:`End`, or not the answer to the last action).
        """
        self._at = max(self._at, float(at_s))
        if self.state == "ended":
            raise MachineError(f"{type(event).__name__} after the end of the call")
        if isinstance(event, Started):
            return self._on_started(event)
        if self.state == "idle":
            raise MachineError(f"{type(event).__name__} before the call started")
        if isinstance(event, HungUp):
            return self._hung_up()
        if isinstance(event, PlayFinished):
            return self._on_play_finished(event)
        if self._playing:
            raise MachineError(f"{type(event).__name__} while a prompt plays")
        return self._handlers[type(event)](event)

    # ---- building blocks ----

    def _step(self, kind: str, detail: str = "") -> None:
        self._steps.append(JourneyStep(at_s=round(self._at, 3), kind=kind, detail=detail))

    def _play(self, key: str, interruptible: bool = True, **params: object) -> Play:
        return Play(key, self.lang, params, interruptible)

    def _say(self, plays: list[Play], then: Callable[[], list[Action]]) -> list[Action]:
        """Play ``plays`` one by one, then do what ``then()`` returns (called after the last
        prompt, so a journey it records has every step) unless a key barges in."""
        if not plays:
            return then()
        self._queue, self._then, self._playing = plays[1:], then, True
        return [plays[0]]

    def _wait(self, state: State, *plays: Play) -> list[Action]:
        """Go to input ``state``: play ``plays`` (interruptible by a key), then wait for one."""
        self.state = state
        return self._say(list(plays), self._wait_digit)

    def _wait_digit(self) -> list[Action]:
        return [WaitDigit(self.digit_timeout_s)]

    def _menu(self, *before: Play) -> list[Action]:
        return self._wait("menu", *before, self._play("menu"))

    def _record(self, outcome: str) -> list[Action]:
        if self.journey_recorded:
            return []
        self.journey_recorded = True
        return [RecordJourney(self.journey(outcome))]

    def _goodbye(self, *before: Play) -> list[Action]:
        self.state = "closing"
        plays = [*before, self._play("goodbye", interruptible=False)]
        recorded = self._record("done")
        return recorded + self._say(plays, self._disconnect)

    def _to_agent(self, *before: Play) -> list[Action]:
        """Say ``before`` and ``transfer``; record the journey; then ask the PBX."""
        self.state = "transfer"
        plays = [*before, self._play("transfer", interruptible=False)]
        return self._say(plays, lambda: [*self._record("agent"), Transfer()])

    def _strike(self, why: str, detail: str, *again: Play) -> list[Action]:
        """Count a strike; the last one transfers (survey: says goodbye), else play ``why``
        (``invalid``, ``timeout``, ``not_found``) and ask ``again`` in the current input
        state. The journey step is ``timeout`` or ``invalid`` (``detail`` says which)."""
        self.strikes += 1
        self._step("timeout" if why == "timeout" else "invalid", detail)
        if self.strikes >= self.max_strikes:
            if self.survey:
                return self._goodbye()
            self._step("agent", "strikes")
            return self._to_agent(self._play("transfer_strikes", interruptible=False))
        return self._wait(self.state, self._play(why), *again)

    def _unavailable(self) -> list[Action]:
        self._step("agent", "unavailable")
        return self._to_agent(self._play("sorry_unavailable", interruptible=False))

    def _disconnect(self) -> list[Action]:
        self.state = "ended"
        return [Disconnect(), End()]

    def _hung_up(self) -> list[Action]:
        self.state, self._entry = "ended", ""  # (a PIN half-typed is not kept)
        self._playing = False
        return [*self._record("hangup"), End()]

    def _after_task(self, *before: Play) -> list[Action]:
        """Back to the main menu, or — in survey mode — goodbye."""
        if self.survey:
            return self._goodbye(*before)
        return self._menu(*before)

    # ---- handlers ----

    def _on_started(self, e: Started) -> list[Action]:
        if self.state != "idle":
            raise MachineError("Started twice")
        self._info, self._started_at, self._caller = e.info, e.started_at, e.caller
        self._dialable = DIALABLE.fullmatch(e.info.caller) is not None
        self.lang = e.caller.language if e.caller is not None else e.language
        if e.busy:
            self._step("busy")
            self.state = "closing"
            return [*self._record("busy"),
                    *self._say([self._play("busy", interruptible=False)], self._disconnect)]
        if self.survey:
            self.state = "ratable"
            return self._say([self._play("welcome_survey", interruptible=False)],
                             lambda: [FindRatable(self._caller)])
        return self._menu(self._play("welcome"))

    def _on_play_finished(self, e: PlayFinished) -> list[Action]:
        if not self._playing:
            raise MachineError("PlayFinished without a prompt playing")
        if e.digit is not None and self.state in INPUT_STATES:
            self._queue, self._then, self._playing = [], list, False
            return self._on_digit(Digit(e.digit))
        if self._queue:
            return [self._queue.pop(0)]
        self._playing = False
        then, self._then = self._then, list
        return then()

    def _expect(self, event: object, *states: State) -> None:
        if self.state not in states:
            raise MachineError(f"{type(event).__name__} in state {self.state}")

    def _on_digit(self, e: Digit) -> list[Action]:
        self._expect(e, *INPUT_STATES)
        key = e.key
        if self.state == "menu":
            return self._menu_key(key)
        if self.state == "other":
            return self._other_key(key)
        if self.state == "rate":
            return self._rate_key(key)
        return self._entry_key(key)

    def _menu_key(self, key: str) -> list[Action]:
        if key in ("1", "2", "3", "4", "9"):
            self._step("menu", key)
        if key == "1":
            if self._caller is None:
                return self._ask_number()
            self.state = "tickets"
            return [LookupTickets(self._caller.customer_id, COUNT_TICKETS)]
        if key == "2":
            self.state = "record"
            return self._say([self._play("record_prompt", False, max_s=round(self.message_max_s)),
                              self._play("beep", False)],
                             lambda: [Record(self.message_max_s, MESSAGE_SILENCE_S)])
        if key == "3":
            if not self._dialable:  # a withheld number: nobody could call it back
                return self._menu(self._play("callback_no_number"))
            self._entry = ""
            return self._wait("hour", self._play("callback_hour"))
        if key == "4":
            self.state = "ratable"
            return [FindRatable(self._caller)]
        if key == "9":
            self.lang = "en" if self.lang == "zh" else "zh"
            return self._menu()
        if key == "*":
            return self._menu()
        if key == "0":
            self._step("agent", "0")
            return self._to_agent()
        return self._strike("invalid", key, self._play("menu"))

    def _ask_number(self, *before: Play) -> list[Action]:
        self._entry = ""
        return self._wait("ticket", *before, self._play("enter_ticket_number"))

    def _other_key(self, key: str) -> list[Action]:
        if key == "*":
            return self._menu()
        if key == "0":
            self._step("agent", "0")
            return self._to_agent()
        if key in DIGITS:
            self.state, self._entry = "ticket", key
            return self._wait_digit()
        return self._strike("invalid", key, self._play("status_other"))

    def _rate_key(self, key: str) -> list[Action]:
        ticket = self._rate_ticket
        assert ticket is not None
        if key in ("1", "2", "3", "4", "5"):
            self.state = "rating"
            return [Rate(ticket.ticket_id, int(key))]
        if not self.survey and key == "*":
            return self._menu()
        if not self.survey and key == "0":
            self._step("agent", "0")
            return self._to_agent()
        return self._strike("invalid", key, self._play("rate_intro", number=ticket.number))

    def _entry_prompt(self) -> Play:
        key = {"ticket": "enter_ticket_number", "pin": "enter_pin", "hour": "callback_hour"}
        return self._play(key[self.state])

    def _entry_key(self, key: str) -> list[Action]:
        """A key while typing a ticket number, a PIN or an hour: digits, ``#`` ends, ``*``
        clears and asks again."""
        if key == "*":
            self._entry = ""
            return self._wait(self.state, self._entry_prompt())
        if key == "#":
            if self._entry or self.state == "hour":  # "#" alone: call back as soon as possible
                return self._submit()
            return self._strike("invalid", "#", self._entry_prompt())
        if key not in DIGITS:
            self._entry = ""
            return self._strike("invalid", key, self._entry_prompt())
        self._entry += key
        if self.state == "hour" and len(self._entry) > 2:
            self._entry = ""
            return self._strike("invalid", "hour", self._entry_prompt())
        if len(self._entry) >= MAX_ENTRY_DIGITS:
            return self._submit()
        return self._wait_digit()

    def _submit(self) -> list[Action]:
        entry, self._entry = self._entry, ""
        customer_id = self._caller.customer_id if self._caller is not None else None
        if self.state == "ticket":
            self._number = entry
            self.state = "check_pin"
            return [CheckPin(entry, customer_id)]
        if self.state == "pin":
            self.state = "lookup"
            return [LookupTicket(self._number, customer_id, entry)]
        hour = int(entry) if entry else None
        if hour is not None and not 0 <= hour <= 23:
            return self._strike("invalid", "hour", self._entry_prompt())
        self.state, self._hour = "callback", hour
        return [RequestCallback(self._caller, hour)]

    def _on_timeout(self, e: Timeout) -> list[Action]:
        self._expect(e, *INPUT_STATES)
        if self.state == "other":  # heard their tickets and said nothing more
            return self._menu()
        if self.state in ("ticket", "pin", "hour") and self._entry:
            return self._submit()  # the inter-digit timeout ends an entry like "#"
        return self._strike("timeout", self.state, self._prompt_again())

    def _prompt_again(self) -> Play:
        """The question of the current input state, asked again."""
        if self.state == "menu":
            return self._play("menu")
        if self.state == "rate":
            assert self._rate_ticket is not None
            return self._play("rate_intro", number=self._rate_ticket.number)
        return self._entry_prompt()

    def _on_tickets(self, e: TicketsFound) -> list[Action]:
        self._expect(e, "tickets")
        if not e.tickets:
            return self._ask_number(self._play("status_none"))
        reads = [self._status(t) for t in e.tickets[:READ_TICKETS]]
        return self._wait("other", self._play("status_count", count=len(e.tickets)), *reads,
                          self._play("status_other"))

    def _status(self, t: TicketStatus) -> Play:
        self._step("status", t.number)
        params: dict[str, object] = {"number": t.number, "status": t.status}
        if t.group:
            params["group"] = t.group.get(self.lang) or next(iter(t.group.values()))
        if t.promised_at is not None:
            params["when"] = t.promised_at
        return Play("status_ticket", self.lang, params)

    def _on_pin_needed(self, e: PinNeeded) -> list[Action]:
        self._expect(e, "check_pin")
        if e.needed:
            self._entry = ""
            return self._wait("pin", self._play("enter_pin"))
        self.state = "lookup"
        customer_id = self._caller.customer_id if self._caller is not None else None
        return [LookupTicket(self._number, customer_id, None)]

    def _on_found(self, e: TicketFound) -> list[Action]:
        self._expect(e, "lookup")
        return self._wait("other", self._status(e.ticket), self._play("status_other"))

    def _on_not_found(self, e: TicketNotFound) -> list[Action]:
        self._expect(e, "lookup")
        self.state, self._entry = "ticket", ""
        return self._strike("not_found", "not_found", self._play("enter_ticket_number"))

    def _on_recorded(self, e: Recorded) -> list[Action]:
        self._expect(e, "record")
        self._gone = e.recording.ended_by == "hangup"
        if e.recording.has_speech:
            self._recording = e.recording
            self.state = "transcribe"
            return [Transcribe(e.recording)]
        if self._gone:
            return self._hung_up()
        self._step("message", "empty")
        return self._menu(self._play("message_empty"))

    def _on_transcribed(self, e: Transcribed) -> list[Action]:
        self._expect(e, "transcribe")
        return self._create_message(e.text)

    def _create_message(self, transcript: str) -> list[Action]:
        assert self._recording is not None
        self.state = "message"
        recording, self._recording = self._recording, None
        return [CreateMessage(self._caller, recording, transcript)]

    def _on_created(self, e: TicketCreated) -> list[Action]:
        self._expect(e, "message", "callback", "fallback")
        number = e.ticket.number
        if self.state == "message":
            self._step("message", number)
            if self._gone:
                return self._hung_up()
            return self._menu(self._play("message_saved", number=number))
        self._step("callback", number)
        if self.state == "fallback":
            return self._goodbye(self._play("callback_saved", False, number=number, hour=None))
        return self._menu(self._play("callback_saved", number=number, hour=self._hour))

    def _on_ratable(self, e: RatableFound) -> list[Action]:
        self._expect(e, "ratable")
        if e.ticket is None:
            return self._after_task(self._play("rate_none", interruptible=not self.survey))
        self._rate_ticket = e.ticket
        return self._wait("rate", self._play("rate_intro", number=e.ticket.number))

    def _on_rated(self, e: Rated) -> list[Action]:
        self._expect(e, "rating")
        assert self._rate_ticket is not None
        self._step("rating", self._rate_ticket.number)
        self._rate_ticket = None
        return self._after_task(self._play("rate_thanks", interruptible=not self.survey))

    def _on_transferred(self, e: Transferred) -> list[Action]:
        self._expect(e, "transfer")
        if e.ok:
            self.state = "ended"
            return [End(transferred=True)]
        return self._no_agent()

    def _no_agent(self) -> list[Action]:
        if not self._dialable:  # no number to call back: ask them to call again
            return self._goodbye(self._play("no_agent_call_later", interruptible=False))
        self.state = "fallback"
        return self._say([self._play("no_agent", interruptible=False)],
                         lambda: [RequestCallback(self._caller, None)])

    def _on_backend_failed(self, e: BackendFailed) -> list[Action]:
        self._expect(e, "transcribe", "tickets", "check_pin", "lookup", "message", "callback",
                     "ratable", "rating", "transfer", "fallback")
        if self.state == "transcribe":  # no transcript: the message is still worth keeping
            return self._create_message("")
        if self.state == "message" and self._gone:
            return self._hung_up()
        if self.state == "transfer":  # the PBX could not be asked: as if no agent
            return self._no_agent()
        if self.state == "fallback":
            return self._goodbye(self._play("sorry_unavailable", interruptible=False))
        return self._unavailable()
