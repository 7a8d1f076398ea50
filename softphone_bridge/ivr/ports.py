"""The IVR's ports: what one call's logic needs from the phone line and from Hotline.

The IVR is three layers so that the menu can be tested without SIP and the SIP code without
a menu:

* :mod:`softphone_bridge.ivr.machine` — a pure state machine (events in, actions out);
* :mod:`softphone_bridge.ivr.session` — runs the machine for one call in that call's thread,
  carrying out its actions on a :class:`CallChannel` (the line), an :class:`IvrBackend`
  (tickets) and a :class:`PromptBook` (audio);
* :mod:`softphone_bridge.sip` — the thin pyVoIP adapter that provides :class:`CallChannel`.

Every port is **blocking** and called from the call's own thread (pyVoIP runs one thread per
call); the web side's :class:`IvrBackend` hands its work to the application's event loop.
Audio everywhere is what pyVoIP speaks: 8 kHz, mono, 8-bit **unsigned** linear PCM (160 bytes
= 20 ms; silence is ``0x80``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, Protocol

Lang = Literal["zh", "en"]
#: Why a call came to the IVR: the main menu, or the survey after an agent's call.
Mode = Literal["menu", "survey"]

SAMPLE_RATE = 8000
BYTES_PER_SECOND = 8000  # 8-bit mono
FRAME_BYTES = 160        # 20 ms
SILENCE_BYTE = 0x80


class Hangup(Exception):
    """The caller hung up (raised by :class:`CallChannel` methods, never by ``hangup``)."""


@dataclass(frozen=True)
class CallInfo:
    """Who called and how the PBX identified the call.

    ``call_ref`` is the SIP Call-ID (unique per IVR leg). ``caller`` is the From user part as
    received (``"13800138000"``, ``"+8613800138000"``, ``"anonymous"``). ``linkedid`` and
    ``pbx`` come from the ``X-Hotline-Linkedid`` / ``X-Hotline-Pbx`` headers the sample
    dialplan adds (``asterisk_conf/extensions.conf``); ``None`` when the INVITE has none
    (direct mode, tests). ``mode`` comes from ``X-Hotline-Ivr-Mode`` (default ``menu``).
    ``channel`` (``X-Hotline-Channel``) is the caller's Asterisk channel name
    (``PJSIP/trunk-0000002a``): what a standalone ``hotline ivr`` redirects to the queue.
    """

    call_ref: str
    caller: str
    linkedid: str | None = None
    pbx: str | None = None
    mode: Mode = "menu"
    channel: str | None = None

    @property
    def call_id(self) -> str | None:
        """Hotline's call id (``"pbx1:1700000000.12"``) when the PBX told us the Linkedid."""
        if self.linkedid is None:
            return None
        return f"{self.pbx or 'pbx1'}:{self.linkedid}"


@dataclass(frozen=True)
class Recording:
    """What :meth:`CallChannel.record` heard: u8 PCM at 8 kHz.

    ``ended_by``: ``silence`` (speech then ``silence_s`` of quiet), ``max`` (``max_s``
    reached), ``key`` (any DTMF key; the key is not part of the audio), ``hangup``.
    ``has_speech``: the energy detector heard speech (a recording of only silence or line
    noise is not worth a ticket).
    """

    audio: bytes
    ended_by: Literal["silence", "max", "key", "hangup"]
    has_speech: bool

    @property
    def duration_s(self) -> float:
        return len(self.audio) / BYTES_PER_SECOND


class CallChannel(Protocol):
    """One answered call's line (blocking; the call's thread).

    ``play`` paces ``audio`` in real time (pyVoIP's ``write_audio`` does not block) and, when
    ``interruptible``, stops at the first DTMF key and returns it (barge-in); otherwise keys
    pressed during playback are kept for the next ``read_digit``. ``read_digit`` waits up to
    ``timeout_s`` for one key (``"0"``–``"9"``, ``"*"``, ``"#"``) and returns ``None`` on
    timeout. ``record`` — see :class:`Recording`; on hang-up it returns what it has instead
    of raising. ``play`` and ``read_digit`` raise :class:`Hangup` once the caller has gone.
    ``hangup`` is idempotent and never raises (pyVoIP's raises if the caller already hung
    up). ``played`` is every audio buffer sent, in order (tests and the journey use it).
    """

    info: CallInfo

    def play(self, audio: bytes, *, interruptible: bool = True) -> str | None: ...
    def read_digit(self, timeout_s: float) -> str | None: ...
    def record(self, max_s: float, silence_s: float) -> Recording: ...
    def hangup(self) -> None: ...

    @property
    def hung_up(self) -> bool: ...


@dataclass(frozen=True)
class Caller:
    """The customer a caller's number belongs to (``None`` from ``identify``: unknown)."""

    customer_id: int
    name: str
    language: Lang


@dataclass(frozen=True)
class TicketStatus:
    """What the IVR reads out about one ticket.

    ``number`` ``"T-000123"``; ``status`` the ticket's status key (``new``, ``open``,
    ``pending_customer``, ``resolved``, ``closed``…); ``group`` the group's name in each
    language (``{"zh": "售后组", "en": "After-sales"}``) or ``None``; ``promised_at`` the
    resolution due time (UTC, aware) or ``None``.
    """

    ticket_id: int
    number: str
    status: str
    title: str
    group: Mapping[str, str] | None = None
    promised_at: datetime | None = None


@dataclass(frozen=True)
class JourneyStep:
    """One thing the caller did in the IVR, for the agent's screen pop.

    ``at_s``: seconds since the IVR answered. ``kind``: ``menu`` (key pressed), ``status``
    (a ticket read out: ``detail`` = its number), ``message`` (ticket created), ``callback``
    (ticket created), ``rating``, ``invalid``, ``timeout``, ``agent`` (asked for an agent),
    ``busy``. ``detail``: free text (a key, a ticket number), never a PIN.
    """

    at_s: float
    kind: str
    detail: str = ""


@dataclass(frozen=True)
class Journey:
    """The whole IVR leg: for the pop (keyed by ``info.call_id``) and the log."""

    info: CallInfo
    started_at: datetime
    steps: tuple[JourneyStep, ...] = field(default_factory=tuple)
    #: ``agent`` (transferred), ``hangup``, ``done`` (the IVR ended the call), ``busy``.
    outcome: str = "hangup"
    #: The language the caller last heard (``ivr_journeys.language``); ``None`` if unknown.
    language: Lang | None = None


class IvrBackend(Protocol):
    """What the IVR asks of Hotline (blocking; the call's thread).

    Raises :class:`BackendUnavailable` when the database (or loop) cannot answer in time; the
    machine then plays ``sorry_unavailable`` and offers an agent.
    """

    def identify(self, caller: str) -> Caller | None:
        """The customer whose phone this is (the same phone matching as the screen pop)."""

    def open_tickets(self, customer_id: int, limit: int = 5) -> list[TicketStatus]:
        """The customer's tickets not closed, newest first (resolved ones included)."""

    def ticket_by_number(self, number: str, *, customer_id: int | None,
                         pin: str | None) -> TicketStatus | None:
        """A ticket typed on the keypad (digits only, ``"123"`` = T-000123).

        ``None`` when it does not exist **or** belongs to another customer and ``pin`` is
        not that ticket's PIN: the caller cannot tell the two apart.
        """

    def needs_pin(self, number: str, *, customer_id: int | None) -> bool:
        """Whether reading this ticket needs a PIN (it exists and is not the caller's, or it
        does not exist — answered ``True`` too, so existence does not leak)."""

    def create_message(self, info: CallInfo, caller: Caller | None, recording: Recording,
                       transcript: str) -> TicketStatus:
        """A ticket from a voice message (channel ``ivr``, transcript as description, the
        recording attached as WAV, type and order numbers pre-filled by the console's
        extraction); one transaction."""

    def request_callback(self, info: CallInfo, caller: Caller | None,
                         hour: int | None) -> TicketStatus:
        """A call-back request ticket with the caller's number and the chosen local hour
        (0–23, ``None`` = as soon as possible); it lands in the agents' queue."""

    def ratable_ticket(self, info: CallInfo, caller: Caller | None) -> TicketStatus | None:
        """The ticket to rate: the resolved ticket linked to this call (survey mode), else
        the caller's most recently resolved, not yet rated ticket (≤ 14 days)."""

    def rate(self, info: CallInfo, ticket_id: int, score: int) -> None:
        """Store a 1–5 CSAT score on the ticket (channel ``ivr``); a re-rating replaces it."""

    def transcribe(self, recording: Recording) -> str:
        """The ASR engine's transcript of a recording (``""`` when nothing recognized)."""

    def transfer_to_agent(self, info: CallInfo) -> bool:
        """Redirect the caller's channel to the support queue (AMI ``Redirect`` via the
        bridge, by Linkedid). ``False`` when no PBX can take it (direct mode): the machine
        then offers a call-back instead."""

    def record_journey(self, journey: Journey) -> None:
        """Keep the journey for the agent's pop (by ``call_id``) and the call log."""


class BackendUnavailable(Exception):
    """Hotline could not answer the IVR in time (database or loop down)."""


class PromptBook(Protocol):
    """Audio for prompts (u8 PCM, 8 kHz).

    ``prompt(key, lang, **params)`` — one catalogue prompt, with its parameters read out
    (``number="T-000123"``, ``when=datetime``, ``count=3``, ``status="open"``,
    ``group="售后组"``, ``hour=14``, ``score=4``). Synthesized once with espeak-ng and cached;
    a recorded file overrides a fixed prompt. Raises ``KeyError`` for an unknown key.
    """

    def prompt(self, key: str, lang: Lang, **params: object) -> bytes: ...
