"""Snapshots: making the live model match what the PBX reports after a (re)connect.

``CoreShowChannels`` and ``QueueStatus`` are applied in stream order by the bridge. Their
rules differ from live events in one way: they describe a *state*, not a change, so what
happened while we were away is inferred (a channel gone = hung up; a rise of a member's
CallsTaken = a call answered; a Uniqueid = the time a channel was created) and what we
already knew is never overwritten by the time of the snapshot.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from .ami import first, uniqueid_sort_key
from .callbook import ASR_VAR, ORDER_VARS, CallBook
from .effects import Effect, ReadVariables
from .model import (
    Call,
    Leg,
    created_at,
    duration,
    num,
)

#: Hang-up cause of a channel that a CoreShowChannels snapshot no longer lists: its Hangup
#: event was missed (link down, or lost), so the real cause is unknown.
GONE_CAUSE = "Gone: not in CoreShowChannels (hangup event missed)"


class Snapshots(CallBook):
    """CallBook plus the snapshot rules (:meth:`resync_channels`, :meth:`resync_queues`)."""

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
