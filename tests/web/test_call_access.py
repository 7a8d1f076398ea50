"""Call actions only on one's own calls: REST (hangup, transfer, spy) and ``/ws`` watch_call.

The finding: bob hung up and transferred a call ringing alice (202, and the PBX received
the actions). Now every action that names a live call by id asks ``web/callaccess.py``:
an agent acts only on a call on their own extension (a live leg, or ringing), supervisors
and admins on any; 404 for no such call, 403 naming the reason otherwise. Against the
simulated Asterisk (real AMI over TCP) and the real app.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from typing import Any

import httpx
import pytest
import websockets

from telephony.model import Call, Leg
from tests.support.live import LiveServer
from tickets import messages
from web.callaccess import refusal

A = "a_inbound_queue_answered"  # rings 6001 (and 6003 here, not bob's 6002); 6001 answers
UNKNOWN = "pbx1:1796000000.1"


# -- the pure rule ------------------------------------------------------------------------
def _call() -> Call:
    call = Call(linkedid="1.1", call_id="pbx1:1.1", direction="inbound", started_at=0.0)
    call.legs["1.1"] = Leg("1.1", "PJSIP/trunk-00000001", "1.1", None, "Up")
    call.legs["1.2"] = Leg("1.2", "PJSIP/6001-00000002", "1.1", "6001", "Up")
    gone = Leg("1.3", "PJSIP/6005-00000003", "1.1", "6005", "Down")
    gone.alive = False  # transferred away: no longer on the call
    call.legs["1.3"] = gone
    call.open_pops["6002"] = "1.4"  # still ringing there
    return call


def test_owners_are_the_live_agent_legs_and_the_ringing_phones() -> None:
    assert _call().owners() == frozenset({"6001", "6002"})


@pytest.mark.parametrize(("role", "ext", "allowed"), [
    ("agent", "6001", True), ("agent", "6002", True), ("agent", "6005", False),
    ("agent", "6003", False), ("agent", None, False), ("supervisor", None, True),
    ("admin", "6099", True), ("engineer", "6001", True), ("customer", None, False)])
def test_refusal(role: str, ext: str | None, allowed: bool) -> None:
    reason = refusal(role, ext, _call().owners(), "pbx1:1.1")
    assert (reason is None) is allowed
    if reason is not None:
        assert "pbx1:1.1" in reason and "not on your extension" in reason


# -- REST and /ws against the simulated PBX ------------------------------------------------
async def _live_call(c: httpx.AsyncClient, ext: str, within: float = 15.0) -> str:
    deadline = time.monotonic() + within
    while True:
        r = await c.get("/api/v1/calls/live")
        r.raise_for_status()
        found = [x for x in r.json() if ext in x["extensions"] and x["state"] != "ended"]
        if found:
            return str(found[0]["call_id"])
        assert time.monotonic() < deadline, "the call never showed"
        await asyncio.sleep(0.05)


async def _watch(server: LiveServer, token: str, call_id: str) -> dict[str, Any]:
    async with websockets.connect(f"{server.ws_url}?token={token}") as ws:
        await ws.send(json.dumps({"type": "watch_call", "call_id": call_id}))
        async with asyncio.timeout(5):
            while True:
                msg = json.loads(await ws.recv())
                if msg["type"] in ("watching", "error"):
                    return dict(msg)


async def _gone(server: LiveServer, call_id: str, within: float = 15.0) -> None:
    """Leave no live call behind (the PBX tests share one server): wait until it is gone,
    hanging it up as the supervisor if it lingers."""
    sue = await server.login("sue")
    deadline = time.monotonic() + within
    async with _client(server, sue) as s:
        while True:
            live = [x["call_id"] for x in (await s.get("/api/v1/calls/live")).json()]
            if call_id not in live:
                return
            await s.post(f"/api/v1/calls/{call_id}/hangup")
            assert time.monotonic() < deadline, f"call {call_id} stayed live"
            await asyncio.sleep(0.2)


def _client(server: LiveServer, token: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=server.url, headers={"Authorization": f"Bearer {token}"})


async def test_bob_cannot_act_on_alices_call_and_the_pbx_hears_nothing(
        pbx_server: LiveServer, fake_pbx: Any) -> None:
    alice, bob, sue = [await pbx_server.login(u) for u in ("alice", "bob", "sue")]
    task, result = fake_pbx.start_play(A, speed=1.5, agents={"6002": "6003"})
    try:
        async with _client(pbx_server, bob) as b, _client(pbx_server, sue) as s:
            call_id = await _live_call(b, "6001")
            before = len(fake_pbx.actions)
            r = await b.post(f"/api/v1/calls/{call_id}/hangup")
            assert r.status_code == 403, r.text
            assert "not on your extension 6002" in r.json()["detail"]
            r = await b.post(f"/api/v1/calls/{call_id}/transfer", json={"extension": "6002"})
            assert r.status_code == 403, r.text
            r = await b.post(f"/api/v1/calls/{call_id}/transfer",
                             json={"extension": "6002", "attended": True})
            assert r.status_code == 403
            # No such call: 404 for agent and supervisor alike.
            assert (await b.post(f"/api/v1/calls/{UNKNOWN}/hangup")).status_code == 404
            assert (await b.post("/api/v1/calls/junk/hangup")).status_code == 404
            assert (await s.post(f"/api/v1/calls/{UNKNOWN}/hangup")).status_code == 404
            assert fake_pbx.actions[before:] == [], "a refused action reached the PBX"
            # The transcript and state of her call: bob may not follow it, alice and sue may.
            refused = await _watch(pbx_server, bob, call_id)
            assert refused["error"] == "forbidden" and "6002" in refused["detail"]
            assert (await _watch(pbx_server, bob, UNKNOWN))["error"] == "not_found"
            assert (await _watch(pbx_server, alice, call_id))["type"] == "watching"
            assert (await _watch(pbx_server, sue, call_id))["type"] == "watching"
            # The supervisor may act on any call: the PBX gets the hang-up.
            r = await s.post(f"/api/v1/calls/{call_id}/hangup")
            assert r.status_code == 202, r.text
            assert [a for a in fake_pbx.actions[before:] if a.get("Action") == "Hangup"]
            await _gone(pbx_server, call_id)
        await asyncio.wait_for(result.done.wait(), 30)
    finally:
        task.cancel()


async def test_the_owner_may_transfer_her_call_and_then_it_is_the_new_agents(
        pbx_server: LiveServer, fake_pbx: Any) -> None:
    alice, bob = await pbx_server.login("alice"), await pbx_server.login("bob")
    task, result = fake_pbx.start_play(A, speed=1.5, agents={"6002": "6003"})
    call_id = None
    try:
        async with _client(pbx_server, alice) as a, _client(pbx_server, bob) as b:
            call_id = await _live_call(a, "6001")
            before = len(fake_pbx.actions)
            r = await a.post(f"/api/v1/calls/{call_id}/transfer", json={"extension": "6002"})
            assert r.status_code == 202, r.text
            assert [x for x in fake_pbx.actions[before:] if x.get("Action") == "BlindTransfer"]
            # Once the PBX moved it, the call is bob's (his phone rings), no longer alice's.
            deadline = time.monotonic() + 15
            while (r := await b.post(f"/api/v1/calls/{call_id}/hangup")).status_code == 403:
                assert time.monotonic() < deadline, "the call never reached bob"
                await asyncio.sleep(0.1)
            assert r.status_code == 202, r.text
            r = await a.post(f"/api/v1/calls/{call_id}/hangup")
            assert r.status_code in (403, 404), r.text  # left her, or already hung up by bob
    finally:
        task.cancel()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(result.done.wait(), 5)
        if call_id is not None:
            await _gone(pbx_server, call_id)


async def test_without_a_pbx_call_actions_are_409_and_watching_is_supervisors_only(
        live_server: LiveServer) -> None:
    bob = await live_server.login("bob")
    # No PBX configured: a set-up, not an outage (409, not 503).
    async with _client(live_server, bob) as b:
        assert (await b.post(f"/api/v1/calls/{UNKNOWN}/hangup")).status_code == 409
    assert (await _watch(live_server, bob, UNKNOWN))["error"] == "not_found"


async def test_the_agent_a_call_was_transferred_to_with_a_ticket_may_follow_it(
        live_server: LiveServer) -> None:
    """``ticket_transfer`` is published only by the transfer API, after the transferer's
    right to the call was checked: its target follows the call at once (the console
    watches it on the pop), before the PBX's events show the new leg."""
    bob = await live_server.login("bob")
    handed = "pbx1:1796000000.77"
    await live_server.publish("tickets", messages.ticket_transfer(
        call_id=handed, to_extension="6002", from_user="Alice", ticket={"id": 1}))
    await live_server.publish("tickets", messages.ticket_transfer(
        call_id="pbx1:1796000000.78", to_extension="6001", from_user="Bob", ticket={"id": 1}))
    assert (await _watch(live_server, bob, handed))["type"] == "watching"
    assert (await _watch(live_server, bob, "pbx1:1796000000.78"))["error"] == "not_found"
