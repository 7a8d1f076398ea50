"""What the :class:`~telephony.tracker.CallTracker` asks the bridge to do.

The tracker is pure (no I/O, no clock): it returns these frozen values and the
:class:`~telephony.bridge.PbxBridge` executes them in per-call lanes. Each carries the
``call_id`` whose lane orders it, so a call's pop always goes out before the updates that
follow it, and a slow lookup for one call never delays another.
"""

from __future__ import annotations

from dataclasses import dataclass

from tickets.bus import OutEvent

from .ports import CallRecord


@dataclass(frozen=True, slots=True)
class Publish:
    """Publish ``event`` (a :mod:`tickets.messages` message) on ``topic``. ``call_id``
    orders it with the call's other effects."""

    topic: str
    event: OutEvent
    call_id: str | None = None


@dataclass(frozen=True, slots=True)
class ScreenPop:
    """An agent leg started ringing for an inbound call: look the caller up, then pop."""

    call_id: str
    pbx: str
    extension: str
    caller_number: str  # E.164 if it parses, else the raw caller ID
    caller_e164: str | None
    raw_number: str
    caller_name: str
    queue: str | None
    order_number: str | None = None
    dtmf: str = ""


@dataclass(frozen=True, slots=True)
class Prefetch:
    """A new inbound call: start the caller lookup now so the pop later costs nothing."""

    call_id: str
    caller_e164: str | None
    raw_number: str


@dataclass(frozen=True, slots=True)
class JourneyPrefetch:
    """An inbound call joined a queue: read its IVR journey now. Hotline's IVR records the
    journey before it hands the caller to the queue, so this read is final, and the pops
    that follow (seconds later) find it done instead of waiting for a query."""

    call_id: str


@dataclass(frozen=True, slots=True)
class CallerUpdate:
    """The caller's number or name became known (or changed) after the call appeared.

    Trunks that send ``CallerIDNum: <unknown>`` first and the number in a later
    ``NewCallerid`` (or a dialplan ``Set(CALLERID(num)=…)``) need it: the bridge looks the
    new number up (replacing the call's cached lookup, so a pop not yet sent uses it) and,
    when ``extensions`` already saw a pop, sends them a ``call_update`` with the number, the
    name and the customer found.
    """

    call_id: str
    pbx: str
    caller_number: str  # E.164 if it parses, else the raw caller ID
    caller_e164: str | None
    raw_number: str
    caller_name: str
    state: str
    extensions: tuple[str, ...]  # consoles that show the call already (empty: none yet)


@dataclass(frozen=True, slots=True)
class ReadVariables:
    """Ask the PBX (``Getvar``) for variables of a channel first seen in a snapshot.

    After Hotline itself restarts, a caller still ringing has already keyed the order number
    and got its ASR UUID: those VarSet events are gone, but the channel still holds them.
    The bridge feeds each non-empty value back to the tracker as a ``VarSet`` event.
    """

    call_id: str
    channel: str
    uniqueid: str
    linkedid: str
    names: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Persist:
    """Upsert this call-log record."""

    record: CallRecord

    @property
    def call_id(self) -> str:
        return self.record.call_id


Effect = (Publish | ScreenPop | Prefetch | JourneyPrefetch | CallerUpdate | ReadVariables
          | Persist)
