"""``/ws``: the console's websocket, authenticated, attached to the hub.

Auth is the bearer token in ``?token=`` or the ``hotline_token`` session cookie. Without a
valid one the socket is accepted and at once closed with 1008 (policy violation), so a
browser sees the code (a refusal before accept is only an HTTP 403 it cannot read). A cookie
is only honoured from a same-origin page: otherwise any site the agent visits could open a
socket riding on the cookie and read screen pops (cross-site websocket hijacking).

One user may hold ``HOTLINE_WS_MAX_PER_USER`` sockets (10) at once; the next is accepted
and at once closed with 4429 "too many open consoles". The new socket is the one refused,
not the oldest closed: consoles reconnect on their own, so closing the oldest would make
11 open tabs take turns knocking each other out for ever, while a refused tab only waits
(the console retries with back-off, and gets in once another tab is closed).

Client messages are small JSON objects; anything malformed gets an ``error`` message back
and the connection carries on.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import jwt
from fastapi import APIRouter, WebSocket
from starlette.websockets import WebSocketDisconnect, WebSocketState

from telephony.ports import CallNotFound
from tickets import messages
from tickets.errors import Forbidden
from web.callaccess import ANY_CALL_ROLES, CallOwners, check_call_access
from web.hub import CALL_ROLES, CLOSE_POLICY, CLOSE_TOO_MANY, CLOSE_TRY_AGAIN, Connection, Hub
from web.origin import foreign_origin, own_origin
from web.security import COOKIE_NAME, Principal, principal_from_token
from web.services import Services
from web.wsdirect import SCOPE_KEY, direct_socket

log = logging.getLogger(__name__)

router = APIRouter()

#: The console never needs to send more than a few hundred bytes.
MAX_CLIENT_MESSAGE = 16 * 1024
MAX_CALL_ID = 128


@dataclass(frozen=True)
class ClientMessage:
    """A validated client → server message."""

    type: str
    call_id: str | None = None


class BadMessage(ValueError):
    """A client message we cannot act on; ``code`` goes back to the client."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


def parse_client_message(text: str) -> ClientMessage:
    """Validate one client frame (pure). Raises :class:`BadMessage` with a clear reason."""
    if len(text) > MAX_CLIENT_MESSAGE:
        raise BadMessage("too_large", f"message over {MAX_CLIENT_MESSAGE} bytes")
    try:
        data: Any = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BadMessage("bad_json", f"not JSON: {exc.msg}") from None
    if not isinstance(data, dict):
        raise BadMessage("bad_message", "a message is a JSON object with a 'type'")
    kind = data.get("type")
    if kind in ("ping", "pong"):
        return ClientMessage(kind)
    if kind in ("watch_call", "unwatch_call"):
        call_id = data.get("call_id")
        if not isinstance(call_id, str) or not call_id or len(call_id) > MAX_CALL_ID:
            raise BadMessage("bad_message", f"{kind} needs a 'call_id' string")
        return ClientMessage(kind, call_id)
    if not isinstance(kind, str):
        raise BadMessage("bad_message", "a message needs a string 'type'")
    raise BadMessage("unknown_type", f"unknown message type {kind[:40]!r}")


def token_expiry(token: str) -> float | None:
    """The ``exp`` of an already verified token, so the socket can end when the login does."""
    try:
        exp = jwt.decode(token, options={"verify_signature": False}).get("exp")
    except jwt.PyJWTError:
        return None
    return float(exp) if isinstance(exp, int | float) and not isinstance(exp, bool) else None


def same_origin(websocket: WebSocket, allowed: Iterable[str] = ()) -> bool:
    """True when the handshake comes from a page of this site: its Origin (if any) is the
    socket's own origin or an allowed one (``web/origin.py``, the rule of cookie writes)."""
    headers = {k.lower(): v for k, v in websocket.headers.items()}
    own = own_origin(websocket.url.scheme, headers.get("host"))
    return foreign_origin(headers, own, allowed) is None


async def _authenticate(
    websocket: WebSocket, services: Services
) -> tuple[Principal | None, str | None]:
    """The principal behind the socket's token (query, or same-origin cookie), and the token."""
    token = websocket.query_params.get("token")
    if not token and same_origin(websocket, services.settings.allowed_origin_list):
        token = websocket.cookies.get(COOKIE_NAME)
    if not token:
        return None, None
    try:
        return await principal_from_token(services, token), token
    except Exception:
        log.exception("websocket auth failed")
        return None, token


def _close_at_expiry(hub: Hub, conn: Connection, token: str) -> asyncio.Task[None] | None:
    """A task that closes the console when its login expires (None: no expiry)."""
    exp = token_expiry(token)
    if exp is None:
        return None

    async def expire(at: float) -> None:
        await asyncio.sleep(max(0.0, at - time.time()))
        log.info("%s: login expired, closing", conn.label())
        await hub.close(conn, CLOSE_POLICY, "token expired")

    return asyncio.create_task(expire(exp), name=f"ws-expiry-{conn.conn_id}")


def _frame_text(frame: Mapping[str, Any]) -> str:
    text = frame.get("text")
    if text is None:
        raw = frame.get("bytes") or b""
        text = raw.decode("utf-8", "replace")
    return str(text)


def _watch(hub: Hub, conn: Connection, call_id: str, telephony: CallOwners | None) -> None:
    """``watch_call``: call roles only, and an agent only a call on their own extension
    (the REST call actions' rule, ``web/callaccess.py``) or one just transferred to it with a
    ticket (:meth:`CallIndex.handed_to`); errors ``forbidden``/``not_found``."""
    if conn.role not in CALL_ROLES:
        hub.send_to(conn, messages.error("forbidden", "your role cannot follow calls"))
        return
    handed = conn.extension is not None and conn.extension in hub.calls.handed_to(call_id)
    if conn.role not in ANY_CALL_ROLES and not handed:
        try:
            check_call_access(telephony, conn.role, conn.extension, call_id)
        except CallNotFound as exc:
            hub.send_to(conn, messages.error("not_found", str(exc)))
            return
        except Forbidden as exc:
            hub.send_to(conn, messages.error("forbidden", exc.message))
            return
    hub.watch_call(conn, call_id)
    hub.send_to(conn, messages.watching(call_id))


def answer(hub: Hub, conn: Connection, text: str, telephony: CallOwners | None = None) -> None:
    """Act on one client frame; replies (``pong``, ``watching``, ``error``) go to ``conn``.

    ``telephony`` (the live call model; None: no PBX) decides whose call a ``watch_call``
    names. Supervisors and admins may follow any call id, even one not live yet.
    """
    try:
        msg = parse_client_message(text)
    except BadMessage as exc:
        hub.send_to(conn, messages.error(exc.code, exc.detail))
        return
    if msg.type == "ping":
        hub.send_to(conn, messages.pong())
    elif msg.type == "watch_call" and msg.call_id:
        _watch(hub, conn, msg.call_id, telephony)
    elif msg.type == "unwatch_call" and msg.call_id:
        hub.unwatch_call(conn, msg.call_id)


@router.websocket("/ws")
async def console_socket(websocket: WebSocket) -> None:
    """One console connection: auth, register with the hub, read client messages."""
    services: Services = websocket.app.state.services
    principal, token = await _authenticate(websocket, services)
    await websocket.accept()
    hub = services.hub
    if hub is None:  # the app is not started (or is stopping)
        await websocket.close(code=CLOSE_TRY_AGAIN, reason="not ready")
        return
    if principal is None:
        await websocket.close(code=CLOSE_POLICY, reason="authentication required")
        return
    cap = services.settings.ws_max_per_user
    if hub.user_connections(principal.id) >= cap:
        log.info("user %s: console refused, already %d open", principal.id, cap)
        await websocket.close(code=CLOSE_TOO_MANY,
                              reason=f"too many open consoles (at most {cap}); close one")
        return

    async def close(code: int, reason: str) -> None:
        if websocket.application_state != WebSocketState.DISCONNECTED:
            await websocket.close(code=code, reason=reason)

    # Fan-out writes ready-made frames straight to the socket where the server allows it.
    direct = (direct_socket(websocket.scope.get(SCOPE_KEY))
              if services.settings.ws_direct_writes else None)
    conn = hub.connect(
        user_id=principal.id, username=principal.username, role=principal.role,
        extension=principal.extension, group_ids=principal.group_ids,
        send_text=websocket.send_text, close=close,
        write_frame=direct.write if direct is not None else None,
        token_id=principal.token_id, issued_ms=principal.issued_ms,
        customer_id=principal.customer_id,
    )
    expiry = _close_at_expiry(hub, conn, token) if token else None
    hub.send_to(conn, messages.hello(
        {"id": principal.id, "username": principal.username, "role": principal.role,
         "extension": principal.extension, "display_name": principal.display_name},
        hub.heartbeat_s))
    try:
        while not conn.closed:
            frame = await websocket.receive()
            if frame["type"] == "websocket.disconnect":
                break
            hub.touch(conn)
            answer(hub, conn, _frame_text(frame), services.telephony)
    except (WebSocketDisconnect, RuntimeError):
        pass  # the peer went away, or the hub closed the socket under us
    finally:
        if expiry is not None:
            expiry.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await expiry
        await hub.disconnect(conn)
