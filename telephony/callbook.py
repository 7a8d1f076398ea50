"""The call half of the tracker: calls and legs, and the rules every event path shares.

:class:`CallBook` holds the live calls of one PBX (by Linkedid) and their legs (by
Uniqueid) and owns the decisions that live events and snapshots both take: which call and
leg an event is about (creating them, or refusing Hotline's own helper channels), when an
agent leg pops, when a call is answered, ended or abandoned, and what the call log row says.
The event handlers (``tracker.py``) and the snapshot rules (``resync.py``) are thin layers
over it, so a reconnect can never decide differently from the live stream.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any, Unpack

from tickets import messages
from tickets.bus import TOPIC_CALLS
from tickets.messages import CallChanges
from tickets.phones import try_normalize

from .agents import AgentInterfaces
from .ami import clean_number, first
from .effects import CallerUpdate, Effect, Persist, Prefetch, Publish, ScreenPop
from .model import (
    FINAL_STATES,
    Call,
    Leg,
    iso,
    utc,
)
from .own_calls import own_purpose
from .ports import CallRecord
from .queues import QueueBook

Handler = Callable[[Mapping[str, Any], float, list[Effect]], None]

#: Channel variables the dialplan in asterisk_conf/ sets and the bridge reads.
ASR_VAR = "HOTLINE_ASR_UUID"
ORDER_VARS = frozenset({"ORDER", "HOTLINE_ORDER"})
RECORDING_VARS = frozenset({"MIXMONITOR_FILENAME", "HOTLINE_RECORDING"})


class CallBook:
    """Live calls, legs and queues of one PBX, and the shared call rules (pure)."""

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
        self._handlers: dict[str, Handler] = {}  # event name -> handler (CallTracker's)

    def is_known_call(self, linkedid: str) -> bool:
        return linkedid in self.calls

    def live_calls(self, now: float) -> list[dict[str, Any]]:
        return [self._call_view(c, now) for c in self.calls.values()]

    def queue_stats(self, now: float) -> list[messages.QueueStats]:
        return [self.book.stats_message(q, now) for q in sorted(self.book.queues)]

    def record(self, call: Call) -> CallRecord:
        """The call-log row of a call. Inbound: the customer is the caller and the callee
        the DID/extension they dialled. Placed by an agent (click-to-call, internal): the
        agent's extension is the caller, the dialled number the callee."""
        customer = call.caller_e164 or call.caller_number  # outbound: the number dialled
        if call.direction == "inbound":
            caller, callee = customer, call.callee_number
        else:
            caller, callee = call.origin_agent or "", customer or None
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

    def _update(self, call: Call, out: list[Effect], **changed: Unpack[CallChanges]) -> None:
        event = messages.call_update(call_id=call.call_id, pbx=self.pbx, state=call.state,
                                     extensions=list(call.involved), **changed)
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


def _name(value: str) -> str:
    """A caller name, with Asterisk's ``<unknown>`` placeholder as empty."""
    return "" if value == "<unknown>" else value
