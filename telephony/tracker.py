"""CallTracker: AMI events in, a live model of calls/queues/agents and *effects* out.

Pure: no I/O, no clock (callers pass ``now``), no asyncio. The bridge feeds it events in
wire order and executes the returned effects (publish on the bus, look the caller up and pop,
upsert the call log). Keeping the decisions here lets the captures from a real Asterisk be
replayed in unit tests, and lets a resynchronisation after a reconnect reuse the same rules.

Rules that make it idempotent and order-tolerant (see telephony/captures/README.md):
- calls are keyed by Linkedid, channels by Uniqueid; events for an unknown channel of a known
  call create the leg; events for a call that already ended are ignored (bounded memory);
- a screen pop is decided once per agent *leg* (``Leg.popped``) whatever mix of AgentCalled,
  DialBegin, Newstate Ringing or a resync snapshot announces it;
- closing a pop (loser of a ring-all, ring timeout, end of call) happens once per extension;
- a call ends when its last live channel hangs up, whatever order the Hangups come in.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from tickets.bus import TOPIC_ASR, TOPIC_CALLS, TOPIC_QUEUES
from tickets.phones import try_normalize

from .ami import agent_extension, clean_number, first, uniqueid_sort_key
from .ports import CallRecord

#: Channel variables the dialplan in asterisk_conf/ sets and the bridge reads.
ASR_VAR = "HOTLINE_ASR_UUID"
ORDER_VARS = frozenset({"ORDER", "HOTLINE_ORDER"})
RECORDING_VARS = frozenset({"MIXMONITOR_FILENAME", "HOTLINE_RECORDING"})

FINAL_STATES = frozenset({"ended", "abandoned"})
#: Hang-up cause of a channel that a CoreShowChannels snapshot no longer lists: its Hangup
#: event was missed (link down, or lost), so the real cause is unknown.
GONE_CAUSE = "Gone: not in CoreShowChannels (hangup event missed)"
_DEVICE_STATUS = {
    "0": "unknown", "1": "not_in_use", "2": "in_use", "3": "busy", "4": "invalid",
    "5": "unavailable", "6": "ringing", "7": "ring_in_use", "8": "on_hold",
}


# --------------------------------------------------------------------------- effects
@dataclass(frozen=True, slots=True)
class Publish:
    """Publish ``event`` on ``topic``. ``call_id`` orders it with the call's other effects."""

    topic: str
    event: dict[str, Any]
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
class Persist:
    """Upsert this call-log record."""

    record: CallRecord

    @property
    def call_id(self) -> str:
        return self.record.call_id


Effect = Publish | ScreenPop | Prefetch | Persist


# --------------------------------------------------------------------------- model
@dataclass(slots=True)
class Leg:
    uniqueid: str
    channel: str
    linkedid: str
    extension: str | None  # agent extension when the channel is PJSIP/<digits>
    state: str = "Down"
    popped: bool = False
    bridge: str | None = None
    alive: bool = True


@dataclass(slots=True)
class Call:
    linkedid: str
    call_id: str
    direction: str
    started_at: float
    caller_number: str = ""
    caller_name: str = ""
    caller_e164: str | None = None
    state: str = "ringing"
    queue: str | None = None
    queued_at: float | None = None
    was_queued: bool = False
    answered_at: float | None = None
    ended_at: float | None = None
    agent: str | None = None
    agents: list[str] = field(default_factory=list)
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
    hold_time: float | None = None
    talk_time: float | None = None
    variables: dict[str, str] = field(default_factory=dict)

    def live_legs(self) -> list[Leg]:
        return [leg for leg in self.legs.values() if leg.alive]


@dataclass(slots=True)
class Member:
    interface: str
    name: str = ""
    paused: bool = False
    paused_reason: str = ""
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

    def as_dict(self, queue: str, pbx: str) -> dict[str, Any]:
        return {"pbx": pbx, "queue": queue, "interface": self.interface,
                "extension": agent_extension(self.interface), "name": self.name,
                "state": self.state, "reason": self.paused_reason or None,
                "paused": self.paused, "paused_reason": self.paused_reason,
                "status": self.status, "in_call": self.in_call}


@dataclass(slots=True)
class Queue:
    name: str
    members: dict[str, Member] = field(default_factory=dict)
    waiting: dict[str, float] = field(default_factory=dict)  # caller uniqueid -> join time
    completed: int = 0
    abandoned: int = 0
    within_sl: int = 0


def _utc(ts: float | None) -> datetime | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC)


def _iso(ts: float | None) -> str | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC).isoformat()


def _num(value: Any) -> float | None:
    try:
        return float(first(value))
    except (TypeError, ValueError):
        return None


def _duration(text: str) -> float:
    """``00:01:07`` -> 67.0 (CoreShowChannel ``Duration``)."""
    try:
        h, m, s = (int(x) for x in text.split(":"))
    except ValueError:
        return 0.0
    return float(h * 3600 + m * 60 + s)


def _dialed(dialstring: str) -> str:
    """``PJSIP/13800138000@trunk`` / ``PJSIP/trunk/sip:...`` / ``6002`` -> the number."""
    s = dialstring.split("/", 1)[1] if "/" in dialstring else dialstring
    s = s.split("@", 1)[0]
    if s.startswith("sip:"):
        s = s[4:]
    return s


# --------------------------------------------------------------------------- tracker
class CallTracker:
    """The live model of one PBX. Feed it with :meth:`feed` (events, in wire order) and
    :meth:`resync_channels` / :meth:`resync_queues` (snapshots after a reconnect)."""

    def __init__(self, pbx: str, region: str = "CN", service_level_s: float = 20.0,
                 ended_memory: int = 50_000) -> None:
        self.pbx = pbx
        self.region = region
        self.service_level_s = service_level_s
        self.calls: dict[str, Call] = {}  # linkedid -> live call
        self.channels: dict[str, Leg] = {}  # uniqueid -> live leg
        self.queues_: dict[str, Queue] = {}
        self._ended: OrderedDict[str, None] = OrderedDict()
        self._ended_memory = ended_memory
        # Queued, unanswered calls a channel snapshot showed gone: answered or abandoned
        # while we were away? The queue snapshot that follows tells (see resync_queues).
        self._unsettled: dict[str, list[Call]] = {}
        self._settling = False
        self.events_seen = 0
        self._handlers = {
            "Newchannel": self._on_newchannel,
            "Newstate": self._on_newstate,
            "DialBegin": self._on_dialbegin,
            "DialEnd": self._on_dialend,
            "AgentCalled": self._on_agentcalled,
            "AgentConnect": self._on_agentconnect,
            "AgentComplete": self._on_agentcomplete,
            "AgentRingNoAnswer": self._on_agentringnoanswer,
            "QueueCallerJoin": self._on_queuejoin,
            "QueueCallerLeave": self._on_queueleave,
            "QueueCallerAbandon": self._on_queueabandon,
            "BridgeEnter": self._on_bridgeenter,
            "BridgeLeave": self._on_bridgeleave,
            "BlindTransfer": self._on_blindtransfer,
            "AttendedTransfer": self._on_attendedtransfer,
            "Hold": self._on_hold,
            "Unhold": self._on_unhold,
            "DTMFEnd": self._on_dtmfend,
            "VarSet": self._on_varset,
            "Hangup": self._on_hangup,
            "QueueMemberStatus": self._on_member,
            "QueueMemberPause": self._on_member,
            "QueueMemberAdded": self._on_member,
            "QueueMemberRemoved": self._on_member_removed,
            "QueueMember": self._on_member,
            "QueueParams": self._on_queueparams,
            "QueueEntry": self._on_queueentry,
            "CoreShowChannel": self._on_coreshowchannel,
        }

    # ------------------------------------------------------------------ public API
    def feed(self, event: Mapping[str, Any], now: float) -> list[Effect]:
        """Apply one AMI event; return what to do about it (possibly nothing)."""
        self.events_seen += 1
        handler = self._handlers.get(event.get("Event", ""))
        if handler is None:
            return []
        out: list[Effect] = []
        handler(event, now, out)
        return out

    def is_known_call(self, linkedid: str) -> bool:
        return linkedid in self.calls

    def resync_channels(self, items: Iterable[Mapping[str, Any]], now: float) -> list[Effect]:
        """Make the model match a CoreShowChannels snapshot.

        Channels we hold that Asterisk no longer has hung up while we were away (their calls
        end if nothing is left); channels we never saw are created; ringing agent legs of
        inbound calls pop unless already popped; bridged agents answer.
        """
        out: list[Effect] = []
        self.settle_unknown(now, out)  # a queue snapshot that never came
        items = sorted(items, key=lambda e: uniqueid_sort_key(first(e.get("Uniqueid"))))
        present = {first(e.get("Uniqueid")) for e in items}
        self._settling = True
        try:
            for uid in [u for u in self.channels if u not in present]:
                leg = self.channels[uid]
                self._hangup_leg(leg, now, out, cause="0", cause_txt=GONE_CAUSE)
        finally:
            self._settling = False
        for e in items:
            self._on_coreshowchannel(e, now, out)
        # Calls first seen by a later leg whose first channel is gone: trust the guess now
        # and pop what rings.
        for call in list(self.calls.values()):
            if call.guessed:
                call.guessed = False
                for leg in call.live_legs():
                    if leg.extension and leg.state in ("Ringing", "Ring", "Down") and \
                            not leg.bridge:
                        self._ring(call, leg, out)
        # Bridges after every channel is known: two legs of a call in one bridge = answered.
        for call in list(self.calls.values()):
            by_bridge: dict[str, list[Leg]] = {}
            for leg in call.live_legs():
                if leg.bridge:
                    by_bridge.setdefault(leg.bridge, []).append(leg)
            for legs in by_bridge.values():
                if len(legs) >= 2:
                    self._bridged(call, legs, now, out)
        return out

    def resync_queues(self, items: Iterable[Mapping[str, Any]], now: float) -> list[Effect]:
        """Apply a QueueStatus snapshot (QueueParams, QueueMember, QueueEntry)."""
        out: list[Effect] = []
        items = list(items)
        seen_entries: dict[str, set[str]] = {}
        for e in items:
            if e.get("Event") == "QueueEntry":
                seen_entries.setdefault(first(e.get("Queue")), set()).add(
                    first(e.get("Uniqueid")))
            if e.get("Event") == "QueueParams":
                seen_entries.setdefault(first(e.get("Queue")), set())
        for qname, uids in seen_entries.items():
            q = self._queue(qname)
            for uid in [u for u in q.waiting if u not in uids]:
                del q.waiting[uid]
        self._settle(items, now, out)  # before QueueMember rows update CallsTaken
        for e in items:
            handler = self._handlers.get(first(e.get("Event")))
            if handler is not None:
                handler(e, now, out)
        for qname in seen_entries:
            out.append(self._queue_stats(qname, now))
        return out

    def settle_unknown(self, now: float, out: list[Effect] | None = None) -> list[Effect]:
        """Log still-unsettled calls as abandoned (no queue snapshot to tell otherwise)."""
        out = [] if out is None else out
        for qname in list(self._unsettled):
            for call in self._unsettled.pop(qname):
                self._finish(call, now, out, answered=False)
        return out

    def _settle(self, items: list[Mapping[str, Any]], now: float, out: list[Effect]) -> None:
        """Decide the calls that left a queue while the link was down.

        Asterisk raises a member's ``CallsTaken`` when a queue call it answered ends, so the
        rise between our last sight of a member and this snapshot counts the calls answered
        in the gap. The earliest-queued unsettled calls took those (queues are FIFO); the
        rest hung up waiting. One call and one rise also names the agent. Calls that began
        and ended entirely in the gap take rises too: then fewer calls count as answered.
        """
        if not self._unsettled:
            return
        rises: dict[str, list[str]] = {}  # queue -> one extension per call taken
        for e in items:
            if first(e.get("Event")) != "QueueMember":
                continue
            qname = first(e.get("Queue"))
            iface = first(e.get("Interface")) or first(e.get("Location"))
            m = self._queue(qname).members.get(iface)
            taken = _num(e.get("CallsTaken"))
            if m is None or m.calls_taken is None or taken is None:
                continue
            rises.setdefault(qname, []).extend(
                [agent_extension(iface) or iface] * max(0, int(taken) - m.calls_taken))
        for qname in [q for q in self._unsettled if q in rises]:
            calls = sorted(self._unsettled.pop(qname),
                           key=lambda c: c.queued_at or c.started_at)
            agents = rises[qname]
            for i, call in enumerate(calls):
                if len(calls) == len(agents) == 1:
                    call.agent = agents[0]
                    call.agents.append(agents[0])
                    self._involve(call, agents[0])
                self._finish(call, now, out, answered=i < len(agents))
        # A queue whose members the snapshot did not list keeps its calls for the fallback.

    def live_calls(self, now: float) -> list[dict[str, Any]]:
        return [self._call_view(c, now) for c in self.calls.values()]

    def queue_stats(self, now: float) -> list[dict[str, Any]]:
        return [self._queue_stats(q, now).event for q in sorted(self.queues_)]

    def record(self, call: Call) -> CallRecord:
        return CallRecord(
            call_id=call.call_id, pbx=self.pbx, linkedid=call.linkedid,
            direction=call.direction,
            caller_number=call.caller_e164 or call.caller_number,
            caller_name=call.caller_name, queue=call.queue, agent_extension=call.agent,
            agents=tuple(call.agents), state=call.state,
            started_at=_utc(call.started_at),  # type: ignore[arg-type]
            answered_at=_utc(call.answered_at), ended_at=_utc(call.ended_at),
            wait_s=self._wait(call), talk_s=self._talk(call, call.ended_at),
            hangup_cause=call.hangup_cause, recording_path=call.recording_path,
            dtmf=call.dtmf, order_number=call.order_number,
            transferred_to=call.transferred_to, asr_uuid=call.asr_uuid,
            variables=dict(call.variables))

    # ------------------------------------------------------------------ helpers
    def _queue(self, name: str) -> Queue:
        q = self.queues_.get(name)
        if q is None:
            q = self.queues_[name] = Queue(name)
        return q

    def _wait(self, call: Call) -> float | None:
        if call.hold_time is not None:
            return call.hold_time
        start = call.queued_at if call.queued_at is not None else call.started_at
        end = call.answered_at if call.answered_at is not None else call.ended_at
        return None if end is None else round(max(0.0, end - start), 3)

    def _talk(self, call: Call, now: float | None) -> float | None:
        if call.answered_at is None or now is None:
            return None
        return round(max(0.0, now - call.answered_at), 3)

    def _call_view(self, c: Call, now: float) -> dict[str, Any]:
        return {
            "call_id": c.call_id, "pbx": self.pbx, "linkedid": c.linkedid,
            "direction": c.direction, "state": c.state,
            "caller_number": c.caller_e164 or c.caller_number, "caller_name": c.caller_name,
            "queue": c.queue, "agent_extension": c.agent, "agents": list(c.agents),
            "ringing": sorted(c.open_pops) if c.answered_at is None else [],
            "extensions": list(c.involved),
            "started_at": _iso(c.started_at), "answered_at": _iso(c.answered_at),
            "wait_s": self._wait(c) if c.answered_at else round(now - c.started_at, 3),
            "talk_s": self._talk(c, now), "dtmf": c.dtmf, "order_number": c.order_number,
            "transferred_to": c.transferred_to, "recording_path": c.recording_path,
        }

    def _queue_stats(self, qname: str, now: float) -> Publish:
        q = self._queue(qname)
        finished = q.completed + q.abandoned
        longest = max((now - t for t in q.waiting.values()), default=0.0)
        event = {
            "type": "queue_stats", "pbx": self.pbx, "queue": qname,
            "waiting": len(q.waiting), "longest_wait_s": round(max(0.0, longest), 3),
            "service_level": round(q.within_sl / finished, 4) if finished else 1.0,
            "abandon_rate": round(q.abandoned / finished, 4) if finished else 0.0,
            "completed": q.completed, "abandoned": q.abandoned,
            "agents": [m.as_dict(qname, self.pbx) for m in q.members.values()],
        }
        return Publish(TOPIC_QUEUES, event)

    def _update(self, call: Call, out: list[Effect], **changed: Any) -> None:
        event: dict[str, Any] = {
            "type": "call_update", "call_id": call.call_id, "pbx": self.pbx,
            "state": call.state, "extensions": list(call.involved),
            "changed": sorted(changed),
        }
        event.update(changed)
        out.append(Publish(TOPIC_CALLS, event, call.call_id))

    def _involve(self, call: Call, ext: str | None) -> None:
        if ext and ext not in call.involved:
            call.involved.append(ext)

    def _new_call(self, linkedid: str, leg_channel: str, e: Mapping[str, Any],
                  now: float, started: float, out: list[Effect]) -> Call:
        ext = agent_extension(leg_channel)
        first_channel = first(e.get("Uniqueid")) == linkedid
        if ext and first_channel:
            direction = "outbound"
        else:
            direction = "inbound"
        call = Call(linkedid=linkedid, call_id=f"{self.pbx}:{linkedid}",
                    direction=direction, started_at=started, guessed=not first_channel)
        if direction == "inbound":
            if first_channel or not ext:
                raw = clean_number(first(e.get("CallerIDNum")))
                name = first(e.get("CallerIDName"))
            else:  # we only see an agent leg: the customer is its connected line
                raw = clean_number(first(e.get("ConnectedLineNum")))
                name = first(e.get("ConnectedLineName"))
            call.caller_number = raw
            call.caller_name = "" if name == "<unknown>" else name
            call.caller_e164 = try_normalize(raw, self.region) if raw else None
        else:
            call.origin_agent = ext
            call.agent = ext
            self._involve(call, ext)
        self.calls[linkedid] = call
        out.append(Persist(self.record(call)))
        if direction == "inbound" and call.caller_number:
            out.append(Prefetch(call.call_id, call.caller_e164, call.caller_number))
        self._update(call, out, direction=direction, caller_number=call.caller_e164 or
                     call.caller_number)
        return call

    def _leg_for(self, e: Mapping[str, Any], now: float, out: list[Effect],
                 prefix: str = "", create: bool = True) -> tuple[Call, Leg] | None:
        """The (call, leg) an event is about, creating them if this is news to us.

        Only events that prove a channel is in a call (``create``) may create it: a VarSet
        or DTMF for a channel we never saw must not invent a call in the log (after a
        reconnect the resync snapshot brings every live channel in anyway).
        """
        uid = first(e.get(prefix + "Uniqueid"))
        if not uid or uid == "<unknown>":
            return None
        leg = self.channels.get(uid)
        if leg is not None:
            call = self.calls.get(leg.linkedid)
            return (call, leg) if call is not None else None
        if not create:
            return None
        linkedid = first(e.get(prefix + "Linkedid")) or uid
        if linkedid in self._ended:
            return None
        channel = first(e.get(prefix + "Channel"))
        call = self.calls.get(linkedid)
        if call is None:
            src = e if not prefix else {k[len(prefix):]: v for k, v in e.items()
                                        if k.startswith(prefix)}
            call = self._new_call(linkedid, channel, src, now, now, out)
        elif uid == linkedid and call.guessed:
            self._first_channel_seen(call, channel, e, prefix, out)
        leg = Leg(uid, channel, linkedid, agent_extension(channel),
                  first(e.get(prefix + "ChannelStateDesc")) or "Down")
        self.channels[uid] = leg
        call.legs[uid] = leg
        return call, leg

    def _first_channel_seen(self, call: Call, channel: str, e: Mapping[str, Any],
                            prefix: str, out: list[Effect]) -> None:
        """The call was created from a later leg (after a reconnect); its first channel
        now tells who called whom."""
        call.guessed = False
        ext = agent_extension(channel)
        if ext:
            call.direction = "outbound"
            call.origin_agent = ext
            if call.agent is None:
                call.agent = ext
            self._involve(call, ext)
        else:
            call.direction = "inbound"
            raw = clean_number(first(e.get(prefix + "CallerIDNum")))
            if raw:
                call.caller_number = raw
                call.caller_e164 = try_normalize(raw, self.region)
                name = first(e.get(prefix + "CallerIDName"))
                call.caller_name = "" if name == "<unknown>" else name
        out.append(Persist(self.record(call)))

    def _ring(self, call: Call, leg: Leg, out: list[Effect]) -> None:
        """An agent leg rings: pop once per leg (inbound calls only)."""
        if leg.popped or not leg.alive or leg.extension is None:
            return
        if call.state in FINAL_STATES or (call.answered_at is not None and \
                call.state != "transferred"):
            return
        if call.direction != "inbound" or leg.uniqueid == call.linkedid:
            return
        if call.guessed:  # we do not know yet who called: the resync snapshot will tell
            return
        leg.popped = True
        call.open_pops[leg.extension] = leg.uniqueid
        self._involve(call, leg.extension)
        out.append(ScreenPop(call.call_id, self.pbx, leg.extension,
                             call.caller_e164 or call.caller_number, call.caller_e164,
                             call.caller_number, call.caller_name, call.queue,
                             call.order_number, call.dtmf))
        self._update(call, out, ringing=leg.extension)

    def _close_pop(self, call: Call, ext: str, reason: str, out: list[Effect]) -> None:
        if call.open_pops.pop(ext, None) is not None:
            self._update(call, out, closed_for=[ext], reason=reason)

    def _answer(self, call: Call, ext: str | None, now: float, out: list[Effect]) -> None:
        """The call is answered (by agent ``ext`` on inbound calls); losers' pops close."""
        if call.state in FINAL_STATES:
            return
        if call.direction == "inbound" and ext is None:
            ext = call.agent
        first_answer = call.answered_at is None
        if not first_answer and (ext is None or ext == call.agent) and \
                call.state != "transferred":
            return
        if first_answer:
            call.answered_at = now
        if call.direction == "inbound" and ext:
            call.agent = ext
        if ext and (not call.agents or call.agents[-1] != ext):
            call.agents.append(ext)
        self._involve(call, ext)
        call.state = "answered"
        if first_answer and call.queue and call.was_queued:
            q = self._queue(call.queue)
            q.completed += 1
            wait = self._wait(call)
            if wait is not None and wait <= self.service_level_s:
                q.within_sl += 1
            out.append(self._queue_stats(call.queue, now))
        losers = [x for x in call.open_pops if x != ext]
        for x in losers:
            del call.open_pops[x]
        call.open_pops.pop(ext or "", None)
        self._update(call, out, answered_by=ext, closed_for=losers,
                     reason="answered_elsewhere" if losers else None)
        out.append(Persist(self.record(call)))

    def _bridged(self, call: Call, legs: list[Leg], now: float, out: list[Effect]) -> None:
        if call.direction == "inbound":
            agents = [leg.extension for leg in legs
                      if leg.extension and leg.uniqueid != call.linkedid]
            if agents:
                self._answer(call, agents[-1], now, out)
        elif call.answered_at is None:
            self._answer(call, call.origin_agent, now, out)

    def _hangup_leg(self, leg: Leg, now: float, out: list[Effect], cause: str,
                    cause_txt: str) -> None:
        if not leg.alive:
            return
        leg.alive = False
        self.channels.pop(leg.uniqueid, None)
        call = self.calls.get(leg.linkedid)
        if call is None:
            return
        if leg.uniqueid == call.linkedid or call.hangup_cause is None:
            call.hangup_cause = f"{cause} {cause_txt}".strip()
        if leg.extension and call.open_pops.get(leg.extension) == leg.uniqueid:
            self._close_pop(call, leg.extension,
                            "answered_elsewhere" if cause == "26" else "hangup", out)
        if leg.uniqueid in (call.linkedid,):
            for q in self.queues_.values():
                q.waiting.pop(leg.uniqueid, None)
        if not call.live_legs():
            self._end(call, now, out)

    def _end(self, call: Call, now: float, out: list[Effect]) -> None:
        call.ended_at = now
        never_answered = call.answered_at is None
        unsettled = (self._settling and never_answered and call.was_queued
                     and not call.abandoned and call.queue)
        closed = list(call.open_pops)
        call.open_pops.clear()
        if call.queue:
            self._queue(call.queue).waiting.pop(call.linkedid, None)
        del self.calls[call.linkedid]
        for uid in call.legs:
            self.channels.pop(uid, None)
        self._ended[call.linkedid] = None
        while len(self._ended) > self._ended_memory:
            self._ended.popitem(last=False)
        if unsettled:
            assert call.queue is not None
            if closed:  # the ringing consoles close now, whatever the outcome turns out to be
                self._update(call, out, closed_for=closed)
            self._unsettled.setdefault(call.queue, []).append(call)
            return
        self._finish(call, now, out, closed=closed,
                     answered=not (call.abandoned or (never_answered and call.was_queued)))

    def _finish(self, call: Call, now: float, out: list[Effect], *, answered: bool,
                closed: list[str] | None = None) -> None:
        """Publish and log an ended call: ``ended``, or ``abandoned`` (counted once)."""
        if not answered:
            call.state = "abandoned"
            if not call.abandoned and call.queue:
                call.abandoned = True
                self._queue(call.queue).abandoned += 1
                out.append(self._queue_stats(call.queue, now))
        else:
            call.state = "ended"
        self._update(call, out, closed_for=closed or [], cause=call.hangup_cause,
                     talk_s=self._talk(call, call.ended_at), wait_s=self._wait(call))
        out.append(Persist(self.record(call)))

    # ------------------------------------------------------------------ event handlers
    def _on_newchannel(self, e: Mapping[str, Any], now: float, out: list[Effect]) -> None:
        self._leg_for(e, now, out)

    def _on_newstate(self, e: Mapping[str, Any], now: float, out: list[Effect]) -> None:
        found = self._leg_for(e, now, out)
        if found is None:
            return
        call, leg = found
        leg.state = first(e.get("ChannelStateDesc")) or leg.state
        if leg.state == "Ringing" and leg.extension:
            self._ring(call, leg, out)

    def _on_dialbegin(self, e: Mapping[str, Any], now: float, out: list[Effect]) -> None:
        dest = self._leg_for(e, now, out, "Dest")
        if dest is None:
            return
        call, leg = dest
        if call.direction != "inbound" and "Channel" in e and not call.caller_number:
            raw = _dialed(first(e.get("DialString")))
            call.caller_number = raw
            call.caller_e164 = try_normalize(raw, self.region)
            if leg.extension:  # the dialed leg is an agent's phone
                call.direction = "internal"
                self._involve(call, leg.extension)
            out.append(Persist(self.record(call)))
        if leg.extension:
            self._ring(call, leg, out)

    def _on_dialend(self, e: Mapping[str, Any], now: float, out: list[Effect]) -> None:
        dest = self._leg_for(e, now, out, "Dest")
        if dest is None:
            return
        call, leg = dest
        status = first(e.get("DialStatus"))
        if status == "ANSWER":
            if "Channel" in e:  # an originate's first leg has no caller side: not an answer
                self._answer(call, leg.extension if call.direction == "inbound"
                             else call.origin_agent, now, out)
        elif leg.extension and call.open_pops.get(leg.extension) == leg.uniqueid:
            self._close_pop(call, leg.extension, status.lower() or "no_answer", out)

    def _on_agentcalled(self, e: Mapping[str, Any], now: float, out: list[Effect]) -> None:
        found = self._leg_for(e, now, out)
        if found is None:
            return
        call, _ = found
        queue = first(e.get("Queue"))
        if queue and call.queue is None:
            call.queue = queue
        dest = self._leg_for(e, now, out, "Dest")
        if dest is not None:
            leg = dest[1]
            if leg.extension is None:
                leg.extension = agent_extension(first(e.get("Interface")))
            self._ring(call, leg, out)

    def _on_agentconnect(self, e: Mapping[str, Any], now: float, out: list[Effect]) -> None:
        found = self._leg_for(e, now, out)
        if found is None:
            return
        call, _ = found
        call.queue = first(e.get("Queue")) or call.queue
        if call.hold_time is None:
            call.hold_time = _num(e.get("HoldTime"))
        self._answer(call, agent_extension(first(e.get("Interface"))), now, out)

    def _on_agentcomplete(self, e: Mapping[str, Any], now: float, out: list[Effect]) -> None:
        found = self._leg_for(e, now, out, create=False)
        if found is not None:
            found[0].talk_time = _num(e.get("TalkTime"))

    def _on_agentringnoanswer(self, e: Mapping[str, Any], now: float,
                              out: list[Effect]) -> None:
        found = self._leg_for(e, now, out, create=False)
        if found is None:
            return
        ext = agent_extension(first(e.get("Interface")))
        if ext:
            self._close_pop(found[0], ext, "no_answer", out)

    def _on_queuejoin(self, e: Mapping[str, Any], now: float, out: list[Effect]) -> None:
        found = self._leg_for(e, now, out)
        if found is None:
            return
        call, leg = found
        qname = first(e.get("Queue"))
        call.queue = qname
        call.was_queued = True
        if call.queued_at is None:
            call.queued_at = now
        if call.answered_at is None and call.state not in FINAL_STATES:
            call.state = "queued"
            self._update(call, out, queue=qname)
        self._queue(qname).waiting.setdefault(leg.uniqueid, now)
        out.append(self._queue_stats(qname, now))

    def _on_queueleave(self, e: Mapping[str, Any], now: float, out: list[Effect]) -> None:
        qname = first(e.get("Queue"))
        q = self._queue(qname)
        if q.waiting.pop(first(e.get("Uniqueid")), None) is not None:
            out.append(self._queue_stats(qname, now))

    def _on_queueabandon(self, e: Mapping[str, Any], now: float, out: list[Effect]) -> None:
        found = self._leg_for(e, now, out, create=False)
        if found is None:
            return
        call, leg = found
        qname = first(e.get("Queue")) or call.queue or ""
        q = self._queue(qname)
        q.waiting.pop(leg.uniqueid, None)
        if call.abandoned or call.answered_at is not None:
            return
        call.abandoned = True
        call.hold_time = _num(e.get("HoldTime"))
        call.state = "abandoned"
        q.abandoned += 1
        closed = list(call.open_pops)
        call.open_pops.clear()
        self._update(call, out, queue=qname, closed_for=closed, reason="abandoned")
        out.append(self._queue_stats(qname, now))

    def _on_bridgeenter(self, e: Mapping[str, Any], now: float, out: list[Effect]) -> None:
        found = self._leg_for(e, now, out)
        if found is None:
            return
        call, leg = found
        leg.bridge = first(e.get("BridgeUniqueid"))
        together = [x for x in call.live_legs() if x.bridge == leg.bridge]
        if len(together) >= 2:
            self._bridged(call, together, now, out)

    def _on_bridgeleave(self, e: Mapping[str, Any], now: float, out: list[Effect]) -> None:
        leg = self.channels.get(first(e.get("Uniqueid")))
        if leg is not None:
            leg.bridge = None

    def _on_blindtransfer(self, e: Mapping[str, Any], now: float, out: list[Effect]) -> None:
        if first(e.get("Result")) not in ("Success", ""):
            return
        found = self._leg_for(e, now, out, "Transferee", create=False) or \
            self._leg_for(e, now, out, "Transferer", create=False)
        if found is None:
            return
        call = found[0]
        if call.state in FINAL_STATES:
            return
        target = first(e.get("Extension"))
        call.transferred_to = target
        call.state = "transferred"
        self._update(call, out, transfer_to=target,
                     transferer=agent_extension(first(e.get("TransfererChannel"))))
        out.append(Persist(self.record(call)))

    def _on_attendedtransfer(self, e: Mapping[str, Any], now: float,
                             out: list[Effect]) -> None:
        if first(e.get("Result")) not in ("Success", ""):
            return
        found = self._leg_for(e, now, out, "OrigTransferer", create=False)
        if found is None:
            return
        call = found[0]
        if call.state in FINAL_STATES:
            return
        target_channel = first(e.get("TransferTargetChannel")) or \
            first(e.get("SecondTransfererChannel"))
        ext = agent_extension(target_channel)
        # The consultation call has its own Linkedid: adopt its target leg into our call so
        # its later BridgeEnter/Hangup count here (the consultation ends when its last leg
        # is gone, as its own internal call).
        moved = self._leg_for(e, now, out, "TransferTarget", create=False)
        if moved is not None and moved[0] is not call:
            other, leg = moved
            del other.legs[leg.uniqueid]
            leg.linkedid = call.linkedid
            call.legs[leg.uniqueid] = leg
            if not other.live_legs():
                self._end(other, now, out)
        call.transferred_to = ext or first(e.get("TransferTargetUniqueid")) or None
        call.state = "transferred"
        self._update(call, out, transfer_to=call.transferred_to, attended=True)
        if ext:
            self._answer(call, ext, now, out)

    def _on_hold(self, e: Mapping[str, Any], now: float, out: list[Effect]) -> None:
        found = self._leg_for(e, now, out, create=False)
        if found is None:
            return
        call = found[0]
        if call.state == "answered":
            call.state = "held"
            self._update(call, out, held=True)

    def _on_unhold(self, e: Mapping[str, Any], now: float, out: list[Effect]) -> None:
        found = self._leg_for(e, now, out, create=False)
        if found is None:
            return
        call = found[0]
        if call.state == "held":
            call.state = "answered"
            self._update(call, out, held=False)

    def _on_dtmfend(self, e: Mapping[str, Any], now: float, out: list[Effect]) -> None:
        if e.get("Direction", "Received") != "Received":
            return
        found = self._leg_for(e, now, out, create=False)
        if found is None:
            return
        call, leg = found
        if leg.uniqueid != call.linkedid and call.direction == "inbound":
            return  # digits from the agent side are not the caller's input
        call.dtmf += first(e.get("Digit"))
        self._update(call, out, dtmf=call.dtmf)

    def _on_varset(self, e: Mapping[str, Any], now: float, out: list[Effect]) -> None:
        var = e.get("Variable", "")
        if var != ASR_VAR and var not in ORDER_VARS and var not in RECORDING_VARS and \
                not (isinstance(var, str) and var.startswith("HOTLINE_")):
            return
        found = self._leg_for(e, now, out, create=False)
        if found is None:
            return
        call = found[0]
        value = first(e.get("Value"))
        if var == ASR_VAR:
            if value and value != call.asr_uuid:
                call.asr_uuid = value
                out.append(Publish(TOPIC_ASR, {"type": "asr_link", "uuid": value,
                                               "call_id": call.call_id, "pbx": self.pbx},
                                   call.call_id))
        elif var in ORDER_VARS:
            if value and value != call.order_number:
                call.order_number = value
                self._update(call, out, order_number=value)
        elif var in RECORDING_VARS:
            if value and value != call.recording_path:
                call.recording_path = value
                self._update(call, out, recording_path=value)
        else:
            call.variables[var] = value

    def _on_hangup(self, e: Mapping[str, Any], now: float, out: list[Effect]) -> None:
        leg = self.channels.get(first(e.get("Uniqueid")))
        if leg is None:
            return
        self._hangup_leg(leg, now, out, first(e.get("Cause")), first(e.get("Cause-txt")))

    def _member_status_changed(self, qname: str, m: Member, now: float,
                               out: list[Effect]) -> None:
        out.append(Publish(TOPIC_QUEUES, {"type": "agent_state", **m.as_dict(qname, self.pbx)}))
        out.append(self._queue_stats(qname, now))

    def _on_member(self, e: Mapping[str, Any], now: float, out: list[Effect]) -> None:
        qname = first(e.get("Queue"))
        iface = first(e.get("Interface")) or first(e.get("Location"))
        if not qname or not iface:
            return
        q = self._queue(qname)
        m = q.members.get(iface)
        if m is None:
            m = q.members[iface] = Member(iface)
        before = (m.name, m.paused, m.paused_reason, m.status, m.in_call)
        m.name = first(e.get("MemberName")) or first(e.get("Name")) or m.name
        if "Paused" in e:
            m.paused = first(e.get("Paused")) in ("1", "true", "yes")
        if "PausedReason" in e or ("Reason" in e and e.get("Event") == "QueueMemberPause"):
            m.paused_reason = first(e.get("PausedReason", e.get("Reason"))) if m.paused else ""
        if "Status" in e:
            m.status = _DEVICE_STATUS.get(first(e.get("Status")), first(e.get("Status")))
        if "InCall" in e:
            m.in_call = first(e.get("InCall")) == "1"
        taken = _num(e.get("CallsTaken"))
        if taken is not None:
            m.calls_taken = int(taken)
        if (m.name, m.paused, m.paused_reason, m.status, m.in_call) != before:
            self._member_status_changed(qname, m, now, out)

    def _on_member_removed(self, e: Mapping[str, Any], now: float, out: list[Effect]) -> None:
        qname = first(e.get("Queue"))
        iface = first(e.get("Interface"))
        q = self._queue(qname)
        m = q.members.pop(iface, None)
        if m is not None:
            out.append(Publish(TOPIC_QUEUES, {"type": "agent_state", "removed": True,
                                              **m.as_dict(qname, self.pbx)}))
            out.append(self._queue_stats(qname, now))

    def _on_queueparams(self, e: Mapping[str, Any], now: float, out: list[Effect]) -> None:
        q = self._queue(first(e.get("Queue")))
        # Asterisk's counters are authoritative (they survive our restarts).
        completed = _num(e.get("Completed"))
        abandoned = _num(e.get("Abandoned"))
        if completed is not None and completed >= q.completed:
            sl, perf = _num(e.get("ServiceLevel")), _num(e.get("ServicelevelPerf"))
            if sl and perf is not None:  # Asterisk measures it: take its figure
                q.within_sl = round(perf / 100 * completed)
            elif q.completed:  # extrapolate our own ratio to the calls we did not see
                q.within_sl = round(completed * q.within_sl / q.completed)
            else:
                q.within_sl = int(completed)
            q.completed = int(completed)
        if abandoned is not None and abandoned >= q.abandoned:
            q.abandoned = int(abandoned)

    def _on_queueentry(self, e: Mapping[str, Any], now: float, out: list[Effect]) -> None:
        qname = first(e.get("Queue"))
        uid = first(e.get("Uniqueid"))
        wait = _num(e.get("Wait")) or 0.0
        if uid:
            self._queue(qname).waiting.setdefault(uid, now - wait)
        leg = self.channels.get(uid)
        if leg is not None:
            call = self.calls.get(leg.linkedid)
            if call is not None and call.answered_at is None and not call.was_queued:
                call.was_queued = True
                call.queue = qname
                call.queued_at = now - wait
                call.state = "queued"
                self._update(call, out, queue=qname)

    def _on_coreshowchannel(self, e: Mapping[str, Any], now: float,
                            out: list[Effect]) -> None:
        uid = first(e.get("Uniqueid"))
        linkedid = first(e.get("Linkedid")) or uid
        if not uid or linkedid in self._ended:
            return
        duration = _duration(first(e.get("Duration")))
        new_call = linkedid not in self.calls
        found = self._leg_for(e, now, out)
        if found is None:
            return
        call, leg = found
        if new_call:
            call.started_at = now - duration
        state = first(e.get("ChannelStateDesc"))
        leg.state = state or leg.state
        leg.bridge = first(e.get("BridgeId")) or None
        app = first(e.get("Application"))
        if app == "Queue" and leg.uniqueid == call.linkedid and call.answered_at is None \
                and not leg.bridge:
            qname = first(e.get("ApplicationData")).split(",")[0]
            if qname and not call.was_queued:
                call.queue = qname
                call.was_queued = True
                call.queued_at = now - duration
                call.state = "queued"
                self._queue(qname).waiting.setdefault(leg.uniqueid, now - duration)
                self._update(call, out, queue=qname)
        if leg.extension and state in ("Ringing", "Ring", "Down") and \
                leg.uniqueid != call.linkedid and not leg.bridge:
            self._ring(call, leg, out)
