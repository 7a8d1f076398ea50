"""One agent's live state, derived from their phone's channels and their queue memberships.

Why derived, not stored: the state an agent is in depends on several sources that change
independently and out of order (their channels: ringing, up, bridged, held; each queue
membership: device status, paused with a reason, Asterisk's wrap-up time; a wrap-up pause
after a call). :meth:`AgentLive.derive` computes it from all of them each time one changes,
with a fixed precedence, so no ordering of events can leave a stale state behind:

    on_hold > on_call > ringing > (no membership, or every device unavailable) logged_out
    > wrapup (Asterisk's wrapuptime running, or paused with a wrap-up reason) > paused
    > on_call (a device in use with no channel we know: before a snapshot) > ringing > available

Time is accounted per state: leaving ``available`` adds to ``idle_s``, ``on_call`` to
``talk_s``, ``on_hold`` to ``hold_s``, counted from the later of the state's start and the
site's midnight (``acc_from``), so the day's figures split correctly at midnight.
"""

from __future__ import annotations

from dataclasses import dataclass, field

#: Device statuses (``telephony.model.device_status`` words) meaning "on a call".
BUSY = frozenset({"in_use", "busy", "on_hold", "ring_in_use"})
#: Device statuses meaning the phone is not there.
GONE = frozenset({"unavailable", "invalid"})


@dataclass(slots=True)
class Membership:
    """One queue membership as app_queue reports it."""

    interface: str
    status: str = "unknown"
    paused: bool = False
    reason: str = ""
    paused_since: float | None = None
    in_call: bool = False
    wrapup_s: float = 0.0  # the member's Wrapuptime (0: the queue's, see the engine)


@dataclass(slots=True)
class LegLive:
    """One channel of the agent's phone: ``ringing``, ``up`` (answered), ``bridged``,
    ``held`` or ``done`` (a ring that ended, the channel not yet hung up)."""

    linkedid: str
    state: str
    inbound: bool


@dataclass(slots=True)
class Today:
    offered: int = 0
    answered: int = 0
    missed: int = 0
    talk_s: float = 0.0
    hold_s: float = 0.0
    idle_s: float = 0.0


@dataclass(slots=True)
class AgentLive:
    extension: str
    name: str = ""
    members: dict[str, Membership] = field(default_factory=dict)  # queue -> membership
    legs: dict[str, LegLive] = field(default_factory=dict)  # uniqueid -> leg
    #: Calls offered to the agent today: linkedid -> "ringing" | "answered" | "missed".
    offers: dict[str, str] = field(default_factory=dict)
    state: str = "logged_out"
    reason: str | None = None
    since: float | None = None  # when the state began (None: never seen)
    acc_from: float | None = None  # accounting start of the current state (>= midnight)
    call_id: str | None = None
    wrap_until: float | None = None  # Asterisk's wrapuptime runs until then
    #: (queue, AgentComplete time) of the last queue call: a wrap-up pause that follows
    #: within the grace adds its length to that call's handle time.
    last_complete: tuple[str, float] | None = None
    wrap_pause_from: tuple[str, float] | None = None
    ticket_id: int | None = None
    today: Today = field(default_factory=Today)
    #: A queue member (now or earlier), or offered a call: an agent, not just any phone
    #: (a supervisor's spy phone has channels too).
    listed: bool = False
    since_iso: tuple[float | None, str | None] = (None, None)  # ``since`` as sent

    # ------------------------------------------------------------------ state
    def _from_legs(self) -> str | None:
        """on_hold, on_call or ringing from the phone's channels (None: no live one)."""
        found: str | None = None
        for leg in self.legs.values():
            st = leg.state
            if st == "held":
                return "on_hold"
            if st in ("up", "bridged"):
                found = "on_call"
            elif st == "ringing" and found is None:
                found = "ringing"
        return found

    def derive(self, now: float, wrapup_reasons: frozenset[str]) -> tuple[str, str | None]:
        """The (state, reason) the sources say now (precedence in the module doc)."""
        on_phone = self._from_legs()
        if on_phone is not None:
            return on_phone, None
        return self._from_members(now, wrapup_reasons)

    def _from_members(self, now: float,
                      wrapup_reasons: frozenset[str]) -> tuple[str, str | None]:
        present = busy = ringing = False
        all_paused = True
        reason = ""
        for m in self.members.values():  # one pass: this runs on nearly every event
            status = m.status
            if status not in GONE:
                present = True
            if m.paused:
                reason = reason or m.reason
            else:
                all_paused = False
            if m.in_call or status in BUSY:
                busy = True
            elif status == "ringing":
                ringing = True
        if not present:
            return "logged_out", None
        if self.wrap_until is not None and now < self.wrap_until:
            return "wrapup", None
        if all_paused:
            if reason.strip().lower() in wrapup_reasons:
                return "wrapup", reason
            return "paused", reason or None
        if busy:
            return "on_call", None
        if ringing:
            return "ringing", None
        return "available", None

    def current_call(self) -> str | None:
        """The linkedid of the call the agent is on (held, talking, else ringing)."""
        best: tuple[int, str] | None = None
        rank = {"held": 0, "bridged": 1, "up": 2, "ringing": 3}
        for leg in self.legs.values():
            r = rank.get(leg.state)
            if r is not None and (best is None or r < best[0]):
                best = (r, leg.linkedid)
        return best[1] if best else None

    def accrue(self, until: float) -> None:
        """Add the current state's time up to ``until`` to the day's figures."""
        if self.acc_from is None or until <= self.acc_from:
            return
        span = until - self.acc_from
        if self.state == "available":
            self.today.idle_s += span
        elif self.state == "on_call":
            self.today.talk_s += span
        elif self.state == "on_hold":
            self.today.hold_s += span
        self.acc_from = until

    def set_state(self, state: str, reason: str | None, now: float) -> bool:
        """Move to ``state`` (accounting the old one); True when state or reason changed."""
        if state == self.state and reason == self.reason and self.since is not None:
            return False
        self.accrue(now)
        if state != self.state or self.since is None:
            self.since = now
            self.acc_from = now
        self.state = state
        self.reason = reason
        return True

    def today_view(self, now: float) -> Today:
        """The day's figures including the open span of the current state."""
        t = Today(self.today.offered, self.today.answered, self.today.missed,
                  self.today.talk_s, self.today.hold_s, self.today.idle_s)
        if self.acc_from is not None and now > self.acc_from:
            span = now - self.acc_from
            if self.state == "available":
                t.idle_s += span
            elif self.state == "on_call":
                t.talk_s += span
            elif self.state == "on_hold":
                t.hold_s += span
        return t

    def new_day(self, midnight: float) -> None:
        """Midnight: the open span up to it belongs to yesterday; start the day's figures."""
        self.accrue(midnight)
        self.offers = {k: v for k, v in self.offers.items() if v == "ringing"}
        # Still ringing: offered today, where its answer or miss will count.
        self.today = Today(offered=len(self.offers))
        if self.acc_from is not None:
            self.acc_from = max(self.acc_from, midnight)

    # ------------------------------------------------------------------ offers
    def offered(self, linkedid: str) -> None:
        self.listed = True
        if linkedid not in self.offers:
            self.offers[linkedid] = "ringing"
            self.today.offered += 1

    def answered(self, linkedid: str) -> bool:
        """The agent answered an offered call: True the first time (a ring of the same
        call counted missed before, a ring-all lost then a transfer answered, is not
        missed after all: missed counts calls, as the call log's ``rung`` - ``agents``)."""
        was = self.offers.get(linkedid)
        if was is None or was == "answered":
            return False
        if was == "missed":
            self.today.missed -= 1
        self.offers[linkedid] = "answered"
        self.today.answered += 1
        return True

    def ring_ended(self, linkedid: str) -> bool:
        """An offered call stopped ringing this agent unanswered: missed (True) once; no
        more while another of the agent's channels still rings for it."""
        if self.offers.get(linkedid) != "ringing":
            return False
        if any(leg.linkedid == linkedid and leg.state == "ringing"
               for leg in self.legs.values()):
            return False
        self.offers[linkedid] = "missed"
        self.today.missed += 1
        return True

    def call_ended(self, linkedid: str) -> None:
        """The call is over: a ring still open was missed; the offer is forgotten."""
        for uid in [u for u, leg in self.legs.items() if leg.linkedid == linkedid
                    and leg.state == "ringing"]:
            self.legs[uid].state = "done"
        self.ring_ended(linkedid)
        self.offers.pop(linkedid, None)
