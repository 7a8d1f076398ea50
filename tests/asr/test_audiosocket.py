"""The AudioSocket server over real TCP with the real vosk model and an in-process bus."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from asr.audiosocket import (
    KIND_AUDIO,
    KIND_ERROR,
    KIND_HANGUP,
    KIND_UUID,
    AsrLimits,
    AsrServer,
    FrameError,
    _AudioBuffer,
    address_allowed,
    decode_header,
    encode_frame,
    parse_address,
    parse_allow,
    send_call,
)
from asr.context import CallContext, StaticPrefillContext
from asr.engine import VoskEngine
from tickets.bus import TOPIC_ASR, InProcessBus

GRAMMAR = ["환불", "네", "아니요", "배송", "수리"]
CALL = "pbx1:1700000000.12"
FAST = AsrLimits(idle_timeout=2.0, link_wait=1.0, partial_interval=0.1)

Events = list[dict[str, Any]]


@contextlib.asynccontextmanager
async def running(engine: VoskEngine, limits: AsrLimits = FAST, context: Any = None,
                  allow: Any = None) -> AsyncIterator[tuple[AsrServer, InProcessBus]]:
    bus = InProcessBus()
    ctx = context or StaticPrefillContext(CallContext(grammar=GRAMMAR))
    server = AsrServer(engine, bus, ctx, host="127.0.0.1", port=0, limits=limits,
                       allow=allow)
    await server.start()
    try:
        yield server, bus
    finally:
        await server.stop()
        await bus.close()


async def collect(bus: InProcessBus, done: Callable[[Events], bool],
                  within: float = 20.0) -> tuple[Events, Any]:
    """Subscribe and return (events list, task) that fills until ``done(events)``."""
    sub = bus.subscribe(TOPIC_ASR)
    events: Events = []

    async def run() -> None:
        async for _t, ev in sub:
            if ev.get("type") != "asr_link":
                events.append(ev)
            if done(events):
                return

    task = asyncio.create_task(asyncio.wait_for(run(), within))
    task.add_done_callback(lambda _t: asyncio.ensure_future(sub.close()))
    return events, task


def has_prefill(events: Events) -> bool:
    return any(e["type"] == "ticket_prefill" for e in events)


async def test_call_audio_becomes_transcript_and_prefill(
    engine: VoskEngine, call_pcm: Callable[..., bytes]
) -> None:
    pcm = call_pcm("환불", "네", "아니요")
    async with running(engine) as (server, bus):
        events, task = await collect(
            bus, lambda evs: sum(1 for e in evs if e["type"] == "asr" and e["final"]) >= 3
        )
        sid = str(uuid.uuid4())
        # The telephony bridge links the UUID over the bus (before the audio arrives here).
        await bus.publish(TOPIC_ASR, {"type": "asr_link", "uuid": sid, "call_id": CALL})
        await asyncio.sleep(0.05)
        await send_call("127.0.0.1", server.port, sid, pcm, realtime=False)
        await task
        finals = [e["text"] for e in events if e["type"] == "asr" and e["final"]]
        assert finals == ["환불", "네", "아니요"]
        assert all(e["call_id"] == CALL for e in events)
        prefill = next(e for e in events if e["type"] == "ticket_prefill")
        assert prefill["ticket_type"] == "refund"
        assert prefill["confidence"] >= 0.5
        assert prefill["order_numbers"] == [] and prefill["phone_numbers"] == []
        # Partials come before the first final and are marked as such.
        first_final = next(i for i, e in enumerate(events) if e["type"] == "asr" and e["final"])
        assert any(not e["final"] for e in events[:first_final] if e["type"] == "asr")
        state = server.state()
        assert state["model_loaded"] and state["listening"]
        assert state["streams_total"] == 1 and state["finals"] == 3


async def test_real_time_stream_linked_after_connect(
    engine: VoskEngine, call_pcm: Callable[..., bytes]
) -> None:
    pcm = call_pcm("아니요")
    async with running(engine) as (server, bus):
        events, task = await collect(bus, lambda evs: any(
            e["type"] == "asr" and e["final"] for e in evs))
        sid = str(uuid.uuid4())
        sender = asyncio.create_task(send_call("127.0.0.1", server.port, sid, pcm))
        await asyncio.sleep(0.3)  # audio is held until the link arrives
        assert server.state()["active_streams"] == 1
        server.link(sid, CALL)
        await task
        await sender
        assert [e["text"] for e in events if e["type"] == "asr" and e["final"]] == ["아니요"]
        assert server.state()["active_streams"] == 0


async def test_first_partial_arrives_quickly_in_real_time(
    engine: VoskEngine, call_pcm: Callable[..., bytes]
) -> None:
    pcm = call_pcm("아니요")
    async with running(engine) as (server, bus):
        _events, task = await collect(bus, lambda evs: any(
            e["type"] == "asr" and not e["final"] for e in evs))
        sid = str(uuid.uuid4())
        server.link(sid, CALL)
        started = time.monotonic()
        sender = asyncio.create_task(send_call("127.0.0.1", server.port, sid, pcm))
        await task
        latency = time.monotonic() - started - 0.3  # speech starts after 0.3 s of silence
        await sender
        assert latency < 1.5, latency
        # Its stages are recorded: a partial is due, so the batch that brought it was one
        # 20 ms frame decoded on arrival, after the speech began.
        [fp] = list(server.first_partials)
        assert fp.call_id == CALL
        assert fp.batch_s == 0.02
        assert 0.3 < fp.audio_s <= len(pcm) / 16000
        assert fp.wait_s is not None and fp.wait_s >= 0
        assert min(fp.queue_s, fp.decode_s, fp.publish_s) >= 0


async def test_unknown_uuid_is_dropped_and_closed(
    engine: VoskEngine, call_pcm: Callable[..., bytes], caplog: pytest.LogCaptureFixture
) -> None:
    async with running(engine) as (server, bus):
        events, task = await collect(bus, lambda evs: False, within=2.5)
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(encode_frame(KIND_UUID, uuid.uuid4().bytes))
        pcm = call_pcm("환불")
        for i in range(0, len(pcm), 320):
            writer.write(encode_frame(KIND_AUDIO, pcm[i : i + 320]))
        await writer.drain()
        with caplog.at_level(logging.WARNING, logger="asr.audiosocket"):
            assert await reader.read() == b""  # the server closed the stream
        writer.close()
        with contextlib.suppress(TimeoutError):
            await task
        assert events == []
        assert server.state()["unlinked_dropped"] == 1
        assert "not linked to a call" in caplog.text


@pytest.mark.parametrize(
    ("frames", "message"),
    [
        (encode_frame(KIND_AUDIO, b"\0" * 320), "first frame must be a 16-byte UUID"),
        (encode_frame(KIND_UUID, b"short"), "first frame must be a 16-byte UUID"),
        (b"\x01\x00", "no valid UUID frame"),
    ],
)
async def test_bad_first_frame_is_rejected(
    engine: VoskEngine, caplog: pytest.LogCaptureFixture, frames: bytes, message: str
) -> None:
    async with running(engine) as (server, _bus):
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(frames)
        await writer.drain()
        if len(frames) < 3:
            writer.write_eof()
        with caplog.at_level(logging.WARNING, logger="asr.audiosocket"):
            assert await asyncio.wait_for(reader.read(), 5) == b""
        writer.close()
        assert message in caplog.text
        assert server.state()["rejected"] == 1


async def test_bad_frames_close_only_their_stream(
    engine: VoskEngine, call_pcm: Callable[..., bytes], caplog: pytest.LogCaptureFixture
) -> None:
    """Oversized, unknown-kind, truncated and error frames, next to a healthy call."""
    pcm = call_pcm("환불")
    bad_tails = {
        "oversized": encode_frame(KIND_AUDIO, b"\0" * 320)[:1] + b"\xff\xff",
        "unknown kind": encode_frame(0x42, b"abc"),
        "error frame": encode_frame(KIND_ERROR, b"\x03"),
        "truncated": b"\x10\x01\x40" + b"\0" * 10,
    }
    async with running(engine) as (server, bus):
        events, task = await collect(bus, lambda evs: any(
            e["type"] == "asr" and e["final"] for e in evs))
        good = str(uuid.uuid4())
        server.link(good, "pbx1:good.1")
        healthy = asyncio.create_task(send_call("127.0.0.1", server.port, good, pcm))
        with caplog.at_level(logging.WARNING, logger="asr.audiosocket"):
            for tail in bad_tails.values():
                sid = uuid.uuid4()
                server.link(str(sid), "pbx1:bad.1")
                reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
                writer.write(encode_frame(KIND_UUID, sid.bytes))
                writer.write(encode_frame(KIND_AUDIO, pcm[:3200]))
                writer.write(tail)
                await writer.drain()
                if tail.startswith(b"\x10\x01\x40"):
                    writer.write_eof()
                assert await asyncio.wait_for(reader.read(), 5) == b""
                writer.close()
        await task
        await healthy
        assert "exceeds the limit of 4096" in caplog.text
        assert "unknown frame kind 0x42" in caplog.text
        assert "peer sent error frame (code 3)" in caplog.text
        assert "connection closed inside a frame" in caplog.text
        finals = [e for e in events if e["type"] == "asr" and e["final"]]
        assert [(e["call_id"], e["text"]) for e in finals] == [("pbx1:good.1", "환불")]
        assert server.state()["errors"] == 3  # the peer's error frame is not ours


async def test_stalled_client_is_closed(
    engine: VoskEngine, caplog: pytest.LogCaptureFixture
) -> None:
    limits = AsrLimits(idle_timeout=0.5, link_wait=1.0)
    async with running(engine, limits) as (server, _bus):
        sid = uuid.uuid4()
        server.link(str(sid), CALL)
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(encode_frame(KIND_UUID, sid.bytes) + b"\x10\x01")  # half a header
        await writer.drain()
        started = time.monotonic()
        with caplog.at_level(logging.WARNING, logger="asr.audiosocket"):
            assert await asyncio.wait_for(reader.read(), 5) == b""
        assert 0.4 < time.monotonic() - started < 3
        writer.close()
        assert "no complete frame for 0.5 s" in caplog.text
        assert server.state()["active_streams"] == 0


async def test_stream_limit_rejects_extra_calls(
    engine: VoskEngine, caplog: pytest.LogCaptureFixture
) -> None:
    limits = AsrLimits(max_streams=1, idle_timeout=5, link_wait=5)
    async with running(engine, limits) as (server, _bus):
        first = uuid.uuid4()
        server.link(str(first), CALL)
        r1, w1 = await asyncio.open_connection("127.0.0.1", server.port)
        w1.write(encode_frame(KIND_UUID, first.bytes))
        await w1.drain()
        for _ in range(50):
            if server.state()["active_streams"] == 1:
                break
            await asyncio.sleep(0.02)
        r2, w2 = await asyncio.open_connection("127.0.0.1", server.port)
        w2.write(encode_frame(KIND_UUID, uuid.uuid4().bytes))
        await w2.drain()
        with caplog.at_level(logging.WARNING, logger="asr.audiosocket"):
            assert await asyncio.wait_for(r2.read(), 5) == b""
        assert "stream limit reached (1 active)" in caplog.text
        assert server.state()["active_streams"] == 1
        w1.write(encode_frame(KIND_HANGUP))
        await w1.drain()
        assert await asyncio.wait_for(r1.read(), 5) == b""
        w1.close()
        w2.close()


async def test_max_call_length_ends_the_stream_but_keeps_the_transcript(
    engine: VoskEngine, call_pcm: Callable[..., bytes], caplog: pytest.LogCaptureFixture
) -> None:
    pcm = call_pcm("환불", "네", "아니요")
    limits = AsrLimits(max_call_seconds=2.5, idle_timeout=2, link_wait=1)
    async with running(engine, limits) as (server, bus):
        events, task = await collect(bus, has_prefill)
        sid = str(uuid.uuid4())
        server.link(sid, CALL)
        with caplog.at_level(logging.WARNING, logger="asr.audiosocket"):
            with contextlib.suppress(ConnectionError):
                await send_call("127.0.0.1", server.port, sid, pcm, realtime=False)
            await task
        assert "max call length 2.5 s reached" in caplog.text
        finals = [e["text"] for e in events if e["type"] == "asr" and e["final"]]
        assert finals[0] == "환불" and "아니요" not in finals


async def test_prefill_uses_the_callers_context_and_survives_a_failing_port(
    engine: VoskEngine, call_pcm: Callable[..., bytes]
) -> None:
    class Failing:
        async def for_call(self, call_id: str) -> CallContext:
            raise RuntimeError("database down")

    pcm = call_pcm("환불")
    # Grammar-less fallback context: free-form decoding still publishes transcripts.
    async with running(engine, context=Failing()) as (server, bus):
        events, task = await collect(bus, lambda evs: any(
            e["type"] == "asr" and e["final"] for e in evs))
        sid = str(uuid.uuid4())
        server.link(sid, CALL)
        await send_call("127.0.0.1", server.port, sid, pcm, realtime=False)
        await task
        assert [e["type"] for e in events if e.get("final")] == ["asr"]

    custom = StaticPrefillContext(per_call={CALL: CallContext(
        grammar=["네", "아니요", "수리"],
        ticket_types={"yes_no": {"ko": ["아니요"]}})})
    async with running(engine, context=custom) as (server, bus):
        events, task = await collect(bus, has_prefill)
        sid = str(uuid.uuid4())
        server.link(sid, CALL)
        await send_call("127.0.0.1", server.port, sid, call_pcm("아니요"), realtime=False)
        await task
        prefill = next(e for e in events if e["type"] == "ticket_prefill")
        assert prefill["ticket_type"] == "yes_no"


async def test_concurrent_calls_are_kept_apart(
    engine: VoskEngine, call_pcm: Callable[..., bytes]
) -> None:
    words = {"pbx1:a.1": "환불", "pbx1:b.2": "아니요", "pbx2:c.3": "네"}
    async with running(engine) as (server, bus):
        events, task = await collect(bus, lambda evs: len(
            {e["call_id"] for e in evs if e["type"] == "asr" and e["final"]}) == 3)
        senders = []
        for call_id, word in words.items():
            sid = str(uuid.uuid4())
            server.link(sid, call_id)
            senders.append(send_call("127.0.0.1", server.port, sid, call_pcm(word)))
        await asyncio.gather(*senders)
        await task
        heard = {e["call_id"]: e["text"] for e in events if e["type"] == "asr" and e["final"]}
        assert heard == words


async def test_bad_link_events_are_ignored(engine: VoskEngine) -> None:
    async with running(engine) as (server, bus):
        await bus.publish(TOPIC_ASR, {"type": "asr_link", "uuid": "not-a-uuid", "call_id": "x"})
        await bus.publish(TOPIC_ASR, {"type": "asr_link", "uuid": str(uuid.uuid4())})
        await bus.publish(TOPIC_ASR, {"type": "asr_link"})
        sid = str(uuid.uuid4())
        await bus.publish(TOPIC_ASR, {"type": "asr_link", "uuid": sid.upper(), "call_id": CALL})
        for _ in range(50):
            if server.state()["known_links"]:
                break
            await asyncio.sleep(0.01)
        assert server.state()["known_links"] == 1


# -- pure pieces ------------------------------------------------------------------------


def test_frame_round_trip() -> None:
    frame = encode_frame(KIND_AUDIO, b"\1\2\3")
    assert frame == b"\x10\x00\x03\x01\x02\x03"
    assert decode_header(frame[:3]) == (KIND_AUDIO, 3)
    with pytest.raises(FrameError):
        decode_header(b"\x10")
    with pytest.raises(ValueError):
        encode_frame(KIND_AUDIO, b"\0" * 70000)


def test_parse_address() -> None:
    assert parse_address("127.0.0.1:9092") == ("127.0.0.1", 9092)
    assert parse_address("0.0.0.0") == ("0.0.0.0", 9092)
    assert parse_address("[::1]:9000") == ("::1", 9000)
    with pytest.raises(ValueError, match="port"):
        parse_address("host:abc")


async def test_audio_buffer_pushes_back_when_full() -> None:
    buf = _AudioBuffer(limit=100, batch=10)
    await buf.put(b"\0" * 100)
    blocked = asyncio.create_task(buf.put(b"\1" * 10))
    await asyncio.sleep(0.05)
    assert not blocked.done()  # the reader waits: TCP back-pressure on the sender
    assert await buf.get(60) == b"\0" * 60
    await asyncio.wait_for(blocked, 1)
    await buf.close()
    assert await buf.get(1000) == b"\0" * 40 + b"\1" * 10
    assert await buf.get(1000) is None


async def test_audio_buffer_hands_out_less_than_a_batch_when_asked() -> None:
    buf = _AudioBuffer(limit=10_000, batch=1600)
    await buf.put(b"\0" * 320)
    # A partial is due: one frame is enough.
    assert await asyncio.wait_for(buf.get(8000, 320), 1) == b"\0" * 320
    assert buf.batch_arrived is not None  # nothing older was left behind
    await buf.put(b"\1" * 320)
    waiting = asyncio.create_task(buf.get(8000))  # no partial due: a whole batch
    await asyncio.sleep(0.05)
    assert not waiting.done()
    await buf.put(b"\2" * 1280)
    assert await asyncio.wait_for(waiting, 1) == b"\1" * 320 + b"\2" * 1280
    await buf.put(b"\3" * 640)
    assert await buf.get(320, 320) == b"\3" * 320
    assert buf.batch_arrived is None  # the decoder is behind: older audio is waiting
    await buf.close()


class FlakyBus(InProcessBus):
    """An in-process bus whose transport is down for transcripts (like a Redis outage)."""

    def __init__(self) -> None:
        super().__init__()
        self.refused = 0

    async def publish(self, topic: str, event: dict[str, Any]) -> None:
        if event.get("type") == "asr" and event.get("final"):
            self.refused += 1
            raise ConnectionError("bus transport down")
        await super().publish(topic, event)


async def test_bus_outage_loses_events_not_the_call(
    engine: VoskEngine, call_pcm: Callable[..., bytes], caplog: pytest.LogCaptureFixture
) -> None:
    bus = FlakyBus()
    server = AsrServer(engine, bus, StaticPrefillContext(CallContext(grammar=GRAMMAR)),
                       "127.0.0.1", 0, FAST)
    await server.start()
    try:
        events, task = await collect(bus, has_prefill)
        sid = str(uuid.uuid4())
        server.link(sid, CALL)
        with caplog.at_level(logging.WARNING, logger="asr.audiosocket"):
            await send_call("127.0.0.1", server.port, sid, call_pcm("환불"), realtime=False)
            await task
        # The final transcript was refused, yet the prefill from it still went out.
        assert bus.refused == 1
        assert next(e for e in events if e["type"] == "ticket_prefill")["ticket_type"] == \
            "refund"
        assert server.state()["publish_errors"] == 1
        assert "could not publish asr (bus transport down)" in caplog.text
    finally:
        await server.stop()
        await bus.close()


async def test_port_in_use_is_a_clear_error(engine: VoskEngine) -> None:
    async with running(engine) as (server, bus):
        other = AsrServer(engine, bus, port=server.port)
        with pytest.raises(OSError, match=f"cannot listen on 127.0.0.1:{server.port}"):
            await other.start()
        assert other.state()["listening"] is False
        await other.stop()  # stopping a server that never started is harmless


async def _until(condition: Callable[[], bool], within: float = 5.0) -> None:
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


async def test_silent_connections_cannot_pile_up(
    engine: VoskEngine, caplog: pytest.LogCaptureFixture
) -> None:
    """Beyond ``max_pending`` connections waiting for their UUID, the oldest is closed
    (not the newcomer, which is what let idle connections lock real calls out)."""
    limits = AsrLimits(max_pending=2, uuid_timeout=5, link_wait=1)
    async with running(engine, limits) as (server, _bus):
        first = await asyncio.open_connection("127.0.0.1", server.port)
        await _until(lambda: server.state()["handshaking"] == 1)
        second = await asyncio.open_connection("127.0.0.1", server.port)
        await _until(lambda: server.state()["handshaking"] == 2)
        with caplog.at_level(logging.WARNING, logger="asr.audiosocket"):
            third = await asyncio.open_connection("127.0.0.1", server.port)
            assert await asyncio.wait_for(first[0].read(), 5) == b""  # the oldest went
        assert "more than 2 connections were waiting" in caplog.text
        await _until(lambda: server.state()["evicted_pending"] == 1)
        assert server.state()["handshaking"] == 2
        for _r, w in (first, second, third):
            w.close()
        await _until(lambda: server.state()["handshaking"] == 0)


async def test_a_connection_that_has_sent_bytes_is_not_the_one_evicted(
    engine: VoskEngine
) -> None:
    """The flaky failure of the test below: in a burst of connects, a real call whose UUID
    was already on its way was the oldest pending one and was evicted. The oldest *silent*
    connection goes instead."""
    limits = AsrLimits(max_pending=2, uuid_timeout=5, link_wait=1)
    async with running(engine, limits) as (server, _bus):
        talking = await asyncio.open_connection("127.0.0.1", server.port)
        talking[1].write(b"\x01")  # the start of a UUID frame: its reader waits for more
        await talking[1].drain()
        await _until(lambda: server.state()["handshaking"] == 1)
        silent = await asyncio.open_connection("127.0.0.1", server.port)
        await _until(lambda: server.state()["handshaking"] == 2)
        newcomer = await asyncio.open_connection("127.0.0.1", server.port)
        assert await asyncio.wait_for(silent[0].read(), 5) == b""  # the silent one went
        await _until(lambda: server.state()["evicted_pending"] == 1)
        assert not talking[0].at_eof()
        for _r, w in (talking, silent, newcomer):
            w.close()
        await _until(lambda: server.state()["handshaking"] == 0)


async def test_a_connection_without_uuid_is_closed_after_the_deadline(
    engine: VoskEngine, caplog: pytest.LogCaptureFixture
) -> None:
    limits = AsrLimits(uuid_timeout=0.5, idle_timeout=10, link_wait=1)
    async with running(engine, limits) as (server, _bus):
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        started = time.monotonic()
        with caplog.at_level(logging.WARNING, logger="asr.audiosocket"):
            assert await asyncio.wait_for(reader.read(), 5) == b""
        waited = time.monotonic() - started
        writer.close()
        assert 0.4 < waited < 2.5, waited  # the UUID deadline, not the 10 s idle timeout
        assert "no UUID within 0.5 s" in caplog.text
        assert server.state()["uuid_timeouts"] == 1


def test_allow_list_parsing_and_matching() -> None:
    allow = parse_allow(" 10.0.0.5, 192.168.1.0/24 ,::1,2001:db8::/32")
    assert [str(n) for n in allow] == ["10.0.0.5/32", "192.168.1.0/24", "::1/128",
                                       "2001:db8::/32"]
    assert address_allowed("192.168.1.77", allow)
    assert address_allowed("::ffff:10.0.0.5", allow)  # IPv4 on a dual-stack socket
    assert address_allowed("2001:db8::9", allow)
    assert not address_allowed("10.0.0.6", allow)
    assert not address_allowed("127.0.0.1", allow)
    assert not address_allowed("", allow) and not address_allowed("not-an-ip", allow)
    with pytest.raises(ValueError, match=r"'10\.0\.0\.300'"):
        parse_allow("10.0.0.1,10.0.0.300")
    with pytest.raises(ValueError, match="empty"):
        parse_allow(" , ")


async def test_a_disallowed_address_is_refused_and_logged_once(
    engine: VoskEngine, caplog: pytest.LogCaptureFixture
) -> None:
    """Loopback is not in this allow-list: refused before a byte is read; a flood of
    refusals writes one log line, and the count is in state()."""
    async with running(engine, allow=parse_allow("10.9.8.0/24")) as (server, _bus):
        with caplog.at_level(logging.WARNING, logger="asr.audiosocket"):
            for _ in range(200):
                reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
                writer.write(encode_frame(KIND_UUID, uuid.uuid4().bytes))
                try:  # closed unread: a FIN, or a reset when our UUID was still unread
                    assert await asyncio.wait_for(reader.read(), 5) == b""
                except ConnectionResetError:
                    pass
                writer.close()
        lines = [r for r in caplog.records if r.name == "asr.audiosocket"]
        assert len(lines) == 1, [r.getMessage() for r in lines]
        assert "address not in the allow-list" in lines[0].getMessage()
        state = server.state()
        assert state["refused_address"] == 200 and state["log_lines_suppressed"] == 199
        assert state["streams_total"] == 0 and state["allow"] == ["10.9.8.0/24"]


async def test_idle_connections_do_not_block_real_calls(
    engine: VoskEngine, call_pcm: Callable[..., bytes], caplog: pytest.LogCaptureFixture
) -> None:
    """Issue #9: 32 idle connections that never send a UUID blocked speech for every real
    call, and each refusal logged a line. 40 idle ones, reopened as soon as they are
    closed, now delay nobody: the real calls are heard, and the log stays short."""
    limits = AsrLimits(idle_timeout=2.0, link_wait=2.0, partial_interval=0.1,
                       uuid_timeout=1.0, max_pending=16)
    pcm = call_pcm("환불")
    async with running(engine, limits) as (server, bus):
        stop = asyncio.Event()
        opened = 0

        async def idle_peer() -> None:
            nonlocal opened
            while not stop.is_set():
                with contextlib.suppress(OSError):
                    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
                    opened += 1
                    with contextlib.suppress(TimeoutError, OSError):
                        await asyncio.wait_for(reader.read(), 5)  # until the server closes
                    writer.close()
                await asyncio.sleep(0.05)

        with caplog.at_level(logging.INFO, logger="asr.audiosocket"):
            peers = [asyncio.create_task(idle_peer()) for _ in range(40)]
            await _until(lambda: opened >= 40)
            started = time.monotonic()
            for n in range(3):
                events, task = await collect(bus, lambda evs: any(
                    e["type"] == "asr" and e["final"] for e in evs), within=15)
                sid = str(uuid.uuid4())
                server.link(sid, f"{CALL}{n}")
                await send_call("127.0.0.1", server.port, sid, pcm)  # in real time
                await task
                assert [e["text"] for e in events if e["final"]] == ["환불"]
            took = time.monotonic() - started
            stop.set()
            await asyncio.gather(*peers)
        state = server.state()
        refusals = [r for r in caplog.records if "rejected" in r.getMessage()]
        print(f"3 calls heard in {took:.1f} s beside {opened} idle connections; "
              f"{state['evicted_pending']} evicted, {state['uuid_timeouts']} timed out, "
              f"{len(refusals)} refusal log lines ({state['log_lines_suppressed']} suppressed)")
        assert state["streams_total"] == 3 and state["finals"] == 3
        assert state["evicted_pending"] + state["uuid_timeouts"] >= 40
        assert len(refusals) <= 6  # one per kind per 10 s, not one per connection


async def test_an_unlinked_stream_makes_room_for_a_new_one(engine: VoskEngine) -> None:
    """All stream slots taken by streams no call claims: the oldest gives way."""
    limits = AsrLimits(max_streams=1, link_wait=30, idle_timeout=30)
    async with running(engine, limits) as (server, _bus):
        stranger = await asyncio.open_connection("127.0.0.1", server.port)
        stranger[1].write(encode_frame(KIND_UUID, uuid.uuid4().bytes))
        await stranger[1].drain()
        await _until(lambda: server.state()["active_streams"] == 1)
        real = uuid.uuid4()
        server.link(str(real), CALL)
        r2, w2 = await asyncio.open_connection("127.0.0.1", server.port)
        w2.write(encode_frame(KIND_UUID, real.bytes))
        await w2.drain()
        assert await asyncio.wait_for(stranger[0].read(), 5) == b""
        await _until(lambda: server.state()["linked_streams"] == 1)
        assert server.state()["evicted_unlinked"] == 1
        w2.write(encode_frame(KIND_HANGUP))
        await w2.drain()
        assert await asyncio.wait_for(r2.read(), 5) == b""
        stranger[1].close()
        w2.close()
