"""A fake Asterisk AMI server over real TCP that replays the real captures.

It is a small PBX simulation rather than a byte player: playing a capture applies its events
to a channel/queue table (so CoreShowChannels, QueueStatus and Command answer with the state
*now*, like Asterisk after a reconnect), calls go on while no client is connected, and ids
are rewritten per play so one capture can be many distinct calls. Actions are answered the
way Asterisk 22 answered them in telephony/captures/d_actions.log; a play can wait at a
recorded action response (e.g. BlindTransfer) until a client sends that action. On a call a
recording drives without such a gate (the demo PBX's), a client's Hangup or BlindTransfer
stops the recording and the PBX acts the rest out (legs hang up; the transfer target rings,
answers, talks, hangs up).

Faults: :meth:`cut` (drop every connection), :meth:`restart` (listener down and up, calls
lost like an Asterisk restart), :meth:`send_raw` (garbage, half frames, huge headers),
``silent`` (stop writing: a dead link that stays open), ``fragment`` (split every write in
tiny TCP pieces), :meth:`flood`. Field shapes: ``restart(boot_time=…)`` (logins accepted
before app_queue is loaded: queue actions answer "Invalid/unknown command" and FullyBooted
comes late, as seen in f_live_session), ``play(late_caller=True)`` (a trunk that sends the
caller ID after Newchannel) and :meth:`use_member_interfaces` (FreePBX-style members).

Call bursts: :func:`burst_call` builds the bytes of one minimal unique-caller call (its
start and its hangups) for the burst tests and tests/bench/bench_burst.py, written with
:meth:`FakeAsterisk.broadcast` at whatever rate the test wants.

Used by the demo PBX (no real PBX configured), tests/telephony, the web/console tests and
tests/bench/bench_ami.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from telephony.ami import encode_action

from .captures import timed_messages

_UID_RE = re.compile(r"\b17954\d{5}\.\d+\b")
_CHAN_RE = re.compile(r"\b(PJSIP/[A-Za-z0-9_]+)-([0-9a-f]{8})\b")
_UUID_RE = re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b")
_CAPTURE_CALLERS = ("+15551230001", "+15551230002", "+15551230004", "+15551230005")
_CAPTURE_NAMES = ("Jane Doe", "John Roe", "Ann Lee", "Eve Poe")
_AGENT_RE = re.compile(r"(?<![\d.])(6001|6002)(?!\d)")

CAPTURE_GATES = {
    # capture -> {recorded ActionID: action name to wait for}
    "e_queue_blind_transfer": {"xfer-1": "BlindTransfer"},
    "d_actions": {"hangup-1": "Hangup"},
}
_NEWCALLERID_KEYS = ("Privilege", "Channel", "ChannelState", "ChannelStateDesc", "CallerIDNum",
                     "CallerIDName", "ConnectedLineNum", "ConnectedLineName", "Language",
                     "AccountCode", "Context", "Exten", "Priority", "Uniqueid", "Linkedid")
TRIGGERS = {"c_originate_click_to_call": "c2c-0001", "c2_originate_busy": "c2c-0002"}


def _msg_bytes(msg: dict[str, Any]) -> bytes:
    return encode_action(msg)


def _parse_action(raw: bytes) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for line in raw.decode("utf-8", "replace").split("\r\n"):
        k, sep, v = line.partition(": ")
        if not sep:
            k, sep, v = line.partition(":")
            if not sep:
                continue
        if k in out:
            prev = out[k]
            out[k] = [*prev, v] if isinstance(prev, list) else [prev, v]
        else:
            out[k] = v
    return out


def burst_call(n: int, base: int = 1_900_000_000, ring: str | None = "6001"
               ) -> tuple[bytes, bytes]:
    """(start, hangup) AMI bytes of call ``n`` of a burst: an inbound ``Newchannel`` from a
    caller of its own (``+86139`` + n), Linkedid ``<base>.<2n>``; with ``ring``, a leg to
    that agent extension that rings (``Newchannel`` + ``Newstate Ringing``: a screen pop);
    the hangup bytes end every leg (the agent's first: no answer)."""
    uid = f"{base}.{2 * n}"
    phone = f"+86139{n % 100_000_000:08d}"
    trunk = f"PJSIP/trunk-{n:08x}"
    start = [_msg_bytes({"Event": "Newchannel", "Privilege": "call,all", "Channel": trunk,
                         "ChannelState": "4", "ChannelStateDesc": "Ring",
                         "CallerIDNum": phone, "CallerIDName": f"Burst {n}",
                         "ConnectedLineNum": "<unknown>", "ConnectedLineName": "<unknown>",
                         "Language": "en", "AccountCode": "", "Context": "from-trunk",
                         "Exten": "4000", "Priority": "1", "Uniqueid": uid, "Linkedid": uid})]
    end = []
    if ring:
        leg = {"Channel": f"PJSIP/{ring}-{n:08x}", "CallerIDNum": ring, "CallerIDName": ring,
               "ConnectedLineNum": phone, "ConnectedLineName": f"Burst {n}",
               "Language": "en", "AccountCode": "", "Context": "from-internal",
               "Exten": ring, "Priority": "1", "Uniqueid": f"{base}.{2 * n + 1}",
               "Linkedid": uid}
        start.append(_msg_bytes({"Event": "Newchannel", "Privilege": "call,all",
                                 "ChannelState": "0", "ChannelStateDesc": "Down", **leg}))
        start.append(_msg_bytes({"Event": "Newstate", "Privilege": "call,all",
                                 "ChannelState": "5", "ChannelStateDesc": "Ringing", **leg}))
        end.append(_msg_bytes({"Event": "Hangup", "Privilege": "call,all", "Cause": "19",
                               "Cause-txt": "No answer", "ChannelState": "5",
                               "ChannelStateDesc": "Ringing", **leg}))
    end.append(_msg_bytes({"Event": "Hangup", "Privilege": "call,all", "Channel": trunk,
                           "Uniqueid": uid, "Linkedid": uid, "Cause": "16",
                           "Cause-txt": "Normal Clearing", "ChannelState": "4",
                           "ChannelStateDesc": "Ring"}))
    return b"".join(start), b"".join(end)


class _Keyed:
    """Makes a recorded caller key other digits at the IVR (the captures all key ``478#``).

    The recorded digit events (DTMFBegin/DTMFEnd, not ``#``) give way to one Begin/End pair
    per keyed digit, sent where the first recorded digit was; the dialplan's variables and
    extensions that carry the recorded number (``DIGITS``, ``ORDER``, ``ORDER=478``) carry
    the keyed one (``ORDER=478`` in a ``Set()``'s AppData becomes ``ORDER=<keyed>``). ``None``
    leaves the capture as recorded.
    """

    RECORDED = "478"
    VARIABLES = frozenset({"DIGITS", "ORDER", "HOTLINE_ORDER"})

    def __init__(self, keyed: str | None) -> None:
        if keyed is not None and not keyed.isdigit() and keyed != "":
            raise ValueError(f"keyed: digits only, got {keyed!r}")
        self.keyed = keyed
        self.sent = False

    def apply(self, msg: dict[str, Any]) -> list[dict[str, Any]]:
        """The messages to send in place of ``msg``."""
        if self.keyed is None:
            return [msg]
        event = msg.get("Event")
        if event in ("DTMFBegin", "DTMFEnd") and msg.get("Digit", "#") != "#":
            if self.sent or event == "DTMFEnd":
                return []
            self.sent = True
            return [{**msg, "Event": kind, "Digit": d, **({"DurationMs": "120"}
                                                          if kind == "DTMFEnd" else {})}
                    for d in self.keyed for kind in ("DTMFBegin", "DTMFEnd")]
        if event == "VarSet" and msg.get("Variable") in self.VARIABLES:
            return [{**msg, "Value": self.keyed}]
        if event == "Newexten" and str(msg.get("AppData", "")).endswith("=" + self.RECORDED):
            data = str(msg["AppData"])
            return [{**msg, "AppData": data[: -len(self.RECORDED)] + self.keyed}]
        return [msg]


def _leg(ch: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """A channel's identity fields as events carry them (``prefix``: Dest, Transferer...)."""
    return {f"{prefix}{k}": v for k, v in ch.items()
            if not k.startswith("_") and k not in ("Application", "ApplicationData",
                                                    "BridgeId")}


def _hangup(ch: dict[str, Any], cause: str = "16",
            text: str = "Normal Clearing") -> dict[str, Any]:
    return {"Event": "Hangup", "Privilege": "call,all", **_leg(ch), "Cause": cause,
            "Cause-txt": text}


class _Session:
    def __init__(self, server: FakeAsterisk, reader: asyncio.StreamReader,
                 writer: asyncio.StreamWriter) -> None:
        self.server = server
        self.reader = reader
        self.writer = writer
        self.logged_in = False
        self.events = True
        self.lock = asyncio.Lock()
        self.closed = False

    async def send(self, data: bytes) -> None:
        if self.closed or self.server.silent:
            return
        async with self.lock:
            try:
                frag = self.server.fragment
                if frag:
                    for i in range(0, len(data), frag):
                        self.writer.write(data[i:i + frag])
                        await asyncio.sleep(0.0002)
                else:
                    self.writer.write(data)
                if self.writer.transport.get_write_buffer_size() > 1 << 20:
                    await self.writer.drain()
            except (ConnectionError, RuntimeError):
                self.abort()

    def abort(self) -> None:
        if not self.closed:
            self.closed = True
            with contextlib.suppress(Exception):
                self.writer.transport.abort()


@dataclass
class PlayResult:
    """What a play created: the rewritten Linkedids (call ids are ``pbx:<linkedid>``)."""

    linkedids: list[str] = field(default_factory=list)
    done: asyncio.Event = field(default_factory=asyncio.Event)


class FakeAsterisk:
    """Fake AMI server. ``await start()``, ``port``, ``await play(name)``, ``await stop()``."""

    banner = b"Asterisk Call Manager/11.0.0\r\n"

    def __init__(self, username: str = "bridge", secret: str = "bridgepass") -> None:
        self.username = username
        self.secret = secret
        self.port = 0
        self._server: asyncio.Server | None = None
        self.sessions: list[_Session] = []
        self.channels: dict[str, dict[str, Any]] = {}
        self.members: dict[str, dict[str, dict[str, Any]]] = {"support": {
            iface: {"Name": f"Agent {iface[-4:]}", "Location": iface, "StateInterface": iface,
                    "Membership": "static", "Penalty": "0", "CallsTaken": "0",
                    "LastCall": "0", "LastPause": "0", "LoginTime": "1795407630",
                    "InCall": "0", "Status": "1", "Paused": "0", "PausedReason": "",
                    "Wrapuptime": "0"}
            for iface in ("PJSIP/6001", "PJSIP/6002")}}
        self.entries: dict[str, dict[str, dict[str, Any]]] = {"support": {}}
        # Queue counters as app_queue keeps them: Completed rises when an answered call
        # ends (with AgentComplete and the member's CallsTaken), Abandoned on abandon.
        self.completed: dict[str, int] = {}
        self.abandoned: dict[str, int] = {}
        self.silent = False
        #: While set, new connections are dropped at once (a play's ``down_events``).
        self.refusing = False
        self.fragment = 0
        self.originate_outcome = "answer"  # or "busy"
        self.logins = 0
        self.failed_logins = 0
        self.actions: list[dict[str, Any]] = []
        self._counter = itertools.count(5000)
        self._chan_counter = itertools.count(0x1000)
        self._gates: dict[str, list[asyncio.Future[tuple[_Session, str]]]] = {}
        self._early: dict[str, list[tuple[_Session, str]]] = {}
        self._expected: dict[str, int] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._plays: dict[asyncio.Task[Any], PlayResult] = {}
        # A blind transfer acted out on a recorded call: the target rings, then talks (s).
        self.acted_transfer_s = (2.0, 8.0)
        self._epoch = int(time.time())
        self._booted_at = 0.0  # monotonic time app_queue is loaded (restart(boot_time=…))
        self._iface_alias: dict[str, tuple[str, str]] = {}  # PJSIP/6001 -> (iface, state)

    # ------------------------------------------------------------------ lifecycle
    async def start(self, port: int | None = None) -> int:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1",
                                                  port if port is not None else self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    async def stop(self) -> None:
        for t in list(self._tasks):
            t.cancel()
        self.cut()
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 1)
            self._server = None

    async def restart(self, down_for: float = 0.0, lose_calls: bool = True,
                      boot_time: float = 0.0) -> None:
        """Like an Asterisk restart: every session dropped, listener gone, calls lost.

        ``boot_time``: seconds after the listener is back during which modules still load
        (queue actions fail, no FullyBooted at login); then FullyBooted goes to everyone.
        """
        if self._server is not None:
            self._server.close()
            self._server = None
        self.cut()
        if lose_calls:
            for t in list(self._tasks):
                t.cancel()
            self.channels.clear()
            for q in self.entries.values():
                q.clear()
        await asyncio.sleep(down_for)
        self._booted_at = time.monotonic() + boot_time
        await self.start(self.port)
        if boot_time > 0:
            task = asyncio.ensure_future(self._finish_boot(boot_time))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    @property
    def booted(self) -> bool:
        return time.monotonic() >= self._booted_at

    async def _finish_boot(self, after: float) -> None:
        await asyncio.sleep(after)
        await self.broadcast(self._fully_booted())

    def _fully_booted(self) -> bytes:
        return _msg_bytes({"Event": "FullyBooted", "Privilege": "system,all",
                           "Uptime": "8", "LastReload": "8", "Status": "Fully Booted"})

    def use_member_interfaces(self, aliases: dict[str, tuple[str, str]]) -> None:
        """Members named another way, e.g. ``{"PJSIP/6001": ("Local/6001@from-queue/n",
        "hint:6001@ext-local")}`` (FreePBX): the queue tables and every ``Interface`` /
        ``StateInterface`` the plays emit use the alias, as app_queue would."""
        self._iface_alias.update(aliases)
        for members in self.members.values():
            for old, (iface, state) in aliases.items():
                m = members.pop(old, None)
                if m is not None:
                    members[iface] = {**m, "Location": iface, "StateInterface": state}

    def cut(self) -> None:
        """Drop every client connection (RST), calls continue."""
        for s in self.sessions:
            s.abort()
        self.sessions.clear()

    async def wait_logged_in(self, n: int = 1, within: float = 5.0) -> None:
        deadline = time.monotonic() + within
        while sum(1 for s in self.sessions if s.logged_in and not s.closed) < n:
            if time.monotonic() > deadline:
                raise TimeoutError(f"no {n} logged-in AMI session(s) within {within}s")
            await asyncio.sleep(0.005)

    # ------------------------------------------------------------------ output
    async def broadcast(self, data: bytes) -> None:
        for s in list(self.sessions):
            if s.logged_in and s.events:
                await s.send(data)

    async def send_raw(self, data: bytes) -> None:
        """Write bytes as-is to every logged-in session (garbage, half frames...)."""
        for s in list(self.sessions):
            if s.logged_in:
                await s.send(data)

    async def flood(self, n: int, channel: str = "PJSIP/customer-0000ffff") -> None:
        """``n`` noise events (RTCPSent-like), as fast as the socket takes them."""
        chunk = []
        for i in range(n):
            chunk.append(_msg_bytes({"Event": "RTCPSent", "Privilege": "reporting,all",
                                     "Channel": channel, "SSRC": str(i), "PT": "200(SR)"}))
            if len(chunk) == 200:
                await self.broadcast(b"".join(chunk))
                chunk.clear()
        if chunk:
            await self.broadcast(b"".join(chunk))

    # ------------------------------------------------------------------ playing captures
    # Complexity waived while the demo PBX extends the simulator (issue #8 section 1).
    def _rewriter(self, caller: str | None, caller_name: str | None = None,  # noqa: C901
                  agents: dict[str, str] | None = None,
                  ) -> tuple[Callable[[dict[str, Any]], dict[str, Any]], dict[str, str]]:
        uids: dict[str, str] = {}
        chans: dict[str, str] = {}
        bridges: dict[str, str] = {}

        def uid(m: re.Match[str]) -> str:
            if m.group(0) not in uids:
                uids[m.group(0)] = f"{self._epoch}.{next(self._counter)}"
            return uids[m.group(0)]

        def chan(m: re.Match[str]) -> str:
            key = m.group(0)
            if key not in chans:
                chans[key] = f"{m.group(1)}-{next(self._chan_counter):08x}"
            return chans[key]

        def br(m: re.Match[str]) -> str:
            if m.group(0) not in bridges:
                bridges[m.group(0)] = str(uuid.uuid4())
            return bridges[m.group(0)]

        def agent(m: re.Match[str]) -> str:
            return (agents or {}).get(m.group(1), m.group(1))

        def rewrite(msg: dict[str, Any]) -> dict[str, Any]:
            out: dict[str, Any] = {}
            for k, v in msg.items():
                if isinstance(v, str):
                    if agents:  # before the ids are rewritten: no id can look like 6001
                        v = _AGENT_RE.sub(agent, v)
                    v = _UID_RE.sub(uid, v)
                    v = _CHAN_RE.sub(chan, v)
                    v = _UUID_RE.sub(br, v)
                    if caller and v in _CAPTURE_CALLERS:
                        v = caller
                    elif caller_name is not None and v in _CAPTURE_NAMES:
                        v = caller_name
                out[k] = v
            return out

        return rewrite, uids

    def script(self, name: str) -> list[tuple[float, dict[str, Any]]]:
        """The capture's messages a PBX would emit by itself (+ gated action responses)."""
        gates = CAPTURE_GATES.get(name, {})
        trig = TRIGGERS.get(name)
        out = []
        for t, m in timed_messages(name):
            aid = m.get("ActionID")
            if "Event" in m:
                if m["Event"] in ("FullyBooted", "SuccessfulAuth", "InvalidPassword"):
                    continue  # session events, not part of the call
                if aid is None or m["Event"] == "OriginateResponse":
                    out.append((t, m))
            elif aid in gates or (trig and aid == trig):
                out.append((t, m))
        return out

    async def play(self, name: str, *, speed: float = 0.0, caller: str | None = None,
                   trigger: tuple[_Session, str] | None = None,
                   originator: str | None = None, cut_at: int | None = None,
                   down_events: int = 0, extra: dict[int, bytes] | None = None,
                   late_caller: bool = False) -> PlayResult:
        """Play a capture to completion.

        ``speed`` is the playback rate against the capture's real timing: 1.0 = real time,
        50.0 = fifty times faster, 0 (default) = no delays at all.

        ``cut_at``: drop every connection just before script message ``cut_at``, play
        ``down_events`` more messages while nobody can listen (new connections are dropped; the
        PBX goes on), then wait for a client to log in again and continue. ``extra``: raw bytes
        sent before message i.
        ``late_caller``: the caller's Newchannel says ``<unknown>`` and a NewCallerid right
        after it gives the number (ISDN/PRI and some SIP trunks).
        """
        result = PlayResult()
        await self._play(name, speed, caller, trigger, result, originator, cut_at,
                         down_events, extra, late_caller=late_caller)
        return result

    def start_play(self, name: str, *, speed: float = 0.0, caller: str | None = None,
                   trigger: tuple[_Session, str] | None = None, originator: str | None = None,
                   cut_at: int | None = None, down_events: int = 0,
                   extra: dict[int, bytes] | None = None, caller_name: str | None = None,
                   agents: dict[str, str] | None = None, gated: bool = True,
                   late_caller: bool = False, keyed: str | None = None,
                   ) -> tuple[asyncio.Task[Any], PlayResult]:
        """:meth:`play` in the background; returns (task, result); ``result.done`` is set
        at the end (the call's last event) or when the task is cancelled.

        ``caller_name`` replaces the capture's caller name; ``agents`` maps the capture's
        agent extensions (6001, 6002) to others (e.g. swap them); ``gated=False`` plays the
        capture's gated actions as done by someone else (the BlindTransfer of the transfer
        capture happens without a client asking, and its response goes to nobody);
        ``keyed`` is what the caller keys at the IVR instead of the recorded order number
        (``""``: nothing; see :class:`_Keyed`)."""
        result = PlayResult()
        task = asyncio.ensure_future(self._play(
            name, speed, caller, trigger, result, originator, cut_at, down_events, extra,
            caller_name=caller_name, agents=agents, gated=gated, late_caller=late_caller,
            keyed=keyed))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        self._plays[task] = result
        task.add_done_callback(lambda t: self._plays.pop(t, None))
        return task, result

    # Complexity waived while the demo PBX extends the simulator (issue #8 section 1).
    async def _play(self, name: str, speed: float, caller: str | None,  # noqa: C901
                    trigger: tuple[_Session, str] | None, result: PlayResult,
                    originator: str | None, cut_at: int | None = None,
                    down_events: int = 0, extra: dict[int, bytes] | None = None, *,
                    caller_name: str | None = None, agents: dict[str, str] | None = None,
                    gated: bool = True, late_caller: bool = False,
                    keyed: str | None = None) -> None:
        rewrite, uids = self._rewriter(caller, caller_name, agents)
        keys = _Keyed(keyed)
        gates = CAPTURE_GATES.get(name, {}) if gated else {}
        ungated = set() if gated else set(CAPTURE_GATES.get(name, {}))
        pending = list(gates.values())
        for gname in pending:
            self._expected[gname] = self._expected.get(gname, 0) + 1
        trig = TRIGGERS.get(name)
        prev_t: float | None = None
        try:
            for i, (t, raw) in enumerate(self.script(name)):
                if cut_at is not None and i == cut_at:
                    self.cut()
                    self.refusing = True  # away for down_events events, not a moment less
                if cut_at is not None and i == cut_at + down_events:
                    self.refusing = False
                    await self.wait_logged_in(1, within=10)
                if extra and i in extra:
                    await self.send_raw(extra[i])
                if speed and prev_t is not None and t > prev_t:
                    await asyncio.sleep((t - prev_t) / speed)
                else:
                    await asyncio.sleep(0)
                prev_t = t
                msg = rewrite(raw)
                if originator and originator != "PJSIP/6001":
                    msg = {k: (v.replace("PJSIP/6001", originator) if isinstance(v, str)
                               else v) for k, v in msg.items()}
                aid = raw.get("ActionID")
                if aid in ungated:
                    continue  # the response to an action nobody here sent
                if "Event" not in msg:
                    if trig and aid == trig and trigger is not None:
                        sess, their_id = trigger
                        await sess.send(_msg_bytes({**msg, "ActionID": their_id}))
                    elif aid in gates:
                        gname = gates[aid]
                        early = self._early.get(gname)
                        if early:  # the action came before the play got here
                            sess, their_id = early.pop(0)
                        else:
                            fut: asyncio.Future[tuple[_Session, str]] = \
                                asyncio.get_running_loop().create_future()
                            self._gates.setdefault(gname, []).append(fut)
                            sess, their_id = await fut
                        self._expected[gname] -= 1
                        pending.remove(gname)
                        await sess.send(_msg_bytes({**msg, "ActionID": their_id}))
                    continue
                if msg["Event"] == "OriginateResponse" and trigger is not None:
                    msg["ActionID"] = trigger[1]
                if msg["Event"] == "Newchannel" and msg.get("Uniqueid") == msg.get("Linkedid"):
                    result.linkedids.append(msg["Uniqueid"])
                    msg = await self._late_caller(msg) if late_caller else msg
                for out in keys.apply(msg):
                    await self._emit(self._alias(out))
        finally:
            if cut_at is not None:
                self.refusing = False
            for gname in pending:  # a play cut short no longer expects its actions
                self._expected[gname] -= 1
            result.done.set()
            del uids

    async def _late_caller(self, newchannel: dict[str, Any]) -> dict[str, Any]:
        """Emit the caller's Newchannel without its caller ID; return the NewCallerid that
        brings it (to emit next), as an ISDN/PRI trunk does."""
        await self._emit({**newchannel, "CallerIDNum": "<unknown>", "CallerIDName": "<unknown>"})
        return {**{k: newchannel[k] for k in _NEWCALLERID_KEYS if k in newchannel},
                "Event": "NewCallerid", "CID-CallingPres": "0 (Presentation Allowed, Not Screened)"}

    async def _emit(self, msg: dict[str, Any]) -> None:
        chan = self.channels.get(msg.get("Uniqueid", ""))
        if msg["Event"] == "VarSet" and chan is not None:  # for Getvar
            chan.setdefault("_vars", {})[msg.get("Variable", "")] = msg.get("Value", "")
        self._apply(msg)
        await self.broadcast(_msg_bytes(msg))

    def _alias(self, msg: dict[str, Any]) -> dict[str, Any]:
        """Member interfaces as this PBX names them (:meth:`use_member_interfaces`)."""
        alias = self._iface_alias.get(msg.get("Interface", ""))
        if alias is None:
            return msg
        out = {**msg, "Interface": alias[0]}
        if "StateInterface" in msg:
            out["StateInterface"] = alias[1]
        return out

    # Complexity waived while the demo PBX extends its actions (issue #8 section 1).
    def _apply(self, e: dict[str, Any]) -> None:  # noqa: C901
        """Keep the PBX tables in step with the events it emits (whose member counters
        are the fake's own, not the capture's)."""
        ev = e["Event"]
        uid = e.get("Uniqueid", "")
        if ev == "Newchannel":
            self.channels[uid] = {k: e.get(k, "") for k in (
                "Channel", "ChannelState", "ChannelStateDesc", "CallerIDNum", "CallerIDName",
                "ConnectedLineNum", "ConnectedLineName", "Language", "AccountCode",
                "Context", "Exten", "Priority", "Uniqueid", "Linkedid")}
            self.channels[uid].update(Application="", ApplicationData="", BridgeId="",
                                      _start=time.time())
        elif uid in self.channels and ev in ("Newstate", "NewConnectedLine", "NewCallerid"):
            for k in ("ChannelState", "ChannelStateDesc", "CallerIDNum", "CallerIDName",
                      "ConnectedLineNum", "ConnectedLineName"):
                if k in e:
                    self.channels[uid][k] = e[k]
        elif ev == "Newexten" and uid in self.channels:
            self.channels[uid].update(Application=e.get("Application", ""),
                                      ApplicationData=e.get("AppData", ""),
                                      Context=e.get("Context", ""), Exten=e.get("Exten", ""))
        elif ev == "AgentCalled" and e.get("DestUniqueid") in self.channels:
            self.channels[e["DestUniqueid"]].update(Application="AppQueue",
                                                    ApplicationData="(Outgoing Line)")
        elif ev == "BridgeEnter" and uid in self.channels:
            self.channels[uid]["BridgeId"] = e.get("BridgeUniqueid", "")
        elif ev == "BridgeLeave" and uid in self.channels:
            self.channels[uid]["BridgeId"] = ""
        elif ev == "Hangup":
            self.channels.pop(uid, None)
            for q in self.entries.values():
                q.pop(uid, None)
        elif ev == "QueueCallerJoin":
            self.entries.setdefault(e.get("Queue", ""), {})[uid] = {
                "CallerIDNum": e.get("CallerIDNum", ""),
                "CallerIDName": e.get("CallerIDName", ""), "Channel": e.get("Channel", ""),
                "Uniqueid": uid, "_join": time.time()}
        elif ev in ("QueueCallerLeave", "QueueCallerAbandon"):
            self.entries.get(e.get("Queue", ""), {}).pop(uid, None)
            if ev == "QueueCallerAbandon":
                q = e.get("Queue", "")
                self.abandoned[q] = self.abandoned.get(q, 0) + 1
        elif ev == "AgentComplete":
            q = e.get("Queue", "")
            self.completed[q] = self.completed.get(q, 0) + 1
            m = self.members.get(q, {}).get(e.get("Interface", ""))
            if m is not None:
                m["CallsTaken"] = str(int(m["CallsTaken"]) + 1)
                m["LastCall"] = str(int(time.time()))
        elif ev in ("QueueMemberStatus", "QueueMemberPause"):
            m = self.members.get(e.get("Queue", ""), {}).get(e.get("Interface", ""))
            if m is not None:
                # A device-state change (QueueMemberStatus) carries the member's pause as
                # app_queue has it *now*: a supervisor's QueuePause before the replayed call
                # holds, the capture's "Paused: 0" does not undo it. A captured pause
                # (QueueMemberPause) is the capture's own.
                mine: tuple[str, ...] = ("CallsTaken", "LastCall")
                if ev == "QueueMemberStatus":
                    mine += ("Paused", "PausedReason", "LastPause")
                for k in ("Status", "Paused", "PausedReason", "InCall"):
                    if k in e and k not in mine:
                        m[k] = e[k]
                for k in mine:  # ours, not the capture's
                    if k in e and k in m:
                        e[k] = m[k]

    # ------------------------------------------------------------------ sessions
    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.refusing:  # the link is down: the network drops what tries to come in
            writer.transport.abort()
            return
        s = _Session(self, reader, writer)
        self.sessions.append(s)
        try:
            await s.send(self.banner)
            buf = b""
            while not s.closed:
                data = await reader.read(65536)
                if not data:
                    break
                buf += data
                while b"\r\n\r\n" in buf:
                    raw, buf = buf.split(b"\r\n\r\n", 1)
                    await self._on_action(s, _parse_action(raw))
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            s.abort()
            if s in self.sessions:
                self.sessions.remove(s)

    async def _reply(self, s: _Session, aid: str | None, response: str = "Success",
                     **fields: Any) -> None:
        msg: dict[str, Any] = {"Response": response}
        if aid is not None:
            msg["ActionID"] = aid
        msg.update(fields)
        await s.send(_msg_bytes(msg))

    async def _on_action(self, s: _Session, a: dict[str, Any]) -> None:
        aid = a.get("ActionID")
        name = a.get("Action")
        self.actions.append(a)
        if not name:
            await self._reply(s, aid, "Error", Message="Missing action in request")
            return
        lname = str(name).lower()
        if lname == "login":
            if a.get("Username") == self.username and a.get("Secret") == self.secret:
                s.logged_in = True
                s.events = str(a.get("Events", "on")).lower() not in ("off", "no")
                self.logins += 1
                await self._reply(s, aid, Message="Authentication accepted")
                if self.booted:  # a booting Asterisk says it later, to every session
                    await s.send(self._fully_booted())
            else:
                self.failed_logins += 1
                await self._reply(s, aid, "Error", Message="Authentication failed")
                await asyncio.sleep(0.01)
                s.abort()
            return
        if not s.logged_in:
            await self._reply(s, aid, "Error", Message="Permission denied")
            return
        handler = getattr(self, f"_act_{lname}", None)
        if not self.booted and lname.startswith("queue"):
            handler = None  # app_queue not loaded yet: Asterisk does not know the action
        if handler is None:
            await self._reply(s, aid, "Error", Message=f"Invalid/unknown command: {name}. "
                              "Use Action: ListCommands to show available commands.")
            return
        await handler(s, aid, a)

    def _gate(self, name: str, s: _Session, aid: str) -> bool:
        waiting = self._gates.get(name)
        while waiting:
            fut = waiting.pop(0)
            if not fut.done():
                fut.set_result((s, aid))
                return True
        early = self._early.setdefault(name, [])
        if self._expected.get(name, 0) > len(early):
            early.append((s, aid))  # a running play will answer it when it gets there
            return True
        return False

    async def _act_ping(self, s: _Session, aid: str | None, a: dict[str, Any]) -> None:
        await self._reply(s, aid, Ping="Pong", Timestamp=f"{time.time():.6f}")

    async def _act_coresettings(self, s: _Session, aid: str | None,
                                a: dict[str, Any]) -> None:
        await self._reply(s, aid, AMIversion="11.0.0", AsteriskVersion="22.10.1",
                          SystemName="", CoreMaxCalls="0", CoreMaxLoadAvg="0.000000",
                          CoreRunUser="", CoreRunGroup="", CoreMaxFilehandles="0",
                          CoreRealTimeEnabled="No", CoreCDRenabled="Yes",
                          CoreHTTPenabled="No", SoundsSearchCustomDir="No")

    async def _act_logoff(self, s: _Session, aid: str | None, a: dict[str, Any]) -> None:
        await self._reply(s, aid, "Goodbye", Message="Thanks for all the fish.")
        s.abort()

    async def _act_coreshowchannels(self, s: _Session, aid: str | None,
                                    a: dict[str, Any]) -> None:
        await self._reply(s, aid, EventList="start", Message="Channels will follow")
        chunks = []
        now = time.time()
        for ch in self.channels.values():
            d = int(now - ch["_start"])
            item = {"Event": "CoreShowChannel", "ActionID": aid,
                    **{k: v for k, v in ch.items() if not k.startswith("_")},
                    "Duration": f"{d // 3600:02d}:{d // 60 % 60:02d}:{d % 60:02d}"}
            chunks.append(_msg_bytes(item))
        chunks.append(_msg_bytes({"Event": "CoreShowChannelsComplete", "ActionID": aid,
                                  "EventList": "Complete", "ListItems": len(self.channels)}))
        await s.send(b"".join(chunks))

    async def _act_queuestatus(self, s: _Session, aid: str | None, a: dict[str, Any]) -> None:
        await self._reply(s, aid, EventList="start", Message="Queue status will follow")
        chunks = []
        n = 0
        now = time.time()
        for q, members in self.members.items():
            if a.get("Queue") and a["Queue"] != q:
                continue
            entries = self.entries.get(q, {})
            chunks.append(_msg_bytes({"Event": "QueueParams", "Queue": q, "Max": "0",
                                      "Strategy": "ringall", "Calls": len(entries),
                                      "Holdtime": "0", "TalkTime": "0",
                                      "Completed": str(self.completed.get(q, 0)),
                                      "Abandoned": str(self.abandoned.get(q, 0)),
                                      "ServiceLevel": "0",
                                      "ServicelevelPerf": "0.0", "ServicelevelPerf2": "0.0",
                                      "Weight": "0", "ActionID": aid}))
            n += 1
            for m in members.values():
                chunks.append(_msg_bytes({"Event": "QueueMember", "Queue": q, **m,
                                          "ActionID": aid}))
                n += 1
            for pos, ent in enumerate(entries.values(), 1):
                chunks.append(_msg_bytes({
                    "Event": "QueueEntry", "Queue": q, "Position": pos,
                    "Channel": ent["Channel"], "Uniqueid": ent["Uniqueid"],
                    "CallerIDNum": ent["CallerIDNum"], "CallerIDName": ent["CallerIDName"],
                    "ConnectedLineNum": "<unknown>", "ConnectedLineName": "<unknown>",
                    "Wait": int(now - ent["_join"]), "Priority": "0", "ActionID": aid}))
                n += 1
        chunks.append(_msg_bytes({"Event": "QueueStatusComplete", "ActionID": aid,
                                  "EventList": "Complete", "ListItems": n}))
        await s.send(b"".join(chunks))

    async def _act_queuesummary(self, s: _Session, aid: str | None,
                                a: dict[str, Any]) -> None:
        await self._reply(s, aid, EventList="start", Message="Queue summary will follow")
        chunks = []
        for q, members in self.members.items():
            avail = sum(1 for m in members.values() if m["Paused"] == "0" and m["Status"] == "1")
            chunks.append(_msg_bytes({"Event": "QueueSummary", "Queue": q,
                                      "LoggedIn": len(members), "Available": avail,
                                      "Callers": len(self.entries.get(q, {})), "HoldTime": "0",
                                      "TalkTime": "0", "LongestHoldTime": "0",
                                      "ActionID": aid}))
        chunks.append(_msg_bytes({"Event": "QueueSummaryComplete", "ActionID": aid,
                                  "EventList": "Complete", "ListItems": len(chunks)}))
        await s.send(b"".join(chunks))

    async def _act_command(self, s: _Session, aid: str | None, a: dict[str, Any]) -> None:
        if a.get("Command") == "core show channels concise":
            out = [f"{c['Channel']}!{c['Context']}!{c['Exten']}!{c['Priority']}!"
                   f"{c['ChannelStateDesc']}!{c['Application']}!{c['ApplicationData']}!"
                   f"{c['CallerIDNum']}!!!3!0!{c['BridgeId']}!{c['Uniqueid']}"
                   for c in self.channels.values()]
        else:
            out = [f"No such command '{a.get('Command')}' (type 'core show help "
                   f"{a.get('Command')}' for other possible commands)"]
        await self._reply(s, aid, Message="Command output follows", Output=out)

    async def _act_getvar(self, s: _Session, aid: str | None, a: dict[str, Any]) -> None:
        """A channel variable the plays set (VarSet), as Asterisk answers Getvar."""
        name = str(a.get("Variable", ""))
        if not name:
            await self._reply(s, aid, "Error", Message="No variable specified")
            return
        ch = self._find_channel(a.get("Channel"))
        if a.get("Channel") and ch is None:
            await self._reply(s, aid, "Error", Message="No such channel")
            return
        value = (ch or {}).get("_vars", {}).get(name, "")
        await self._reply(s, aid, Variable=name, Value=value)

    def _find_channel(self, name: str | None) -> dict[str, Any] | None:
        return next((c for c in self.channels.values() if c["Channel"] == name), None)

    async def _act_hangup(self, s: _Session, aid: str | None, a: dict[str, Any]) -> None:
        if not a.get("Channel"):
            await self._reply(s, aid, "Error", Message="No channel specified")
            return
        ch = self._find_channel(a["Channel"])
        if ch is None:
            await self._reply(s, aid, "Error", Message="No such channel")
            return
        if self._gate("Hangup", s, aid or ""):
            return
        await self._reply(s, aid, Message="Channel Hungup")
        ev = {"Event": "Hangup", "Privilege": "call,all",
              **{k: v for k, v in ch.items() if not k.startswith("_") and k not in (
                  "Application", "ApplicationData", "BridgeId")},
              "Cause": a.get("Cause", "16"), "Cause-txt": "Normal Clearing"}
        self._apply(ev)
        await self.broadcast(_msg_bytes(ev))
        await self._end_call(ch.get("Linkedid", ""))

    async def _end_call(self, linkedid: str) -> None:
        """A hung-up leg ends its call, as in a two-party call: the play that was driving
        it stops and the call's other channels hang up too (Cause 16)."""
        for task, result in list(self._plays.items()):
            if linkedid in result.linkedids:
                task.cancel()
        for other in [c for c in self.channels.values() if c.get("Linkedid") == linkedid]:
            ev = {"Event": "Hangup", "Privilege": "call,all",
                  **{k: v for k, v in other.items() if not k.startswith("_") and k not in (
                      "Application", "ApplicationData", "BridgeId")},
                  "Cause": "16", "Cause-txt": "Normal Clearing"}
            self._apply(ev)
            await self.broadcast(_msg_bytes(ev))

    async def _act_blindtransfer(self, s: _Session, aid: str | None,
                                 a: dict[str, Any]) -> None:
        ch = self._find_channel(a.get("Channel"))
        if ch is None:
            await self._reply(s, aid, "Error", Message="No such channel")
            return
        if self._gate("BlindTransfer", s, aid or ""):
            return
        await self._reply(s, aid, Message="Transfer succeeded")
        driving = [t for t, r in self._plays.items() if ch["Linkedid"] in r.linkedids]
        if driving and a.get("Exten"):  # a recording drives the call: act the transfer out
            for task in driving:
                task.cancel()
            task = asyncio.ensure_future(self._blind_transfer(
                ch, str(a["Exten"]), str(a.get("Context", "")), *self.acted_transfer_s))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _blind_transfer(self, named: dict[str, Any], exten: str, context: str,
                              ring_s: float = 2.0, talk_s: float = 8.0) -> None:
        """A blind transfer acted out as Asterisk 22 reported one (e_queue_blind_transfer):
        the queue's losing legs and the agent's leg hang up, ``exten`` rings ``ring_s``,
        answers, talks ``talk_s``, then both sides hang up."""
        caller = self.channels.get(named["Linkedid"])
        if caller is None:
            return
        agent = named
        if named is caller:  # the caller's channel was named: its bridged agent transfers
            bridged = [c for c in self.channels.values() if c is not caller
                       and c["Linkedid"] == caller["Linkedid"] and c["BridgeId"]]
            if not bridged:
                return
            agent = bridged[0]
        for other in [c for c in self.channels.values() if c["Linkedid"] == caller["Linkedid"]
                      and c is not caller and c is not agent]:
            await self._emit(_hangup(other, "26", "Answered elsewhere"))
        await self._emit({"Event": "BlindTransfer", "Privilege": "call,all",
                          "Result": "Success", **_leg(agent, "Transferer"),
                          **_leg(caller, "Transferee"), "IsExternal": "No",
                          "Context": context, "Extension": exten})
        await self._emit(_hangup(agent))
        uid = f"{self._epoch}.{next(self._counter)}"
        await self._emit({"Event": "Newchannel", "Privilege": "call,all",
                          "Channel": f"PJSIP/{exten}-{next(self._chan_counter):08x}",
                          "ChannelState": "0", "ChannelStateDesc": "Down",
                          "CallerIDNum": exten, "CallerIDName": "<unknown>",
                          "ConnectedLineNum": caller["CallerIDNum"],
                          "ConnectedLineName": caller["CallerIDName"], "Language": "en",
                          "AccountCode": "", "Context": context, "Exten": "s",
                          "Priority": "1", "Uniqueid": uid, "Linkedid": caller["Linkedid"]})
        target = self.channels[uid]
        await self._emit({"Event": "DialBegin", "Privilege": "call,all", **_leg(caller),
                          **_leg(target, "Dest"), "DialString": exten})
        await self._emit({"Event": "Newstate", "Privilege": "call,all", **_leg(target),
                          "ChannelState": "5", "ChannelStateDesc": "Ringing"})
        await asyncio.sleep(ring_s)
        await self._emit({"Event": "Newstate", "Privilege": "call,all", **_leg(target),
                          "ChannelState": "6", "ChannelStateDesc": "Up"})
        await self._emit({"Event": "DialEnd", "Privilege": "call,all", **_leg(caller),
                          **_leg(target, "Dest"), "DialStatus": "ANSWER"})
        bridge = str(uuid.uuid4())
        for leg in (target, caller):
            await self._emit({"Event": "BridgeEnter", "Privilege": "call,all",
                              "BridgeUniqueid": bridge, "BridgeType": "basic",
                              "BridgeNumChannels": "2", **_leg(leg)})
        await asyncio.sleep(talk_s)
        for leg in (target, caller):
            await self._emit(_hangup(leg))

    async def _act_atxfer(self, s: _Session, aid: str | None, a: dict[str, Any]) -> None:
        if self._find_channel(a.get("Channel")) is None:
            await self._reply(s, aid, "Error", Message="No such channel")
            return
        await self._reply(s, aid, Message="Atxfer successfully queued")

    async def _act_redirect(self, s: _Session, aid: str | None, a: dict[str, Any]) -> None:
        if self._find_channel(a.get("Channel")) is None:
            await self._reply(s, aid, "Error", Message="Channel specified does not exist")
            return
        await self._reply(s, aid, Message="Redirect successful")

    async def _act_mixmonitor(self, s: _Session, aid: str | None, a: dict[str, Any]) -> None:
        ch = self._find_channel(a.get("Channel"))
        if ch is None:
            await self._reply(s, aid, "Error", Message="No such channel")
            return
        await self._reply(s, aid)
        ev = {"Event": "VarSet", "Privilege": "dialplan,all",
              **{k: v for k, v in ch.items() if not k.startswith("_") and k not in (
                  "Application", "ApplicationData", "BridgeId")},
              "Variable": "MIXMONITOR_FILENAME", "Value": a.get("File", "")}
        await self.broadcast(_msg_bytes(ev))

    async def _act_stopmixmonitor(self, s: _Session, aid: str | None,
                                  a: dict[str, Any]) -> None:
        if self._find_channel(a.get("Channel")) is None:
            await self._reply(s, aid, "Error", Message="No such channel")
            return
        await self._reply(s, aid)

    async def _act_queuepause(self, s: _Session, aid: str | None, a: dict[str, Any]) -> None:
        iface = a.get("Interface")
        if not iface or "Paused" not in a:
            await self._reply(s, aid, "Error",
                              Message="Need 'Interface' and 'Paused' parameters.")
            return
        paused = str(a["Paused"]).lower() in ("true", "1", "yes")
        found = False
        for q, members in self.members.items():
            if (a.get("Queue") and a["Queue"] != q) or iface not in members:
                continue
            found = True
            m = members[iface]
            if paused and m["Paused"] != "1":  # as app_queue: the start of a new pause
                m["LastPause"] = str(int(time.time()))
            m["Paused"] = "1" if paused else "0"
            m["PausedReason"] = a.get("Reason", "") if paused else ""
            await self.broadcast(_msg_bytes({"Event": "QueueMemberPause",
                                             "Privilege": "agent,all", "Queue": q,
                                             "MemberName": m["Name"], "Interface": iface,
                                             **{k: m[k] for k in ("StateInterface",
                                                                  "Membership", "Penalty",
                                                                  "CallsTaken", "LastCall",
                                                                  "LastPause", "InCall",
                                                                  "Status",
                                                                  "Paused", "PausedReason")}}))
        if not found:
            await self._reply(s, aid, "Error", Message="Interface not found")
            return
        await self._reply(s, aid, Message="Interface paused successfully" if paused
                          else "Interface unpaused successfully")

    async def _act_queueadd(self, s: _Session, aid: str | None, a: dict[str, Any]) -> None:
        q, iface = a.get("Queue"), a.get("Interface")
        if not q or not iface:
            await self._reply(s, aid, "Error", Message="'Queue' or 'Interface' not set.")
            return
        if q not in self.members:
            await self._reply(s, aid, "Error", Message="Unable to add interface to queue: "
                              "No such queue")
            return
        if iface in self.members[q]:
            await self._reply(s, aid, "Error",
                              Message="Unable to add interface: Already there")
            return
        m = {"Name": a.get("MemberName", iface), "Location": iface, "StateInterface": iface,
             "Membership": "dynamic", "Penalty": a.get("Penalty", "0"), "CallsTaken": "0",
             "LastCall": "0", "LastPause": "0", "LoginTime": str(int(time.time())),
             "InCall": "0", "Status": "1",
             "Paused": "1" if str(a.get("Paused", "")).lower() in ("true", "1") else "0",
             "PausedReason": "", "Wrapuptime": "0"}
        self.members[q][iface] = m
        await self._reply(s, aid, Message="Added interface to queue")
        await self.broadcast(_msg_bytes({"Event": "QueueMemberAdded", "Queue": q,
                                         "MemberName": m["Name"], "Interface": iface,
                                         "Status": "1", "Paused": m["Paused"],
                                         "PausedReason": ""}))

    async def _act_queueremove(self, s: _Session, aid: str | None,
                               a: dict[str, Any]) -> None:
        q, iface = a.get("Queue"), a.get("Interface")
        if not q or not iface or iface not in self.members.get(q, {}):
            await self._reply(s, aid, "Error", Message="Unable to remove interface: Not there")
            return
        m = self.members[q].pop(iface)
        await self._reply(s, aid, Message="Removed interface from queue")
        await self.broadcast(_msg_bytes({"Event": "QueueMemberRemoved", "Queue": q,
                                         "MemberName": m["Name"], "Interface": iface}))

    async def _act_originate(self, s: _Session, aid: str | None, a: dict[str, Any]) -> None:
        channel = a.get("Channel")
        if not channel:
            await self._reply(s, aid, "Error", Message="Channel not specified")
            return
        if str(a.get("Async", "false")).lower() != "true":
            await self._reply(s, aid, "Error", Message="This fake PBX only does Async")
            return
        if a.get("Application"):
            await self._originate_app(s, aid, a, channel)
            return
        name = "c_originate_click_to_call" if self.originate_outcome == "answer" \
            else "c2_originate_busy"
        self.start_play(name, trigger=(s, aid or ""), originator=channel)

    async def _originate_app(self, s: _Session, aid: str | None, a: dict[str, Any],
                             channel: str) -> None:
        """ChanSpy & co.: the phone's channel rings and answers (its own Linkedid, the
        Uniqueid from ``ChannelId`` when given), then OriginateResponse and, for ChanSpy,
        ChanSpyStart, as Asterisk 22 did in f_live_session. The channel stays up until
        hung up (Hangup action), like a supervisor listening."""
        await self._reply(s, aid, Message="Originate successfully queued")
        uid = str(a.get("ChannelId") or f"{self._epoch}.{next(self._counter)}")
        name = f"{channel}-{next(self._chan_counter):08x}"
        cid_name, _, cid_num = str(a.get("CallerID", "")).partition("<")
        base = {"Privilege": "call,all", "Channel": name, "CallerIDNum": cid_num.rstrip(">"),
                "CallerIDName": cid_name.strip(), "ConnectedLineNum": cid_num.rstrip(">"),
                "ConnectedLineName": cid_name.strip(), "Language": "en",
                "AccountCode": str(a.get("Account", "")), "Context": "internal",
                "Exten": "s", "Priority": "1", "Uniqueid": uid, "Linkedid": uid}
        for state, desc in (("0", "Down"), ("5", "Ringing"), ("6", "Up")):
            event = "Newchannel" if state == "0" else "Newstate"
            await self._emit({"Event": event, **base, "ChannelState": state,
                              "ChannelStateDesc": desc})
        await self.broadcast(_msg_bytes({
            "Event": "OriginateResponse", "Privilege": "call,all", "ActionID": aid,
            "Response": "Success", "Channel": name, "Application": a["Application"],
            "Data": a.get("Data", ""), "Reason": "4", "Uniqueid": uid,
            "CallerIDNum": base["CallerIDNum"], "CallerIDName": base["CallerIDName"]}))
        target = str(a.get("Data", "")).split(",")[0]
        spied = next((c for c in self.channels.values()
                      if target and c["Channel"].startswith(target)), None)
        if a["Application"].lower() == "chanspy" and spied is not None:
            await self.broadcast(_msg_bytes({
                "Event": "ChanSpyStart", "Privilege": "call,all",
                **{f"Spyer{k}": v for k, v in base.items() if k != "Privilege"},
                **{f"Spyee{k}": spied[k] for k in ("Channel", "Uniqueid", "Linkedid")}}))
