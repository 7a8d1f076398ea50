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
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from tickets.bus import TOPIC_ASR, TOPIC_CALLS
from tickets.phones import try_normalize

from .agents import AgentInterfaces
from .ami import clean_number, first, uniqueid_sort_key
from .effects import CallerUpdate, Effect, Persist, Prefetch, Publish, ReadVariables, ScreenPop
from .model import (
    FINAL_STATES,
    Call,
    Leg,
    Member,
    Queue,
    created_at,
    dialed,
    duration,
    iso,
    num,
    utc,
)
from .own_calls import own_purpose
from .ports import CallRecord
from .queues import QueueBook

Handler = Callable[[Mapping[str, Any], float, list["Effect"]], None]

#: Channel variables the dialplan in asterisk_conf/ sets and the bridge reads.
ASR_VAR = "HOTLINE_ASR_UUID"
ORDER_VARS = frozenset({"ORDER", "HOTLINE_ORDER"})
RECORDING_VARS = frozenset({"MIXMONITOR_FILENAME", "HOTLINE_RECORDING"})

#: Hang-up cause of a channel that a CoreShowChannels snapshot no longer lists: its Hangup
#: event was missed (link down, or lost), so the real cause is unknown.
GONE_CAUSE = "Gone: not in CoreShowChannels (hangup event missed)"

__all__ = [
    "GONE_CAUSE",
    "Call",
    "CallTracker",
    "CallerUpdate",
    "Effect",
    "Leg",
    "Member",
    "Persist",
    "Prefetch",
    "Publish",
    "Queue",
    "ReadVariables",
    "ScreenPop",
]


# --------------------------------------------------------------------------- tracker
class CallTracker:
    """The live model of one PBX. Feed it with :meth:`feed` (events, in wire order) and
    :meth:`resync_channels` / :meth:`resync_queues` (snapshots after a reconnect)."""

    def __init__(self, pbx: str, region: str = "CN", service_level_s: float = 20.0,
                 ended_memory: int = 50_000, agents: AgentInterfaces | None = None) -> None:
        self.pbx = pbx
        self.region = region
        self.service_level_s = service_level_s
        self.agents = agents or AgentInterfaces()
        self.book = QueueBook(pbx, self.agents)
        self.calls: dict[str, Call] = {}  # linkedid -> live call
        self.channels: dict[str, Leg] = {}  # uniqueid -> live leg
        self._ended: OrderedDict[str, None] = OrderedDict()
        # Linkedids of the calls Hotline made for itself (spy, ASR fork): never a call.
        self._own: OrderedDict[str, str] = OrderedDict()
        self._ended_memory = ended_memory
        # Queued, unanswered calls a channel snapshot showed gone: answered or abandoned
        # while we were away? The queue snapshot that follows tells (see resync_queues).
        self._unsettled: dict[str, list[Call]] = {}
        self._settling = False
        self.events_seen = 0
        self._handlers: dict[str, Handler] = {
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
            "QueueMemberStatus": self.book.on_member,
            "QueueMemberPause": self.book.on_member,
            "QueueMemberAdded": self.book.on_member,
            "QueueMemberRemoved": self.book.on_member_removed,
            "QueueMember": self.book.on_member,
            "QueueParams": self.book.on_params,
            "NewCallerid": self._on_newcallerid,
            "ChanSpyStart": self._on_chanspystart,
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
        self._trust_guesses(out)
        self._answer_bridged(now, out)
        return out

    def _trust_guesses(self, out: list[Effect]) -> None:
        """Calls first seen by a later leg whose first channel is gone: trust the guess now
        and pop what rings."""
        for call in list(self.calls.values()):
            if not call.guessed:
                continue
            call.guessed = False
            for leg in call.live_legs():
                if leg.extension and leg.state in ("Ringing", "Ring", "Down") and \
                        not leg.bridge:
                    self._ring(call, leg, out)

    def _answer_bridged(self, now: float, out: list[Effect]) -> None:
        """Bridges after every channel is known: two legs of a call in one bridge = answered.

        A call we did not see answered is dated by its newest bridged channel's creation
        (a Uniqueid is a timestamp): the answer came after that agent leg appeared, never
        at our resync. A call we saw answered keeps its time (``_answer`` answers once).
        """
        for call in list(self.calls.values()):
            by_bridge: dict[str, list[Leg]] = {}
            for leg in call.live_legs():
                if leg.bridge:
                    by_bridge.setdefault(leg.bridge, []).append(leg)
            for legs in by_bridge.values():
                if len(legs) < 2:
                    continue
                born = [t for t in (created_at(x.uniqueid) for x in legs) if t is not None]
                self._bridged(call, legs, now, out, at=min(now, max(born)) if born else None)

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
            q = self.book.queue(qname)
            for uid in [u for u in q.waiting if u not in uids]:
                del q.waiting[uid]
        self._settle(items, now, out)  # before QueueMember rows update CallsTaken
        self.book.prune(items, now, out)
        for e in items:
            handler = self._handlers.get(first(e.get("Event")))
            if handler is not None:
                handler(e, now, out)
        for qname in seen_entries:
            out.append(self.book.stats(qname, now))
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
        rises = self.book.calls_taken_rises(items)
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
        return [self.book.stats(q, now).event for q in sorted(self.book.queues)]

    def record(self, call: Call) -> CallRecord:
        """The call-log row of a call. Inbound: the customer is the caller and the callee
        the DID/extension they dialled. Placed by an agent (click-to-call, internal): the
        agent's extension is the caller, the dialled number the callee."""
        dialled = call.caller_e164 or call.caller_number
        if call.direction == "inbound":
            caller, callee = dialled, call.callee_number
        else:
            caller, callee = call.origin_agent or "", dialled or None
        return CallRecord(
            call_id=call.call_id, pbx=self.pbx, linkedid=call.linkedid,
            direction=call.direction, caller_number=caller,
            caller_name=call.caller_name, queue=call.queue, agent_extension=call.agent,
            agents=tuple(call.agents), state=call.state,
            started_at=utc(call.started_at),  # type: ignore[arg-type]
            answered_at=utc(call.answered_at), ended_at=utc(call.ended_at),
            wait_s=self._wait(call), talk_s=self._talk(call, call.ended_at),
            hangup_cause=call.hangup_cause, recording_path=call.recording_path,
            dtmf=call.dtmf, order_number=call.order_number,
            transferred_to=call.transferred_to, asr_uuid=call.asr_uuid,
            variables=dict(call.variables), callee_number=callee, rung=tuple(call.rung))

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
            "started_at": iso(c.started_at), "answered_at": iso(c.answered_at),
            "wait_s": self._wait(c) if c.answered_at else round(now - c.started_at, 3),
            "talk_s": self._talk(c, now), "dtmf": c.dtmf, "order_number": c.order_number,
            "transferred_to": c.transferred_to, "recording_path": c.recording_path,
        }

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
        ext = self.agents.extension(leg_channel)
        first_channel = first(e.get("Uniqueid")) == linkedid
        direction = "outbound" if ext and first_channel else "inbound"
        call = Call(linkedid=linkedid, call_id=f"{self.pbx}:{linkedid}",
                    direction=direction, started_at=started, guessed=not first_channel)
        if direction == "inbound":
            if first_channel or not ext:
                raw = clean_number(first(e.get("CallerIDNum")))
                name = first(e.get("CallerIDName"))
                call.callee_number = clean_number(first(e.get("Exten"))) or None
            else:  # we only see an agent leg: the customer is its connected line
                raw = clean_number(first(e.get("ConnectedLineNum")))
                name = first(e.get("ConnectedLineName"))
            call.caller_number = raw
            call.caller_name = _name(name)
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
        reconnect the resync snapshot brings every live channel in anyway). Channels Hotline
        made for itself (:mod:`telephony.own_calls`) are never legs of anything.
        """
        uid = first(e.get(prefix + "Uniqueid"))
        if not uid or uid == "<unknown>":
            return None
        leg = self.channels.get(uid)
        if leg is not None:
            call = self.calls.get(leg.linkedid)
            if call is None:
                return None
            if not prefix and uid == call.linkedid:
                self._caller_seen(call, e, out)
            return call, leg
        if not create:
            return None
        return self._new_leg(e, uid, now, out, prefix)

    def _new_leg(self, e: Mapping[str, Any], uid: str, now: float, out: list[Effect],
                 prefix: str) -> tuple[Call, Leg] | None:
        linkedid = first(e.get(prefix + "Linkedid")) or uid
        if linkedid in self._ended or linkedid in self._own or uid in self._own:
            return None
        purpose = own_purpose(e, prefix)
        if purpose is not None:
            self._remember_own(linkedid if linkedid not in self.calls else uid, purpose)
            return None
        channel = first(e.get(prefix + "Channel"))
        call = self.calls.get(linkedid)
        if call is None:
            src = e if not prefix else {k[len(prefix):]: v for k, v in e.items()
                                        if k.startswith(prefix)}
            call = self._new_call(linkedid, channel, src, now, now, out)
        elif uid == linkedid and call.guessed:
            self._first_channel_seen(call, channel, e, prefix, out)
        leg = Leg(uid, channel, linkedid, self.agents.extension(channel),
                  first(e.get(prefix + "ChannelStateDesc")) or "Down")
        self.channels[uid] = leg
        call.legs[uid] = leg
        return call, leg

    def _remember_own(self, key: str, purpose: str) -> None:
        self._own[key] = purpose
        while len(self._own) > self._ended_memory:
            self._own.popitem(last=False)

    def _caller_seen(self, call: Call, e: Mapping[str, Any], out: list[Effect]) -> None:
        """An event of the caller's own channel: take a number or name better than ours.

        Late caller ID (``<unknown>`` in Newchannel, the number in NewCallerid or on a later
        QueueCallerJoin/AgentCalled/DialBegin) and a dialplan ``Set(CALLERID(…))`` both end
        here. The call, the pop still to come, the pops already shown (through
        :class:`CallerUpdate`) and the call log all take the new value.
        """
        if call.direction != "inbound" or call.guessed or "CallerIDNum" not in e:
            return
        raw = clean_number(first(e.get("CallerIDNum")))
        name = _name(first(e.get("CallerIDName")))
        new_number = bool(raw) and raw != call.caller_number
        new_name = bool(name) and name != call.caller_name
        if not (new_number or new_name):
            return
        if new_number:
            call.caller_number = raw
            call.caller_e164 = try_normalize(raw, self.region)
        if new_name:
            call.caller_name = name
        out.append(CallerUpdate(call.call_id, self.pbx, call.caller_e164 or call.caller_number,
                                call.caller_e164, call.caller_number, call.caller_name,
                                call.state, tuple(call.involved)))
        out.append(Persist(self.record(call)))

    def _first_channel_seen(self, call: Call, channel: str, e: Mapping[str, Any],
                            prefix: str, out: list[Effect]) -> None:
        """The call was created from a later leg (after a reconnect); its first channel
        now tells who called whom."""
        call.guessed = False
        ext = self.agents.extension(channel)
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
                call.caller_name = _name(first(e.get(prefix + "CallerIDName")))
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
        if leg.extension in call.open_pops:  # a second leg to the same agent (Local/…;1
            return  # then its PJSIP channel): one pop per agent
        if leg.extension not in call.rung:
            call.rung.append(leg.extension)
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

    def _answer(self, call: Call, ext: str | None, now: float, out: list[Effect],
                at: float | None = None) -> None:
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
            call.answered_at = now if at is None else max(at, call.started_at)
        if call.direction == "inbound" and ext:
            call.agent = ext
        if ext and (not call.agents or call.agents[-1] != ext):
            call.agents.append(ext)
        self._involve(call, ext)
        call.state = "answered"
        if first_answer and call.queue and call.was_queued:
            q = self.book.queue(call.queue)
            q.completed += 1
            wait = self._wait(call)
            if wait is not None and wait <= self.service_level_s:
                q.within_sl += 1
            out.append(self.book.stats(call.queue, now))
        losers = [x for x in call.open_pops if x != ext]
        for x in losers:
            del call.open_pops[x]
        call.open_pops.pop(ext or "", None)
        self._update(call, out, answered_by=ext, closed_for=losers,
                     reason="answered_elsewhere" if losers else None)
        out.append(Persist(self.record(call)))

    def _bridged(self, call: Call, legs: list[Leg], now: float, out: list[Effect],
                 at: float | None = None) -> None:
        if call.direction == "inbound":
            agents = [leg.extension for leg in legs
                      if leg.extension and leg.uniqueid != call.linkedid]
            if agents:
                self._answer(call, agents[-1], now, out, at=at)
        elif call.answered_at is None:
            self._answer(call, call.origin_agent, now, out, at=at)

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
            for q in self.book.queues.values():
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
            self.book.queue(call.queue).waiting.pop(call.linkedid, None)
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
                self.book.queue(call.queue).abandoned += 1
                out.append(self.book.stats(call.queue, now))
        else:
            call.state = "ended"
        self._update(call, out, closed_for=closed or [], cause=call.hangup_cause,
                     talk_s=self._talk(call, call.ended_at), wait_s=self._wait(call))
        out.append(Persist(self.record(call)))

    # ------------------------------------------------------------------ event handlers
    def _on_newchannel(self, e: Mapping[str, Any], now: float, out: list[Effect]) -> None:
        self._leg_for(e, now, out)

    def _on_newcallerid(self, e: Mapping[str, Any], now: float, out: list[Effect]) -> None:
        self._leg_for(e, now, out)  # the caller's number/name: see _caller_seen

    def _on_chanspystart(self, e: Mapping[str, Any], now: float, out: list[Effect]) -> None:
        """A spy that nobody marked as Hotline's (see :mod:`telephony.own_calls`): its
        call is the supervisor's helper, not a call; drop it from the live calls and log it
        as an internal helper (it was logged when its phone started ringing)."""
        call = self.calls.get(first(e.get("SpyerLinkedid")))
        if call is None or call.direction == "inbound" or call.caller_number:
            return
        for uid in call.legs:
            self.channels.pop(uid, None)
        del self.calls[call.linkedid]
        self._remember_own(call.linkedid, "spy")
        closed = list(call.open_pops)
        call.open_pops.clear()
        call.direction = "internal"
        call.state = "ended"
        call.ended_at = now
        call.variables["HOTLINE_PURPOSE"] = "spy"
        self._update(call, out, closed_for=closed, reason="not_a_call")
        out.append(Persist(self.record(call)))

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
            raw = dialed(first(e.get("DialString")))
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
                leg.extension = self.agents.extension(first(e.get("Interface")))
            self._ring(call, leg, out)

    def _on_agentconnect(self, e: Mapping[str, Any], now: float, out: list[Effect]) -> None:
        found = self._leg_for(e, now, out)
        if found is None:
            return
        call, _ = found
        call.queue = first(e.get("Queue")) or call.queue
        if call.hold_time is None:
            call.hold_time = num(e.get("HoldTime"))
        self._answer(call, self.agents.extension(first(e.get("Interface"))), now, out)

    def _on_agentcomplete(self, e: Mapping[str, Any], now: float, out: list[Effect]) -> None:
        found = self._leg_for(e, now, out, create=False)
        if found is not None:
            found[0].talk_time = num(e.get("TalkTime"))

    def _on_agentringnoanswer(self, e: Mapping[str, Any], now: float,
                              out: list[Effect]) -> None:
        found = self._leg_for(e, now, out, create=False)
        if found is None:
            return
        ext = self.agents.extension(first(e.get("Interface")))
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
        self.book.queue(qname).waiting.setdefault(leg.uniqueid, now)
        out.append(self.book.stats(qname, now))

    def _on_queueleave(self, e: Mapping[str, Any], now: float, out: list[Effect]) -> None:
        qname = first(e.get("Queue"))
        q = self.book.queue(qname)
        if q.waiting.pop(first(e.get("Uniqueid")), None) is not None:
            out.append(self.book.stats(qname, now))

    def _on_queueabandon(self, e: Mapping[str, Any], now: float, out: list[Effect]) -> None:
        found = self._leg_for(e, now, out, create=False)
        if found is None:
            return
        call, leg = found
        qname = first(e.get("Queue")) or call.queue or ""
        q = self.book.queue(qname)
        q.waiting.pop(leg.uniqueid, None)
        if call.abandoned or call.answered_at is not None:
            return
        call.abandoned = True
        call.hold_time = num(e.get("HoldTime"))
        call.state = "abandoned"
        q.abandoned += 1
        closed = list(call.open_pops)
        call.open_pops.clear()
        self._update(call, out, queue=qname, closed_for=closed, reason="abandoned")
        out.append(self.book.stats(qname, now))

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
                     transferer=self.agents.extension(first(e.get("TransfererChannel"))))
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
        ext = self.agents.extension(target_channel)
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

    def _on_queueentry(self, e: Mapping[str, Any], now: float, out: list[Effect]) -> None:
        qname = first(e.get("Queue"))
        uid = first(e.get("Uniqueid"))
        wait = num(e.get("Wait")) or 0.0
        if uid:
            self.book.queue(qname).waiting.setdefault(uid, now - wait)
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
        age = duration(first(e.get("Duration")))
        new_call = linkedid not in self.calls
        found = self._leg_for(e, now, out)
        if found is None:
            return
        call, leg = found
        if new_call and uid == linkedid and call.direction == "inbound":
            out.append(ReadVariables(call.call_id, leg.channel, uid, linkedid,
                                     (*sorted(ORDER_VARS), ASR_VAR)))
        if new_call:
            born = created_at(linkedid)
            call.started_at = born if born is not None and now - 86400 <= born <= now \
                else now - age
            call.resynced = True
        state = first(e.get("ChannelStateDesc"))
        leg.state = state or leg.state
        leg.bridge = first(e.get("BridgeId")) or None
        if first(e.get("Application")) == "Queue" and leg.uniqueid == call.linkedid:
            self._resync_queued(call, leg, first(e.get("ApplicationData")), now - age, out)
        if leg.extension and state in ("Ringing", "Ring", "Down") and \
                leg.uniqueid != call.linkedid and not leg.bridge:
            self._ring(call, leg, out)

    def _resync_queued(self, call: Call, leg: Leg, app_data: str, since: float,
                       out: list[Effect]) -> None:
        """The caller's channel sits in Queue() in a snapshot: a queue call, waiting unless
        it is bridged (then answered: the queue is known, the wait is not measurable)."""
        qname = app_data.split(",")[0]
        if not qname or call.was_queued:
            return
        if call.answered_at is not None or leg.bridge:
            call.queue = call.queue or qname
            call.was_queued = True
            return
        call.queue = qname
        call.was_queued = True
        call.queued_at = since
        call.state = "queued"
        self.book.queue(qname).waiting.setdefault(leg.uniqueid, since)
        self._update(call, out, queue=qname)

def _name(value: str) -> str:
    """A caller name, with Asterisk's ``<unknown>`` placeholder as empty."""
    return "" if value == "<unknown>" else value
