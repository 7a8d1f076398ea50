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

from collections.abc import Mapping
from typing import Any

from tickets import messages
from tickets.bus import TOPIC_ASR
from tickets.phones import try_normalize

from .agents import AgentInterfaces
from .ami import first
from .callbook import ASR_VAR, ORDER_VARS, RECORDING_VARS
from .effects import (
    CallerUpdate,
    Effect,
    JourneyPrefetch,
    Persist,
    Prefetch,
    Publish,
    ReadVariables,
    ScreenPop,
)
from .model import (
    FINAL_STATES,
    Call,
    Leg,
    Member,
    Queue,
    dialed,
    num,
)
from .resync import GONE_CAUSE, Snapshots

__all__ = [
    "GONE_CAUSE",
    "Call",
    "CallTracker",
    "CallerUpdate",
    "Effect",
    "JourneyPrefetch",
    "Leg",
    "Member",
    "Persist",
    "Prefetch",
    "Publish",
    "Queue",
    "ReadVariables",
    "ScreenPop",
]


class CallTracker(Snapshots):
    """The live model of one PBX. Feed it with :meth:`feed` (events, in wire order) and
    :meth:`resync_channels` / :meth:`resync_queues` (snapshots after a reconnect).

    The layers: :class:`~telephony.callbook.CallBook` (calls, legs and their rules),
    :class:`~telephony.resync.Snapshots` (snapshot rules), :class:`~telephony.queues.QueueBook`
    (members and queue counters), and here the live event handlers.
    """

    def __init__(self, pbx: str, region: str = "CN", service_level_s: float = 20.0,
                 ended_memory: int = 50_000, agents: AgentInterfaces | None = None) -> None:
        super().__init__(pbx, region, service_level_s, ended_memory, agents)
        self.events_seen = 0
        self._handlers.update({
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
        })

    def feed(self, event: Mapping[str, Any], now: float) -> list[Effect]:
        """Apply one AMI event; return what to do about it (possibly nothing)."""
        self.events_seen += 1
        handler = self._handlers.get(event.get("Event", ""))
        if handler is None:
            return []
        out: list[Effect] = []
        handler(event, now, out)
        return out

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
            if call.direction == "inbound":
                out.append(JourneyPrefetch(call.call_id))
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
                link = messages.asr_link(uuid=value, call_id=call.call_id, pbx=self.pbx)
                out.append(Publish(TOPIC_ASR, link, call.call_id))
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
