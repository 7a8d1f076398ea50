"""StatsEngine: AMI events in, live queue and agent statistics out (pure: no I/O, no clock).

Why a separate engine and not more fields on the tracker: the tracker decides calls (pops,
the call log) and must stay as it is; the statistics need other facts (an agent's phone
channels, ring-no-answers, AgentComplete's talk time, wrap-up) and other memory (windows,
the day, a trend). The bridge feeds both the same events in the same order; the engine
answers with *what changed* (queue names and agent extensions in :meth:`take_changes`), and
the bridge builds the messages lazily, when the coalescer lets one out (at most one per key
per ~250 ms), so a burst of events costs set insertions, not messages.

Definitions (README "Live statistics", docs/CONTRACT.md):

- A queue call is *offered* when its outcome is known: *answered* (AgentConnect), *abandoned*
  (QueueCallerAbandon, or the caller hung up while waiting), or left unanswered (a
  QueueCallerLeave without an answer, then a hang-up, the same queue again, or 5 s of
  nothing: a timeout exit).
  Outcomes count in the windows at the time they happen.
- The wait is Asterisk's ``HoldTime`` (whole seconds, as in the call log), else measured from
  QueueCallerJoin. Answered within SL: wait <= T (the queue's ``ServiceLevel`` from
  QueueParams when > 0, else the setting). Short abandon: abandoned with wait <= the
  short-abandon setting.
- Handle time of a queue call = AgentComplete's ``TalkTime`` (answer to end, hold included)
  + wrap-up: the member's ``Wrapuptime`` (else the setting for the queue's wrapuptime), or,
  without one, a wrap-up pause (reason in the wrap-up reasons) begun within 60 s of the
  call's end, until unpaused (its length is added when it ends).
- Agents: see :mod:`telephony.stats.agents`.

Restart: :meth:`rebuild` takes today's call-log rows (``CallRecord``) before the link comes
up; after every (re)connect :meth:`resync_queues` and :meth:`resync_channels` take the same
QueueStatus and CoreShowChannels snapshots as the tracker.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from tickets import messages

from ..agents import AgentInterfaces
from ..ami import first
from ..model import device_status, num
from ..ports import CallRecord
from .agents import AgentLive, LegLive, Membership
from .windows import Rolling, Tally, midnight_after, midnight_before

#: Seconds a QueueCallerLeave waits for its AgentConnect before it counts as unanswered.
LEAVE_SETTLE_S = 5.0
#: A wrap-up pause begun this long after a call's AgentComplete is that call's wrap-up.
WRAPUP_GRACE_S = 60.0
#: Minutes of per-minute trend kept per queue.
TREND_MINUTES = 180
_TRUE = ("1", "true", "yes")
_HEX = "0123456789abcdefABCDEF"
_RINGING = ("Ringing", "Ring")


@dataclass(frozen=True, slots=True)
class StatsConfig:
    """The settings (``HOTLINE_STATS_*``, ``HOTLINE_TIMEZONE``)."""

    sl_threshold_s: float = 20.0
    short_abandon_s: float = 5.0
    timezone: str = "Asia/Shanghai"
    wrapup_reasons: frozenset[str] = frozenset({"wrapup", "wrap-up", "wrap up", "acw"})
    wrapup_s: float = 0.0  # the queues' wrapuptime (AMI does not report it), 0: none


@dataclass(slots=True)
class QCall:
    """A caller's stay in one queue."""

    joined: float | None
    left: float | None = None
    done: bool = False  # outcome counted


@dataclass(slots=True)
class QueueLiveState:
    name: str
    sl_s: float | None = None  # Asterisk's ServiceLevel (None/0: the setting)
    waiting: dict[str, float] = field(default_factory=dict)  # caller uniqueid -> joined
    w15: Rolling = field(default_factory=lambda: Rolling(900))
    w60: Rolling = field(default_factory=lambda: Rolling(3600))
    day: Tally = field(default_factory=Tally)
    trend: deque[tuple[float, int, float, float | None]] = field(
        default_factory=lambda: deque(maxlen=TREND_MINUTES))

    def longest(self, now: float) -> float:
        return max(0.0, max((now - t for t in self.waiting.values()), default=0.0))


class StatsEngine:
    """Live statistics of one PBX. :meth:`feed` every event (wire order), :meth:`tick`
    every few seconds, :meth:`take_changes` after either; views build the messages."""

    #: The AMI events the engine reads (any other costs one dict lookup).
    EVENTS = frozenset({
        "QueueCallerJoin", "QueueCallerLeave", "QueueCallerAbandon", "AgentCalled",
        "AgentConnect", "AgentComplete", "AgentRingNoAnswer", "QueueMember",
        "QueueMemberStatus", "QueueMemberAdded", "QueueMemberPause", "QueueMemberRemoved",
        "QueueParams", "QueueEntry", "Newchannel", "Newstate", "DialBegin", "DialEnd",
        "BridgeEnter", "BridgeLeave", "Hold", "Unhold", "Hangup"})

    def __init__(self, pbx: str, config: StatsConfig | None = None,
                 agents: AgentInterfaces | None = None) -> None:
        self.pbx = pbx
        self.config = config or StatsConfig()
        self.zone = ZoneInfo(self.config.timezone)
        self.agents_map = agents or AgentInterfaces()
        self.queues: dict[str, QueueLiveState] = {}
        self.agents: dict[str, AgentLive] = {}
        self.qcalls: dict[str, dict[str, QCall]] = {}  # caller uniqueid -> queue -> stay
        self.offered_to: dict[str, set[str]] = {}  # linkedid -> agents it was offered to
        self.leg_owner: dict[str, str] = {}  # agent leg uniqueid -> extension
        self.outbound: dict[str, bool] = {}  # linkedid -> first channel is an agent's
        self.tickets: dict[str, int] = {}  # call_id -> ticket id (told by the web layer)
        self._ext_cache: dict[str, str | None] = {}  # device or interface -> extension
        self._at: tuple[float, str] = (-1.0, "")
        #: Callers who left a queue unseen (link down): uniqueid -> queue, until the
        #: tracker's verdict comes (:meth:`settle`); bounded, a day's worth at most.
        self._unsettled: dict[str, str] = {}
        self.dirty_queues: set[str] = set()
        self.dirty_agents: set[str] = set()
        self.day_start: float | None = None
        self.day_end: float | None = None
        self._day_end = float("-inf")  # day_end for the per-event test
        self._trend_minute: float | None = None
        self._handlers: dict[str, Callable[[Mapping[str, Any], float], None]] = {
            "QueueCallerJoin": self._on_join,
            "QueueCallerLeave": self._on_leave,
            "QueueCallerAbandon": self._on_abandon,
            "AgentCalled": self._on_agent_called,
            "AgentConnect": self._on_agent_connect,
            "AgentComplete": self._on_agent_complete,
            "AgentRingNoAnswer": self._on_ring_no_answer,
            "QueueMember": self._on_member,
            "QueueMemberStatus": self._on_member,
            "QueueMemberAdded": self._on_member,
            "QueueMemberPause": self._on_member,
            "QueueMemberRemoved": self._on_member_removed,
            "QueueParams": self._on_params,
            "QueueEntry": self._on_entry,
            "Newchannel": self._on_newchannel,
            "Newstate": self._on_newstate,
            "DialBegin": self._on_dialbegin,
            "DialEnd": self._on_dialend,
            "BridgeEnter": self._on_bridgeenter,
            "BridgeLeave": self._on_bridgeleave,
            "Hold": self._on_hold,
            "Unhold": self._on_unhold,
            "Hangup": self._on_hangup,
        }

    # ------------------------------------------------------------------ entry points
    def feed(self, e: Mapping[str, Any], now: float) -> None:
        """Apply one AMI event (unknown ones cost a dict lookup)."""
        handler = self._handlers.get(e.get("Event", ""))
        if handler is None:
            return
        if now >= self._day_end:
            self._new_day(now)
        handler(e, now)

    def take_changes(self) -> tuple[list[str], list[str]]:
        """(queues, agent extensions) changed since the last call, and forget them."""
        qs, ags = sorted(self.dirty_queues), sorted(self.dirty_agents)
        self.dirty_queues.clear()
        self.dirty_agents.clear()
        return qs, ags

    def tick(self, now: float) -> None:
        """Time passing: midnight, windows rolling off, wrap-ups ending, timeouts of
        callers who left a queue unanswered, the per-minute trend."""
        if self.day_end is None or now >= self.day_end:
            self._new_day(now)
        for uid, stays in list(self.qcalls.items()):
            for qname, qc in list(stays.items()):
                if not qc.done and qc.left is not None and now - qc.left >= LEAVE_SETTLE_S:
                    self._outcome(qname, uid, "unanswered", None, now)
        for q in self.queues.values():
            if q.w15.roll(now) | q.w60.roll(now):
                self.dirty_queues.add(q.name)
        for a in self.agents.values():
            if a.wrap_until is not None and now >= a.wrap_until:
                a.wrap_until = None
                self._refresh(a, now)
        minute = float(int(now // 60) * 60)
        if self._trend_minute is None or minute > self._trend_minute:
            self._trend_minute = minute
            for q in self.queues.values():
                q.w15.roll(now)
                q.trend.append((minute, len(q.waiting), round(q.longest(now), 3),
                                q.w15.total.view()["service_level"]))

    def link_ticket(self, call_id: str, ticket_id: int) -> None:
        """A ticket was created for a live call: agents on it show it."""
        self.tickets[call_id] = ticket_id
        for a in self.agents.values():
            if a.call_id == call_id:
                self.dirty_agents.add(a.extension)

    # ------------------------------------------------------------------ views
    def queue_live(self, qname: str, now: float) -> messages.QueueLive:
        """The live fields of one queue's ``queue_stats`` (QueueBook's provider)."""
        q = self.queue(qname)
        q.w15.roll(now)
        q.w60.roll(now)
        return {"at": _iso(now), "sl_threshold_s": self.threshold(q),
                "short_abandon_s": self.config.short_abandon_s,
                "windows": {"15m": q.w15.total.view(), "60m": q.w60.total.view(),
                            "today": q.day.view()}}

    def agent_message(self, ext: str, now: float) -> messages.AgentStats:
        a = self.agent(ext)
        t = a.today_view(now)
        call_id = a.call_id
        if now != self._at[0]:  # one ISO text per instant (a push builds many at once)
            self._at = (now, _iso(now))
        if a.since != a.since_iso[0]:
            a.since_iso = (a.since, _iso(a.since) if a.since is not None else None)
        return messages.agent_stats(
            pbx=self.pbx, extension=ext, name=a.name, at=self._at[1], state=a.state,
            reason=a.reason, state_since=a.since_iso[1],
            queues=sorted(a.members), call_id=call_id,
            ticket_id=self.tickets.get(call_id) if call_id else None,
            today={"offered": t.offered, "answered": t.answered, "missed": t.missed,
                   "talk_s": round(t.talk_s, 3), "hold_s": round(t.hold_s, 3),
                   "idle_s": round(t.idle_s, 3)})

    def agent_messages(self, now: float) -> list[messages.AgentStats]:
        """Every agent (queue members, and phones offered a queue or inbound call)."""
        return [self.agent_message(ext, now) for ext, a in sorted(self.agents.items())
                if a.listed]

    def trend(self, minutes: int, now: float) -> dict[str, list[dict[str, Any]]]:
        """Per queue, the samples of the last ``minutes`` minutes, oldest first."""
        since = now - minutes * 60
        return {name: [{"t": _iso(t), "waiting": w, "longest_wait_s": lw,
                        "service_level": sl} for t, w, lw, sl in q.trend if t > since]
                for name, q in sorted(self.queues.items())}

    def threshold(self, q: QueueLiveState) -> float:
        return q.sl_s if q.sl_s else self.config.sl_threshold_s

    # ------------------------------------------------------------------ model access
    def ext_of(self, name: str, state_interface: str = "") -> str | None:
        """The agent extension of a channel or member interface (``AgentInterfaces``),
        cached per device: ``PJSIP/6001-0000001a`` is looked up as ``PJSIP/6001`` once
        (the resolver's regexes were the engine's largest cost per event)."""
        if not name:
            return self.agents_map.extension(name, state_interface) if state_interface \
                else None
        dev, sep, tail = name.rpartition("-")
        key = dev if sep and "/" in dev and tail and not tail.strip(_HEX) and \
            not name.startswith("Local/") else name
        key = f"{key}|{state_interface}" if state_interface else key
        try:
            return self._ext_cache[key]
        except KeyError:
            pass
        ext = self.agents_map.extension(name, state_interface or None)
        if len(self._ext_cache) > 50_000:  # Local channels are unique per call: bounded
            self._ext_cache.clear()
        self._ext_cache[key] = ext
        return ext

    def queue(self, name: str) -> QueueLiveState:
        q = self.queues.get(name)
        if q is None:
            q = self.queues[name] = QueueLiveState(name)
        return q

    def agent(self, ext: str) -> AgentLive:
        a = self.agents.get(ext)
        if a is None:
            a = self.agents[ext] = AgentLive(ext)
        return a

    def _refresh(self, a: AgentLive, now: float) -> None:
        """Re-derive an agent's state after any of its sources changed."""
        state, reason = a.derive(now, self.config.wrapup_reasons)
        was_wrap_pause = a.state == "wrapup" and a.reason is not None
        a.set_state(state, reason, now)
        if state == "paused":  # shown since the PBX's pause began, not since we saw it
            began = max((m.paused_since for m in a.members.values()
                         if m.paused and m.paused_since is not None), default=None)
            if began is not None and began <= now:
                a.since = began
        if was_wrap_pause and not (state == "wrapup" and reason is not None):
            self._wrap_pause_ended(a, now)
        if state == "wrapup" and reason is not None and a.wrap_pause_from is None and \
                a.last_complete is not None and now - a.last_complete[1] <= WRAPUP_GRACE_S:
            a.wrap_pause_from = a.last_complete
            a.last_complete = None
        linked = a.current_call()
        a.call_id = f"{self.pbx}:{linked}" if linked else None
        if a.listed:
            self.dirty_agents.add(a.extension)

    def _wrap_pause_ended(self, a: AgentLive, now: float) -> None:
        if a.wrap_pause_from is None:
            return
        qname, completed = a.wrap_pause_from
        a.wrap_pause_from = None
        self._record(qname, now, Tally(handle_s=max(0.0, now - completed)))

    # ------------------------------------------------------------------ outcomes
    def _record(self, qname: str, t: float, delta: Tally, now: float | None = None) -> None:
        """Count ``delta`` at ``t``; with ``now`` (a rebuild), only in the windows that
        still hold ``t`` (a day of out-of-order inserts would re-sort every bucket)."""
        q = self.queue(qname)
        for w in (q.w15, q.w60):
            if now is None or int(now) - int(t) < w.span_s:
                w.record(t, delta)
        if self.day_start is None or t >= self.day_start:
            q.day.add(delta)
        self.dirty_queues.add(qname)

    def _outcome(self, qname: str, uid: str, kind: str, wait: float | None,
                 now: float, qc: QCall | None = None) -> None:
        """Count a caller's outcome in a queue once (answered/abandoned/unanswered)."""
        qc = qc or self._stay(uid, qname)
        if qc.done:
            return
        qc.done = True
        q = self.queue(qname)
        q.waiting.pop(uid, None)
        if wait is None:
            wait = now - qc.joined if qc.joined is not None else 0.0
        self._record(qname, now, self._tally(q, kind, max(0.0, wait)))

    def _tally(self, q: QueueLiveState, kind: str, wait: float) -> Tally:
        """One offered call's contribution: ``kind`` answered / abandoned / unanswered."""
        delta = Tally(offered=1)
        if kind == "answered":
            delta.answered = 1
            delta.wait_s = wait
            delta.within_sl = int(wait <= self.threshold(q))
        elif kind == "abandoned":
            delta.abandoned = 1
            delta.short_abandoned = int(wait <= self.config.short_abandon_s)
        return delta

    # ------------------------------------------------------------------ queue events
    def _on_join(self, e: Mapping[str, Any], now: float) -> None:
        qname, uid = first(e.get("Queue")), first(e.get("Uniqueid"))
        if not qname or not uid:
            return
        stays = self.qcalls.setdefault(uid, {})
        qc = stays.get(qname)
        if qc is not None and not qc.done:
            if qc.left is None:  # the same join again: the caller waits since the first
                return
            # Back in the queue after a timeout exit: no AgentConnect comes for that stay.
            self._outcome(qname, uid, "unanswered", None, now, qc)
        stays[qname] = QCall(joined=now)
        self.queue(qname).waiting[uid] = now
        self.dirty_queues.add(qname)

    def _on_leave(self, e: Mapping[str, Any], now: float) -> None:
        qname, uid = first(e.get("Queue")), first(e.get("Uniqueid"))
        if not qname or not uid:
            return
        qc = self.qcalls.get(uid, {}).get(qname)
        self.queue(qname).waiting.pop(uid, None)
        if qc is not None and not qc.done:
            qc.left = now
        self.dirty_queues.add(qname)

    def _on_abandon(self, e: Mapping[str, Any], now: float) -> None:
        qname, uid = first(e.get("Queue")), first(e.get("Uniqueid"))
        if qname and uid:
            self._outcome(qname, uid, "abandoned", _secs(e.get("HoldTime")), now)

    def _on_agent_called(self, e: Mapping[str, Any], now: float) -> None:
        ext = self.ext_of(first(e.get("Interface"))) or \
            self.ext_of(first(e.get("DestChannel")))
        if not ext:
            return
        a = self.agent(ext)
        linked = first(e.get("Linkedid")) or first(e.get("Uniqueid"))
        dest = first(e.get("DestUniqueid"))
        if dest:
            leg = self._leg(a, dest, linked, "ringing", inbound=True)
            if leg.state in ("down", "done"):
                leg.state = "ringing"
        self._offer(a, linked)
        self._refresh(a, now)

    def _on_agent_connect(self, e: Mapping[str, Any], now: float) -> None:
        qname, uid = first(e.get("Queue")), first(e.get("Uniqueid"))
        if qname and uid:
            self._outcome(qname, uid, "answered", _secs(e.get("HoldTime")), now)
        ext = self.ext_of(first(e.get("Interface"))) or \
            self.ext_of(first(e.get("DestChannel")))
        if not ext:
            return
        a = self.agent(ext)
        linked = first(e.get("Linkedid")) or uid
        dest = first(e.get("DestUniqueid"))
        if dest:
            leg = self._leg(a, dest, linked, "up", inbound=True)
            if leg.state == "ringing":
                leg.state = "up"
        self._offer(a, linked)  # an answer we did not see ring (after a restart) is offered
        a.answered(linked)
        a.last_complete = None
        self._refresh(a, now)

    def _on_agent_complete(self, e: Mapping[str, Any], now: float) -> None:
        qname = first(e.get("Queue"))
        ext = self.ext_of(first(e.get("Interface"))) or \
            self.ext_of(first(e.get("DestChannel")))
        talk = _secs(e.get("TalkTime")) or 0.0
        wrap = 0.0
        a = self.agent(ext) if ext else None
        if a is not None:
            m = a.members.get(qname)
            wrap = (m.wrapup_s if m is not None and m.wrapup_s > 0 else self.config.wrapup_s)
        if qname:
            self._record(qname, now, Tally(handled=1, handle_s=talk + wrap))
        if a is not None:
            if wrap > 0:
                a.wrap_until = now + wrap
                a.last_complete = None
            else:
                a.last_complete = (qname, now) if qname else None
            self._refresh(a, now)

    def _on_ring_no_answer(self, e: Mapping[str, Any], now: float) -> None:
        ext = self.ext_of(first(e.get("Interface"))) or \
            self.ext_of(first(e.get("DestChannel")))
        if not ext:
            return
        a = self.agent(ext)
        dest = first(e.get("DestUniqueid"))
        leg = a.legs.get(dest)
        if leg is not None and leg.state == "ringing":
            leg.state = "done"
        a.ring_ended(first(e.get("Linkedid")) or first(e.get("Uniqueid")))
        self._refresh(a, now)

    def _on_member(self, e: Mapping[str, Any], now: float) -> None:
        qname = first(e.get("Queue"))
        iface = first(e.get("Interface")) or first(e.get("Location"))
        if not qname or not iface:
            return
        ext = self.ext_of(iface, first(e.get("StateInterface")))
        if not ext:
            return
        self.queue(qname)
        a = self.agent(ext)
        a.listed = True
        a.name = first(e.get("MemberName")) or first(e.get("Name")) or a.name
        m = a.members.get(qname)
        if m is None:
            m = a.members[qname] = Membership(iface)
        if "Status" in e:
            m.status = device_status(first(e.get("Status")))
        if "InCall" in e:
            m.in_call = first(e.get("InCall")) == "1"
        if "Paused" in e:
            m.paused = first(e.get("Paused")).lower() in _TRUE
        if "PausedReason" in e or ("Reason" in e and e.get("Event") == "QueueMemberPause"):
            m.reason = first(e.get("PausedReason", e.get("Reason"))) if m.paused else ""
        if not m.paused:
            m.reason = ""
            m.paused_since = None
        else:  # Asterisk's LastPause dates the pause across our reconnects and restarts
            last = num(e.get("LastPause"))
            if last is not None and last > 0:
                m.paused_since = last
            elif m.paused_since is None:
                m.paused_since = now
        wrap = _secs(e.get("Wrapuptime"))
        if wrap is not None:
            m.wrapup_s = wrap
        self._refresh(a, now)

    def _on_member_removed(self, e: Mapping[str, Any], now: float) -> None:
        qname = first(e.get("Queue"))
        ext = self.ext_of(first(e.get("Interface")) or first(e.get("Location")),
                          first(e.get("StateInterface")))
        a = self.agents.get(ext or "")
        if a is not None and a.members.pop(qname, None) is not None:
            self._refresh(a, now)

    def _on_params(self, e: Mapping[str, Any], now: float) -> None:
        qname = first(e.get("Queue"))
        if not qname:
            return
        q = self.queue(qname)
        sl = _secs(e.get("ServiceLevel"))
        if sl is not None:
            q.sl_s = sl if sl > 0 else None
        self.dirty_queues.add(qname)

    def _on_entry(self, e: Mapping[str, Any], now: float) -> None:
        qname, uid = first(e.get("Queue")), first(e.get("Uniqueid"))
        if not qname or not uid:
            return
        joined = now - (_secs(e.get("Wait")) or 0.0)
        qc = self._stay(uid, qname, joined)
        if not qc.done:
            self.queue(qname).waiting.setdefault(uid, qc.joined or joined)
        self.dirty_queues.add(qname)

    # ------------------------------------------------------------------ channel events
    def _leg(self, a: AgentLive, uid: str, linkedid: str, state: str,
             inbound: bool) -> LegLive:
        leg = a.legs.get(uid)
        if leg is None:
            leg = a.legs[uid] = LegLive(linkedid, state, inbound)
            self.leg_owner[uid] = a.extension
        return leg

    def _is_inbound(self, uid: str, linkedid: str) -> bool:
        """A channel of a call someone else began (not the agent's own outgoing call)."""
        if uid == linkedid:
            return False
        return not self.outbound.get(linkedid, False)

    def _agent_leg(self, e: Mapping[str, Any], now: float, prefix: str = "",
                   create: bool = True) -> tuple[AgentLive, LegLive] | None:
        uid = first(e.get(prefix + "Uniqueid"))
        ext = self.leg_owner.get(uid)
        if ext is not None:
            a = self.agents[ext]
            return a, a.legs[uid]
        if not create or not uid:
            return None
        ext = self.ext_of(first(e.get(prefix + "Channel")))
        if not ext:
            return None
        linked = first(e.get(prefix + "Linkedid")) or uid
        a = self.agent(ext)
        return a, self._leg(a, uid, linked, "down", self._is_inbound(uid, linked))

    def _ringing(self, a: AgentLive, leg: LegLive, now: float) -> None:
        if leg.state in ("down", "done"):
            leg.state = "ringing"
        if leg.inbound:
            self._offer(a, leg.linkedid)
        self._refresh(a, now)

    def _up(self, a: AgentLive, leg: LegLive, now: float, state: str = "up") -> None:
        if leg.state in ("down", "ringing", "done") or state == "bridged":
            leg.state = state if leg.state != "held" else "held"
        if leg.inbound:
            a.answered(leg.linkedid)
        self._refresh(a, now)

    def _on_newchannel(self, e: Mapping[str, Any], now: float) -> None:
        uid = first(e.get("Uniqueid"))
        linked = first(e.get("Linkedid")) or uid
        ext = self.ext_of(first(e.get("Channel")))
        if uid == linked:
            self.outbound[linked] = bool(ext)
        if not ext:
            return
        found = self._agent_leg(e, now)
        if found is not None and first(e.get("ChannelStateDesc")) in _RINGING:
            self._ringing(*found, now)

    def _on_newstate(self, e: Mapping[str, Any], now: float) -> None:
        found = self._agent_leg(e, now)
        if found is None:
            return
        desc = first(e.get("ChannelStateDesc"))
        if desc in _RINGING:
            self._ringing(*found, now)
        elif desc == "Up":
            self._up(*found, now)

    def _on_dialbegin(self, e: Mapping[str, Any], now: float) -> None:
        found = self._agent_leg(e, now, "Dest")
        if found is not None:
            self._ringing(*found, now)

    def _on_dialend(self, e: Mapping[str, Any], now: float) -> None:
        found = self._agent_leg(e, now, "Dest", create=False)
        if found is None:
            return
        a, leg = found
        if first(e.get("DialStatus")) == "ANSWER":
            self._up(a, leg, now)
            return
        if leg.state == "ringing":
            leg.state = "done"
            if leg.inbound:
                a.ring_ended(leg.linkedid)
            self._refresh(a, now)

    def _on_bridgeenter(self, e: Mapping[str, Any], now: float) -> None:
        found = self._agent_leg(e, now)
        if found is not None:
            self._up(*found, now, state="bridged")

    def _on_bridgeleave(self, e: Mapping[str, Any], now: float) -> None:
        found = self._agent_leg(e, now, create=False)
        if found is not None and found[1].state == "bridged":
            found[1].state = "up"
            self._refresh(found[0], now)

    def _on_hold(self, e: Mapping[str, Any], now: float) -> None:
        found = self._agent_leg(e, now, create=False)
        if found is not None and found[1].state in ("up", "bridged"):
            found[1].state = "held"
            self._refresh(found[0], now)

    def _on_unhold(self, e: Mapping[str, Any], now: float) -> None:
        found = self._agent_leg(e, now, create=False)
        if found is not None and found[1].state == "held":
            found[1].state = "bridged"
            self._refresh(found[0], now)

    def _on_hangup(self, e: Mapping[str, Any], now: float) -> None:
        uid = first(e.get("Uniqueid"))
        ext = self.leg_owner.pop(uid, None)
        if ext is not None:
            a = self.agents[ext]
            leg = a.legs.pop(uid, None)
            if leg is not None and leg.state == "ringing":
                a.ring_ended(leg.linkedid)
            self._refresh(a, now)
        linked = first(e.get("Linkedid")) or uid
        if uid == linked:
            self._call_ended(linked, now)
        stays = self.qcalls.pop(uid, None)
        if stays:
            for qname, qc in stays.items():
                if not qc.done:
                    self._outcome(qname, uid, "unanswered" if qc.left is not None
                                  else "abandoned", None, now, qc)

    def _call_ended(self, linked: str, now: float) -> None:
        """The call's first channel hung up: its offers are settled (missed or answered)."""
        self.outbound.pop(linked, None)
        self.tickets.pop(f"{self.pbx}:{linked}", None)
        for ext in self.offered_to.pop(linked, ()):
            a = self.agents.get(ext)
            if a is not None and linked in a.offers:
                a.call_ended(linked)
                self._refresh(a, now)

    def _offer(self, a: AgentLive, linked: str) -> None:
        a.offered(linked)
        self.offered_to.setdefault(linked, set()).add(a.extension)

    def _stay(self, uid: str, qname: str, joined: float | None = None) -> QCall:
        stays = self.qcalls.setdefault(uid, {})
        qc = stays.get(qname)
        if qc is None:
            qc = stays[qname] = QCall(joined=joined)
        return qc

    # ------------------------------------------------------------------ snapshots
    def resync_queues(self, items: Iterable[Mapping[str, Any]], now: float) -> None:
        """A QueueStatus snapshot (QueueParams, QueueMember, QueueEntry) after a
        (re)connect: members and pauses as the PBX has them, members no longer listed
        removed, the waiting callers exactly those listed (a caller who came and went
        while the link was down is not counted here: the call log has it)."""
        items = list(items)
        listed_members: dict[str, set[str]] = {}
        listed_entries: dict[str, set[str]] = {}
        for e in items:
            kind = first(e.get("Event"))
            qname = first(e.get("Queue"))
            if kind == "QueueParams":
                listed_members.setdefault(qname, set())
                listed_entries.setdefault(qname, set())
            elif kind == "QueueMember":
                listed_members.setdefault(qname, set()).add(
                    first(e.get("Interface")) or first(e.get("Location")))
            elif kind == "QueueEntry":
                listed_entries.setdefault(qname, set()).add(first(e.get("Uniqueid")))
        for qname, uids in listed_entries.items():
            q = self.queue(qname)
            for uid in [u for u in q.waiting if u not in uids]:
                del q.waiting[uid]
                qc = self.qcalls.get(uid, {}).pop(qname, None)
                if qc is not None and not qc.done:
                    self._unsettled[uid] = qname
                self.dirty_queues.add(qname)
        for a in list(self.agents.values()):
            gone = [qn for qn, m in a.members.items()
                    if qn in listed_members and m.interface not in listed_members[qn]]
            for qn in gone:
                del a.members[qn]
            if gone:
                self._refresh(a, now)
        for e in items:
            self.feed(e, now)

    def resync_channels(self, items: Iterable[Mapping[str, Any]], now: float) -> None:
        """A CoreShowChannels snapshot: the agents' phone channels as they are now."""
        items = list(items)
        present = {first(e.get("Uniqueid")) for e in items}
        linkeds = {first(e.get("Linkedid")) or first(e.get("Uniqueid")) for e in items}
        # Callers gone while the link was down: answered or abandoned is unknown here; the
        # tracker decides it from the queue snapshot and :meth:`settle` counts its verdict.
        for uid in [u for u in self.qcalls if u not in present]:
            for qname, qc in self.qcalls.pop(uid).items():
                self.queue(qname).waiting.pop(uid, None)
                self.dirty_queues.add(qname)
                if not qc.done:
                    self._unsettled[uid] = qname
        for uid in [u for u in self.leg_owner if u not in present]:
            self._on_hangup({"Uniqueid": uid, "Linkedid": "-"}, now)
        for linked in [x for x in self.offered_to if x not in linkeds]:
            self._call_ended(linked, now)
        for linked in [x for x in self.outbound if x not in linkeds]:
            del self.outbound[linked]
        prefix = len(self.pbx) + 1
        for call_id in [c for c in self.tickets if c[prefix:] not in linkeds]:
            del self.tickets[call_id]
        for e in items:
            self._snapshot_channel(e, now)

    def _snapshot_channel(self, e: Mapping[str, Any], now: float) -> None:
        """One CoreShowChannel: who began the call; an agent's leg ringing or up."""
        uid = first(e.get("Uniqueid"))
        linked = first(e.get("Linkedid")) or uid
        if uid == linked and linked not in self.outbound:
            self.outbound[linked] = bool(self.ext_of(first(e.get("Channel"))))
        found = self._agent_leg(e, now)
        if found is None:
            return
        a, leg = found
        desc = first(e.get("ChannelStateDesc"))
        if desc in _RINGING:
            self._ringing(a, leg, now)
        elif desc == "Up":
            self._up(a, leg, now, state="bridged" if first(e.get("BridgeId")) else "up")

    @property
    def unsettled(self) -> bool:
        """Callers who left a queue unseen wait for the tracker's verdict (:meth:`settle`)."""
        return bool(self._unsettled)

    def settle(self, record: CallRecord, now: float) -> bool:
        """The tracker's call-log record of a caller who left a queue while the link was
        down (:meth:`resync_channels` / :meth:`resync_queues` let them go uncounted): count
        the outcome it decided (answered when answered or settled as answered, abandoned),
        with the record's ``wait_s``, as the call log and the reports have it. True when it
        counted; any other record is ignored (one dict lookup)."""
        qname = self._unsettled.get(record.linkedid)
        if qname is None or record.queue != qname or (
                record.answered_at is None and record.state not in ("ended", "abandoned")):
            return False
        del self._unsettled[record.linkedid]
        kind = "abandoned" if record.state == "abandoned" else "answered"
        self._outcome_rebuilt(qname, kind, record.wait_s or 0.0, now)
        return True

    def rebuild(self, records: Iterable[CallRecord], now: float) -> int:
        """Today's figures from the call log after a process restart (before any event).

        Each inbound queue call whose outcome is known counts in the day (and in the
        windows it falls in): answered at ``answered_at`` with its ``wait_s``, abandoned
        at ``ended_at``, else unanswered; an answered call that ended today (answered
        today or before midnight) adds ``talk_s`` as its handle time (hold and wrap-up
        are not in the log); a missing ``wait_s`` is measured from ``started_at``.
        Agents: every agent in ``rung`` was offered the call, those in ``agents``
        answered it, the others missed it; ``talk_s`` counts for ``agent_extension`` (of
        a call from yesterday, its part after midnight). Returns the queue calls counted.
        """
        self._new_day(now)
        counted = 0
        for r in sorted(records, key=_outcome_time):
            if r.direction != "inbound":
                continue
            if r.queue and self._rebuild_queue_call(r, r.queue, now):
                counted += 1
            self._rebuild_agents(r, now)
        return counted

    def _rebuild_queue_call(self, r: CallRecord, qname: str, now: float) -> bool:
        assert self.day_start is not None
        answered_at, ended_at = _ts(r.answered_at), _ts(r.ended_at)
        when = answered_at if answered_at is not None else ended_at
        if when is None or not self.day_start <= when <= now:
            if answered_at is not None and ended_at is not None and \
                    self.day_start <= ended_at <= now:  # answered yesterday, ended today
                self._record(qname, ended_at, Tally(handled=1, handle_s=r.talk_s or 0.0),
                             now)
            return False
        kind = "answered" if answered_at is not None else (
            "abandoned" if r.state == "abandoned" else "unanswered")
        if ended_at is None:  # still live: its outcome is counted already
            self._stay(r.linkedid, qname).done = True
        wait = r.wait_s if r.wait_s is not None else max(0.0, when - r.started_at.timestamp())
        self._outcome_rebuilt(qname, kind, wait, when, now)
        if answered_at is not None and ended_at is not None and \
                self.day_start <= ended_at <= now:
            self._record(qname, ended_at, Tally(handled=1, handle_s=r.talk_s or 0.0), now)
        return True

    def _rebuild_agents(self, r: CallRecord, now: float) -> None:
        assert self.day_start is not None
        linked = r.linkedid
        ended_at = _ts(r.ended_at)
        if (_ts(r.started_at) or 0.0) < self.day_start:
            if ended_at is not None and r.agent_extension and r.talk_s and \
                    self.day_start < ended_at <= now:  # its talk after midnight is today's
                self.agent(r.agent_extension).today.talk_s += \
                    min(r.talk_s, ended_at - self.day_start)
            return
        for ext in dict.fromkeys(r.rung + r.agents):
            a = self.agent(ext)
            a.offers.pop(linked, None)
            a.offered(linked)
            if ext in r.agents:
                a.answered(linked)
            elif ended_at is not None or r.answered_at is not None:
                a.ring_ended(linked)
            if ended_at is not None:
                a.offers.pop(linked, None)
            else:
                self.offered_to.setdefault(linked, set()).add(ext)
            self.dirty_agents.add(ext)
        if ended_at is not None and r.agent_extension and r.talk_s:
            self.agent(r.agent_extension).today.talk_s += r.talk_s

    def _outcome_rebuilt(self, qname: str, kind: str, wait: float, when: float,
                         now: float | None = None) -> None:
        self._record(qname, when, self._tally(self.queue(qname), kind, wait), now)

    # ------------------------------------------------------------------ the day
    def _new_day(self, now: float) -> None:
        """Midnight passed (or first use): the day's figures start again."""
        start = midnight_before(now, self.zone)
        first_use = self.day_start is None
        self.day_start = start
        self.day_end = self._day_end = midnight_after(now, self.zone)
        if first_use:
            return
        self._unsettled.clear()
        for q in self.queues.values():
            q.day = Tally()
            self.dirty_queues.add(q.name)
        for a in self.agents.values():
            a.new_day(start)
            self.dirty_agents.add(a.extension)


def _secs(value: Any) -> float | None:
    """A header of seconds, >= 0; None when absent, no number, or not finite ('nan',
    'inf' parse as floats). Asterisk takes TalkTime and HoldTime from its wall clock: a
    step back of the PBX's clock mid-call makes them negative."""
    n = num(value)
    return max(0.0, n) if n is not None and math.isfinite(n) else None


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat()


def _ts(value: datetime | None) -> float | None:
    return None if value is None else value.timestamp()


def _outcome_time(r: CallRecord) -> float:
    t = r.answered_at or r.ended_at or r.started_at
    return t.timestamp()
