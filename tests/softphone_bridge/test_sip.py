"""The IVR's pyVoIP adapter against a real SIP peer (sipp) in direct mode.

Each test starts an :class:`IvrEndpoint` on ephemeral ports whose "server" is sipp's address
(or, for the garbage tests, a Python socket standing in for the PBX), with a small test-only
``on_call``. Keys are RFC 2833 events from sipp's own pcaps; speech is espeak-ng audio.
"""

from __future__ import annotations

import os
import random
import re
import socket
import struct
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from softphone_bridge.ivr.ports import CallChannel, CallInfo, Hangup, Recording
from softphone_bridge.sip import (
    DECODE,
    ENCODE,
    MAX_QUEUED_DIGITS,
    IvrEndpoint,
    call_info,
    parse_port_range,
)
from tests.softphone_bridge.sipp_peer import (
    SCENARIOS,
    RtpSink,
    can_play_pcap,
    espeak_wav,
    free_udp_port,
    require_tools,
    run_sipp,
    sox_raw,
    speech_pcap,
    ulaw_to_u8,
)

needs_pcap = pytest.mark.skipif(not can_play_pcap(),
                                reason="sipp's pcap play needs a raw socket (root/CAP_NET_RAW)")
MakeIvr = Callable[..., tuple[IvrEndpoint, int]]


@pytest.fixture(autouse=True)
def _tools() -> None:
    require_tools("sipp", "espeak-ng", "sox")


@pytest.fixture
def make_ivr() -> Iterator[MakeIvr]:
    """``make_ivr(on_call, **kw)`` → a started direct-mode endpoint and its server port."""
    started: list[IvrEndpoint] = []

    def make(on_call: Callable[[CallChannel], None], *, server_port: int | None = None,
             max_calls: int = 20, **kw: object) -> tuple[IvrEndpoint, int]:
        port = server_port or free_udp_port()
        base = random.randrange(20000, 60000, 100)
        ivr = IvrEndpoint("127.0.0.1", port, bind="127.0.0.1", sip_port=0, user="ivr",
                          password=None, rtp_ports=(base, base + 99), max_calls=max_calls,
                          on_call=on_call, **kw)  # type: ignore[arg-type]
        ivr.start()
        started.append(ivr)
        return ivr, port

    yield make
    for ivr in started:
        ivr.stop()


def wait_idle(ivr: IvrEndpoint, timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while ivr.active_calls and time.monotonic() < deadline:
        time.sleep(0.02)
    assert ivr.active_calls == 0


def mean_abs_diff(a: bytes, b: bytes) -> float:
    n = min(len(a), len(b))
    return sum(abs(x - y) for x, y in zip(a[:n], b[:n], strict=True)) / max(1, n)


# ------------------------------------------------------------------------------ pure parts
def test_g711_tables_round_trip_u8_pcm() -> None:
    for pt in (0, 8):
        back = bytes(range(256)).translate(ENCODE[pt]).translate(DECODE[pt])
        assert max(abs(a - b) for a, b in zip(back, range(256), strict=True)) <= 2
    assert bytes([128]).translate(ENCODE[0]) == b"\xff"  # μ-law silence


def test_port_range_parsing() -> None:
    assert parse_port_range("10000-10999") == (10000, 10999)
    for bad in ("10000", "10999-10000", "80-90", "a-b", "10000-70000"):
        with pytest.raises(ValueError):
            parse_port_range(bad)


def test_call_info_ignores_header_values_of_the_wrong_shape() -> None:
    from pyVoIP import SIP

    def invite(headers: str, from_user: str = "13800138000") -> CallInfo:
        raw = (f"INVITE sip:ivr@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9\r\n"
               f"From: <sip:{from_user}@pbx>;tag=a\r\nTo: <sip:ivr@127.0.0.1>\r\n"
               f"Call-ID: abc@pbx\r\nCSeq: 1 INVITE\r\n{headers}Content-Length: 0\r\n\r\n")
        return call_info(SIP.SIPMessage(raw.encode()))

    good = invite("X-Hotline-Linkedid: 1700000000.12\r\nX-Hotline-Pbx: pbx-2\r\n"
                  "X-Hotline-Ivr-Mode: survey\r\nX-Hotline-Channel: PJSIP/trunk-0000002a\r\n")
    assert good == CallInfo("abc@pbx", "13800138000", "1700000000.12", "pbx-2", "survey",
                            "PJSIP/trunk-0000002a")
    assert good.call_id == "pbx-2:1700000000.12"
    bad = invite("X-Hotline-Linkedid: 1700000000.12; DROP\r\nX-Hotline-Pbx: a b\r\n"
                 "X-Hotline-Ivr-Mode: admin\r\nX-Hotline-Channel: PJSIP/x y,Hangup\r\n",
                 from_user="<script>")
    assert bad == CallInfo("abc@pbx", "anonymous", None, None, "menu")


def test_call_info_reads_the_callers_channel_for_a_standalone_redirect() -> None:
    from pyVoIP import SIP

    def channel(value: str) -> str | None:
        raw = ("INVITE sip:ivr@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9\r\n"
               "From: <sip:13800138000@pbx>;tag=a\r\nTo: <sip:ivr@127.0.0.1>\r\n"
               f"Call-ID: abc@pbx\r\nCSeq: 1 INVITE\r\nX-Hotline-Channel: {value}\r\n"
               "Content-Length: 0\r\n\r\n")
        return call_info(SIP.SIPMessage(raw.encode())).channel

    for name in ("PJSIP/trunk-0000002a", "SIP/1001-00000001", "Local/100@from-internal-0000;1",
                 "DAHDI/i1/13800138000-1"):
        assert channel(name) == name
    # what goes into an AMI Redirect must be one plain token
    for bad in ("", "PJSIP/a b", "PJSIP/x,Action: Originate", "no-slash", "PJSIP/" + "x" * 200):
        assert channel(bad) is None


# ------------------------------------------------------------------------------ calls
@needs_pcap
def test_answer_play_real_audio_and_rfc2833_keys(make_ivr: MakeIvr, tmp_path: Path) -> None:
    spoken = sox_raw(espeak_wav("Your ticket is in progress.", tmp_path / "p.wav"), "u8")
    spoken = spoken[: len(spoken) - len(spoken) % 160]
    sink = RtpSink()
    seen: dict[str, object] = {}

    def on_call(ch: CallChannel) -> None:
        seen["info"] = ch.info
        t0 = time.monotonic()
        ch.play(spoken, interruptible=False)  # the keys come during it and are kept
        seen["play_s"] = time.monotonic() - t0
        seen["keys"] = [ch.read_digit(3), ch.read_digit(3), ch.read_digit(0.2)]
        ch.hangup()

    ivr, sipp_port = make_ivr(on_call)
    run = run_sipp("uac_keys.xml", ivr_port=ivr.local_port, sipp_port=sipp_port,
                   rtp_sink=sink.port, mode="survey")
    sink.close()
    assert run.returncode == 0, run.errors
    info = seen["info"]
    assert isinstance(info, CallInfo) and info.call_ref
    assert (info.caller, info.linkedid, info.pbx, info.mode) == \
        ("13800138000", "1700000000.1", "pbx-test", "survey")
    assert seen["keys"] == ["1", "#", None]
    duration = len(spoken) / 8000
    assert duration - 0.05 <= float(seen["play_s"]) <= duration + 0.3  # type: ignore[arg-type]

    # what went out on the wire: the whole buffer, in order, as real audio
    received = sink.payload(0)
    at = received.find(spoken.translate(ENCODE[0]))
    assert at >= 0 and at % 160 == 0, "the played buffer is not in the RTP stream"
    decoded = ulaw_to_u8(received[at:at + len(spoken)])  # sox's G.711, not ours
    assert mean_abs_diff(decoded, spoken) < 2.0
    assert max(abs(b - 128) for b in decoded) > 40  # speech, not silence
    assert len(received) >= len(spoken)


@needs_pcap
def test_record_hears_the_callers_speech(make_ivr: MakeIvr, tmp_path: Path) -> None:
    pcap, speech_s = speech_pcap(tmp_path, "Hello, my order has not arrived, please call me.")
    expected = ulaw_to_u8(sox_raw(tmp_path / "speech.wav", "ulaw"))  # sox's G.711
    seen: dict[str, Recording] = {}

    def on_call(ch: CallChannel) -> None:
        seen["rec"] = ch.record(max_s=15, silence_s=1.0)
        ch.hangup()

    ivr, sipp_port = make_ivr(on_call)
    run = run_sipp("uac_speak.xml", ivr_port=ivr.local_port, sipp_port=sipp_port,
                   cwd=tmp_path)
    assert run.returncode == 0, run.errors
    rec = seen["rec"]
    assert rec.has_speech and rec.ended_by == "silence"
    assert speech_s + 0.5 <= rec.duration_s <= speech_s + 2.0
    # what was recorded is what the caller said, aligned on the first loud sample: its first
    # second sample for sample (later, under load, a packet sipp sent late is recorded after
    # the silence that filled its gap — record() keeps real time — and shifts the rest)
    def onset(pcm: bytes) -> int:
        return next(i for i, b in enumerate(pcm) if abs(b - 128) > 10)

    heard, said = rec.audio[onset(rec.audio):], expected[onset(expected):]
    assert len(heard) >= len(said) - 8000  # all but the near-silent tail
    assert mean_abs_diff(heard[:8000], said[:8000]) < 2.0
    assert pcap.exists()


@needs_pcap
def test_a_key_interrupts_play_and_the_next_key_waits(make_ivr: MakeIvr) -> None:
    seen: dict[str, object] = {}

    def on_call(ch: CallChannel) -> None:
        t0 = time.monotonic()
        seen["barge"] = ch.play(bytes([128]) * 8000 * 5)  # interruptible by default
        seen["after_s"] = time.monotonic() - t0
        seen["next"] = ch.read_digit(3)
        ch.hangup()

    ivr, sipp_port = make_ivr(on_call)
    run = run_sipp("uac_keys.xml", ivr_port=ivr.local_port, sipp_port=sipp_port)
    assert run.returncode == 0, run.errors
    assert seen["barge"] == "1" and seen["next"] == "#"
    assert float(seen["after_s"]) < 1.0  # type: ignore[arg-type]  # "1" comes at ~0.3 s


def test_registers_with_a_digest_challenge(tmp_path: Path) -> None:
    registrar_port = free_udp_port()
    registrar = subprocess.Popen(
        ["sipp", "-sf", str(SCENARIOS / "uas_registrar.xml"), "-p", str(registrar_port),
         "-i", "127.0.0.1", "-m", "2", "-key", "password", "s3cret-pw", "-nostdin",
         "-timeout", "20s", "-timeout_error", "-trace_err", "-error_file",
         str(tmp_path / "errors.log")],
        stdout=subprocess.DEVNULL, cwd=tmp_path)
    time.sleep(0.3)  # sipp binds its port
    ivr = IvrEndpoint("127.0.0.1", registrar_port, sip_port=free_udp_port(), user="ivr",
                      password="s3cret-pw", rtp_ports=(40000, 40099), max_calls=2,
                      on_call=lambda ch: None)
    assert not ivr.direct
    t0 = time.monotonic()
    ivr.start()
    assert time.monotonic() - t0 < 3.0
    assert ivr.phone.get_status().name == "REGISTERED"
    ivr.stop()  # de-registers: sipp's second "call"
    assert registrar.wait(20) == 0, (tmp_path / "errors.log").read_text(errors="replace")


@needs_pcap
def test_caller_hangs_up_while_recording_keeps_the_speech(make_ivr: MakeIvr,
                                                          tmp_path: Path) -> None:
    _, speech_s = speech_pcap(tmp_path, "Please call me back tomorrow morning.")
    seen: dict[str, Recording] = {}

    def on_call(ch: CallChannel) -> None:
        seen["rec"] = ch.record(max_s=15, silence_s=5.0)
        ch.hangup()

    ivr, sipp_port = make_ivr(on_call)
    hang_ms = int(speech_s * 1000) + 300
    run = run_sipp("uac_speak_hangup.xml", ivr_port=ivr.local_port, sipp_port=sipp_port,
                   cwd=tmp_path, extra=("-d", str(hang_ms)))
    assert run.returncode == 0, run.errors
    wait_idle(ivr)  # sipp is done once its BYE is answered; the call thread a moment later
    rec = seen["rec"]
    assert rec.ended_by == "hangup" and rec.has_speech
    assert speech_s - 0.1 <= rec.duration_s <= hang_ms / 1000 + 0.5


def test_a_session_that_returns_without_hanging_up_leaves_it_to_the_pbx(
        make_ivr: MakeIvr) -> None:
    """A transfer: the PBX moved the caller and hangs up the IVR's leg itself."""
    returned: list[bool] = []

    def on_call(ch: CallChannel) -> None:
        returned.append(True)

    ivr, sipp_port = make_ivr(on_call)
    run = run_sipp("uac_hangup.xml", ivr_port=ivr.local_port, sipp_port=sipp_port)
    assert run.returncode == 0, run.errors  # the IVR sent no BYE of its own meanwhile
    wait_idle(ivr)
    assert returned == [True]


def test_record_of_silence_has_no_speech_and_ends_at_max(make_ivr: MakeIvr) -> None:
    seen: dict[str, Recording] = {}

    def on_call(ch: CallChannel) -> None:
        seen["rec"] = ch.record(max_s=1.0, silence_s=0.3)
        ch.hangup()

    ivr, sipp_port = make_ivr(on_call)
    run = run_sipp("uac_wait_bye.xml", ivr_port=ivr.local_port, sipp_port=sipp_port)
    assert run.returncode == 0, run.errors
    rec = seen["rec"]
    assert rec.ended_by == "max" and not rec.has_speech
    assert 0.9 <= rec.duration_s <= 1.0


def test_caller_hangs_up_during_play(make_ivr: MakeIvr) -> None:
    seen: dict[str, object] = {}

    def on_call(ch: CallChannel) -> None:
        t0 = time.monotonic()
        try:
            ch.play(bytes([128]) * 8000 * 10)
        except Hangup:
            seen["after_s"] = time.monotonic() - t0
        seen["hung_up"] = ch.hung_up
        try:
            ch.read_digit(1)
        except Hangup:
            seen["read_raises"] = True
        ch.hangup()  # idempotent and quiet after the caller's BYE
        ch.hangup()
        seen["thread"] = threading.current_thread()

    ivr, sipp_port = make_ivr(on_call)
    run = run_sipp("uac_hangup.xml", ivr_port=ivr.local_port, sipp_port=sipp_port)
    assert run.returncode == 0, run.errors
    wait_idle(ivr)
    assert 0.4 <= float(seen["after_s"]) <= 1.5  # type: ignore[arg-type]
    assert seen["hung_up"] is True and seen["read_raises"] is True
    thread = seen["thread"]
    assert isinstance(thread, threading.Thread)
    thread.join(2)
    assert not thread.is_alive()


def test_ten_concurrent_calls(make_ivr: MakeIvr) -> None:
    lock = threading.Lock()
    state = {"now": 0, "peak": 0, "done": 0}
    tone = bytes(128 + (40 if (i // 10) % 2 else -40) for i in range(8000 * 2))

    def on_call(ch: CallChannel) -> None:
        with lock:
            state["now"] += 1
            state["peak"] = max(state["peak"], state["now"])
        try:
            ch.play(tone)
        finally:
            with lock:
                state["now"] -= 1
                state["done"] += 1
            ch.hangup()

    ivr, sipp_port = make_ivr(on_call, max_calls=10)
    run = run_sipp("uac_wait_bye.xml", ivr_port=ivr.local_port, sipp_port=sipp_port,
                   calls=10, limit=10, rate=50)
    assert run.returncode == 0, run.errors
    wait_idle(ivr)
    assert state == {"now": 0, "peak": 10, "done": 10}
    assert ivr.answered == 10 and ivr.refused == 0


def test_over_the_limit_busy_then_486(make_ivr: MakeIvr) -> None:
    held, busy = [], []
    release = threading.Event()

    def on_call(ch: CallChannel) -> None:
        held.append(ch.info.call_ref)
        release.wait(5)
        ch.hangup()

    def busy_audio(info: CallInfo) -> bytes:
        busy.append(info.call_ref)
        return bytes([128]) * 2400

    ivr, sipp_port = make_ivr(on_call, max_calls=2, busy_audio=busy_audio)
    done = threading.Timer(2.0, release.set)
    done.start()
    run = run_sipp("uac_wait_bye.xml", ivr_port=ivr.local_port, sipp_port=sipp_port,
                   calls=6, limit=6, rate=100)
    done.cancel()
    release.set()
    assert run.returncode == 0, run.errors
    wait_idle(ivr)
    assert len(held) == 2 and len(busy) == 2
    assert ivr.answered == 4 and ivr.refused == 2


def test_over_the_limit_a_call_goes_to_on_busy(make_ivr: MakeIvr) -> None:
    """With ``on_busy`` the busy caller runs it (the runtime's busy journey), not busy_audio."""
    held, busy, tones = [], [], []
    release = threading.Event()

    def on_call(ch: CallChannel) -> None:
        held.append(ch.info.call_ref)
        release.wait(5)
        ch.hangup()

    def on_busy(ch: CallChannel) -> None:
        busy.append(ch.info.call_ref)
        ch.play(bytes([128]) * 800, interruptible=False)
        ch.hangup()

    ivr, sipp_port = make_ivr(on_call, max_calls=1, on_busy=on_busy,
                              busy_audio=lambda info: tones.append(info) or b"")
    done = threading.Timer(1.5, release.set)
    done.start()
    run = run_sipp("uac_wait_bye.xml", ivr_port=ivr.local_port, sipp_port=sipp_port,
                   calls=2, limit=2, rate=100)
    done.cancel()
    release.set()
    assert run.returncode == 0, run.errors
    wait_idle(ivr)
    assert len(held) == 1 and len(busy) == 1 and tones == []


# ------------------------------------------------------------------------------ garbage
def test_an_invite_flood_is_refused_beyond_twice_the_limit(make_ivr: MakeIvr) -> None:
    pbx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    pbx.bind(("127.0.0.1", 0))
    pbx_port = pbx.getsockname()[1]
    sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sink.bind(("127.0.0.1", 0))
    release = threading.Event()
    sessions: list[str] = []

    def on_call(ch: CallChannel) -> None:
        sessions.append(ch.info.call_ref)
        release.wait(10)
        ch.hangup()

    ivr, _ = make_ivr(on_call, server_port=pbx_port, max_calls=2,
                      busy_audio=lambda info: bytes([128]) * 160 * 50)
    for i in range(100):
        pbx.sendto(_invite(f"flood{i}", _sdp(sink.getsockname()[1]), via_port=pbx_port),
                   ("127.0.0.1", ivr.local_port))
    codes = [r.split(" ")[1] for r in _replies(pbx, 1.5) if r.startswith("SIP/2.0 ")]
    assert codes.count("486") == 96
    assert codes.count("200") == 4  # 2 sessions + 2 busy (answered, busy audio, BYE)
    assert len(sessions) == 2
    release.set()
    wait_idle(ivr)
    pbx.close()
    sink.close()
    run = run_sipp("uac_wait_bye.xml", ivr_port=ivr.local_port, sipp_port=pbx_port)
    assert run.returncode == 0, run.errors
    assert len(sessions) == 3


def _invite(call_id: str, sdp: str, *, via_port: int, extra: str = "") -> bytes:
    head = (f"INVITE sip:ivr@127.0.0.1 SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP 127.0.0.1:{via_port};branch=z9hG4bK{call_id}\r\n"
            f"From: <sip:13800138000@127.0.0.1>;tag=t{call_id}\r\n"
            f"To: <sip:ivr@127.0.0.1>\r\nCall-ID: {call_id}\r\nCSeq: 1 INVITE\r\n"
            f"Contact: <sip:13800138000@127.0.0.1:{via_port}>\r\n{extra}"
            f"Content-Type: application/sdp\r\nContent-Length: {len(sdp)}\r\n\r\n")
    return (head + sdp).encode()


def _sdp(port: int, *, conn: str = "c=IN IP4 127.0.0.1\r\n", fmt: str = "0 101") -> str:
    return (f"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\n{conn}t=0 0\r\n"
            f"m=audio {port} RTP/AVP {fmt}\r\na=rtpmap:101 telephone-event/8000\r\n")


def _replies(sock: socket.socket, wait_s: float = 0.5) -> list[str]:
    out, deadline = [], time.monotonic() + wait_s
    while time.monotonic() < deadline:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            out.append(sock.recv(8192).decode(errors="replace"))
        except TimeoutError:
            break
    return out


def _event(digit: int, stamp: int, seq: int, *, marker: bool = True) -> bytes:
    return struct.pack("!BBHII", 0x80, (0x80 if marker else 0) | 101, seq, stamp, 77) \
        + bytes([digit, 0x0A, 0, 160])


def test_garbage_is_refused_and_a_later_call_works(make_ivr: MakeIvr) -> None:
    pbx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    pbx.bind(("127.0.0.1", 0))
    pbx_port = pbx.getsockname()[1]
    storm_done = threading.Event()
    calls: list[str] = []
    keys: list[str | None] = []

    def on_call(ch: CallChannel) -> None:
        calls.append(ch.info.call_ref)
        if ch.info.call_ref == "storm":
            storm_done.wait(10)
            while (key := ch.read_digit(0.3)) is not None:
                keys.append(key)
            ch.play(bytes([128]) * 1600)
        else:
            ch.play(bytes([128]) * 1600)
        ch.hangup()

    ivr, _ = make_ivr(on_call, server_port=pbx_port, max_calls=2)
    ivr_addr = ("127.0.0.1", ivr.local_port)

    # random bytes, NULs, non-UTF-8, a half message: nothing answers, nothing breaks
    for _ in range(30):
        pbx.sendto(os.urandom(random.randint(1, 1400)), ivr_addr)
    for junk in (b"\x00\x00\x00\x00", b"\r\n\r\n", b"INVITE", b"SIP/2.0 200 OK\r\n\r\n",
                 "INVITE sip:x SIP/2.0\r\nVia: é\r\n\r\n".encode("latin-1")):
        pbx.sendto(junk, ivr_addr)
    assert _replies(pbx, 0.3) == []

    # malformed INVITEs get a final error, not a call
    pbx.sendto(_invite("bad-len", _sdp(4000), via_port=pbx_port).replace(
        b"Content-Length: ", b"Content-Length: x"), ivr_addr)
    pbx.sendto(_invite("no-conn", _sdp(4000, conn=""), via_port=pbx_port), ivr_addr)
    pbx.sendto(_invite("no-g711", _sdp(4000, fmt="18 101"), via_port=pbx_port), ivr_addr)
    pbx.sendto(_invite("bad-port", _sdp(99999), via_port=pbx_port), ivr_addr)
    pbx.sendto(_invite("no-contact", _sdp(4000), via_port=pbx_port).replace(
        b"Contact:", b"X-Contact:"), ivr_addr)
    got = _replies(pbx, 0.5)
    codes = sorted(re.match(r"SIP/2.0 (\d+)", r).group(1) for r in got)  # type: ignore[union-attr]
    assert codes == ["400", "400", "488", "488", "488"], got

    # a PBX's qualify is answered
    pbx.sendto(_invite("qualify", "", via_port=pbx_port).replace(b"INVITE", b"OPTIONS"),
               ivr_addr)
    assert [r.split("\r\n")[0] for r in _replies(pbx, 0.5)] == ["SIP/2.0 200 OK"]

    # a valid INVITE from another address is dropped without a word
    other = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    other.bind(("127.0.0.2", 0))
    other.sendto(_invite("intruder", _sdp(4000), via_port=pbx_port), ivr_addr)
    assert _replies(other, 0.3) == [] and _replies(pbx, 0.1) == []

    # a call, then RTP from elsewhere, broken RTP and a DTMF storm on it
    rtp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rtp.bind(("127.0.0.1", 0))
    pbx.sendto(_invite("storm", _sdp(rtp.getsockname()[1]), via_port=pbx_port), ivr_addr)
    answer = next(r for r in _replies(pbx, 1.0) if r.startswith("SIP/2.0 200"))
    media = ("127.0.0.1", int(re.search(r"m=audio (\d+)", answer).group(1)))  # type: ignore[union-attr]
    other.sendto(_event(7, 1, 1), media)
    for packet in (b"", b"\x80", b"\x40" * 20, struct.pack("!BBHII", 0x80, 99, 1, 1, 1) + b"x",
                   struct.pack("!BBHII", 0x80, 101, 1, 1, 1) + bytes([200, 0, 0, 0]),
                   struct.pack("!BBHII", 0x80, 0, 2, 0xFFFFFFF0, 1) + b"\xff" * 160,
                   struct.pack("!BBHII", 0x9F, 0, 3, 5, 1) + b"\xff" * 8):
        rtp.sendto(packet, media)
    for i in range(500):
        rtp.sendto(_event(5, 1000 + 160 * i, i), media)
    time.sleep(0.3)
    storm_done.set()
    bye = next((r for r in _replies(pbx, 3.0) if r.startswith("BYE ")), None)
    assert bye is not None and "Call-ID: storm" in bye
    assert keys == ["5"] * MAX_QUEUED_DIGITS
    rtp.settimeout(0.5)
    assert len(rtp.recv(2048)) == 172  # its audio kept flowing (PCMU, 20 ms)
    wait_idle(ivr)
    for s in (pbx, other, rtp):
        s.close()

    # the PBX address is sipp's now: a normal call still goes through
    run = run_sipp("uac_wait_bye.xml", ivr_port=ivr.local_port, sipp_port=pbx_port)
    assert run.returncode == 0, run.errors
    assert len(calls) == 2 and calls[0] == "storm"  # the intruder never became a call
