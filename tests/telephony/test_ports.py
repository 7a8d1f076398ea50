"""Settings parsing, the in-memory directory, and several PBXs behind one Telephony."""

from __future__ import annotations

import asyncio
import socket
from datetime import UTC, datetime

import pytest

from telephony import (
    CallRecord,
    InMemoryCallDirectory,
    PbxConfig,
    PbxUnavailable,
    Telephony,
    parse_ami_urls,
)
from telephony.simulator import FakeAsterisk
from tickets.bus import InProcessBus

from .conftest import FAST, Recorder


def test_parse_ami_urls_names_and_defaults():
    got = parse_ami_urls("ami://bridge:s%40cret@127.0.0.1:5038?name=hq,"
                         "ami://u2:p2@pbx.example.org, ami://u3:p3@10.0.0.3:6000")
    assert [(p.name, p.host, p.port, p.username) for p in got] == [
        ("hq", "127.0.0.1", 5038, "bridge"), ("pbx2", "pbx.example.org", 5038, "u2"),
        ("pbx3", "10.0.0.3", 6000, "u3")]
    assert got[0].secret == "s@cret"
    assert "s@cret" not in repr(got[0]) and "s@cret" not in str(got[0])
    assert parse_ami_urls("") == []


@pytest.mark.parametrize("bad, why", [
    ("http://u:p@h:5038", "scheme"),
    ("ami://h:5038", "user:secret"),
    ("ami://u@h:5038", "user:secret"),
    ("ami://u:p@:5038", "host"),
    ("ami://u:p@h:99999", "entry 1"),
    ("ami://u:p@h?name=a,ami://u:p@h2?name=a", "duplicate"),
    ("ami://u:p@h,,ami://u:p@h2", "entry 2 is empty"),
])
def test_parse_ami_urls_errors(bad, why):
    with pytest.raises(ValueError, match=why) as err:
        parse_ami_urls(bad)
    assert ":p@" not in str(err.value)


async def test_in_memory_directory_lookup_and_upsert():
    d = InMemoryCallDirectory(customers={"+8613800138000": {"id": 7, "name": "Li"}},
                              tickets={7: [{"id": 1}]})
    found = await d.lookup_caller("+8613800138000", "13800138000")
    assert found["customer"]["id"] == 7 and found["tickets"] == [{"id": 1}]
    none = await d.lookup_caller(None, "<unknown>")
    # The same keys as the database directory answers (tickets.messages.CallerContext).
    assert none == {"customer": None, "tickets": [], "calls": [], "orders": []}


async def test_in_memory_directory_recent_calls_are_the_last_five_finished():
    d = InMemoryCallDirectory()
    t = datetime(2026, 1, 1, tzinfo=UTC)
    for i in range(9):
        await d.record_call(CallRecord(
            call_id=f"pbx1:{i}", pbx="pbx1", linkedid=str(i), direction="inbound",
            caller_number="+8613800138000" if i != 7 else "+8613900000000", caller_name="",
            queue=None, agent_extension=None, agents=(), state="ended", started_at=t,
            answered_at=None, ended_at=None if i == 8 else t, wait_s=None, talk_s=None,
            hangup_cause=None, recording_path=None, dtmf="", order_number=None,
            transferred_to=None, asr_uuid=None))
    found = await d.lookup_caller("+8613800138000", "13800138000")
    # 8 is still live, 7 is somebody else's: the five before, oldest first.
    assert [c["call_id"] for c in found["calls"]] == [f"pbx1:{i}" for i in (2, 3, 4, 5, 6)]


async def test_two_pbxs_and_one_down():
    a, b = FakeAsterisk(), FakeAsterisk()
    await a.start()
    await b.start()
    with socket.socket() as s:  # a port with nobody listening
        s.bind(("127.0.0.1", 0))
        dead_port = s.getsockname()[1]
    bus = InProcessBus()
    rec = Recorder(bus)
    d = InMemoryCallDirectory()
    tel = Telephony([PbxConfig("pbx1", "127.0.0.1", a.port, "bridge", "bridgepass"),
                     PbxConfig("pbx2", "127.0.0.1", b.port, "bridge", "bridgepass"),
                     PbxConfig("pbx3", "127.0.0.1", dead_port, "bridge", "bridgepass")],
                    bus, d, "US", **FAST)
    await tel.start()
    try:
        await a.wait_logged_in()
        await b.wait_logged_in()
        ra = await a.play("a_inbound_queue_answered")
        rb = await b.play("b_queue_abandon")
        for _ in range(200):
            if len(d.calls) == 2 and all(r.ended_at for r in d.calls.values()):
                break
            await asyncio.sleep(0.01)
        assert d.calls[f"pbx1:{ra.linkedids[0]}"].state == "ended"
        assert d.calls[f"pbx2:{rb.linkedids[0]}"].state == "abandoned"
        st = {s["name"]: s for s in tel.state()}
        assert st["pbx1"]["connected"] and st["pbx2"]["connected"]
        assert not st["pbx3"]["connected"]
        assert st["pbx3"]["last_error"].startswith("connect:")
        assert {p["pbx"] for p in rec.of("screen_pop")} == {"pbx1", "pbx2"}
    finally:
        await tel.stop()
        await a.stop()
        await b.stop()
        await rec.close()


async def test_from_url_without_pbx_raises_unavailable():
    tel = Telephony.from_url(None, InProcessBus(), InMemoryCallDirectory())
    await tel.start()
    assert tel.state() == [] and tel.live_calls() == [] and tel.queues() == []
    with pytest.raises(PbxUnavailable, match="no PBX configured"):
        await tel.originate("6001", "6002")
    await tel.stop()
    with pytest.raises(ValueError):
        Telephony.from_url("ami://nohost", InProcessBus(), InMemoryCallDirectory())
