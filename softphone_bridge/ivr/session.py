"""Runs the IVR machine for one call, in that call's thread, on the three ports.

The machine (:mod:`softphone_bridge.ivr.machine`) decides; this module only carries its
actions out — a prompt on the :class:`~softphone_bridge.ivr.ports.CallChannel`, a question to
the :class:`~softphone_bridge.ivr.ports.IvrBackend` — and turns each outcome back into an
event, with the seconds since the answer read from the injected ``clock``. So everything that
can go wrong on the outside becomes an event the machine has a rule for:

* :class:`~softphone_bridge.ivr.ports.Hangup` (or any error of the line) → ``HungUp``;
* :class:`~softphone_bridge.ivr.ports.BackendUnavailable` (or any error of the backend) →
  ``BackendFailed`` (logged without the call's data: a ticket lookup's error may quote the
  PIN in its SQL parameters, so only its type is logged);
* a prompt the book cannot give (unknown key, synthesis failed) is skipped, logged.

Whatever happens — even a bug in the machine — the thread does not die with an exception,
``record_journey`` is called exactly once, and the line is hung up unless the PBX took the
caller to an agent.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from .machine import (
    FIRE_AND_FORGET,
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
from .ports import (
    BackendUnavailable,
    CallChannel,
    Caller,
    Hangup,
    IvrBackend,
    Journey,
    Lang,
    PromptBook,
)

log = logging.getLogger(__name__)


def utcnow() -> datetime:
    return datetime.now(UTC)


def run_call(channel: CallChannel, backend: IvrBackend, prompts: PromptBook, *,
             language: Lang = "zh", digit_timeout_s: float = 6.0,
             message_max_s: float = 120.0, busy: bool = False,
             clock: Callable[[], float] = time.monotonic,
             now: Callable[[], datetime] = utcnow) -> Journey:
    """Run the IVR on an answered call until it ends; return the journey recorded.

    ``language``: the default for callers not known to Hotline; ``digit_timeout_s`` and
    ``message_max_s``: seconds (see :class:`~softphone_bridge.ivr.machine.IvrMachine`, which
    raises ``ValueError`` for a non-positive one); ``busy``: the adapter is over its
    concurrency limit — play ``busy`` and hang up (the caller is not looked up). ``clock``:
    monotonic seconds (the journey's ``at_s``); ``now``: the UTC start time.

    Blocking, for the call's own thread. Never raises for anything the line, the backend or
    the prompts do; the returned journey is the one given to ``record_journey`` (called
    exactly once, even when it fails).
    """
    machine = IvrMachine(digit_timeout_s=digit_timeout_s, message_max_s=message_max_s)
    return _Session(channel, backend, prompts, machine, clock).run(language, now(), busy)


class _Session:
    def __init__(self, channel: CallChannel, backend: IvrBackend, prompts: PromptBook,
                 machine: IvrMachine, clock: Callable[[], float]) -> None:
        self.channel = channel
        self.backend = backend
        self.prompts = prompts
        self.machine = machine
        self.clock = clock
        self.t0 = clock()
        self.ref = channel.info.call_ref
        self.journey: Journey | None = None
        self.transferred = False
        self._do: dict[type, Callable[[Any], Event | None]] = {
            Play: self._play, WaitDigit: self._wait_digit, Record: self._record,
            Transcribe: self._transcribe, LookupTickets: self._lookup_tickets,
            CheckPin: self._check_pin, LookupTicket: self._lookup_ticket,
            CreateMessage: self._create_message, RequestCallback: self._request_callback,
            FindRatable: self._find_ratable, Rate: self._rate, Transfer: self._transfer,
            RecordJourney: self._record_journey, Disconnect: self._disconnect,
        }

    def elapsed(self) -> float:
        return max(0.0, self.clock() - self.t0)

    def run(self, language: Lang, started_at: datetime, busy: bool) -> Journey:
        try:
            caller = None if busy else self._identify()
            started = Started(self.channel.info, caller, language, started_at, busy)
            self._loop(self.machine.feed(started, self.elapsed()))
        except Exception:
            log.exception("ivr %s: the call's logic failed; ending the call", self.ref)
        if self.journey is None:  # only after a failure above: record what we know
            outcome = "hangup" if self._hung_up() else "done"
            if self.machine.started:
                journey = self.machine.journey(outcome)
            else:
                journey = Journey(self.channel.info, started_at, outcome=outcome,
                                  language=language)
            self._record_journey(RecordJourney(journey))
        if not self.transferred:
            self._disconnect(Disconnect())
        assert self.journey is not None
        return self.journey

    def _loop(self, actions: list[Action]) -> None:
        while True:
            *effects, last = actions
            for action in effects:
                if not isinstance(action, FIRE_AND_FORGET):
                    raise MachineError(f"{type(action).__name__} before the last action")
                self._do[type(action)](action)
            if isinstance(last, End):
                self.transferred = last.transferred
                return
            event = self._do[type(last)](last)
            if event is None:
                raise MachineError(f"{type(last).__name__} yields no event")
            actions = self.machine.feed(event, self.elapsed())

    def _hung_up(self) -> bool:
        try:
            return bool(self.channel.hung_up)
        except Exception:
            return True

    # ---- the line ----

    def _line(self, call: Callable[[], Event], what: str) -> Event:
        try:
            return call()
        except Hangup:
            return HungUp()
        except Exception:
            log.exception("ivr %s: the line failed in %s; treating it as a hang-up",
                          self.ref, what)
            return HungUp()

    def _play(self, a: Play) -> Event:
        try:
            audio = self.prompts.prompt(a.key, a.lang, **a.params)
        except Exception:
            log.exception("ivr %s: no audio for prompt %s/%s; skipped", self.ref, a.lang, a.key)
            return PlayFinished(None)

        def play() -> Event:
            digit = self.channel.play(audio, interruptible=a.interruptible)
            return PlayFinished(digit if a.interruptible else None)

        return self._line(play, "play")

    def _wait_digit(self, a: WaitDigit) -> Event:
        def read() -> Event:
            key = self.channel.read_digit(a.timeout_s)
            return Timeout() if key is None else Digit(key)

        return self._line(read, "read_digit")

    def _record(self, a: Record) -> Event:
        return self._line(lambda: Recorded(self.channel.record(a.max_s, a.silence_s)),
                          "record")

    def _disconnect(self, a: Disconnect) -> None:
        try:
            self.channel.hangup()
        except Exception:
            log.exception("ivr %s: hanging up failed", self.ref)

    # ---- the backend ----

    def _backend(self, call: Callable[[], Event], what: str, *, quiet: bool = False) -> Event:
        """``call()``; a failure becomes :class:`BackendFailed`. ``quiet``: log the error's
        type only (its message may hold what the caller typed)."""
        try:
            return call()
        except BackendUnavailable:
            log.warning("ivr %s: Hotline unavailable for %s", self.ref, what)
        except Exception as exc:
            if quiet:
                log.error("ivr %s: %s failed: %s", self.ref, what, type(exc).__name__)
            else:
                log.exception("ivr %s: %s failed", self.ref, what)
        return BackendFailed()

    def _identify(self) -> Caller | None:
        """The caller's customer; ``None`` if unknown or Hotline cannot say (the menu still
        plays in the default language; the first backend question will fail properly)."""
        try:
            return self.backend.identify(self.channel.info.caller)
        except BackendUnavailable:
            log.warning("ivr %s: Hotline unavailable for identify", self.ref)
        except Exception:
            log.exception("ivr %s: identify failed", self.ref)
        return None

    def _transcribe(self, a: Transcribe) -> Event:
        return self._backend(lambda: Transcribed(self.backend.transcribe(a.recording)),
                             "transcribe")

    def _lookup_tickets(self, a: LookupTickets) -> Event:
        return self._backend(lambda: TicketsFound(tuple(
            self.backend.open_tickets(a.customer_id, a.limit))), "open_tickets")

    def _check_pin(self, a: CheckPin) -> Event:
        return self._backend(lambda: PinNeeded(bool(
            self.backend.needs_pin(a.number, customer_id=a.customer_id))), "needs_pin")

    def _lookup_ticket(self, a: LookupTicket) -> Event:
        def lookup() -> Event:
            ticket = self.backend.ticket_by_number(a.number, customer_id=a.customer_id,
                                                   pin=a.pin)
            return TicketNotFound() if ticket is None else TicketFound(ticket)

        return self._backend(lookup, "ticket_by_number", quiet=True)

    def _create_message(self, a: CreateMessage) -> Event:
        return self._backend(lambda: TicketCreated(self.backend.create_message(
            self.channel.info, a.caller, a.recording, a.transcript)), "create_message")

    def _request_callback(self, a: RequestCallback) -> Event:
        return self._backend(lambda: TicketCreated(self.backend.request_callback(
            self.channel.info, a.caller, a.hour)), "request_callback")

    def _find_ratable(self, a: FindRatable) -> Event:
        return self._backend(lambda: RatableFound(self.backend.ratable_ticket(
            self.channel.info, a.caller)), "ratable_ticket")

    def _rate(self, a: Rate) -> Event:
        def rate() -> Event:
            self.backend.rate(self.channel.info, a.ticket_id, a.score)
            return Rated()

        return self._backend(rate, "rate")

    def _transfer(self, a: Transfer) -> Event:
        return self._backend(lambda: Transferred(bool(
            self.backend.transfer_to_agent(self.channel.info))), "transfer_to_agent")

    def _record_journey(self, a: RecordJourney) -> None:
        if self.journey is not None:  # the machine records once; this guards the fallback
            log.error("ivr %s: a second journey was not recorded", self.ref)
            return
        self.journey = a.journey
        try:
            self.backend.record_journey(a.journey)
        except BackendUnavailable:
            log.warning("ivr %s: Hotline unavailable for record_journey", self.ref)
        except Exception:
            log.exception("ivr %s: record_journey failed", self.ref)
