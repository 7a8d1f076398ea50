"""The whole path on real sockets: AMI capture → bridge → ticket DB → bus → /ws console.

The app runs under uvicorn with HOTLINE_AMI_URL pointing at the fake Asterisk that replays
the real captures; the simulator presents a demo customer's number the way a Chinese trunk
does (national form), and the demo data has that customer.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from sqlalchemy import func, select

from telephony.simulator import FakeAsterisk
from tests.conftest import make_settings
from tests.integration.conftest import serving
from tickets.models import CallLog
from web.app import create_app

VIP_NATIONAL = "13800138000"  # the demo's VIP customer, as the trunk presents the number


class Stack:
    def __init__(self, app: Any, port: int, ami: FakeAsterisk) -> None:
        self.app, self.port, self.ami = app, port, ami
        self.base = f"http://127.0.0.1:{port}"
        self._tokens: dict[str, str] = {}

    @property
    def services(self) -> Any:
        return self.app.state.services

    async def token(self, username: str) -> str:
        if username not in self._tokens:
            async with httpx.AsyncClient(base_url=self.base) as c:
                resp = await c.post("/api/v1/auth/login",
                                    json={"username": username, "password": "demo"})
                self._tokens[username] = str(resp.json()["access_token"])
        return self._tokens[username]

    async def get(self, path: str, user: str = "sue", **params: Any) -> Any:
        headers = {"Authorization": f"Bearer {await self.token(user)}"}
        async with httpx.AsyncClient(base_url=self.base, headers=headers) as c:
            resp = await c.get(path, params=params)
            assert resp.status_code == 200, resp.text
            return resp.json()

    async def call_log_count(self, call_id: str) -> int:
        async with self.services.db() as s:
            return int(await s.scalar(select(func.count()).select_from(CallLog)
                                      .where(CallLog.call_id == call_id)) or 0)


@pytest.fixture
async def stack(new_db: Any, tmp_path: Path) -> AsyncIterator[Stack]:
    ami = FakeAsterisk()
    ami_port = await ami.start()
    settings = make_settings(await new_db(), tmp_path,
                             ami_url=f"ami://bridge:bridgepass@127.0.0.1:{ami_port}?name=pbx1")
    app = create_app(settings)
    try:
        async with serving(app) as port:
            await ami.wait_logged_in()
            yield Stack(app, port, ami)
    finally:
        await ami.stop()


async def _collect(ws: Any, kind: str, pred: Any = None, within: float = 10.0) -> dict[str, Any]:
    async with asyncio.timeout(within):
        while True:
            msg = json.loads(await ws.recv())
            if msg.get("type") == kind and (pred is None or pred(msg)):
                return msg  # type: ignore[no-any-return]


async def test_ringing_agent_gets_pop_with_customer_and_tickets(stack: Stack) -> None:
    alice = await stack.token("alice")
    bob = await stack.token("bob")
    url = f"ws://127.0.0.1:{stack.port}/ws?token="
    async with websockets.connect(url + alice) as ws_a, websockets.connect(url + bob) as ws_b:
        result = await stack.ami.play("a_inbound_queue_answered", caller=VIP_NATIONAL)
        call_id = f"pbx1:{result.linkedids[0]}"
        pop = await _collect(ws_a, "screen_pop")
        assert pop["call_id"] == call_id and pop["caller_number"] == "+8613800138000"
        assert pop["queue"] == "support"
        assert pop["customer"]["name"] == "陈志强" and pop["customer"]["vip"] is True
        assert {"id", "number", "title", "status", "created_at"} <= set(pop["tickets"][0]) \
            if pop["tickets"] else True
        pop_b = await _collect(ws_b, "screen_pop")
        assert pop_b["call_id"] == call_id  # ring-all: both agents rang
        closed = await _collect(ws_b, "call_update", lambda m: "6002" in
                                (m.get("closed_for") or []))
        assert closed["answered_by"] == "6001"
        await _collect(ws_a, "call_update", lambda m: m["state"] == "ended")
    for _ in range(100):
        if await stack.call_log_count(call_id) == 1:
            calls = await stack.get("/api/v1/calls", call_id=call_id)
            if calls and calls[0]["state"] == "ended":
                break
        await asyncio.sleep(0.05)
    calls = await stack.get("/api/v1/calls", call_id=call_id)
    assert len(calls) == 1
    row = calls[0]
    assert row["state"] == "ended" and row["agent_extension"] == "6001"
    assert row["queue"] == "support" and row["customer_id"] is not None
    assert row["talk_s"] and row["talk_s"] > 0
    # The next pop for this caller shows the call just logged.
    history = await stack.get("/api/v1/customers", phone="138 0013 8000")
    assert history[0]["name"] == "陈志强"


async def test_abandon_is_logged_once_and_live_views_follow(stack: Stack) -> None:
    ready = await stack.get("/readyz")
    assert ready["pbx"][0]["name"] == "pbx1"
    result = await stack.ami.play("b_queue_abandon", caller="15921876543")
    call_id = f"pbx1:{result.linkedids[0]}"
    for _ in range(100):
        calls = await stack.get("/api/v1/calls", call_id=call_id)
        if calls and calls[0]["state"] == "abandoned":
            break
        await asyncio.sleep(0.05)
    assert len(calls) == 1 and calls[0]["state"] == "abandoned"
    assert await stack.call_log_count(call_id) == 1
    assert await stack.get("/api/v1/calls/live") == []
    queues = await stack.get("/api/v1/queues")
    assert queues[0]["queue"] == "support" and queues[0]["abandon_rate"] > 0


async def test_calls_survive_link_cuts_exactly_once(stack: Stack) -> None:
    """Cut the AMI link in the middle of calls; each call is logged exactly once."""
    ids = []
    for n in range(5):
        await stack.ami.wait_logged_in()
        task, result = stack.ami.start_play("a_inbound_queue_answered", speed=20.0,
                                          caller=VIP_NATIONAL)
        # Cut only once the bridge has seen the call: a call that starts and ends entirely
        # while the link is down leaves no trace in Asterisk's state to resync from.
        # (An RST also discards bytes the client had not read yet.)
        for _ in range(200):
            if result.linkedids and await stack.call_log_count(
                    f"pbx1:{result.linkedids[0]}"):
                break
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.03 * n)  # before answer, during talk, after hangup...
        stack.ami.cut()
        await task
        ids.append(f"pbx1:{result.linkedids[0]}")
    for _ in range(200):
        rows = [await stack.get("/api/v1/calls", call_id=c) for c in ids]
        if all(r and r[0]["state"] in ("ended", "abandoned") for r in rows):
            break
        await asyncio.sleep(0.05)
    for call_id in ids:
        assert await stack.call_log_count(call_id) == 1, call_id
        [row] = await stack.get("/api/v1/calls", call_id=call_id)
        assert row["state"] in ("ended", "abandoned"), row
