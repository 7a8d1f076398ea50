"""One action over a connection of its own, against the fake AMI server."""

from __future__ import annotations

import asyncio
import socket

import pytest

from telephony.oneshot import run_action
from telephony.ports import ActionFailed, PbxConfig, PbxUnavailable
from telephony.simulator import FakeAsterisk


@pytest.fixture
async def pbx():
    server = FakeAsterisk()
    await server.start()
    yield server
    await server.stop()


def _config(server: FakeAsterisk, secret: str = "bridgepass") -> PbxConfig:
    return PbxConfig("pbx1", "127.0.0.1", server.port, "bridge", secret)


async def test_redirect_of_a_live_channel_succeeds_and_logs_off(pbx):
    _task, _result = pbx.start_play("e_queue_blind_transfer")
    for _ in range(200):
        if pbx.channels:
            break
        await asyncio.sleep(0.01)
    channel = next(iter(pbx.channels.values()))["Channel"]
    reply = await run_action(_config(pbx), {"Action": "Redirect", "Channel": channel,
                                            "Context": "hotline-ivr-exit", "Exten": "agent",
                                            "Priority": "1"})
    assert reply["Response"] == "Success"
    names = [a["Action"] for a in pbx.actions]
    assert names[-3:] == ["Login", "Redirect", "Logoff"]
    assert pbx.actions[-3]["Events"] == "off"
    _task.cancel()


async def test_refusals_are_named(pbx):
    with pytest.raises(ActionFailed, match="Channel specified does not exist"):
        await run_action(_config(pbx), {"Action": "Redirect", "Channel": "PJSIP/x-1",
                                        "Context": "c", "Exten": "e", "Priority": "1"})
    with pytest.raises(PbxUnavailable, match="login refused") as err:
        await run_action(_config(pbx, "wrong"), {"Action": "Ping"})
    assert "wrong" not in str(err.value)


async def test_unreachable_and_silent_pbx():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(PbxUnavailable):
        await run_action(PbxConfig("pbx1", "127.0.0.1", port, "u", "p"), {"Action": "Ping"})

    async def mute(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()

    server = await asyncio.start_server(mute, "127.0.0.1", 0)
    try:
        cfg = PbxConfig("pbx1", "127.0.0.1", server.sockets[0].getsockname()[1], "u", "p")
        with pytest.raises(PbxUnavailable, match=r"no answer within 0\.3 s"):
            await run_action(cfg, {"Action": "Ping"}, timeout_s=0.3)
    finally:
        server.close()
