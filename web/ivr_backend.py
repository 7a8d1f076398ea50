"""The IVR's :class:`~softphone_bridge.ivr.ports.IvrBackend` over the ticket services.

Why this shape: the IVR runs one blocking thread per call (pyVoIP), while the database is
the application's async engine, bound to its event loop. Each port call therefore builds a
coroutine — one transaction (``tickets.db.transaction``) around the async services of
:mod:`tickets.ivr.service` / :mod:`tickets.csat.service` — and hands it to that loop with
:func:`asyncio.run_coroutine_threadsafe`, waiting at most ``timeout_s``. A timeout, a
database error or any other failure becomes :class:`BackendUnavailable` (the machine then
apologises and offers an agent); the call thread never sees a SQLAlchemy error. Calling a
port from the loop's own thread would deadlock, so it is refused.

Tickets the IVR creates are announced to the consoles after their commit (``bus``), as the
REST API does. Transcription runs the ASR engine's file decoder on a temporary 16-bit WAV.

Wrong PINs are counted here, per ticket number, in the memory of the one process that runs
the IVR (``PIN_TRIES`` within ``PIN_WINDOW_S``): the strikes end a call after three, but
only a limit across calls stops someone from dialling through a ticket's 10⁶ PINs.
"""

from __future__ import annotations

import asyncio
import io
import logging
import tempfile
import threading
import time
import wave
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable, Coroutine
from concurrent.futures import Future
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from asr.context import DEFAULT_TICKET_TYPES, CallContext
from asr.engine import AsrError, Engine, transcribe_file_async
from asr.extract import extract
from softphone_bridge.ivr.ports import (
    SAMPLE_RATE,
    BackendUnavailable,
    Caller,
    CallInfo,
    Journey,
    Lang,
    Recording,
    TicketStatus,
)
from tickets import messages
from tickets.bus import TOPIC_TICKETS, Bus
from tickets.csat import service as csat
from tickets.db import transaction
from tickets.ivr import service as ivr
from tickets.notify.events import Notify
from tickets.routing.service import Router
from tickets.schemas import TicketOut
from tickets.service import SYSTEM, get_ticket, ticket_dict

log = logging.getLogger(__name__)
T = TypeVar("T")
#: Wrong PINs typed for one ticket number within PIN_WINDOW_S seconds before every PIN,
#: the right one too, answers "not found" (3 per call, but a caller can call again and again).
PIN_TRIES = 10
PIN_WINDOW_S = 3600.0
#: Ticket numbers whose wrong PINs are remembered (the oldest forgotten first).
_PIN_NUMBERS = 10_000
#: u8 PCM → the high byte of 16-bit signed PCM (``b - 128`` as two's complement).
_U8_TO_S8 = bytes((b ^ 0x80) for b in range(256))


def wav_of(audio: bytes) -> bytes:
    """8 kHz u8 PCM (the line's audio) as a 16-bit mono 8 kHz WAV file."""
    pcm = bytearray(2 * len(audio))
    pcm[1::2] = audio.translate(_U8_TO_S8)  # low bytes stay 0
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(SAMPLE_RATE)
        w.writeframes(bytes(pcm))
    return out.getvalue()


def _status(found: ivr.IvrTicket) -> TicketStatus:
    return TicketStatus(ticket_id=found.ticket_id, number=found.number, status=found.status,
                        title=found.title, group=found.group, promised_at=found.promised_at)


class LoopIvrBackend:
    """:class:`~softphone_bridge.ivr.ports.IvrBackend` on ``loop`` (the app's) over ``db``.

    ``store`` / ``max_bytes`` / ``allowed_types``: the attachment storage and its checks
    (``Services.attachment_store``, the settings'); ``support_queue``: the queue whose
    group gets call-back tickets; ``engine``: the ASR engine (``None``: transcripts are
    empty, the recording is still attached); ``transfer``: redirects a caller to the
    agents (``None``: no PBX, always ``False``); ``router`` / ``notify`` / ``bus`` as the
    REST API's ticket creation uses them. ``timeout_s`` bounds each database call,
    ``transcribe_timeout_s`` a transcription.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, db: async_sessionmaker[AsyncSession],
                 *, store: Path, max_bytes: int, allowed_types: list[str],
                 region: str = "CN", default_language: Lang = "zh",
                 support_queue: str | None = None, engine: Engine | None = None,
                 transfer: Callable[[CallInfo], bool] | None = None,
                 router: Router | None = None, notify: Notify | None = None,
                 bus: Bus | None = None, timeout_s: float = 5.0,
                 transcribe_timeout_s: float = 60.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.loop = loop
        self.db = db
        self.store = store
        self.max_bytes = max_bytes
        self.allowed_types = allowed_types
        self.region = region
        self.default_language: Lang = default_language
        self.support_queue = support_queue
        self.engine = engine
        self.transfer = transfer
        self.router = router
        self.notify = notify
        self.bus = bus
        self.timeout_s = timeout_s
        self.transcribe_timeout_s = transcribe_timeout_s
        self._clock = clock
        self._wrong_pins: OrderedDict[int, deque[float]] = OrderedDict()
        self._pins_lock = threading.Lock()

    # -- running on the loop ---------------------------------------------------------------
    def _wait(self, coro: Coroutine[Any, Any, T], timeout_s: float, what: str) -> T:
        if self._on_loop_thread():
            coro.close()
            raise RuntimeError("LoopIvrBackend is blocking: call it from a call thread")
        fut: Future[T] = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return fut.result(timeout_s)
        except TimeoutError:
            fut.cancel()
            raise BackendUnavailable(f"{what}: no answer within {timeout_s:g} s") from None
        except BackendUnavailable:
            raise
        except Exception as exc:
            log.warning("IVR backend %s failed: %s", what, type(exc).__name__)
            raise BackendUnavailable(f"{what} failed: {type(exc).__name__}") from exc

    def _on_loop_thread(self) -> bool:
        thread_id = getattr(self.loop, "_thread_id", None)
        return thread_id is not None and thread_id == threading.get_ident()

    def _run(self, work: Callable[[AsyncSession], Awaitable[T]], what: str) -> T:
        """``work`` in one transaction on the loop (committed when it returns)."""
        async def job() -> T:
            async with transaction(self.db) as session:
                return await work(session)
        return self._wait(job(), self.timeout_s, what)

    def _create(self, work: Callable[[AsyncSession], Awaitable[ivr.IvrTicket]],
                what: str) -> TicketStatus:
        """A ticket-creating ``work``; the new ticket announced after the commit."""
        async def job() -> TicketStatus:
            async with transaction(self.db) as session:
                found = await work(session)
                shape = None
                if self.bus is not None:
                    ticket = await get_ticket(session, found.ticket_id, SYSTEM)
                    shape = TicketOut.model_validate(ticket_dict(ticket)).model_dump(
                        mode="json")
            if self.bus is not None and shape is not None:
                try:
                    await self.bus.publish(TOPIC_TICKETS,
                                           messages.ticket_changed("ticket_created", shape))
                except Exception as exc:  # saved: the consoles catch up on their next fetch
                    log.warning("IVR ticket %s saved, not announced: %s", found.number, exc)
            return _status(found)
        return self._wait(job(), self.timeout_s, what)

    # -- the port --------------------------------------------------------------------------
    def identify(self, caller: str) -> Caller | None:
        async def work(session: AsyncSession) -> ivr.IvrCaller | None:
            return await ivr.identify(session, caller, self.region, self.default_language)
        found = self._run(work, "identify")
        return None if found is None else Caller(found.customer_id, found.name, found.language)

    def open_tickets(self, customer_id: int, limit: int = 5) -> list[TicketStatus]:
        async def work(session: AsyncSession) -> list[ivr.IvrTicket]:
            return await ivr.open_tickets(session, customer_id, limit)
        return [_status(t) for t in self._run(work, "open_tickets")]

    def ticket_by_number(self, number: str, *, customer_id: int | None,
                         pin: str | None) -> TicketStatus | None:
        """The port's answer; a ticket number with PIN_TRIES wrong PINs in the last
        PIN_WINDOW_S seconds is "not found" for any PIN (its own customer needs none)."""
        ticket_id = ivr.keypad_ticket_id(number)
        if pin is not None and ticket_id is not None and self._pin_locked(ticket_id):
            pin = None  # still asked, so a locked number takes as long as any other

        async def work(session: AsyncSession) -> ivr.IvrTicket | None:
            return await ivr.ticket_by_number(session, number, customer_id=customer_id,
                                              pin=pin)
        found = self._run(work, "ticket_by_number")
        if found is None and pin is not None and ticket_id is not None:
            self._pin_wrong(ticket_id)
        return None if found is None else _status(found)

    def _pin_locked(self, ticket_id: int) -> bool:
        with self._pins_lock:
            tries = self._wrong_pins.get(ticket_id)
            if tries is None:
                return False
            while tries and tries[0] <= self._clock() - PIN_WINDOW_S:
                tries.popleft()
            return len(tries) >= PIN_TRIES

    def _pin_wrong(self, ticket_id: int) -> None:
        with self._pins_lock:
            tries = self._wrong_pins.setdefault(ticket_id, deque(maxlen=PIN_TRIES))
            tries.append(self._clock())
            self._wrong_pins.move_to_end(ticket_id)
            while len(self._wrong_pins) > _PIN_NUMBERS:
                self._wrong_pins.popitem(last=False)

    def needs_pin(self, number: str, *, customer_id: int | None) -> bool:
        async def work(session: AsyncSession) -> bool:
            return await ivr.needs_pin(session, number, customer_id=customer_id)
        return self._run(work, "needs_pin")

    def create_message(self, info: CallInfo, caller: Caller | None, recording: Recording,
                       transcript: str) -> TicketStatus:
        customer_id = caller.customer_id if caller else None
        wav = wav_of(recording.audio)

        async def work(session: AsyncSession) -> ivr.IvrTicket:
            facts = await ivr.prefill_facts(session, customer_id)
            prefill = extract(transcript, CallContext(
                ticket_types=facts.ticket_types or DEFAULT_TICKET_TYPES,
                known_orders=facts.known_orders, language=facts.language,
                default_region=self.region))
            return await ivr.create_message_ticket(
                session, customer_id=customer_id, caller=info.caller, call_id=info.call_id,
                transcript=transcript, wav=wav, store=self.store, max_bytes=self.max_bytes,
                allowed_types=self.allowed_types, ticket_type=prefill.ticket_type,
                order_numbers=prefill.order_numbers, router=self.router, notify=self.notify,
                region=self.region)
        return self._create(work, "create_message")

    def request_callback(self, info: CallInfo, caller: Caller | None,
                         hour: int | None) -> TicketStatus:
        async def work(session: AsyncSession) -> ivr.IvrTicket:
            return await ivr.request_callback(
                session, customer_id=caller.customer_id if caller else None,
                caller=info.caller, call_id=info.call_id, hour=hour,
                support_queue=self.support_queue, router=self.router, notify=self.notify,
                region=self.region)
        return self._create(work, "request_callback")

    def ratable_ticket(self, info: CallInfo, caller: Caller | None) -> TicketStatus | None:
        async def work(session: AsyncSession) -> ivr.IvrTicket | None:
            return await ivr.ratable_ticket(session, call_id=info.call_id,
                                            customer_id=caller.customer_id if caller else None)
        found = self._run(work, "ratable_ticket")
        return None if found is None else _status(found)

    def rate(self, info: CallInfo, ticket_id: int, score: int) -> None:
        async def work(session: AsyncSession) -> None:
            await csat.rate(session, ticket_id, score, "ivr", call_id=info.call_id)
        self._run(work, "rate")

    def transcribe(self, recording: Recording) -> str:
        """The engine's transcript (``""`` without an engine or for audio it cannot
        read); BackendUnavailable when it does not finish in ``transcribe_timeout_s``."""
        if self.engine is None or not recording.audio:
            return ""
        engine = self.engine
        with tempfile.TemporaryDirectory(prefix="hotline-ivr-") as tmp:
            path = Path(tmp) / "message.wav"
            path.write_bytes(wav_of(recording.audio))
            try:
                return self._wait(transcribe_file_async(engine, path),
                                  self.transcribe_timeout_s, "transcribe").strip()
            except BackendUnavailable as exc:
                if isinstance(exc.__cause__, AsrError):
                    log.warning("IVR transcription failed: %s", exc.__cause__)
                    return ""
                raise

    def transfer_to_agent(self, info: CallInfo) -> bool:
        if self.transfer is None:
            return False
        try:
            return bool(self.transfer(info))
        except Exception as exc:
            log.warning("IVR transfer of %s failed: %s", info.call_ref, exc)
            return False

    def record_journey(self, journey: Journey) -> None:
        info = journey.info
        steps = [{"at_s": s.at_s, "kind": s.kind, "detail": s.detail} for s in journey.steps]

        async def work(session: AsyncSession) -> None:
            language = journey.language  # the machine knows; else worked out from the keys
            if language is None:
                known = await ivr.identify(session, info.caller, self.region,
                                           self.default_language)
                start: Lang = known.language if known else self.default_language
                language = ivr.journey_language(start, steps)
            await ivr.record_journey(
                session, call_id=info.call_id, call_ref=info.call_ref, caller=info.caller,
                started_at=journey.started_at, ended_at=datetime.now(UTC),
                outcome=journey.outcome, steps=steps, language=language)
        self._run(work, "record_journey")

