"""``Telephony``: the facade the web layer builds from settings and calls.

It owns one :class:`~telephony.bridge.PbxBridge` per configured PBX, merges their live views,
and turns user intents (click-to-call, transfer, spy, record...) into AMI actions on the
right PBX and channel. Every action has a reply timeout and raises :class:`PbxUnavailable`,
:class:`ActionFailed` (with Asterisk's message) or :class:`ActionTimeout`.
"""

from __future__ import annotations

import asyncio
import itertools
import re
import time
from typing import Any

from tickets import messages
from tickets.bus import Bus

from .agents import AgentInterfaces
from .ami import first
from .bridge import PbxBridge
from .own_calls import OWN_ACCOUNT_PREFIX, OWN_PREFIX
from .ports import (
    ActionFailed,
    CallDirectory,
    CallNotFound,
    PbxConfig,
    PbxUnavailable,
    parse_ami_urls,
)
from .tracker import Call, Leg

_EXT_RE = re.compile(r"^\d{2,10}$")
_NUMBER_RE = re.compile(r"^\+?[0-9*#]{2,32}$")
#: A dialplan context or extension name (no spaces, commas or line breaks: they reach AMI).
_DIALPLAN_RE = re.compile(r"^[A-Za-z0-9_+*#.-]{1,80}$")
_SPY_OPTIONS = {"listen": "qE", "whisper": "qwE", "barge": "qBE"}
_ORIGINATE_REASONS = {"0": "failed (no such extension or number)", "1": "hung up",
                      "3": "no answer", "4": "answered", "5": "busy", "8": "congestion"}
_ids = itertools.count(1)


def _check_ext(extension: str) -> str:
    if not _EXT_RE.match(str(extension)):
        raise ValueError(f"not an extension: {extension!r}")
    return str(extension)


class Telephony:
    """All PBXs of ``HOTLINE_AMI_URL`` behind one object.

    ``agent_context`` is the dialplan context used to reach an extension or an outside
    number (``HOTLINE_AGENT_CONTEXT``, default ``hotline-agents`` as in
    ``asterisk_conf/extensions.conf``; the lab captures used ``internal``).
    ``agent_interfaces`` maps queue-member interfaces no rule can read to extensions
    (``HOTLINE_AGENT_INTERFACES``, see :mod:`telephony.agents`).
    """

    def __init__(self, pbxs: list[PbxConfig], bus: Bus, directory: CallDirectory,
                 default_region: str = "CN", *, agent_context: str = "hotline-agents",
                 outbound_context: str | None = None, originate_timeout: float = 30.0,
                 recording_dir: str = "/var/spool/asterisk/monitor/hotline",
                 agent_interfaces: dict[str, str] | None = None,
                 **bridge_options: Any) -> None:
        self.agents = AgentInterfaces(agent_interfaces)
        self.bus = bus
        self.directory = directory
        self.region = default_region
        self.agent_context = agent_context
        self.outbound_context = outbound_context or agent_context
        self.originate_timeout = originate_timeout
        self.recording_dir = recording_dir.rstrip("/")
        self.bridges: dict[str, PbxBridge] = {
            p.name: PbxBridge(p, bus, directory, region=default_region, agents=self.agents,
                              **bridge_options)
            for p in pbxs}

    @classmethod
    def from_url(cls, ami_url: str | None, bus: Bus, directory: CallDirectory,
                 default_region: str = "CN", **options: Any) -> Telephony:
        """Build from ``HOTLINE_AMI_URL`` (unset or empty: no PBX, every action raises
        PbxUnavailable). A malformed URL raises ValueError at startup, not at first call."""
        return cls(parse_ami_urls(ami_url or ""), bus, directory, default_region, **options)

    async def start(self) -> None:
        for b in self.bridges.values():
            await b.start()

    async def stop(self) -> None:
        await asyncio.gather(*(b.stop() for b in self.bridges.values()))

    # ------------------------------------------------------------------ views
    def live_calls(self) -> list[dict[str, Any]]:
        """Every live call, with the customer its pop found (name, tier) when known."""
        now = time.time()
        out = []
        for b in self.bridges.values():
            for call in b.tracker.live_calls(now):
                found = b.known_customer(call["call_id"])
                call["customer"] = None if found is None else {
                    k: found.get(k) for k in ("id", "name", "tier", "vip")}
                out.append(call)
        return out

    def queues(self) -> list[messages.QueueStats]:
        now = time.time()
        return [q for b in self.bridges.values() for q in b.tracker.queue_stats(now)]

    def agent_stats(self) -> list[messages.AgentStats]:
        """Every agent's live state and day (``agent_stats`` messages), all PBXs."""
        now = time.time()
        return [a for b in self.bridges.values() for a in b.stats.agent_messages(now)]

    def trend(self, minutes: int) -> dict[str, list[dict[str, Any]]]:
        """Per queue, the per-minute samples (waiting, longest wait, 15-minute SL) of the
        last ``minutes`` minutes, oldest first. A queue name two PBXs share is keyed
        ``pbx:queue`` for the second."""
        now = time.time()
        out: dict[str, list[dict[str, Any]]] = {}
        for b in self.bridges.values():
            for name, points in b.stats.trend(minutes, now).items():
                out[name if name not in out else f"{b.name}:{name}"] = points
        return out

    def link_ticket(self, call_id: str, ticket_id: int) -> None:
        """A ticket was made for a live call: the agents on it show it (``agent_stats``)."""
        for b in self.bridges.values():
            if call_id.startswith(f"{b.name}:"):
                b.stats.link_ticket(call_id, ticket_id)

    def state(self) -> list[messages.PbxState]:
        return [b.status() for b in self.bridges.values()]

    def load(self) -> dict[str, dict[str, int]]:
        """Each PBX's back-pressure and shedding counters (:meth:`PbxBridge.load`)."""
        return {name: b.load() for name, b in self.bridges.items()}

    # ------------------------------------------------------------------ lookup helpers
    def bridge(self, pbx: str | None = None) -> PbxBridge:
        if pbx is None:
            if not self.bridges:
                raise PbxUnavailable("no PBX configured (HOTLINE_AMI_URL is unset)")
            connected = [b for b in self.bridges.values() if b.logged_in]
            return connected[0] if connected else next(iter(self.bridges.values()))
        try:
            return self.bridges[pbx]
        except KeyError:
            raise PbxUnavailable(f"unknown PBX {pbx!r}") from None

    def _call(self, call_id: str) -> tuple[PbxBridge, Call]:
        pbx, sep, linkedid = call_id.partition(":")
        if not sep:
            raise ActionFailed("lookup", f"not a call id: {call_id!r}")
        b = self.bridge(pbx)
        call = b.tracker.calls.get(linkedid)
        if call is None:
            raise CallNotFound("lookup", f"no live call {call_id}")
        return b, call

    def call_owners(self, call_id: str) -> frozenset[str]:
        """The extensions live call ``call_id`` is on (:meth:`Call.owners`).

        Raises :class:`CallNotFound` when the id names no live call of a configured PBX
        (a malformed id or an unknown PBX name included: to the caller it is no such call).
        """
        pbx, sep, linkedid = call_id.partition(":")
        bridge = self.bridges.get(pbx) if sep else None
        call = bridge.tracker.calls.get(linkedid) if bridge is not None else None
        if call is None:
            raise CallNotFound("lookup", f"no live call {call_id}")
        return call.owners()

    def _channel(self, target: str, role: str) -> tuple[PbxBridge, str]:
        """A channel name from a call id (``role``: agent | caller) or a channel name."""
        if "/" in target:  # already a channel, e.g. PJSIP/6001-0000000d[@pbx]
            channel, _, pbx = target.partition("@")
            return self.bridge(pbx or None), channel
        b, call = self._call(target)
        legs = call.live_legs()
        if role == "caller":
            leg = call.legs.get(call.linkedid)
            if leg is not None and leg.alive:
                return b, leg.channel
            legs = [x for x in legs if x.extension is None] or legs
        else:
            mine = [x for x in legs if x.extension and x.extension == call.agent]
            legs = mine or [x for x in legs if x.extension] or legs
        if not legs:
            raise ActionFailed("lookup", f"call {target} has no live channel")
        return b, legs[-1].channel

    # ------------------------------------------------------------------ actions
    async def originate(self, extension: str, number: str, pbx: str | None = None, *,
                        wait: bool = False, caller_id: str | None = None) -> dict[str, Any]:
        """Click-to-call: ring ``extension``'s phone, then dial ``number`` from it.

        Returns once Asterisk has queued the call (``wait=False``) or once the agent's
        phone answered (``wait=True``; a busy/unanswered phone raises ActionFailed).
        """
        ext = _check_ext(extension)
        num = str(number).replace(" ", "").replace("-", "")
        if not _NUMBER_RE.match(num):
            raise ValueError(f"not a dialable number: {number!r}")
        b = self.bridge(pbx)
        aid = f"hotline-originate-{next(_ids)}"
        done = b.expect_originate(aid) if wait else None
        context = self.agent_context if _EXT_RE.match(num) and len(num) <= 6 \
            else self.outbound_context
        try:
            await b.action({"Action": "Originate", "ActionID": aid,
                            "Channel": f"PJSIP/{ext}", "Context": context, "Exten": num,
                            "Priority": "1", "Async": "true",
                            "Timeout": str(int(self.originate_timeout * 1000)),
                            "CallerID": caller_id or f"Hotline <{num}>",
                            "Variable": f"HOTLINE_ORIGINATED_BY={ext}"},
                           as_list=False)
        except BaseException:
            if done is not None:
                b._originates.pop(aid, None)
            raise
        result: dict[str, Any] = {"pbx": b.name, "action_id": aid, "extension": ext,
                                  "number": num}
        if done is None:
            return result
        try:
            event = await asyncio.wait_for(done, self.originate_timeout + 10)
        except TimeoutError:
            b._originates.pop(aid, None)
            raise ActionFailed("Originate", "no OriginateResponse from Asterisk") from None
        if first(event.get("Response")) != "Success":
            reason = first(event.get("Reason"))
            raise ActionFailed("Originate",
                               f"{ext}: {_ORIGINATE_REASONS.get(reason, 'failed')} "
                               f"(reason {reason})")
        uid = first(event.get("Uniqueid"))
        result.update(channel=first(event.get("Channel")), uniqueid=uid,
                      call_id=f"{b.name}:{uid}")
        return result

    async def blind_transfer(self, target: str, extension: str,
                             context: str | None = None) -> None:
        """Transfer the customer to ``extension``: the agent's channel is the transferer."""
        b, channel = self._channel(target, "agent")
        await b.action({"Action": "BlindTransfer", "Channel": channel,
                        "Context": context or self.agent_context,
                        "Exten": _check_ext(extension)})

    async def attended_transfer(self, target: str, extension: str,
                                context: str | None = None) -> None:
        """Consult ``extension`` first (Atxfer); the agent completes by hanging up."""
        b, channel = self._channel(target, "agent")
        await b.action({"Action": "Atxfer", "Channel": channel,
                        "Context": context or self.agent_context,
                        "Exten": _check_ext(extension)})

    async def redirect(self, target: str, context: str, extension: str,
                       priority: int = 1) -> None:
        """Move the caller's channel of ``target`` (a call id or a channel name) to
        ``context``/``extension``/``priority`` (AMI ``Redirect``): the IVR's "0" hands the
        caller to the support queue this way; the leg the caller was bridged to hangs up."""
        if not _DIALPLAN_RE.match(context) or not _DIALPLAN_RE.match(extension):
            raise ValueError(f"not a dialplan location: {context!r}, {extension!r}")
        b, channel = self._channel(target, "caller")
        await b.action({"Action": "Redirect", "Channel": channel, "Context": context,
                        "Exten": extension, "Priority": str(int(priority))})

    async def hangup(self, target: str, cause: int = 16) -> None:
        b, channel = self._channel(target, "caller")
        await b.action({"Action": "Hangup", "Channel": channel, "Cause": str(cause)})

    async def queue_add(self, queue: str, interface: str, *, paused: bool = False,
                        member_name: str | None = None, penalty: int = 0,
                        pbx: str | None = None) -> None:
        fields = {"Action": "QueueAdd", "Queue": queue, "Interface": interface,
                  "Penalty": str(penalty), "Paused": "true" if paused else "false"}
        if member_name:
            fields["MemberName"] = member_name
        await self.bridge(pbx).action(fields)

    async def queue_remove(self, queue: str, interface: str, pbx: str | None = None) -> None:
        await self.bridge(pbx).action({"Action": "QueueRemove", "Queue": queue,
                                       "Interface": interface})

    async def queue_pause(self, interface: str, paused: bool, reason: str | None = None, *,
                          queue: str | None = None, pbx: str | None = None) -> None:
        fields = {"Action": "QueuePause", "Interface": interface,
                  "Paused": "true" if paused else "false"}
        if queue:
            fields["Queue"] = queue
        if reason and paused:
            fields["Reason"] = reason
        await self.bridge(pbx).action(fields)

    def member_interfaces(self, extension: str, queue: str | None = None,
                          pbx: str | None = None) -> tuple[PbxBridge, list[tuple[str, str]]]:
        """The ``(queue, interface)`` memberships of an agent, as the PBX reported them.

        Actions must name the interface the member really has (``Local/6001@from-queue/n``
        is not ``PJSIP/6001``). An agent the queue snapshot does not list (yet) falls back
        to the configured interface for the extension, else ``PJSIP/<ext>``.
        """
        ext = _check_ext(extension)
        b = self.bridge(pbx)
        found = b.tracker.book.interfaces_of(ext, queue)
        if found:
            return b, found
        return b, [(queue or "", self.agents.interface_of(ext) or f"PJSIP/{ext}")]

    async def pause_agent(self, extension: str, paused: bool, reason: str | None = None,
                          *, queue: str | None = None, pbx: str | None = None) -> list[str]:
        """Pause/unpause an agent in every queue (or ``queue``); returns the interfaces."""
        b, members = self.member_interfaces(extension, queue, pbx)
        done: list[str] = []
        for iface in dict.fromkeys(i for _, i in members):
            await self.queue_pause(iface, paused, reason, queue=queue, pbx=b.name)
            done.append(iface)
        return done

    async def remove_agent(self, extension: str, queue: str, pbx: str | None = None) -> str:
        """Remove an agent from ``queue`` by the interface it has there."""
        b, members = self.member_interfaces(extension, queue, pbx)
        iface = members[0][1]
        await self.queue_remove(queue, iface, pbx=b.name)
        return iface

    def memberships(self, extension: str, queue: str | None = None,
                    pbx: str | None = None) -> list[tuple[str, str]]:
        """``[(queue, interface)]`` the PBX lists for the agent (all queues, or ``queue``);
        empty when it lists none (unlike :meth:`member_interfaces`, no fallback guess)."""
        return self.bridge(pbx).tracker.book.interfaces_of(_check_ext(extension), queue)

    async def log_out_agent(self, extension: str, queue: str | None = None,
                            pbx: str | None = None) -> list[tuple[str, str]]:
        """QueueRemove the agent from ``queue``, or from every queue the PBX lists it in,
        each by the interface it has there; returns the ``(queue, interface)`` removed.
        Raises :class:`ActionFailed` when the agent is in no such queue (nothing to do)."""
        b = self.bridge(pbx)
        found = self.memberships(extension, queue, b.name)
        if not found:
            where = f"queue {queue!r}" if queue else "any queue"
            raise ActionFailed("QueueRemove", f"{extension} is not a member of {where}")
        for qname, iface in found:
            await self.queue_remove(qname, iface, pbx=b.name)
        return found

    async def spy_call(self, call_id: str, supervisor_extension: str, agent_extension: str,
                       mode: str = "listen") -> dict[str, Any]:
        """Spy on ``agent_extension``'s channel in *this* call.

        Raises :class:`CallNotFound` for no such live call and :class:`ActionFailed` when the
        call has no live leg of that agent (ChanSpy would otherwise pick any of its calls).
        """
        if mode not in _SPY_OPTIONS:
            raise ValueError(f"spy mode must be one of {sorted(_SPY_OPTIONS)}: {mode!r}")
        sup = _check_ext(supervisor_extension)
        tgt = _check_ext(agent_extension)
        b, call = self._call(call_id)
        leg = _agent_leg(call, tgt)
        if leg is None:
            raise ActionFailed("ChanSpy", f"agent {tgt} is not on call {call_id}")
        # Marked as Hotline's own helper call, so the tracker never takes the supervisor's
        # leg for a customer call (telephony/own_calls.py).
        await b.action({"Action": "Originate", "Channel": f"PJSIP/{sup}",
                        "Application": "ChanSpy",
                        "Data": f"{leg.channel},{_SPY_OPTIONS[mode]}",
                        "Async": "true", "CallerID": f"Spy {mode} <{tgt}>",
                        "ChannelId": f"{OWN_PREFIX}spy-{time.time():.0f}-{next(_ids)}",
                        "Account": f"{OWN_ACCOUNT_PREFIX}spy",
                        "Variable": ["HOTLINE_PURPOSE=spy", f"HOTLINE_SERVES={call.call_id}"],
                        "Timeout": str(int(self.originate_timeout * 1000))}, as_list=False)
        return {"pbx": b.name, "supervisor": sup, "target": tgt, "mode": mode,
                "call_id": call.call_id, "channel": leg.channel}

    async def start_recording(self, target: str, filename: str | None = None) -> str:
        """MixMonitor the call (both directions); returns the recording path on the PBX."""
        b, channel = self._channel(target, "caller")
        name = filename or re.sub(r"[^A-Za-z0-9_.-]", "_", target) + ".wav"
        path = f"{self.recording_dir}/{name}"
        await b.action({"Action": "MixMonitor", "Channel": channel, "File": path,
                        "Options": "b"})
        return path

    async def stop_recording(self, target: str) -> None:
        b, channel = self._channel(target, "caller")
        await b.action({"Action": "StopMixMonitor", "Channel": channel})


def _agent_leg(call: Call, extension: str) -> Leg | None:
    """The agent's live channel in ``call``: its own device before a Local/… helper."""
    legs = [x for x in call.live_legs() if x.extension == extension]
    legs.sort(key=lambda x: x.channel.lower().startswith("local/"))
    return legs[0] if legs else None
