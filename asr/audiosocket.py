"""Asterisk AudioSocket server: live call audio in, ``asr`` and ``ticket_prefill`` out.

Protocol (Asterisk ``res_audiosocket``): frames of a 1-byte kind, a 2-byte big-endian
payload length, the payload. ``0x01`` carries the stream's 16-byte UUID (first frame),
``0x10`` 8 kHz 16-bit signed linear mono audio (usually 320 bytes = 20 ms), ``0x00`` is the
hang-up, ``0xff`` an error (1-byte code).

Per connection: read the UUID, wait for the telephony bridge to link it to a ``call_id``
(bus event ``asr_link`` on TOPIC_ASR, or :meth:`AsrServer.link`), then feed the call's own
recognizer. Decoding runs in a thread pool (vosk releases the GIL) one batch at a time per
call, so the event loop never blocks and one slow call only delays itself. Each call's
audio buffer is bounded: when the decoder falls behind, the reader stops reading and TCP
pushes back on the sender. Every failure (bad frame, oversized frame, stalled client,
unlinked UUID, limits) is logged with the UUID and ends only that connection.

Before any of that, a connection must earn its place (issue #9: 32 idle connections that
never sent a UUID blocked speech for every real call, and each refusal logged a line):

* the peer's address must be in the allow-list (``allow``, CIDRs; default loopback), else
  the connection is closed at once, before reading a byte;
* the UUID frame must arrive within ``uuid_timeout`` (Asterisk sends it immediately);
* at most ``max_pending`` connections may wait for their UUID; a newcomer beyond that
  evicts the *oldest* waiting one that has sent nothing yet instead of being refused, so
  idle connections can delay nobody for long: a real call's UUID arrives within
  milliseconds of its connect (in a burst of connects it may still sit unread in the
  kernel when the eviction runs, hence "has sent nothing": reader buffer and ``FIONREAD``);
* when all ``max_streams`` slots are taken, the oldest stream still not linked to a call
  makes room for the newcomer (an unlinked stream may be a stranger with a random UUID);
* refusals are logged through :class:`tickets.ratelog.RateLimitedLog`: one line per kind
  per 10 s with the count of those not logged; ``state()`` counts every one.
"""

from __future__ import annotations

import array
import asyncio
import contextlib
import fcntl
import ipaddress
import logging
import os
import struct
import termios
import time
import uuid as uuidlib
from collections import OrderedDict, deque
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any

from asr.context import CallContext, PrefillContext, StaticPrefillContext
from asr.engine import AsrError, AsrResult, Engine, Recognizer
from asr.extract import Extractor, Prefill
from tickets import messages
from tickets.bus import TOPIC_ASR, Bus, Subscription
from tickets.ratelog import RateLimitedLog

log = logging.getLogger(__name__)

KIND_HANGUP = 0x00
KIND_UUID = 0x01
KIND_SILENCE = 0x02  # sent by some AudioSocket versions; carries no audio
KIND_AUDIO = 0x10
KIND_ERROR = 0xFF
_HEADER = struct.Struct(">BH")

SAMPLE_RATE = 8000
BYTES_PER_SECOND = SAMPLE_RATE * 2
#: Transcript characters kept for extraction (older numbers survive in the merged prefill).
TRANSCRIPT_WINDOW = 8000


class FrameError(ValueError):
    """A frame that breaks the AudioSocket protocol; the stream is closed."""


def encode_frame(kind: int, payload: bytes = b"") -> bytes:
    """One AudioSocket frame (used by clients, tests and the benchmark)."""
    if not 0 <= kind <= 0xFF:
        raise ValueError(f"frame kind {kind} out of range")
    if len(payload) > 0xFFFF:
        raise ValueError(f"payload of {len(payload)} bytes does not fit a frame")
    return _HEADER.pack(kind, len(payload)) + payload


def decode_header(header: bytes) -> tuple[int, int]:
    """``(kind, payload length)`` of a 3-byte frame header."""
    if len(header) != _HEADER.size:
        raise FrameError(f"frame header needs 3 bytes, got {len(header)}")
    kind, length = _HEADER.unpack(header)
    return kind, length


def parse_address(text: str, default_port: int = 9092) -> tuple[str, int]:
    """``"127.0.0.1:9092"`` → ``("127.0.0.1", 9092)``; ``[::1]:9092`` works too."""
    text = text.strip()
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port = rest.lstrip(":")
    elif text.count(":") == 1:
        host, port = text.split(":")
    else:
        host, port = text, ""
    try:
        number = int(port) if port else default_port
    except ValueError:
        raise ValueError(f"bad AudioSocket address {text!r}: port must be a number") from None
    if not 0 <= number <= 65535:
        raise ValueError(f"bad AudioSocket address {text!r}: port out of range")
    return host or "127.0.0.1", number


Network = ipaddress.IPv4Network | ipaddress.IPv6Network
#: Who may connect when no allow-list is given: this machine only.
LOOPBACK: tuple[Network, ...] = (ipaddress.ip_network("127.0.0.0/8"),
                                 ipaddress.ip_network("::1/128"))


def parse_allow(text: str) -> list[Network]:
    """``"10.0.0.5, 192.168.1.0/24, ::1"`` → networks (a bare address is a /32 or /128).

    Raises ValueError naming the bad entry. ``0.0.0.0/0,::/0`` allows everyone.
    """
    networks: list[Network] = []
    for item in text.split(","):
        entry = item.strip()
        if not entry:
            continue
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            raise ValueError(f"bad AudioSocket allow-list entry {entry!r}: "
                             "expected an IP address or CIDR such as 10.0.0.0/24") from None
    if not networks:
        raise ValueError("the AudioSocket allow-list is empty: no PBX could connect")
    return networks


def address_allowed(host: str, allow: Sequence[Network]) -> bool:
    """Whether peer ``host`` (an IP string; IPv4-mapped IPv6 counts as IPv4) is allowed."""
    try:
        ip = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False  # a peer without an IP address (e.g. a Unix socket) is not a PBX
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip.version == net.version and ip in net for net in allow)


@dataclass(frozen=True)
class AsrLimits:
    """Limits that keep one call, or too many calls, from hurting the rest.

    ``buffer_seconds`` bounds each call's undecoded audio (and the audio held while its
    UUID is not linked); ``uuid_timeout`` is how long a new connection may take to send
    its UUID; ``max_pending`` how many may be waiting for theirs at once (beyond, the
    oldest is closed); ``idle_timeout`` closes a client that stops mid-stream;
    ``link_wait`` is how long audio of an unknown UUID is held before the stream is
    dropped; ``partial_interval`` throttles partial transcripts per call (the first one
    is never held back). Audio reaches the decoder in batches of at least
    ``partial_batch_ms`` while a partial is due (one 20 ms AudioSocket frame: the partial
    comes out as soon as the model has it; 100 ms batches added 0.05-0.08 s to the first
    partial) and ``decode_batch_ms`` otherwise (fewer decoder calls: 20 ms batches
    throughout cost 2-7 % more vosk CPU); when the decoder is busy, whatever arrived
    meanwhile goes in one batch (at most 0.5 s). ``workers``: decoding threads (vosk
    releases the GIL, so they run in parallel).
    """

    max_streams: int = 32
    max_pending: int = 16
    uuid_timeout: float = 2.0
    max_call_seconds: float = 4 * 3600.0
    max_frame_bytes: int = 4096
    buffer_seconds: float = 10.0
    idle_timeout: float = 10.0
    link_wait: float = 5.0
    partial_interval: float = 0.3
    decode_batch_ms: int = 100
    partial_batch_ms: int = 20
    workers: int = field(default_factory=lambda: os.cpu_count() or 2)
    max_links: int = 10_000
    link_ttl: float = 3600.0


@dataclass(frozen=True)
class FirstPartial:
    """Where one call's time went up to its first partial transcript (seconds).

    ``audio_s``: call audio the recognizer had been fed when the partial came out, counted
    from the start of the stream; minus the speech onset it is the model's own share, which
    the pipeline cannot shorten, give or take ``batch_s``, the audio in the batch that
    brought the partial (the model may have needed only its first frame; exact for a
    one-frame batch). The rest is the pipeline's: ``wait_s`` from the arrival of
    that batch's newest byte to its hand-off to the decoding pool (``None`` when the batch
    left older audio behind, i.e. the decoder was behind), ``queue_s`` waiting for a pool
    thread, ``decode_s`` the recognizer call, ``publish_s`` from the thread's end to the
    event on the bus (the event loop's wake-up included). ``published``: ``time.monotonic()``
    after publishing.
    """

    call_id: str
    audio_s: float
    batch_s: float
    wait_s: float | None
    queue_s: float
    decode_s: float
    publish_s: float
    published: float


def _timed(rec: Recognizer, data: bytes, partial: bool) -> tuple[AsrResult, float, float]:
    """``rec.accept_audio`` in a pool thread, with when it started and ended (monotonic)."""
    started = time.monotonic()
    result = rec.accept_audio(data, partial)
    return result, started, time.monotonic()


class _StreamClosed(Exception):
    """The stream is over (hang-up, error, limit); buffered audio is still decoded."""


class _AudioBuffer:
    """Bounded byte buffer between a call's socket reader and its decoder."""

    def __init__(self, limit: int, batch: int) -> None:
        self._data = bytearray()
        self._limit = limit
        self._batch = batch
        self._closed = False
        self._cond = asyncio.Condition()
        self._last_put = 0.0
        #: When the newest byte of the last :meth:`get` arrived (monotonic s); ``None``
        #: when that get left audio behind (the decoder is behind, the batch is older).
        self.batch_arrived: float | None = None

    def __len__(self) -> int:
        return len(self._data)

    @property
    def full(self) -> bool:
        return len(self._data) >= self._limit

    async def put(self, chunk: bytes) -> None:
        async with self._cond:
            if len(self._data) >= self._limit and not self._closed:
                await self._cond.wait_for(lambda: len(self._data) < self._limit or self._closed)
            if self._closed:
                raise _StreamClosed
            self._data += chunk
            self._last_put = time.monotonic()
            self._cond.notify_all()

    async def get(self, max_bytes: int, min_bytes: int | None = None) -> bytes | None:
        """At least ``min_bytes`` (default: one batch), at most ``max_bytes``, or what is
        left after close; ``None`` once drained."""
        least = self._batch if min_bytes is None else min_bytes
        async with self._cond:
            await self._cond.wait_for(lambda: len(self._data) >= least or self._closed)
            if not self._data:
                return None
            n = min(len(self._data), max_bytes)
            n -= n % 2
            if n == 0:  # a lone odd byte after close
                n = len(self._data)
            out = bytes(self._data[:n])
            del self._data[:n]
            self.batch_arrived = None if self._data else self._last_put
            self._cond.notify_all()
            return out

    def drop(self) -> int:
        """Discard what is buffered (unlinked audio); returns the bytes dropped."""
        n = len(self._data)
        self._data.clear()
        return n

    async def close(self) -> None:
        async with self._cond:
            self._closed = True
            self._cond.notify_all()


@dataclass
class _Stream:
    uuid: str
    peer: str
    buffer: _AudioBuffer
    started: float = field(default_factory=time.monotonic)
    call_id: str | None = None
    linked: asyncio.Event = field(default_factory=asyncio.Event)
    audio_bytes: int = 0
    writer: asyncio.StreamWriter | None = None
    failed: str | None = None
    behind_logged: bool = False


class AsrServer:
    """The AudioSocket server. ``await start()``, ``await stop()``, ``state()`` for /readyz.

    ``engine`` is shared by all calls (one model); ``context`` supplies each call's ticket
    types, known orders and grammar; events go to ``bus`` on TOPIC_ASR. ``allow``: the
    networks a PBX may connect from (default :data:`LOOPBACK`).
    """

    def __init__(
        self,
        engine: Engine,
        bus: Bus,
        context: PrefillContext | None = None,
        host: str = "127.0.0.1",
        port: int = 9092,
        limits: AsrLimits | None = None,
        allow: Sequence[Network] | None = None,
    ) -> None:
        self.engine = engine
        self.bus = bus
        self.context: PrefillContext = context or StaticPrefillContext()
        self.host = host
        self.port = port
        self.limits = limits or AsrLimits()
        self.allow: tuple[Network, ...] = tuple(allow) if allow is not None else LOOPBACK
        self._server: asyncio.Server | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._sub: Subscription | None = None
        self._sub_task: asyncio.Task[None] | None = None
        self._streams: dict[str, _Stream] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        # Connections whose UUID has not been read yet, oldest first (token → reader, writer).
        self._pending: OrderedDict[int, tuple[asyncio.StreamReader, asyncio.StreamWriter]] = (
            OrderedDict())
        self._evicted: set[int] = set()
        self._next_token = 0
        self._limited = RateLimitedLog(log, 10.0)
        self._links: OrderedDict[str, tuple[str, float]] = OrderedDict()
        #: Stage timings of recent calls' first partials (for the benchmark and debugging).
        self.first_partials: deque[FirstPartial] = deque(maxlen=256)
        self.counters = {
            "streams_total": 0, "rejected": 0, "errors": 0, "unlinked_dropped": 0,
            "finals": 0, "partials": 0, "prefills": 0, "publish_errors": 0,
            "refused_address": 0, "uuid_timeouts": 0, "evicted_pending": 0,
            "evicted_unlinked": 0, "log_lines_suppressed": 0,
        }

    # -- lifecycle -----------------------------------------------------------------------

    async def start(self) -> None:
        """Listen, and follow ``asr_link`` events on the bus.

        Raises OSError (with the address in the message) when the port cannot be bound.
        """
        if self._server is not None:
            return
        try:
            server = await asyncio.start_server(self._handle, self.host, self.port)
        except OSError as exc:
            raise OSError(exc.errno, f"AudioSocket server cannot listen on "
                                     f"{self.host}:{self.port}: {exc.strerror or exc}") from exc
        self._pool = ThreadPoolExecutor(self.limits.workers, thread_name_prefix="asr")
        self._sub = self.bus.subscribe(TOPIC_ASR)
        self._sub_task = asyncio.create_task(self._follow_links(self._sub), name="asr-links")
        self._server = server
        sock = server.sockets[0].getsockname()
        self.port = sock[1]
        log.info("AudioSocket ASR server listening on %s:%d", self.host, self.port)

    async def stop(self) -> None:
        """Stop listening, end every stream (publishing their finals), release threads."""
        if self._server is not None:
            self._server.close()
        for _, writer in list(self._pending.values()):
            writer.close()
        for stream in list(self._streams.values()):
            await stream.buffer.close()
            if stream.writer is not None:
                stream.writer.close()
        if self._tasks:
            _, pending = await asyncio.wait(list(self._tasks), timeout=5)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)
            self._server = None
        if self._sub is not None:
            await self._sub.close()
            self._sub = None
        if self._sub_task is not None:
            self._sub_task.cancel()
            await asyncio.gather(self._sub_task, return_exceptions=True)
            self._sub_task = None
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None

    def state(self) -> dict[str, Any]:
        """For /readyz: engine and model, listening address, streams, limits, counters."""
        engine_state: dict[str, Any]
        try:
            engine_state = dict(self.engine.state())
        except Exception as exc:  # a broken engine must not break /readyz
            engine_state = {"model_loaded": False, "error": str(exc)}
        return {
            **engine_state,
            "listening": self._server is not None,
            "address": f"{self.host}:{self.port}",
            "active_streams": len(self._streams),
            "linked_streams": sum(1 for s in self._streams.values() if s.call_id),
            "known_links": len(self._links),
            "handshaking": len(self._pending),
            "limits": asdict(self.limits),
            "allow": [str(net) for net in self.allow],
            **self.counters,
            "log_lines_suppressed": self._limited.suppressed_total,
        }

    # -- linking -------------------------------------------------------------------------

    def link(self, stream_uuid: str, call_id: str) -> None:
        """Tie an AudioSocket UUID to a call; works before or after the stream connects."""
        try:
            key = str(uuidlib.UUID(str(stream_uuid)))
        except ValueError:
            log.warning("asr_link ignored: %r is not a UUID (call %s)", stream_uuid, call_id)
            return
        if not call_id:
            log.warning("asr_link ignored: no call_id for UUID %s", key)
            return
        now = time.monotonic()
        self._links[key] = (call_id, now)
        self._links.move_to_end(key)
        while len(self._links) > self.limits.max_links:
            self._links.popitem(last=False)
        while self._links:
            oldest = next(iter(self._links))
            if now - self._links[oldest][1] <= self.limits.link_ttl:
                break
            del self._links[oldest]
        stream = self._streams.get(key)
        if stream is not None:
            if stream.call_id and stream.call_id != call_id:
                log.warning("AudioSocket %s relinked from %s to %s", key, stream.call_id, call_id)
            stream.call_id = call_id
            stream.linked.set()

    async def _follow_links(self, sub: Subscription) -> None:
        async for _topic, event in sub:
            if event.get("type") != "asr_link":
                continue
            try:
                self.link(str(event.get("uuid", "")), str(event.get("call_id") or ""))
            except Exception:  # a bad event must not stop link handling
                log.exception("bad asr_link event: %r", event)

    # -- connections ---------------------------------------------------------------------

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        peer = _peer(writer)
        stream: _Stream | None = None
        try:
            stream = await self._open(reader, writer, peer)
            if stream is not None:
                await self._run(stream, reader)
        except Exception:
            self.counters["errors"] += 1
            log.exception("AudioSocket connection from %s failed", peer)
        finally:
            if stream is not None and self._streams.get(stream.uuid) is stream:
                del self._streams[stream.uuid]
            writer.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writer.wait_closed(), 1)
            if task is not None:
                self._tasks.discard(task)

    async def _open(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, peer: str
    ) -> _Stream | None:
        """Check the address, read the UUID frame and admit the stream, or say why not."""
        lim = self.limits
        if not address_allowed(_peer_host(writer), self.allow):
            self.counters["refused_address"] += 1
            self._reject(peer, "?", "address not in the allow-list "
                         "(HOTLINE_AUDIOSOCKET_ALLOW)", kind="address")
            return None
        kind, payload = await self._read_uuid(reader, writer, peer)
        if kind < 0:
            return None
        if kind != KIND_UUID or len(payload) != 16:
            self._reject(peer, "?", f"first frame must be a 16-byte UUID (kind 0x01), "
                         f"got kind 0x{kind:02x} with {len(payload)} bytes", kind="first-frame")
            return None
        key = str(uuidlib.UUID(bytes=payload))
        if key in self._streams:
            self._reject(peer, key, "a stream with this UUID is already active",
                         kind="duplicate")
            return None
        if len(self._streams) >= lim.max_streams and not await self._evict_unlinked():
            self._reject(peer, key, f"stream limit reached ({lim.max_streams} active)",
                         kind="limit")
            return None
        buffer = _AudioBuffer(
            max(int(lim.buffer_seconds * BYTES_PER_SECOND), lim.max_frame_bytes),
            max(2, lim.decode_batch_ms * BYTES_PER_SECOND // 1000),
        )
        stream = _Stream(key, peer, buffer, writer=writer)
        link = self._links.get(key)
        if link is not None:
            stream.call_id = link[0]
            stream.linked.set()
        self._streams[key] = stream
        self.counters["streams_total"] += 1
        log.info("AudioSocket %s from %s started (%s)", key, peer,
                 f"call {stream.call_id}" if stream.call_id else "not linked yet")
        return stream

    async def _read_uuid(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                         peer: str) -> tuple[int, bytes]:
        """The first frame within ``uuid_timeout``, as a pending connection; ``(-1, b"")``
        when there is none (timed out, closed, malformed, or evicted by a newer one)."""
        lim = self.limits
        while len(self._pending) >= lim.max_pending:
            # The oldest silent connection gives way: a real PBX sends its UUID at once, so
            # whoever has waited longest without a byte is the least likely to be one.
            victim = next((t for t, (r, w) in self._pending.items() if not _has_sent(r, w)),
                          next(iter(self._pending)))
            _, oldest = self._pending.pop(victim)
            self._evicted.add(victim)
            oldest.close()
        token = self._next_token = self._next_token + 1
        self._pending[token] = (reader, writer)
        try:
            return await self._read_frame(reader, lim.uuid_timeout)
        except (FrameError, _StreamClosed, TimeoutError) as exc:
            if token in self._evicted:
                self.counters["evicted_pending"] += 1
                self._reject(peer, "?", f"closed without a UUID to make room: more than "
                             f"{lim.max_pending} connections were waiting for theirs",
                             kind="evicted")
            elif isinstance(exc, TimeoutError):
                self.counters["uuid_timeouts"] += 1
                self._reject(peer, "?", f"no UUID within {lim.uuid_timeout:g} s",
                             kind="no-uuid")
            else:
                self._reject(peer, "?", f"no valid UUID frame: {_why(exc)}", kind="bad-uuid")
            return -1, b""
        finally:
            self._pending.pop(token, None)
            self._evicted.discard(token)

    async def _evict_unlinked(self) -> bool:
        """Make room by ending the oldest stream not linked to a call; False if none."""
        unlinked = [s for s in self._streams.values() if s.call_id is None and not s.failed]
        if not unlinked:
            return False
        victim = min(unlinked, key=lambda s: s.started)
        self.counters["evicted_unlinked"] += 1
        victim.failed = (f"ended to make room for a new stream: the stream limit "
                         f"({self.limits.max_streams}) was reached and this one was not "
                         f"linked to a call after {time.monotonic() - victim.started:.1f} s")
        self._limited.warning("evicted-unlinked", "AudioSocket %s from %s %s", victim.uuid,
                              victim.peer, victim.failed)
        del self._streams[victim.uuid]
        victim.linked.set()  # wakes its decoder, which sees ``failed`` and stops
        await self._abort(victim)
        return True

    def _reject(self, peer: str, key: str, why: str, kind: str) -> None:
        """Count a refused connection; log it, at most one line per ``kind`` per 10 s."""
        self.counters["rejected"] += 1
        self._limited.warning(kind, "AudioSocket from %s (UUID %s) rejected: %s", peer, key,
                              why)

    async def _read_frame(self, reader: asyncio.StreamReader,
                          within: float | None = None) -> tuple[int, bytes]:
        """One frame, within ``within`` (default ``idle_timeout``) seconds; FrameError
        for anything malformed, TimeoutError when it does not come in time."""
        lim = self.limits
        limit = lim.idle_timeout if within is None else within
        try:
            async with asyncio.timeout(limit):
                header = await reader.readexactly(3)
                kind, length = decode_header(header)
                if length > lim.max_frame_bytes:
                    raise FrameError(
                        f"frame of {length} bytes exceeds the limit of {lim.max_frame_bytes}"
                    )
                payload = await reader.readexactly(length) if length else b""
        except asyncio.IncompleteReadError as exc:
            if not exc.partial:
                raise _StreamClosed("connection closed") from None
            raise FrameError(f"connection closed inside a frame ({len(exc.partial)} bytes)") \
                from None
        except TimeoutError:
            raise TimeoutError(f"no complete frame for {limit:g} s") from None
        except (ConnectionError, OSError) as exc:
            raise _StreamClosed(f"connection lost: {exc}") from None
        return kind, payload

    async def _run(self, stream: _Stream, reader: asyncio.StreamReader) -> None:
        """Read frames into the buffer while the decoder task consumes it."""
        decoder = asyncio.create_task(self._decode(stream), name=f"asr-{stream.uuid}")
        lim = self.limits
        max_bytes = int(lim.max_call_seconds * BYTES_PER_SECOND)
        reason = "hang-up"
        try:
            while True:
                try:
                    kind, payload = await self._read_frame(reader)
                except _StreamClosed as exc:
                    reason = str(exc) or "connection closed"
                    break
                except (FrameError, TimeoutError) as exc:
                    self.counters["errors"] += 1
                    reason = f"error: {_why(exc)}"
                    log.warning("AudioSocket %s from %s closed: %s", stream.uuid,
                                stream.peer, _why(exc))
                    break
                if kind == KIND_AUDIO:
                    if stream.audio_bytes + len(payload) > max_bytes:
                        reason = f"max call length {lim.max_call_seconds:g} s reached"
                        log.warning("AudioSocket %s (call %s) closed: %s", stream.uuid,
                                    stream.call_id, reason)
                        break
                    stream.audio_bytes += len(payload)
                    if stream.buffer.full and not stream.behind_logged:
                        stream.behind_logged = True
                        log.warning("AudioSocket %s (call %s): decoder %.1f s behind, reading "
                                    "paused (back-pressure)", stream.uuid, stream.call_id,
                                    len(stream.buffer) / BYTES_PER_SECOND)
                    await stream.buffer.put(payload)
                elif kind == KIND_HANGUP:
                    break
                elif kind == KIND_ERROR:
                    code = payload[0] if payload else None
                    reason = f"peer error code {code}"
                    log.warning("AudioSocket %s: peer sent error frame (code %s)",
                                stream.uuid, code)
                    break
                elif kind in (KIND_UUID, KIND_SILENCE):
                    continue  # a repeated UUID or a silence marker carries nothing new
                else:
                    self.counters["errors"] += 1
                    reason = f"error: unknown frame kind 0x{kind:02x}"
                    log.warning("AudioSocket %s closed: unknown frame kind 0x%02x",
                                stream.uuid, kind)
                    break
        except _StreamClosed:
            reason = stream.failed or "closed"
        finally:
            await stream.buffer.close()
            try:
                await decoder
            except Exception:
                self.counters["errors"] += 1
                log.exception("AudioSocket %s (call %s): decoder failed", stream.uuid,
                              stream.call_id)
        log.info("AudioSocket %s (call %s) ended after %.1f s of audio: %s", stream.uuid,
                 stream.call_id, stream.audio_bytes / BYTES_PER_SECOND, stream.failed or reason)

    # -- decoding ------------------------------------------------------------------------

    async def _decode(self, stream: _Stream) -> None:
        """Wait for the link, then feed the recognizer and publish what it hears."""
        lim = self.limits
        try:
            await asyncio.wait_for(stream.linked.wait(), lim.link_wait)
        except TimeoutError:
            dropped = stream.buffer.drop()
            self.counters["unlinked_dropped"] += 1
            stream.failed = (f"UUID not linked to a call within {lim.link_wait:g} s; "
                             f"{dropped / BYTES_PER_SECOND:.1f} s of audio dropped")
            self._limited.warning("unlinked", "AudioSocket %s from %s: %s", stream.uuid,
                                  stream.peer, stream.failed)
            await self._abort(stream)
            return
        if stream.failed:  # evicted while waiting for its link
            return
        call_id = stream.call_id or ""
        try:
            ctx = await asyncio.wait_for(self.context.for_call(call_id), 5)
        except Exception as exc:
            log.warning("call %s: prefill context unavailable (%s); using defaults",
                        call_id, _why(exc))
            ctx = CallContext()
        loop = asyncio.get_running_loop()
        try:
            rec: Recognizer = await loop.run_in_executor(
                self._pool, self._new_recognizer, ctx.grammar
            )
        except AsrError as exc:
            stream.failed = f"no recognizer: {exc}"
            log.error("AudioSocket %s (call %s): %s", stream.uuid, call_id, stream.failed)
            await self._abort(stream)
            return
        session = _CallSession(self, call_id, Extractor(ctx))
        max_batch = max(2, BYTES_PER_SECOND // 2)  # at most 0.5 s per decode step
        partial_batch = max(2, lim.partial_batch_ms * BYTES_PER_SECOND // 1000)
        fed = 0
        first_partial = True
        try:
            while True:
                want_partial = session.partial_due()
                data = await stream.buffer.get(max_batch,
                                               partial_batch if want_partial else None)
                if data is None:
                    break
                arrived = stream.buffer.batch_arrived
                fed += len(data)
                want_partial = want_partial or session.partial_due()
                submitted = time.monotonic()
                result, started, ended = await loop.run_in_executor(
                    self._pool, _timed, rec, data, want_partial)
                await session.handle(result)
                if first_partial and result.text and not result.final:
                    first_partial = False
                    now = time.monotonic()
                    self.first_partials.append(FirstPartial(
                        call_id, fed / BYTES_PER_SECOND, len(data) / BYTES_PER_SECOND,
                        None if arrived is None else submitted - arrived,
                        started - submitted, ended - started, now - ended, now))
            await session.handle(await loop.run_in_executor(self._pool, rec.final))
            rec.close()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            # The engine failed on this call's audio (or the pool is gone because the
            # server is stopping): end this call only, say why.
            self.counters["errors"] += 1
            stream.failed = f"decoding failed: {_why(exc)}"
            log.error("AudioSocket %s (call %s): %s", stream.uuid, call_id, stream.failed)
            await self._abort(stream)

    def _new_recognizer(self, grammar: Sequence[str] | None) -> Recognizer:
        return self.engine.new_recognizer(SAMPLE_RATE, list(grammar) if grammar else None)

    async def _abort(self, stream: _Stream) -> None:
        await stream.buffer.close()
        if stream.writer is not None:
            stream.writer.close()


class _CallSession:
    """One call's transcript and prefill; publishes what changed."""

    def __init__(self, server: AsrServer, call_id: str, extractor: Extractor) -> None:
        self.server = server
        self.call_id = call_id
        self.extractor = extractor
        self.transcript = ""
        self.prefill = Prefill()
        self.last_partial = ""
        self.last_partial_at = 0.0

    async def publish(self, event: messages.Asr | messages.TicketPrefill) -> None:
        """Publish, or log and go on: a bus outage loses events, never the call."""
        try:
            await self.server.bus.publish(TOPIC_ASR, event)
        except Exception as exc:
            self.server.counters["publish_errors"] += 1
            n = self.server.counters["publish_errors"]
            if n in (1, 10, 100) or n % 1000 == 0:
                log.warning("call %s: could not publish %s (%s); %d events lost so far",
                            self.call_id, event.get("type"), _why(exc), n)

    def partial_due(self) -> bool:
        return time.monotonic() - self.last_partial_at >= self.server.limits.partial_interval

    async def handle(self, result: AsrResult) -> None:
        if result.final:
            self.last_partial = ""
            if not result.text:
                return
            self.server.counters["finals"] += 1
            await self.publish(messages.asr(call_id=self.call_id, final=True,
                                            text=result.text))
            self.transcript = f"{self.transcript} {result.text}".strip()[-TRANSCRIPT_WINDOW:]
            merged = self.prefill.merge(self.extractor.extract(self.transcript))
            if merged != self.prefill:
                self.prefill = merged
                self.server.counters["prefills"] += 1
                await self.publish(merged.to_event(self.call_id))
        elif result.text and result.text != self.last_partial:
            self.last_partial = result.text
            self.last_partial_at = time.monotonic()
            self.server.counters["partials"] += 1
            await self.publish(messages.asr(call_id=self.call_id, final=False,
                                            text=result.text))
            await self._early_orders(result.text)

    async def _early_orders(self, partial: str) -> None:
        """Prefill the caller's *real* order numbers as soon as a partial says them.

        Partials change under the speaker's feet, so nothing else is taken from them: a
        guessed type or number waits for the final. A match against the caller's own
        orders is safe to show early (and the agent sees it while the caller still talks).
        """
        if not self.extractor.context.known_orders:
            return
        found = self.extractor.extract(f"{self.transcript} {partial}").known_orders
        if not found or set(found) <= set(self.prefill.known_orders):
            return
        self.prefill = self.prefill.merge(Prefill(order_numbers=found, known_orders=found))
        self.server.counters["prefills"] += 1
        await self.publish(self.prefill.to_event(self.call_id))


def _peer_host(writer: asyncio.StreamWriter) -> str:
    info = writer.get_extra_info("peername")
    return str(info[0]) if isinstance(info, tuple) and info else ""


def _peer(writer: asyncio.StreamWriter) -> str:
    info = writer.get_extra_info("peername")
    if isinstance(info, tuple) and len(info) >= 2:
        return f"{info[0]}:{info[1]}"
    return str(info)


def _has_sent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
    """Bytes from the peer are waiting: in the reader's buffer, or still in the kernel's
    receive queue (``FIONREAD``; a burst of accepts runs before the new sockets are read)."""
    if getattr(reader, "_buffer", None):  # asyncio's StreamReader keeps it there
        return True
    sock = writer.get_extra_info("socket")
    if sock is None:
        return False
    queued = array.array("i", [0])
    try:
        fcntl.ioctl(sock.fileno(), termios.FIONREAD, queued)
    except OSError:
        return False
    return queued[0] > 0


def _why(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__


async def send_call(
    host: str,
    port: int,
    stream_uuid: str,
    pcm: bytes,
    *,
    frame_bytes: int = 320,
    realtime: bool = True,
    hangup: bool = True,
) -> None:
    """Play ``pcm`` (8 kHz s16le mono) to an AudioSocket server like Asterisk does.

    20 ms frames, paced in real time unless ``realtime=False``. For tests, the benchmark
    and demos (``hotline`` e2e): a real TCP client, not a mock.
    """
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(encode_frame(KIND_UUID, uuidlib.UUID(stream_uuid).bytes))
        await writer.drain()
        loop = asyncio.get_running_loop()
        start = loop.time()
        seconds_per_byte = 1 / BYTES_PER_SECOND
        for i in range(0, len(pcm), frame_bytes):
            chunk = pcm[i : i + frame_bytes]
            if realtime:  # like a PBX: a frame leaves once its 20 ms have been heard
                due = start + (i + len(chunk)) * seconds_per_byte
                delay = due - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
            writer.write(encode_frame(KIND_AUDIO, chunk))
            await writer.drain()
        if hangup:
            writer.write(encode_frame(KIND_HANGUP))
            await writer.drain()
            # Wait for the server to finish the stream (it closes the connection).
            with contextlib.suppress(Exception):
                await asyncio.wait_for(reader.read(), 30)
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()
