"""``/ws``: one user may hold ``HOTLINE_WS_MAX_PER_USER`` consoles; the next is refused
(4429) and others are not affected (web/ws.py)."""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack

import pytest
import websockets

from tests.support.live import LiveServer
from tests.web.test_ws import closed_code, recv
from web.hub import CLOSE_TOO_MANY

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_one_user_gets_at_most_the_cap_and_the_next_socket_is_refused(
        live_server: LiveServer) -> None:
    cap = live_server.services.settings.ws_max_per_user
    eric = await live_server.login("eric")
    url = f"{live_server.ws_url}?token={eric}"
    async with AsyncExitStack() as stack:
        sockets = [await stack.enter_async_context(websockets.connect(url))
                   for _ in range(cap)]
        hellos = [await recv(ws, "hello") for ws in sockets]
        eric_id = hellos[0]["user"]["id"]
        async with websockets.connect(url) as extra:
            assert await closed_code(extra) == CLOSE_TOO_MANY
            assert "too many open consoles" in (extra.close_reason or "")
        # Someone else is not affected by eric's count.
        async with websockets.connect(
                f"{live_server.ws_url}?token={await live_server.login('sue')}") as other:
            await recv(other, "hello")
        # Closing one tab makes room for the next.
        await sockets.pop().close()
        hub = live_server.services.hub
        for _ in range(250):
            if hub.user_connections(eric_id) < cap:
                break
            await asyncio.sleep(0.02)
        async with websockets.connect(url) as again:
            assert (await recv(again, "hello"))["user"]["id"] == eric_id
