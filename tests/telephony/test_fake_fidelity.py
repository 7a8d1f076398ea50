"""The fake Asterisk answers the actions of d_actions the way the real one did.

A raw AMI client (no bridge) sends the captured action sequence while the captured call is
live, and every reply is compared with the recorded reply of the same ActionID.
"""

from __future__ import annotations

import asyncio
from typing import Any

from telephony.ami import FrameParser, encode_action
from telephony.captures import FIXTURES, timed_messages
from telephony.simulator import FakeAsterisk


class RawClient:
    def __init__(self) -> None:
        self.parser = FrameParser()
        self.inbox: list[dict[str, Any]] = []

    async def connect(self, port: int) -> None:
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", port)

    async def send(self, fields: dict[str, Any]) -> None:
        self.writer.write(encode_action(fields))
        await self.writer.drain()

    async def reply(self, action_id: str, within: float = 3.0) -> list[dict[str, Any]]:
        """The response with this ActionID and, for lists, its items up to Complete."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while True:
            mine = [m for m in self.inbox if m.get("ActionID") == action_id]
            if mine and (mine[0].get("EventList") != "start" or any(
                    m.get("EventList") == "Complete" for m in mine)):
                return mine
            data = await asyncio.wait_for(self.reader.read(65536), deadline - loop.time())
            if not data:
                return mine
            self.inbox += self.parser.feed(data)


def recorded() -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for _, m in timed_messages("d_actions"):
        if "ActionID" in m:
            out.setdefault(m["ActionID"], []).append(m)
    return out


def actions() -> list[dict[str, Any]]:
    out = []
    for raw in (FIXTURES / "d_actions.tx.log").read_bytes().decode().split("\r\n\r\n"):
        fields = dict(line.split(": ", 1) for line in raw.split("\r\n") if ": " in line)
        if fields:
            out.append(fields)
    return out


async def test_fake_replies_like_asterisk_22():
    server = FakeAsterisk()
    await server.start()
    rec = recorded()
    client = RawClient()
    try:
        await client.connect(server.port)
        acts = actions()
        play = None
        caller_channel = None
        for a in acts:
            aid = a["ActionID"]
            if aid == "chans-1":  # the captured call is live from here on
                _, play = server.start_play("d_actions")
                for _ in range(300):
                    if len(server.channels) == 2 and not any(
                            c["ChannelStateDesc"] != "Up" for c in server.channels.values()):
                        break
                    await asyncio.sleep(0.01)
            if aid == "hangup-1":
                a = dict(a, Channel=caller_channel)
            await client.send(a)
            got = await client.reply(aid)
            want = rec[aid]
            assert got[0].get("Response") == want[0].get("Response"), aid
            assert got[0].get("Message") == want[0].get("Message"), aid
            assert [m.get("Event") for m in got[1:]] == [m.get("Event") for m in want[1:]], aid
            if aid == "chans-1":
                caller_channel = next(m["Channel"] for m in got
                                      if m.get("Channel", "").startswith("PJSIP/customer"))
                assert {m["Application"] for m in got[1:-1]} == {"Queue", "AppQueue"}
            if aid == "qstatus-2":
                member = next(m for m in got if m.get("Name") == "Agent 6002")
                assert member["Paused"] == "1" and member["PausedReason"] == "lunch"
            if aid == "cmd-1":
                assert len(got[0]["Output"]) == 2
        assert play is not None
        await asyncio.wait_for(play.done.wait(), 5)
        # A second connection with a wrong secret: refused and closed, like Asterisk.
        bad = RawClient()
        await bad.connect(server.port)
        await bad.send({"Action": "Login", "ActionID": "d_login_failed-login",
                        "Username": "bridge", "Secret": "wrongsecret", "Events": "on"})
        got = await bad.reply("d_login_failed-login")
        want = [m for _, m in timed_messages("d_login_failed")]
        assert got[0] == want[0]
        assert await asyncio.wait_for(bad.reader.read(100), 2) == b""
        assert bad.parser.banner == client.parser.banner == "11.0.0"
    finally:
        await server.stop()
