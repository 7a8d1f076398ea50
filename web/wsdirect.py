"""One websocket frame, built once, written straight to many consoles' transports.

Why: the hub sends one event to up to every console (``tests/bench/bench_ws.py``: 1,000).
Through ASGI every one of those sends is a task wake-up, Starlette's and uvicorn's send
coroutines, a frame built (and, with permessage-deflate, compressed) for that socket alone:
most of the fan-out's time in Python, on top of the kernel's own write (py-spy, issue #19).
A server's frame is never masked (RFC 6455 §5.1), so the same bytes are a valid frame on
every socket: :func:`text_frame` builds it once and :class:`DirectSocket` hands it to each
transport in one ``write``.

What keeps this safe:

* Only uvicorn's websockets-sansio protocol is recognised, by class: the one ``--ws auto``
  picks with ``websockets`` installed (a dependency), the one the tests run. Anything else
  (``--ws wsproto``, an older uvicorn, another server, a test client) gets None and the hub
  uses the ASGI send.
* A frame is written only while the protocol is open for messages (no close frame sent, not
  disconnected, the transport not closing) and not paused by flow control. A paused transport
  (the peer reads slower than we write) declines: the hub queues the message instead, and the
  ASGI send of its sender task waits for the buffer to drain, watched by the hub's watchdog
  (slow consoles are dropped exactly as before).
* Each frame is one whole, uncompressed text message (FIN set, RSV1 clear). The protocol
  writes its own frames (pings, close) with one ``transport.write`` each, so frames never
  interleave, and keeps no state about outgoing messages that this could upset. With
  permessage-deflate negotiated, a message with RSV1 clear is an uncompressed message, which
  RFC 7692 allows, and it does not touch either side's compression context.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, Protocol, cast

#: Where :class:`KeepServerSend` leaves the server's own ``send`` in a websocket's scope.
SCOPE_KEY = "hotline.server_send"

#: The uvicorn protocol classes whose state :class:`DirectSocket` knows how to read.
KNOWN_PROTOCOLS = frozenset({
    "uvicorn.protocols.websockets.websockets_sansio_impl.WebSocketsSansIOProtocol",
})

Scope = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Any, Any], Awaitable[None]]


def text_frame(payload: bytes) -> bytes:
    """An unmasked, final, uncompressed text frame carrying ``payload`` (UTF-8 JSON)."""
    n = len(payload)
    if n < 126:
        head = bytes((0x81, n))
    elif n < 1 << 16:
        head = b"\x81\x7e" + n.to_bytes(2, "big")
    else:
        head = b"\x81\x7f" + n.to_bytes(8, "big")
    return head + payload


class _Flag(Protocol):
    def is_set(self) -> bool: ...


class _Transport(Protocol):
    def is_closing(self) -> bool: ...
    def write(self, data: bytes) -> None: ...


class _UvicornWebSocket(Protocol):
    """The attributes of the known uvicorn protocol that are read here."""

    transport: _Transport
    writable: _Flag
    close_sent: bool
    disconnected: bool
    handshake_complete: bool


class DirectSocket:
    """One console's uvicorn websocket protocol, for writing ready-made frames to."""

    __slots__ = ("_proto",)

    def __init__(self, proto: _UvicornWebSocket) -> None:
        self._proto = proto

    def write(self, frame: bytes) -> bool:
        """Write ``frame`` (from :func:`text_frame`) now. False, with nothing written, when
        the socket is not open for messages or is paused by flow control (the caller
        then queues the message for the ASGI send)."""
        p = self._proto
        if p.close_sent or p.disconnected or not p.writable.is_set():
            return False
        transport = p.transport
        if transport.is_closing():
            return False
        transport.write(frame)
        return True


def direct_socket(send: object) -> DirectSocket | None:
    """A :class:`DirectSocket` for the server's own ASGI ``send`` of an accepted websocket
    (``scope[SCOPE_KEY]``), or None when the server is not one this module knows."""
    proto = getattr(send, "__self__", None)
    if proto is None:
        return None
    cls = type(proto)
    if f"{cls.__module__}.{cls.__qualname__}" not in KNOWN_PROTOCOLS:
        return None
    if getattr(send, "__func__", None) is not getattr(cls, "send", None):
        return None  # not the protocol's own send (wrapped or replaced)
    if not getattr(proto, "handshake_complete", False):
        return None
    return DirectSocket(cast(_UvicornWebSocket, proto))


class KeepServerSend:
    """ASGI middleware, outermost: keeps a websocket's ``send`` as the server gave it in
    ``scope[SCOPE_KEY]`` (the middlewares and the router wrap it further in)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "websocket":
            scope[SCOPE_KEY] = send
        await self.app(scope, receive, send)
