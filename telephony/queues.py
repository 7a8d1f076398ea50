"""Queues and their members: app_queue's view, kept apart from the calls.

Member events (QueueMember/Status/Pause/Added/Removed) and queue parameters change no call,
so they live here; the tracker owns the calls and asks this book for a queue's counters and
for the stats message. Members are keyed by the interface Asterisk reports, because that
is the name QueuePause/QueueRemove must use (``Local/6001@from-queue/n`` is not
``PJSIP/6001``); the extension is resolved once, by :class:`~telephony.agents.AgentInterfaces`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from tickets import messages
from tickets.bus import TOPIC_QUEUES

from .agents import AgentInterfaces
from .ami import first
from .effects import Effect, Publish
from .model import Member, Queue, device_status, num

_TRUE = ("1", "true", "yes")
#: (queue name, now) -> the live-statistics fields of its ``queue_stats`` (telephony.stats).
LiveFields = Callable[[str, float], messages.QueueLive]


def no_live_stats(qname: str, now: float) -> messages.QueueLive:
    """The live fields when no statistics engine is attached (a bare tracker): zero
    windows, the default thresholds."""
    return {"at": datetime.fromtimestamp(now, UTC).isoformat(), "sl_threshold_s": 20.0,
            "short_abandon_s": 5.0,
            "windows": {"15m": _empty_window(), "60m": _empty_window(),
                        "today": _empty_window()}}


def _empty_window() -> messages.WindowStats:
    return {"offered": 0, "answered": 0, "abandoned": 0, "short_abandoned": 0,
            "answered_within_sl": 0, "service_level": None, "abandon_rate": None,
            "asa_s": None, "aht_s": None}


class QueueBook:
    """Every queue of one PBX, with its members and counters."""

    def __init__(self, pbx: str, agents: AgentInterfaces) -> None:
        self.pbx = pbx
        self.agents = agents
        self.queues: dict[str, Queue] = {}
        #: Where the live-statistics fields come from (the bridge attaches its engine).
        self.live: LiveFields = no_live_stats

    def queue(self, name: str) -> Queue:
        q = self.queues.get(name)
        if q is None:
            q = self.queues[name] = Queue(name)
        return q

    def member_of(self, e: Mapping[str, Any]) -> tuple[str, Member | None]:
        """The (queue name, member) a member event is about (member None if unknown)."""
        qname = first(e.get("Queue"))
        iface = first(e.get("Interface")) or first(e.get("Location"))
        return qname, self.queue(qname).members.get(iface) if qname and iface else None

    def interfaces_of(self, extension: str, queue: str | None = None) -> list[tuple[str, str]]:
        """``[(queue, interface)]`` of the agent's memberships (all queues, or ``queue``)."""
        return [(q.name, m.interface) for q in self.queues.values()
                if queue in (None, q.name)
                for m in q.members.values() if m.extension == extension]

    def stats(self, qname: str, now: float) -> Publish:
        """Publish :meth:`stats_message` of one queue."""
        return Publish(TOPIC_QUEUES, self.stats_message(qname, now))

    def stats_message(self, qname: str, now: float) -> messages.QueueStats:
        """The ``queue_stats`` message of one queue (waiting, SL, abandon rate, agents)."""
        q = self.queue(qname)
        finished = q.completed + q.abandoned
        longest = max((now - t for t in q.waiting.values()), default=0.0)
        return messages.queue_stats(
            pbx=self.pbx, queue=qname,
            waiting=len(q.waiting), longest_wait_s=round(max(0.0, longest), 3),
            service_level=round(q.within_sl / finished, 4) if finished else 1.0,
            abandon_rate=round(q.abandoned / finished, 4) if finished else 0.0,
            completed=q.completed, abandoned=q.abandoned,
            agents=[m.as_dict(qname, self.pbx) for m in q.members.values()],
            live=self.live(qname, now))

    # ------------------------------------------------------------------ event handlers
    def on_member(self, e: Mapping[str, Any], now: float, out: list[Effect]) -> None:
        """QueueMember / QueueMemberStatus / QueueMemberPause / QueueMemberAdded."""
        qname = first(e.get("Queue"))
        iface = first(e.get("Interface")) or first(e.get("Location"))
        if not qname or not iface:
            return
        q = self.queue(qname)
        m = q.members.get(iface)
        if m is None:
            m = q.members[iface] = Member(iface)
        before = (m.name, m.paused, m.paused_reason, m.paused_since, m.status, m.in_call,
                  m.extension)
        m.state_interface = first(e.get("StateInterface")) or m.state_interface
        m.extension = self.agents.extension(iface, m.state_interface)
        m.name = first(e.get("MemberName")) or first(e.get("Name")) or m.name
        self._apply_pause(m, e, now)
        if "Status" in e:
            m.status = device_status(first(e.get("Status")))
        if "InCall" in e:
            m.in_call = first(e.get("InCall")) == "1"
        taken = num(e.get("CallsTaken"))
        if taken is not None:
            m.calls_taken = int(taken)
        if (m.name, m.paused, m.paused_reason, m.paused_since, m.status, m.in_call,
                m.extension) != before:
            out.append(Publish(TOPIC_QUEUES, messages.member_state(m.as_dict(qname, self.pbx))))
            out.append(self.stats(qname, now))

    @staticmethod
    def _apply_pause(m: Member, e: Mapping[str, Any], now: float) -> None:
        """Paused, its reason and since when. ``LastPause`` (Unix seconds, 0 = never) is
        the start Asterisk keeps for the member's latest pause, so a QueueStatus snapshot
        after a reconnect (or our restart) dates the pause right; without it (0, absent:
        older Asterisk, members paused from the astdb at load) the pause dates from ``now``
        (the tracker's wall clock), the first time it was seen, and keeps that date."""
        if "Paused" in e:
            m.paused = first(e.get("Paused")) in _TRUE
        if "PausedReason" in e or ("Reason" in e and e.get("Event") == "QueueMemberPause"):
            m.paused_reason = first(e.get("PausedReason", e.get("Reason"))) if m.paused else ""
        if not m.paused:
            m.paused_since = None
            return
        last = num(e.get("LastPause"))
        if last is not None and last > 0:
            m.paused_since = last
        elif m.paused_since is None:
            m.paused_since = now

    def on_member_removed(self, e: Mapping[str, Any], now: float, out: list[Effect]) -> None:
        qname = first(e.get("Queue"))
        m = self.queue(qname).members.pop(first(e.get("Interface")), None)
        if m is not None:
            out.append(Publish(TOPIC_QUEUES, messages.member_state(m.as_dict(qname, self.pbx),
                                                                   removed=True)))
            out.append(self.stats(qname, now))

    def on_params(self, e: Mapping[str, Any], now: float, out: list[Effect]) -> None:
        """QueueParams: Asterisk's counters are authoritative (they survive our restarts)."""
        q = self.queue(first(e.get("Queue")))
        completed = num(e.get("Completed"))
        abandoned = num(e.get("Abandoned"))
        if completed is not None and completed >= q.completed:
            sl, perf = num(e.get("ServiceLevel")), num(e.get("ServicelevelPerf"))
            if sl and perf is not None:  # Asterisk measures it: take its figure
                q.within_sl = round(perf / 100 * completed)
            elif q.completed:  # extrapolate our own ratio to the calls we did not see
                q.within_sl = round(completed * q.within_sl / q.completed)
            else:
                q.within_sl = int(completed)
            q.completed = int(completed)
        if abandoned is not None and abandoned >= q.abandoned:
            q.abandoned = int(abandoned)

    def prune(self, items: list[Mapping[str, Any]], now: float, out: list[Effect]) -> None:
        """Forget the members a full snapshot of their queue no longer lists (removed from
        queues.conf across a PBX restart, or renamed: ``PJSIP/6001`` became
        ``Local/6001@from-queue/n``), so no action is ever sent to a stale interface."""
        listed: dict[str, set[str]] = {}
        for e in items:
            kind = first(e.get("Event"))
            if kind == "QueueParams":
                listed.setdefault(first(e.get("Queue")), set())
            elif kind == "QueueMember":
                listed.setdefault(first(e.get("Queue")), set()).add(
                    first(e.get("Interface")) or first(e.get("Location")))
        for qname, ifaces in listed.items():
            for iface in [i for i in self.queue(qname).members if i not in ifaces]:
                self.on_member_removed({"Queue": qname, "Interface": iface}, now, out)

    def calls_taken_rises(self, items: list[Mapping[str, Any]]) -> dict[str, list[str]]:
        """Per queue, one agent (extension, else interface) per call answered since the
        members were last seen: the rise of each member's ``CallsTaken`` in a snapshot."""
        rises: dict[str, list[str]] = {}
        for e in items:
            if first(e.get("Event")) != "QueueMember":
                continue
            qname, m = self.member_of(e)
            taken = num(e.get("CallsTaken"))
            if m is None or m.calls_taken is None or taken is None:
                continue
            rises.setdefault(qname, []).extend(
                [m.extension or m.interface] * max(0, int(taken) - m.calls_taken))
        return rises
