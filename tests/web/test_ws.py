"""``/ws`` against the real app over real TCP: auth, routing from the bus, client messages."""

from __future__ import annotations

import asyncio
import json

import pytest
import websockets
from websockets.exceptions import ConnectionClosed

from tests.support.live import SECRET, LiveServer
from tickets.bus import TOPIC_ASR, TOPIC_CALLS, TOPIC_QUEUES
from web.ws import BadMessage, parse_client_message


async def recv(ws, kind: str, limit: float = 5.0) -> dict:
    """The next message of type ``kind`` (skipping heartbeats and others)."""
    async with asyncio.timeout(limit):
        while True:
            msg = json.loads(await ws.recv())
            if msg.get("type") == kind:
                return msg


async def closed_code(ws) -> int | None:
    with pytest.raises(ConnectionClosed):
        async with asyncio.timeout(5):
            while True:
                await ws.recv()
    return ws.close_code


@pytest.mark.parametrize("query", ["", "?token=", "?token=garbage", "?token=a.b.c"])
async def test_anonymous_or_bad_token_is_closed_with_policy_violation(live_server, query):
    async with websockets.connect(live_server.ws_url + query) as ws:
        assert await closed_code(ws) == 1008


async def test_expired_token_is_closed_with_policy_violation(live_server):
    import jwt
    token = jwt.encode({"sub": "2", "exp": 1_000_000}, SECRET, algorithm="HS256")
    async with websockets.connect(f"{live_server.ws_url}?token={token}") as ws:
        assert await closed_code(ws) == 1008


async def test_socket_closes_with_policy_violation_when_the_login_expires(live_server):
    import time

    import jwt
    alice = await live_server.login("alice")
    async with websockets.connect(f"{live_server.ws_url}?token={alice}") as ws:
        alice_id = (await recv(ws, "hello"))["user"]["id"]
    short = jwt.encode({"sub": str(alice_id), "exp": int(time.time()) + 2}, SECRET,
                       algorithm="HS256")
    async with websockets.connect(f"{live_server.ws_url}?token={short}") as ws:
        assert (await recv(ws, "hello"))["user"]["username"] == "alice"
        assert await closed_code(ws) == 1008
        assert ws.close_reason == "token expired"


async def test_cookie_auth_same_origin_only(live_server: LiveServer):
    token = await live_server.login("alice")
    cookie = {"Cookie": f"hotline_token={token}"}
    origin = f"http://127.0.0.1:{live_server.port}"
    async with websockets.connect(live_server.ws_url, additional_headers=cookie,
                                  origin=origin) as ws:  # type: ignore[arg-type]
        hello = await recv(ws, "hello")
        assert hello["user"]["username"] == "alice" and hello["user"]["extension"] == "6001"
    # Another site riding on the cookie gets nothing.
    async with websockets.connect(live_server.ws_url, additional_headers=cookie,
                                  origin="http://evil.example") as ws:  # type: ignore[arg-type]
        assert await closed_code(ws) == 1008


async def test_pop_reaches_all_of_alices_consoles_and_not_bob(live_server: LiveServer):
    alice, bob = await live_server.login("alice"), await live_server.login("bob")
    url = live_server.ws_url + "?token="
    async with websockets.connect(url + alice) as a1, websockets.connect(url + alice) as a2, \
            websockets.connect(url + bob) as b:
        for ws in (a1, a2, b):
            await recv(ws, "hello")
        pop = {"type": "screen_pop", "call_id": "pbx1:ws.1", "pbx": "pbx1",
               "caller_number": "+8613800138000", "extension": "PJSIP/6001",
               "customer": {"id": 4, "name": "张伟 <script>"}, "tickets": [], "calls": []}
        await live_server.publish(TOPIC_CALLS, pop)
        for ws in (a1, a2):
            got = await recv(ws, "screen_pop")
            assert got["customer"]["name"] == "张伟 <script>"
        # The transcript follows the call to alice's consoles only.
        await live_server.publish(TOPIC_ASR, {"type": "asr", "call_id": "pbx1:ws.1",
                                              "final": True, "text": "我要退款"})
        assert (await recv(a2, "asr"))["text"] == "我要退款"
        await live_server.publish(TOPIC_QUEUES, {"type": "queue_stats", "queue": "support"})
        await b.send(json.dumps({"type": "ping"}))
        # bob's next message is the pong: no pop, no transcript, no queue stats leaked to him.
        assert json.loads(await asyncio.wait_for(b.recv(), 5)) == {"type": "pong"}


async def test_watch_call_and_supervisor_floor(live_server: LiveServer):
    sue = await live_server.login("sue")
    async with websockets.connect(f"{live_server.ws_url}?token={sue}") as ws:
        await recv(ws, "hello")
        await ws.send(json.dumps({"type": "watch_call", "call_id": "pbx1:ws.2"}))
        assert (await recv(ws, "watching"))["call_id"] == "pbx1:ws.2"
        await live_server.publish(TOPIC_ASR, {"type": "ticket_prefill", "call_id": "pbx1:ws.2",
                                              "ticket_type": "refund", "order_numbers": ["1"],
                                              "phone_numbers": []})
        assert (await recv(ws, "ticket_prefill"))["ticket_type"] == "refund"
        await live_server.publish(TOPIC_QUEUES, {"type": "queue_stats", "queue": "support",
                                                 "waiting": 3})
        assert (await recv(ws, "queue_stats"))["waiting"] == 3


async def test_engineer_may_not_watch_calls(live_server: LiveServer):
    eric = await live_server.login("eric")
    async with websockets.connect(f"{live_server.ws_url}?token={eric}") as ws:
        await recv(ws, "hello")
        await ws.send(json.dumps({"type": "watch_call", "call_id": "pbx1:ws.3"}))
        assert (await recv(ws, "error"))["error"] == "forbidden"


@pytest.mark.parametrize(("frame", "code"), [
    ("not json", "bad_json"), ("[1,2]", "bad_message"), ('{"type": "dance"}', "unknown_type"),
    ('{"type": "watch_call"}', "bad_message"), ('{"type": 5}', "bad_message"),
    ("x" * 20_000, "too_large"),
])
async def test_bad_client_messages_get_errors_and_the_socket_lives(live_server, frame, code):
    alice = await live_server.login("alice")
    async with websockets.connect(f"{live_server.ws_url}?token={alice}") as ws:
        await recv(ws, "hello")
        await ws.send(frame)
        assert (await recv(ws, "error"))["error"] == code
        await ws.send(b'{"type": "ping"}')  # binary frames are read too
        assert (await recv(ws, "pong")) == {"type": "pong"}


def test_parse_client_message_pure():
    assert parse_client_message('{"type":"ping"}').type == "ping"
    m = parse_client_message('{"type":"watch_call","call_id":"pbx1:1.2"}')
    assert (m.type, m.call_id) == ("watch_call", "pbx1:1.2")
    with pytest.raises(BadMessage):
        parse_client_message('{"type":"watch_call","call_id":"' + "x" * 200 + '"}')


async def test_same_routing_through_the_redis_bus(demo_db_url, console_tmp):
    """A server on the Redis bus: an event published by another process's bus reaches it."""
    from tests.support.servers import redis_server
    from web.app import create_app
    from web.bus import RedisBus
    from web.settings import Settings

    with redis_server() as (url, _):
        settings = Settings(database_url=demo_db_url, data_dir=console_tmp / "var-redis",
                            secret_key=SECRET, redis_url=url,
                            ami_url="off")
        server = LiveServer(create_app(settings))
        await asyncio.to_thread(server.start)
        other = RedisBus(url)  # stands in for the AMI bridge of another process
        try:
            alice = await server.login("alice")
            async with websockets.connect(f"{server.ws_url}?token={alice}") as ws:
                await recv(ws, "hello")
                pop = {"type": "screen_pop", "call_id": "pbx2:9.1", "extension": "6001",
                       "caller_number": "+15551230001", "customer": None}
                async with asyncio.timeout(10):
                    while True:  # the server's Redis subscription may still be starting
                        await other.publish(TOPIC_CALLS, pop)
                        try:
                            got = await recv(ws, "screen_pop", limit=0.5)
                            break
                        except TimeoutError:
                            continue
                assert got["call_id"] == "pbx2:9.1"
        finally:
            await other.close()
            await asyncio.to_thread(server.stop)


async def test_logout_closes_that_logins_sockets_and_logout_all_closes_every_one(live_server):
    import httpx
    first, second = await live_server.login("alice"), await live_server.login("alice")
    async with websockets.connect(f"{live_server.ws_url}?token={first}") as ws1, \
            websockets.connect(f"{live_server.ws_url}?token={second}") as ws2:
        await recv(ws1, "hello")
        await recv(ws2, "hello")
        async with httpx.AsyncClient(base_url=live_server.url) as c:
            resp = await c.post("/api/v1/auth/logout",
                                headers={"Authorization": f"Bearer {first}"})
            assert resp.status_code == 204
        assert await closed_code(ws1) == 1008 and ws1.close_reason == "logged out"
        await ws2.send(json.dumps({"type": "ping"}))
        assert (await recv(ws2, "pong"))["type"] == "pong"  # the other login stays
        async with httpx.AsyncClient(base_url=live_server.url) as c:
            resp = await c.post("/api/v1/auth/logout-all",
                                headers={"Authorization": f"Bearer {second}"})
            assert resp.status_code == 204
        assert await closed_code(ws2) == 1008
    async with websockets.connect(f"{live_server.ws_url}?token={second}") as ws:
        assert await closed_code(ws) == 1008  # and it cannot come back
