"""In-memory ports for tests: a scripted caller, Hotline as dictionaries, silent prompts.

They live in the package (not under ``tests/``) because every layer's tests use them: the
machine's session here, the web wiring's, the CLI's demo. Each behaves as its port's
docstring says — the parts tests rely on are the ports' contract, not these fakes' whims:

* :class:`ScriptedChannel` plays a caller from a script read in order. A key is pressed at
  the next wait (or, marked ``barge``, during the next interruptible prompt; during a
  non-interruptible one it stays for the next wait, as pyVoIP's buffer does); a
  :class:`NoKey` lets the next wait time out; :class:`Speak` is what the next ``record``
  hears; :class:`CallerHangsUp` hangs up at that point. A finished script hangs up too, so a
  run always ends. Its ``clock`` advances with the audio played (8000 bytes = 1 s) and the
  waits, so journeys get realistic ``at_s`` without sleeping.
* :class:`FakeBackend` keeps customers, tickets, PINs and ratings in dictionaries, logs every
  call, and can be told to fail (``fail``) or to have no PBX (``transfer_ok``).
* :class:`FakePromptBook` returns ``800 × (1 + index)`` bytes of silence for the prompt key
  at ``index`` in :data:`~softphone_bridge.ivr.machine.PROMPT_KEYS` (so a buffer tells its
  key) and logs ``(key, lang, params)``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Literal

from .machine import PROMPT_KEYS
from .ports import (
    BYTES_PER_SECOND,
    SILENCE_BYTE,
    BackendUnavailable,
    Caller,
    CallInfo,
    Hangup,
    Journey,
    Lang,
    Mode,
    Recording,
    TicketStatus,
)

# ---- the scripted caller ----


@dataclass(frozen=True)
class Press:
    """The caller presses ``keys`` (one per wait), the first ``after_s`` seconds into the
    wait, the others 0.3 s apart. ``barge``: the first key interrupts the next prompt."""

    keys: str
    after_s: float = 1.0
    barge: bool = False


@dataclass(frozen=True)
class NoKey:
    """The caller presses nothing: the next wait times out (a prompt plays through)."""


@dataclass(frozen=True)
class Speak:
    """What the next ``record`` returns (``ended_by="hangup"``: the caller hangs up then)."""

    recording: Recording


@dataclass(frozen=True)
class CallerHangsUp:
    """The caller hangs up: the next prompt (halfway) or wait raises :class:`Hangup`."""


ScriptItem = str | Press | NoKey | Speak | CallerHangsUp


def speech(seconds: float, *,
           ended_by: Literal["silence", "max", "key", "hangup"] = "silence") -> Recording:
    """A recording of ``seconds`` that the detector took for speech (a test's message)."""
    audio = bytes([0x90, 0x70]) * int(seconds * BYTES_PER_SECOND / 2)
    return Recording(audio, ended_by, True)


def _expand(script: Iterable[ScriptItem]) -> list[Press | NoKey | Speak | CallerHangsUp]:
    out: list[Press | NoKey | Speak | CallerHangsUp] = []
    for item in script:
        press = Press(item) if isinstance(item, str) else item
        if isinstance(press, Press):
            if not press.keys:
                raise ValueError("Press needs at least one key")
            for i, key in enumerate(press.keys):
                out.append(Press(key, press.after_s if i == 0 else 0.3, press.barge and i == 0))
        else:
            out.append(press)
    return out


class ScriptError(AssertionError):
    """The session asked the line for something the script does not have next."""


class ScriptedChannel:
    """A :class:`~softphone_bridge.ivr.ports.CallChannel` played by a script (see module).

    ``played``: every buffer sent (the port's contract); ``hangups``: calls of ``hangup``;
    ``remaining``: the script not yet used; ``clock()``: the fake monotonic time.
    """

    def __init__(self, script: Sequence[ScriptItem] = (), *, info: CallInfo | None = None,
                 caller: str = "13800138000", mode: Mode = "menu") -> None:
        self.info = info or CallInfo(call_ref="call-1@test", caller=caller,
                                     linkedid="1700000000.1", pbx="pbx1",
                                     mode=mode)
        self._script = _expand(script)
        self.played: list[bytes] = []
        self.hangups = 0
        self.now = 0.0
        self._gone = False

    @property
    def hung_up(self) -> bool:
        return self._gone

    @property
    def remaining(self) -> list[Press | NoKey | Speak | CallerHangsUp]:
        return list(self._script)

    def clock(self) -> float:
        return self.now

    def _head(self) -> Press | NoKey | Speak | CallerHangsUp | None:
        return self._script[0] if self._script else None

    def _leave(self) -> Hangup:
        self._gone = True
        return Hangup()

    def play(self, audio: bytes, *, interruptible: bool = True) -> str | None:
        if self._gone:
            raise Hangup()
        self.played.append(audio)
        seconds = len(audio) / BYTES_PER_SECOND
        head = self._head()
        if isinstance(head, CallerHangsUp):
            self._script.pop(0)
            self.now += seconds / 2
            raise self._leave()
        if isinstance(head, Press) and head.barge and interruptible:
            self._script.pop(0)
            self.now += seconds / 2
            return head.keys
        self.now += seconds
        return None

    def read_digit(self, timeout_s: float) -> str | None:
        if self._gone:
            raise Hangup()
        head = self._head()
        if head is None or isinstance(head, CallerHangsUp):
            if head is not None:
                self._script.pop(0)
            self.now += 1.0
            raise self._leave()
        if isinstance(head, Speak):
            raise ScriptError("read_digit, but the script speaks next")
        self._script.pop(0)
        if isinstance(head, NoKey):
            self.now += timeout_s
            return None
        self.now += min(head.after_s, timeout_s)
        return head.keys

    def record(self, max_s: float, silence_s: float) -> Recording:
        if self._gone:
            return Recording(b"", "hangup", False)
        head = self._head()
        if head is not None:
            self._script.pop(0)
        if isinstance(head, Speak):
            rec = head.recording
            if rec.duration_s > max_s:  # the channel stops at max_s
                rec = replace(rec, audio=rec.audio[:int(max_s * BYTES_PER_SECOND)],
                              ended_by="max")
            self.now += rec.duration_s
            if rec.ended_by == "hangup":
                self._gone = True
            return rec
        if isinstance(head, NoKey):
            self.now += silence_s
            return Recording(bytes([SILENCE_BYTE]) * int(silence_s * BYTES_PER_SECOND),
                             "silence", False)
        if isinstance(head, Press):
            self.now += head.after_s
            return Recording(b"", "key", False)
        self._gone = True
        return Recording(b"", "hangup", False)

    def hangup(self) -> None:
        self.hangups += 1
        self._gone = True


# ---- prompts ----


class FakePromptBook:
    """A :class:`~softphone_bridge.ivr.ports.PromptBook` of silences whose length tells the key.

    ``log``: ``(key, lang, params)`` per prompt asked for; :meth:`keys` the keys only;
    :meth:`key_for` the key of a buffer. ``missing``: keys to answer with ``KeyError``.
    """

    UNIT = 800  # bytes: 0.1 s

    def __init__(self, keys: Sequence[str] = PROMPT_KEYS) -> None:
        self._index = {key: i for i, key in enumerate(keys)}
        self._keys = tuple(keys)
        self.log: list[tuple[str, Lang, dict[str, object]]] = []
        self.missing: set[str] = set()

    def prompt(self, key: str, lang: Lang, **params: object) -> bytes:
        if key not in self._index or key in self.missing:
            raise KeyError(key)
        self.log.append((key, lang, dict(params)))
        return bytes([SILENCE_BYTE]) * (self.UNIT * (1 + self._index[key]))

    def keys(self) -> list[str]:
        return [key for key, _, _ in self.log]

    def key_for(self, audio: bytes) -> str:
        """The key whose prompt ``audio`` is. Raises ``KeyError`` for other audio."""
        index, rest = divmod(len(audio), self.UNIT)
        if rest or not 1 <= index <= len(self._keys) or set(audio) - {SILENCE_BYTE}:
            raise KeyError(f"not a fake prompt: {len(audio)} bytes")
        return self._keys[index - 1]


# ---- Hotline ----


@dataclass
class FakeTicket:
    status: TicketStatus
    customer_id: int | None
    pin: str | None = None
    call_id: str | None = None  # the call it was resolved on (survey mode)


@dataclass
class FakeBackend:
    """An :class:`~softphone_bridge.ivr.ports.IvrBackend` over dictionaries.

    ``calls``: ``(method, args…)`` per call, in order; ``fail``: method names that raise
    :class:`BackendUnavailable` (``"*"``: all), ``crash``: method names that raise
    ``RuntimeError``; ``transfer_ok``: what ``transfer_to_agent`` answers; ``transcript``:
    what ``transcribe`` answers. ``ratings``: ticket id → score; ``journeys``: recorded.
    """

    customers: dict[str, Caller] = field(default_factory=dict)
    tickets: dict[int, FakeTicket] = field(default_factory=dict)
    ratings: dict[int, int] = field(default_factory=dict)
    journeys: list[Journey] = field(default_factory=list)
    calls: list[tuple[object, ...]] = field(default_factory=list)
    fail: set[str] = field(default_factory=set)
    crash: set[str] = field(default_factory=set)
    transfer_ok: bool = True
    transcript: str = "我的订单还没到"

    # ---- set-up ----

    def add_customer(self, phone: str, customer_id: int, name: str = "Jane",
                     language: Lang = "zh") -> Caller:
        caller = Caller(customer_id, name, language)
        self.customers[phone] = caller
        return caller

    def add_ticket(self, customer_id: int | None, *, status: str = "open", title: str = "",
                   group: Mapping[str, str] | None = None, promised_at: datetime | None = None,
                   pin: str | None = None, call_id: str | None = None) -> TicketStatus:
        ticket_id = max(self.tickets, default=100) + 1
        ticket = TicketStatus(ticket_id, f"T-{ticket_id:06d}", status, title, group,
                              promised_at)
        self.tickets[ticket_id] = FakeTicket(ticket, customer_id, pin, call_id)
        return ticket

    def names(self) -> list[str]:
        """The methods called, in order."""
        return [str(c[0]) for c in self.calls]

    def _enter(self, name: str, *args: object) -> None:
        self.calls.append((name, *args))
        if name in self.crash:
            raise RuntimeError(f"{name} crashed")
        if name in self.fail or "*" in self.fail:
            raise BackendUnavailable(name)

    def _by_number(self, number: str) -> FakeTicket | None:
        if not number.isdigit():
            return None
        return self.tickets.get(int(number))

    # ---- IvrBackend ----

    def identify(self, caller: str) -> Caller | None:
        self._enter("identify", caller)
        return self.customers.get(caller)

    def open_tickets(self, customer_id: int, limit: int = 5) -> list[TicketStatus]:
        self._enter("open_tickets", customer_id, limit)
        mine = [t.status for t in self.tickets.values()
                if t.customer_id == customer_id and t.status.status != "closed"]
        return sorted(mine, key=lambda t: -t.ticket_id)[:limit]

    def ticket_by_number(self, number: str, *, customer_id: int | None,
                         pin: str | None) -> TicketStatus | None:
        self._enter("ticket_by_number", number, customer_id, pin)
        found = self._by_number(number)
        if found is None:
            return None
        if customer_id is not None and found.customer_id == customer_id:
            return found.status
        if pin is not None and found.pin is not None and pin == found.pin:
            return found.status
        return None

    def needs_pin(self, number: str, *, customer_id: int | None) -> bool:
        self._enter("needs_pin", number, customer_id)
        found = self._by_number(number)
        return not (found is not None and customer_id is not None
                    and found.customer_id == customer_id)

    def _new(self, caller: Caller | None, title: str, status: str = "new") -> TicketStatus:
        return self.add_ticket(caller.customer_id if caller else None, status=status,
                               title=title)

    def create_message(self, info: CallInfo, caller: Caller | None, recording: Recording,
                       transcript: str) -> TicketStatus:
        self._enter("create_message", info.call_ref, caller, recording.duration_s, transcript)
        return self._new(caller, transcript[:40] or "语音留言 / Voice message")

    def request_callback(self, info: CallInfo, caller: Caller | None,
                         hour: int | None) -> TicketStatus:
        self._enter("request_callback", info.call_ref, caller, hour)
        return self._new(caller, f"回电请求 / Call-back request {info.caller}")

    def ratable_ticket(self, info: CallInfo, caller: Caller | None) -> TicketStatus | None:
        self._enter("ratable_ticket", info.call_ref, caller)
        resolved = [t for t in self.tickets.values()
                    if t.status.status == "resolved" and t.status.ticket_id not in self.ratings]
        linked = [t for t in resolved if info.call_id and t.call_id == info.call_id]
        mine = [t for t in resolved if caller and t.customer_id == caller.customer_id]
        for pick in (linked, mine):
            if pick:
                return max(pick, key=lambda t: t.status.ticket_id).status
        return None

    def rate(self, info: CallInfo, ticket_id: int, score: int) -> None:
        self._enter("rate", info.call_ref, ticket_id, score)
        if not 1 <= score <= 5:
            raise ValueError(f"score {score} is not 1-5")
        self.ratings[ticket_id] = score

    def transcribe(self, recording: Recording) -> str:
        self._enter("transcribe", recording.duration_s)
        return self.transcript

    def transfer_to_agent(self, info: CallInfo) -> bool:
        self._enter("transfer_to_agent", info.call_ref)
        return self.transfer_ok

    def record_journey(self, journey: Journey) -> None:
        self._enter("record_journey", journey.outcome)
        self.journeys.append(journey)
