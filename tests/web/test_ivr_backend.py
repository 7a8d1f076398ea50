"""``web.ivr_backend.LoopIvrBackend``: the blocking IVR port over the async services, run
from a call thread on a real event loop in another thread, over SQLite."""

from __future__ import annotations

import asyncio
import threading
import wave
from collections.abc import Awaitable, Coroutine, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from asr.engine import AsrResult
from softphone_bridge.ivr.ports import (
    BackendUnavailable,
    CallInfo,
    IvrBackend,
    Journey,
    JourneyStep,
    Recording,
)
from tests.support.db import SqliteFactory
from tests.tickets.ivr_world import World, seed, ticket
from tickets.bus import TOPIC_TICKETS, InProcessBus
from tickets.csat.models import TicketRating
from tickets.db import make_engine, make_sessionmaker
from tickets.ivr.models import IvrJourney
from tickets.models import Attachment, Ticket
from web.ivr_backend import PIN_TRIES, PIN_WINDOW_S, LoopIvrBackend, wav_of
from web.settings import to_async_url

T = TypeVar("T")


@dataclass
class Rig:
    loop: asyncio.AbstractEventLoop
    engine: AsyncEngine
    sm: async_sessionmaker[AsyncSession]
    world: World
    store: Path

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on the app loop (setting up and checking, from the test thread)."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(30)


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="app-loop", daemon=True)
    thread.start()

    async def setup() -> tuple[AsyncEngine, World]:
        url = await SqliteFactory(tmp_path).new(False)
        engine = make_engine(to_async_url(url))
        return engine, await seed(make_sessionmaker(engine))

    engine, world = asyncio.run_coroutine_threadsafe(setup(), loop).result(120)
    try:
        yield Rig(loop, engine, world.sm, world, tmp_path / "attachments")
    finally:
        asyncio.run_coroutine_threadsafe(engine.dispose(), loop).result(30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


class _Recognizer:
    """Hears how long the audio was, in whole seconds (16-bit 8 kHz), as one utterance."""

    def __init__(self) -> None:
        self.bytes = 0

    def accept_audio(self, pcm: bytes, partial: bool = True) -> AsrResult:
        self.bytes += len(pcm)
        return AsrResult("", False)

    def final(self) -> AsrResult:
        return AsrResult(f"订单 SO20261201 冰箱坏了 {self.bytes // 16000} 秒", True)

    def close(self) -> None:
        pass


@dataclass
class _Engine:
    rates: list[int] = field(default_factory=list)

    def new_recognizer(self, sample_rate: int = 8000, grammar: Any = None) -> _Recognizer:
        self.rates.append(sample_rate)
        return _Recognizer()

    def state(self) -> dict[str, Any]:
        return {}


def _backend(rig: Rig, **kw: Any) -> LoopIvrBackend:
    return LoopIvrBackend(rig.loop, rig.sm, store=rig.store, max_bytes=10_000_000,
                          allowed_types=["audio/wav"], support_queue="ivr_q", **kw)


def _in_call_thread(fn: Any, *args: Any, **kw: Any) -> Any:
    """Call ``fn`` from a thread of its own, as pyVoIP's call threads do."""
    out: dict[str, Any] = {}

    def run() -> None:
        try:
            out["value"] = fn(*args, **kw)
        except BaseException as exc:
            out["error"] = exc

    t = threading.Thread(target=run)
    t.start()
    t.join(60)
    if "error" in out:
        raise out["error"]
    return out["value"]


INFO = CallInfo(call_ref="sip-abc", caller="13800138000", linkedid="1700000000.12")
SPEECH = Recording(audio=bytes([0x80, 0xC0, 0x40]) * 8000, ended_by="silence",
                   has_speech=True)


def test_wav_of_turns_line_audio_into_16_bit_wav(tmp_path: Path) -> None:
    path = tmp_path / "x.wav"
    path.write_bytes(wav_of(bytes([0x80, 0xFF, 0x00])))
    with wave.open(str(path), "rb") as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, 8000)
        assert w.readframes(3) == b"\x00\x00\x00\x7f\x00\x80"  # 0, +127·256, -128·256


def test_reading_tickets_through_the_port(rig: Rig) -> None:
    backend: IvrBackend = _backend(rig)
    w = rig.world
    mine = rig.run(ticket(rig.sm, "mine", w.wang, group="ivr_support"))
    theirs = rig.run(ticket(rig.sm, "theirs", w.smith))

    async def pin_of(tid: int) -> str | None:
        async with rig.sm() as s:
            return await s.scalar(select(Ticket.pin).where(Ticket.id == tid))
    pin = rig.run(pin_of(theirs))
    caller = _in_call_thread(backend.identify, "+8613800138000")
    assert caller is not None and (caller.customer_id, caller.language) == (w.wang, "zh")
    assert _in_call_thread(backend.identify, "anonymous") is None
    [status] = _in_call_thread(backend.open_tickets, w.wang)
    assert status.ticket_id == mine and status.group == {"zh": "客服组", "en": "Support"}
    assert not _in_call_thread(backend.needs_pin, str(mine), customer_id=w.wang)
    assert _in_call_thread(backend.needs_pin, str(theirs), customer_id=w.wang)
    assert _in_call_thread(backend.ticket_by_number, str(theirs), customer_id=w.wang,
                           pin=None) is None
    found = _in_call_thread(backend.ticket_by_number, str(theirs), customer_id=w.wang,
                            pin=pin)
    assert found is not None and found.number == f"T-{theirs:06d}"


def test_guessing_a_tickets_pin_stops_after_a_few_wrong_ones(rig: Rig) -> None:
    """Three wrong PINs per call, but calls without end: with no limit a caller could try
    all 10⁶ PINs of a ticket (days at 20 calls at once). After PIN_TRIES wrong ones within
    PIN_WINDOW_S even the right PIN answers "not found" (the caller cannot tell)."""
    now = [0.0]
    backend = _backend(rig, clock=lambda: now[0])
    w = rig.world
    theirs = rig.run(ticket(rig.sm, "theirs", w.smith))
    other = rig.run(ticket(rig.sm, "other", w.smith))

    async def pin_of(tid: int) -> str:
        async with rig.sm() as s:
            return str(await s.scalar(select(Ticket.pin).where(Ticket.id == tid)))

    pin, other_pin = rig.run(pin_of(theirs)), rig.run(pin_of(other))
    wrong = f"{(int(pin) + 1) % 10 ** 6:06d}"

    def lookup(tid: int, given: str | None, customer_id: int | None = None) -> object:
        return _in_call_thread(backend.ticket_by_number, str(tid), customer_id=customer_id,
                               pin=given)

    for _ in range(PIN_TRIES):
        assert lookup(theirs, wrong) is None
    assert lookup(theirs, pin) is None  # locked
    assert lookup(other, other_pin) is not None  # only that ticket
    assert lookup(theirs, None, customer_id=w.smith) is not None  # its customer needs no PIN
    now[0] += PIN_WINDOW_S + 1
    assert lookup(theirs, pin) is not None


def test_a_message_is_transcribed_and_becomes_a_ticket_announced_after_commit(
        rig: Rig) -> None:
    bus = InProcessBus()
    sub = bus.subscribe(TOPIC_TICKETS)
    engine = _Engine()
    backend = _backend(rig, engine=engine, bus=bus)
    caller = _in_call_thread(backend.identify, INFO.caller)
    text = _in_call_thread(backend.transcribe, SPEECH)
    assert text == "订单 SO20261201 冰箱坏了 3 秒" and engine.rates == [8000]
    status = _in_call_thread(backend.create_message, INFO, caller, SPEECH, text)
    assert status.status == "new" and status.title == text

    async def check() -> tuple[Ticket, Attachment]:
        async with rig.sm() as s:
            t = await s.get(Ticket, status.ticket_id)
            a = await s.scalar(select(Attachment).where(Attachment.ticket_id == t.id))
            return t, a  # type: ignore[return-value]
    t, a = rig.run(check())
    assert t.channel == "ivr" and t.customer_id == rig.world.wang
    assert t.call_id == "pbx1:1700000000.12"
    with wave.open(str(rig.store / a.storage_key), "rb") as w:
        assert (w.getsampwidth(), w.getframerate(), w.getnframes()) == (2, 8000, 24000)
    [(topic, msg)] = [sub.queue.get_nowait() for _ in range(sub.queue.qsize())]  # type: ignore[misc]
    assert topic == TOPIC_TICKETS and msg["type"] == "ticket_created"
    assert msg["ticket"]["id"] == t.id and "pin" not in msg["ticket"]


def test_transcribe_without_an_engine_or_speech_is_empty(rig: Rig) -> None:
    backend = _backend(rig)
    assert _in_call_thread(backend.transcribe, SPEECH) == ""
    assert _in_call_thread(_backend(rig, engine=_Engine()).transcribe,
                           Recording(b"", "hangup", False)) == ""


def test_callback_rating_and_journey(rig: Rig) -> None:
    backend = _backend(rig)
    w = rig.world
    solved = rig.run(ticket(rig.sm, "fixed", w.wang, status="resolved",
                            call_id=INFO.call_id))
    cb = _in_call_thread(backend.request_callback, INFO, None, 15)
    assert cb.group == {"zh": "客服组", "en": "Support"} and cb.title.endswith("+8613800138000")
    survey = CallInfo(call_ref="sip-2", caller="anonymous", linkedid="1700000000.12",
                      mode="survey")
    found = _in_call_thread(backend.ratable_ticket, survey, None)
    assert found is not None and found.ticket_id == solved
    _in_call_thread(backend.rate, survey, solved, 4)
    journey = Journey(info=INFO, started_at=datetime(2026, 12, 1, 8, 0, tzinfo=UTC),
                      steps=(JourneyStep(1.0, "menu", "9"), JourneyStep(2.0, "menu", "4"),
                             JourneyStep(9.0, "rating", f"T-{solved:06d}")),
                      outcome="done")
    _in_call_thread(backend.record_journey, journey)

    async def check() -> tuple[TicketRating | None, IvrJourney | None]:
        async with rig.sm() as s:
            return (await s.scalar(select(TicketRating)),
                    await s.scalar(select(IvrJourney)))
    rating, row = rig.run(check())
    assert rating is not None and (rating.ticket_id, rating.score, rating.channel,
                                   rating.call_id) == (solved, 4, "ivr", INFO.call_id)
    assert row is not None and row.call_id == INFO.call_id and row.outcome == "done"
    assert row.language == "en"  # a known zh caller who pressed 9
    assert [s["kind"] for s in row.steps] == ["menu", "menu", "rating"]


def test_transfer_delegates_and_defaults_to_no(rig: Rig) -> None:
    assert _in_call_thread(_backend(rig).transfer_to_agent, INFO) is False
    asked: list[CallInfo] = []

    def transfer(info: CallInfo) -> bool:
        asked.append(info)
        return True
    assert _in_call_thread(_backend(rig, transfer=transfer).transfer_to_agent, INFO) is True

    def broken(info: CallInfo) -> bool:
        raise ConnectionError("AMI down")
    assert _in_call_thread(_backend(rig, transfer=broken).transfer_to_agent, INFO) is False
    assert asked == [INFO]


def test_a_slow_or_broken_database_is_backend_unavailable(rig: Rig) -> None:
    backend = _backend(rig, timeout_s=0.2)
    never = asyncio.Event()

    async def stuck(session: AsyncSession) -> None:
        await never.wait()  # a database that does not answer
    with pytest.raises(BackendUnavailable, match=r"no answer within 0\.2 s"):
        _in_call_thread(backend._run, stuck, "stuck")
    # the database refuses: a file that cannot be opened
    dead = make_engine("sqlite+aiosqlite:////nonexistent/dir/x.db")
    broken = LoopIvrBackend(rig.loop, make_sessionmaker(dead), store=rig.store,
                            max_bytes=1, allowed_types=[])
    with pytest.raises(BackendUnavailable, match="identify failed: OperationalError"):
        _in_call_thread(broken.identify, "13800138000")
    rig.run(dead.dispose())
    # the timed-out work was cancelled; the backend still answers
    assert _in_call_thread(backend.identify, "13800138000") is not None


def test_calling_from_the_loop_thread_is_refused(rig: Rig) -> None:
    backend = _backend(rig)

    async def from_loop() -> Awaitable[Any] | None:
        backend.identify("13800138000")
        return None
    with pytest.raises(RuntimeError, match="call thread"):
        rig.run(from_loop())
