"""The demo PBX: what ``hotline serve`` talks to when no PBX is configured.

A newcomer without an Asterisk should still see what Hotline is for, so the demo PBX is a
real AMI server on a loopback port (:class:`~telephony.simulator.FakeAsterisk`, replaying the
real Asterisk 22 captures of ``telephony/captures``) plus a scheduler that plays a call every
so often with the demo customers' numbers. The bridge logs in to it over TCP exactly as to
Asterisk; nothing else in the product knows it is a demo (the web layer only shows a badge).

The shape: :class:`DemoSchedule` is pure (pacing + rotation, a seeded ``random.Random``), and
:class:`DemoPbx` does the I/O (server, timer task, plays). Pacing is configurable so tests
run the same code fast.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import secrets
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import phonenumbers

from .ami import encode_action
from .ports import PbxConfig
from .simulator import FakeAsterisk, PlayResult
from .tracker import ASR_VAR

log = logging.getLogger(__name__)

#: The demo customers' numbers (E.164), in the order the demo uses them. ``web/demo.py``
#: gives them to the demo customers; the last one is deliberately nobody's.
DEMO_CALLER_NUMBERS: tuple[str, ...] = (
    "+8613800138000",  # VIP customer
    "+8615921876543",
    "+862161234567",  # a company on a Shanghai landline
    "+8618612345678",
    "+8675586001234",  # a Shenzhen landline
    "+8613700001111",  # not a customer: the agent creates one
    "+8613911112222",  # the late-caller-ID customer
)

#: What each demo caller keys at the IVR when asked for an order number: one of their own
#: orders in the demo data (so the prefilled order fits the customer), nothing for the
#: unknown caller. The captures themselves key ``478#`` (:class:`~.simulator._Keyed`).
DEMO_KEYED_ORDERS: dict[str, str] = {
    "+8613800138000": "478",
    "+8615921876543": "261103315",
    "+862161234567": "261027604",
    "+8618612345678": "261118902",
    "+8675586001234": "261112047",
    "+8613700001111": "",
    "+8613911112222": "261109352",
}

#: The queue members of the demo PBX (alice and bob in the demo data).
DEMO_AGENTS = ("6001", "6002")


@dataclass(frozen=True)
class Scenario:
    """One kind of demo call: a capture and how to present it.

    ``answered_by`` is the extension that answers (or is rung last); ``--to`` moves it.
    """

    name: str
    capture: str
    answered_by: str | None
    description: str
    gated: bool = False  # True: wait for the agent's action where the capture had one
    speech: bool = False  # the caller speaks once answered (when a speaker is set)


SCENARIOS: dict[str, Scenario] = {s.name: s for s in (
    Scenario("answered", "a_inbound_queue_answered", "6001",
             "queue call ringing alice and bob; the caller types an order number and "
             "alice answers (and, with speech recognition on, the caller speaks)",
             speech=True),
    Scenario("abandoned", "b_queue_abandon", None,
             "queue call ringing alice and bob; nobody answers and the caller hangs up"),
    Scenario("transfer", "e_queue_blind_transfer", "6001",
             "queue call answered by alice, then blind-transferred to bob"),
    Scenario("answered_bob", "a_inbound_queue_answered", "6002",
             "queue call ringing alice and bob; bob answers"),
)}

#: The order the scheduler plays them in (first one is what a newcomer sees first).
ROTATION: tuple[str, ...] = ("answered", "abandoned", "transfer", "answered_bob")


def trunk_form(e164: str) -> str:
    """The number as a Chinese trunk presents it: national digits, no +86
    (``+862161234567`` → ``02161234567``). Non-Chinese or unparsable input is returned as is."""
    try:
        parsed = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return e164
    if parsed.country_code != 86:
        return e164
    national = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.NATIONAL)
    return "".join(ch for ch in national if ch.isdigit())


def agent_map(scenario: Scenario, to: str | None) -> dict[str, str] | None:
    """Extension rewrite so ``to`` takes the answering role of ``scenario`` (swapping
    with the other queue member when ``to`` is one). None when nothing moves."""
    if to is None or scenario.answered_by is None or to == scenario.answered_by:
        return None
    mapping = {scenario.answered_by: to}
    if to in DEMO_AGENTS:
        mapping[to] = scenario.answered_by
    return mapping


@dataclass(frozen=True)
class DemoPacing:
    """Seconds: the first call after start, then a jittered gap between calls.

    ``speed`` is the capture playback rate (1.0 = the real call's timing).
    """

    first_call_s: float = 1.0
    gap_min_s: float = 30.0
    gap_max_s: float = 60.0
    speed: float = 1.0

    def __post_init__(self) -> None:
        if self.first_call_s < 0 or self.gap_min_s < 0 or self.gap_max_s < self.gap_min_s:
            raise ValueError("demo pacing: need 0 <= first_call_s, 0 <= gap_min_s <= gap_max_s")
        if self.speed <= 0:
            raise ValueError("demo pacing: speed must be > 0")


@dataclass(frozen=True)
class PlannedCall:
    delay_s: float
    scenario: Scenario
    caller: str  # E.164


@dataclass
class DemoSchedule:
    """Pure: which call comes next and after how long. Scenarios follow :data:`ROTATION`,
    callers :data:`DEMO_CALLER_NUMBERS`, each cycling independently."""

    pacing: DemoPacing
    rng: random.Random = field(default_factory=random.Random)
    _n: int = 0

    def next_call(self) -> PlannedCall:
        if self._n == 0:
            delay = self.pacing.first_call_s
        else:
            delay = self.rng.uniform(self.pacing.gap_min_s, self.pacing.gap_max_s)
        scenario = SCENARIOS[ROTATION[self._n % len(ROTATION)]]
        caller = DEMO_CALLER_NUMBERS[self._n % len(DEMO_CALLER_NUMBERS)]
        self._n += 1
        return PlannedCall(delay, scenario, caller)


#: Streams the caller's voice of one call to the ASR server: ``await speaker(stream_uuid)``
#: (the AudioSocket UUID the dialplan would have set in ``HOTLINE_ASR_UUID``).
Speaker = Callable[[str], Awaitable[None]]


class DemoPbx:
    """The running demo PBX. ``config = await start()`` gives the ``PbxConfig`` the bridge
    connects with (loopback, a secret generated per start); :meth:`call` rings now.

    ``speaker`` (set when speech recognition runs): on scenarios with speech, once the call
    is answered the PBX announces an AudioSocket stream on the caller's channel (VarSet
    ``HOTLINE_ASR_UUID``, as ``asterisk_conf``'s dialplan does) and the speaker streams it.
    """

    def __init__(self, pacing: DemoPacing | None = None, *, rng: random.Random | None = None,
                 name: str = "demo", speaker: Speaker | None = None) -> None:
        self.speaker = speaker
        self.pacing = pacing or DemoPacing()
        self.schedule = DemoSchedule(self.pacing, rng or random.Random())
        self.name = name
        self.pbx = FakeAsterisk(username="hotline", secret=secrets.token_urlsafe(24))
        self.pbx.acted_transfer_s = (2.0 / self.pacing.speed, 8.0 / self.pacing.speed)
        self.calls_started = 0
        self._timer: asyncio.Task[None] | None = None
        self._speaking: set[asyncio.Task[None]] = set()

    async def start(self) -> PbxConfig:
        port = await self.pbx.start(0)
        self._timer = asyncio.create_task(self._run(), name="demo-pbx-scheduler")
        log.info("demo PBX on 127.0.0.1:%d (no PBX configured; HOTLINE_AMI_URL=off turns it "
                 "off): first call in %.0f s", port, self.pacing.first_call_s)
        return PbxConfig(name=self.name, host="127.0.0.1", port=port,
                         username=self.pbx.username, secret=self.pbx.secret)

    async def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._timer
            self._timer = None
        for task in list(self._speaking):
            task.cancel()
        await self.pbx.stop()

    def status(self) -> dict[str, Any]:
        return {"running": self._timer is not None, "calls_started": self.calls_started,
                "scenarios": {s.name: s.description for s in SCENARIOS.values()}}

    def call(self, scenario: str | None = None, to: str | None = None,
             caller: str | None = None) -> PlannedCall:
        """Ring now. ``scenario`` defaults to the next in rotation, ``caller`` (E.164) to
        the next demo number. Raises ValueError for an unknown scenario or a bad extension."""
        if scenario is not None and scenario not in SCENARIOS:
            raise ValueError(f"scenario: unknown {scenario!r}; one of {', '.join(SCENARIOS)}")
        if to is not None and not (to.isdigit() and 2 <= len(to) <= 10):
            raise ValueError(f"to: not an extension: {to!r}")
        planned = self.schedule.next_call()
        chosen = SCENARIOS[scenario] if scenario else planned.scenario
        planned = PlannedCall(0.0, chosen, caller or planned.caller)
        self._play(planned, to)
        return planned

    def _play(self, planned: PlannedCall, to: str | None = None) -> None:
        number = trunk_form(planned.caller)
        self.calls_started += 1
        log.info("demo PBX: %s call from %s", planned.scenario.name, number)
        _, result = self.pbx.start_play(
            planned.scenario.capture, speed=self.pacing.speed, caller=number,
            caller_name=number, agents=agent_map(planned.scenario, to),
            gated=planned.scenario.gated, keyed=DEMO_KEYED_ORDERS.get(planned.caller, ""))
        if planned.scenario.speech and self.speaker is not None:
            task = asyncio.create_task(self._speak(result, self.speaker))
            self._speaking.add(task)
            task.add_done_callback(self._speaking.discard)

    async def _speak(self, result: PlayResult, speaker: Speaker) -> None:
        """Once the caller's channel is bridged to an agent: announce a stream, play it."""
        caller = None
        while caller is None or not caller.get("BridgeId"):
            if result.done.is_set():
                return  # ended before anyone answered
            await asyncio.sleep(0.05)
            linkedid = result.linkedids[0] if result.linkedids else None
            caller = self.pbx.channels.get(linkedid) if linkedid else None
        stream = str(uuid.uuid4())
        await self.pbx.broadcast(encode_action({
            "Event": "VarSet", "Privilege": "dialplan,all", "Channel": caller["Channel"],
            "Uniqueid": caller["Uniqueid"], "Linkedid": caller["Linkedid"],
            "Variable": ASR_VAR, "Value": stream}))
        try:
            await speaker(stream)
        except OSError as exc:
            log.warning("demo PBX: could not stream the caller's speech: %s", exc)

    async def _run(self) -> None:
        while True:
            planned = self.schedule.next_call()
            await self._listener()  # a call nobody watches would be a demo nobody sees
            await asyncio.sleep(planned.delay_s)
            self._play(planned)

    async def _listener(self) -> None:
        while True:
            try:
                await self.pbx.wait_logged_in(1, within=3600)
                return
            except TimeoutError:
                continue
