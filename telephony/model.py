"""The live call model the tracker keeps: legs (channels), calls (Linkedid), queues, members.

Plain mutable dataclasses with no behaviour beyond views of themselves, so the tracker's
rules live in ``callbook.py``, ``resync.py``, ``tracker.py`` and ``queues.py``, and the model
can be read by the facade (``service.py`` picks a call's agent channel from it) without
importing any rule.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from tickets.messages import QueueMember

from .ami import first

FINAL_STATES = frozenset({"ended", "abandoned"})
_DEVICE_STATUS = {
    "0": "unknown", "1": "not_in_use", "2": "in_use", "3": "busy", "4": "invalid",
    "5": "unavailable", "6": "ringing", "7": "ring_in_use", "8": "on_hold",
}


@dataclass(slots=True)
class Leg:
    """One channel of a call (keyed by Uniqueid)."""

    uniqueid: str
    channel: str
    linkedid: str
    extension: str | None  # the agent extension when the channel is an agent's device
    state: str = "Down"
    popped: bool = False
    bridge: str | None = None
    alive: bool = True


@dataclass(slots=True)
class Call:
    """One call (keyed by Linkedid): every leg, the customer's side and the milestones.

    Times are Unix seconds (floats) as passed to the tracker.
    """

    linkedid: str
    call_id: str
    direction: str
    started_at: float
    caller_number: str = ""
    caller_name: str = ""
    caller_e164: str | None = None
    callee_number: str | None = None
    state: str = "ringing"
    queue: str | None = None
    queued_at: float | None = None
    was_queued: bool = False
    answered_at: float | None = None
    ended_at: float | None = None
    agent: str | None = None
    agents: list[str] = field(default_factory=list)
    rung: list[str] = field(default_factory=list)  # every agent whose phone rang, in order
    origin_agent: str | None = None
    legs: dict[str, Leg] = field(default_factory=dict)
    open_pops: dict[str, str] = field(default_factory=dict)  # extension -> leg uniqueid
    involved: list[str] = field(default_factory=list)
    dtmf: str = ""
    order_number: str | None = None
    recording_path: str | None = None
    asr_uuid: str | None = None
    hangup_cause: str | None = None
    transferred_to: str | None = None
    abandoned: bool = False
    guessed: bool = False  # created from a later leg: direction/caller inferred
    resynced: bool = False  # first seen in a snapshot: milestones are estimates
    hold_time: float | None = None
    talk_time: float | None = None
    variables: dict[str, str] = field(default_factory=dict)

    def live_legs(self) -> list[Leg]:
        return [leg for leg in self.legs.values() if leg.alive]

    def owners(self) -> frozenset[str]:
        """The agent extensions this call is *on* now: a live agent leg (talking, held,
        consulting) or a pop still ringing. Whose call it is for call actions (an agent may
        act only on a call it is on); an agent the call left (after a transfer) is not."""
        live = {leg.extension for leg in self.legs.values() if leg.alive and leg.extension}
        return frozenset(live | set(self.open_pops))


@dataclass(slots=True)
class Member:
    """A queue member as app_queue reports it; ``interface`` is what actions must name."""

    interface: str
    extension: str | None = None
    state_interface: str = ""
    name: str = ""
    paused: bool = False
    paused_reason: str = ""
    #: When the current pause began (Unix seconds, wall clock): Asterisk's ``LastPause``
    #: when it gives one, else when the tracker first saw the member paused; None unpaused.
    paused_since: float | None = None
    status: str = "unknown"
    in_call: bool = False
    calls_taken: int | None = None  # Asterisk's CallsTaken: counts calls that ended

    @property
    def state(self) -> str:
        """One word for the wallboard: paused, in_call, ringing, unavailable, available."""
        if self.paused:
            return "paused"
        if self.in_call or self.status in ("in_use", "busy", "on_hold", "ring_in_use"):
            return "in_call"
        if self.status == "ringing":
            return "ringing"
        if self.status in ("unavailable", "invalid"):
            return "unavailable"
        return "available"

    def as_dict(self, queue: str, pbx: str) -> QueueMember:
        """The member as the catalogue's ``QueueMember`` (queue_stats, agent_state)."""
        return {"pbx": pbx, "queue": queue, "interface": self.interface,
                "extension": self.extension, "name": self.name,
                "state": self.state, "reason": self.paused_reason or None,
                "paused": self.paused, "paused_reason": self.paused_reason,
                "paused_since": iso(self.paused_since),
                "status": self.status, "in_call": self.in_call}


@dataclass(slots=True)
class Queue:
    name: str
    members: dict[str, Member] = field(default_factory=dict)
    waiting: dict[str, float] = field(default_factory=dict)  # caller uniqueid -> join time
    completed: int = 0
    abandoned: int = 0
    within_sl: int = 0


def device_status(code: str) -> str:
    """QueueMember ``Status`` (a device state number) as a word."""
    return _DEVICE_STATUS.get(code, code)


def utc(ts: float | None) -> datetime | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC)


def iso(ts: float | None) -> str | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC).isoformat()


def num(value: Any) -> float | None:
    """A header as a float, or None when absent or not a finite number (``float()`` takes
    ``nan``, ``inf`` and ``1e999``, which no JSON message may carry)."""
    try:
        x = float(first(value))
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def duration(text: str) -> float:
    """``00:01:07`` -> 67.0 (CoreShowChannel ``Duration``)."""
    try:
        h, m, s = (int(x) for x in text.split(":"))
    except ValueError:
        return 0.0
    return float(h * 3600 + m * 60 + s)


def created_at(uniqueid: str) -> float | None:
    """When Asterisk created a channel: its Uniqueid is ``<unix seconds>.<counter>``.

    Exact to the second and independent of when *we* saw the channel, so a snapshot taken
    after our restart still dates the call right. None for Uniqueids of another shape.
    """
    head, dot, _ = uniqueid.partition(".")
    if not dot or not head.isdigit() or len(head) < 9:
        return None
    return float(head)


def dialed(dialstring: str) -> str:
    """``PJSIP/13800138000@trunk`` / ``PJSIP/trunk/sip:...`` / ``6002`` -> the number."""
    s = dialstring.split("/", 1)[1] if "/" in dialstring else dialstring
    s = s.split("@", 1)[0]
    if s.startswith("sip:"):
        s = s[4:]
    return s
