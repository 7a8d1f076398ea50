"""Direct frame writes (``web/wsdirect.py``): the frame itself, which sockets get the direct
path, and the hub's choice between writing at once and queueing (order, flow control)."""

from __future__ import annotations

import asyncio
import json
from types import SimpleNamespace

import pytest
import websockets
from websockets.frames import Frame, Opcode
from websockets.streams import StreamReader

from tests.support.live import SECRET, LiveServer
from tests.web.test_hub import FakeSocket, wait_for
from tickets.bus import TOPIC_CALLS, TOPIC_QUEUES, InProcessBus
from web.app import create_app
from web.hub import Hub
from web.settings import Settings
from web.wsdirect import DirectSocket, direct_socket, text_frame


def parse(data: bytes) -> Frame:
    """``data`` read back by the websockets library's own client-side frame parser."""
    reader = StreamReader()
    reader.feed_data(data)
    reader.feed_eof()
    parser = Frame.parse(reader.read_exact, mask=False)
    try:
        while True:
            next(parser)
    except StopIteration as done:
        frame = done.value
    assert isinstance(frame, Frame)
    return frame


@pytest.mark.parametrize("size", [0, 1, 125, 126, 65_535, 65_536, 200_000])
def test_text_frame_is_one_whole_unmasked_uncompressed_text_message(size):
    payload = ("王" * size).encode()[:size]  # multi-byte text, cut to the byte size
    payload = payload.decode("utf-8", "ignore").encode()
    frame = parse(text_frame(payload))
    assert frame.opcode is Opcode.TEXT and frame.fin
    assert not frame.rsv1  # not compressed
    assert frame.data == payload


def test_only_uvicorns_own_protocol_sends_get_the_direct_path():
    async def send(message: object) -> None: ...

    assert direct_socket(None) is None
    assert direct_socket(send) is None  # a plain coroutine function (a test client, a wrapper)

    class WebSocketsSansIOProtocol:  # same name, other module: not recognised
        handshake_complete = True

        async def send(self, message: object) -> None: ...

    assert direct_socket(WebSocketsSansIOProtocol().send) is None


class Flag:
    def __init__(self) -> None:
        self.value = True

    def is_set(self) -> bool:
        return self.value


class Transport:
    def __init__(self) -> None:
        self.written: list[bytes] = []
        self.closing = False

    def is_closing(self) -> bool:
        return self.closing

    def write(self, data: bytes) -> None:
        self.written.append(data)


def test_direct_socket_writes_only_while_open_and_not_paused():
    transport, writable = Transport(), Flag()
    proto = SimpleNamespace(transport=transport, writable=writable, close_sent=False,
                            disconnected=False, handshake_complete=True)
    sock = DirectSocket(proto)  # type: ignore[arg-type]
    assert sock.write(b"a") and transport.written == [b"a"]
    writable.value = False  # the transport's buffer is over its high-water mark
    assert not sock.write(b"b")
    writable.value = True
    proto.close_sent = True
    assert not sock.write(b"c")
    proto.close_sent, proto.disconnected = False, True
    assert not sock.write(b"d")
    proto.disconnected, transport.closing = False, True
    assert not sock.write(b"e")
    assert transport.written == [b"a"]


class DirectConsole(FakeSocket):
    """A console whose socket also takes ready-made frames, unless ``paused``."""

    def __init__(self, **kw: object) -> None:
        super().__init__(**kw)  # type: ignore[arg-type]
        self.paused = False
        self.frames: list[dict] = []

    def write_frame(self, frame: bytes) -> bool:
        if self.paused:
            return False
        self.frames.append(json.loads(parse(frame).data))
        return True


def pop(n: int) -> dict:
    return {"type": "screen_pop", "call_id": f"c{n}", "extension": "6001"}


async def test_hub_writes_frames_directly_and_queues_when_the_socket_is_paused():
    hub = Hub(InProcessBus())
    sock = DirectConsole()
    conn = hub.connect(user_id=10, username="u10", role="agent", extension="6001",
                       send_text=sock.send, close=sock.close, write_frame=sock.write_frame)
    assert hub.deliver(TOPIC_CALLS, pop(1)) == 1
    assert [m["call_id"] for m in sock.frames] == ["c1"] and sock.got == []
    # Flow control: the frame is refused, the message goes through the outbox and ASGI.
    sock.paused = True
    assert hub.deliver(TOPIC_CALLS, pop(2)) == 1
    sock.paused = False
    await wait_for(lambda: sock.got)
    assert [m["call_id"] for m in sock.got] == ["c2"]
    assert hub.stats()["written_direct"] == 1 and conn.sent == 2
    await hub.stop()


async def test_messages_already_queued_keep_their_order():
    hub = Hub(InProcessBus())
    sock = DirectConsole(delay=0.05)  # its ASGI sends are slow
    hub.connect(user_id=10, username="u10", role="agent", extension="6001",
                send_text=sock.send, close=sock.close, write_frame=sock.write_frame)
    sock.paused = True
    hub.deliver(TOPIC_CALLS, pop(1))  # queued: the socket was paused
    sock.paused = False
    for n in (2, 3):  # the socket takes frames again, but c1 is still on its way
        hub.deliver(TOPIC_CALLS, pop(n))
    await wait_for(lambda: len(sock.got) == 3)
    assert [m["call_id"] for m in sock.got] == ["c1", "c2", "c3"] and sock.frames == []
    hub.deliver(TOPIC_CALLS, pop(4))  # all sent: direct again
    assert [m["call_id"] for m in sock.frames] == ["c4"]
    await hub.stop()


async def recv(ws: websockets.ClientConnection, kind: str) -> dict:
    async with asyncio.timeout(5):
        while True:
            msg = json.loads(await ws.recv())
            if msg.get("type") == kind:
                return dict(msg)


async def test_real_server_mixes_direct_frames_with_compressed_asgi_messages(
        live_server: LiveServer):
    """uvicorn negotiates permessage-deflate with this client (as with browsers): the hello
    and replies go compressed through ASGI, events as direct uncompressed frames, in order."""
    sue = await live_server.login("sue")
    hub = live_server.services.hub
    before = hub.stats()["written_direct"]
    async with websockets.connect(f"{live_server.ws_url}?token={sue}") as ws:
        assert ws.protocol.extensions, "permessage-deflate was negotiated"
        await recv(ws, "hello")
        for n in range(3):
            await live_server.publish(TOPIC_QUEUES, {"type": "queue_stats", "queue": "direct",
                                                     "waiting": n})
            await ws.send(json.dumps({"type": "ping"}))
            assert (await recv(ws, "queue_stats"))["waiting"] == n
            assert await recv(ws, "pong") == {"type": "pong"}
    assert hub.stats()["written_direct"] >= before + 3


async def test_direct_writes_can_be_switched_off(demo_db_url, console_tmp):
    settings = Settings(database_url=demo_db_url, data_dir=console_tmp / "var-nodirect",
                        secret_key=SECRET, ami_url="off", ws_direct_writes=False)
    server = LiveServer(create_app(settings))
    server.start()
    try:
        sue = await server.login("sue")
        async with websockets.connect(f"{server.ws_url}?token={sue}") as ws:
            await recv(ws, "hello")
            await server.publish(TOPIC_QUEUES, {"type": "queue_stats", "queue": "off"})
            assert (await recv(ws, "queue_stats"))["queue"] == "off"
        stats = server.services.hub.stats()
        assert stats["delivered"] >= 1 and stats["written_direct"] == 0
    finally:
        server.stop()
