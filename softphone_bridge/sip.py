"""The IVR's phone line: a thin adapter over pyVoIP 1.6.8 (``IvrEndpoint`` + ``PyVoipChannel``).

pyVoIP gives us SIP message parsing and generation, the call state, and the SDP answer; the
rest of this module exists because of what that exact version does (read in its source):

* **It talks only to its configured server** — every response goes to ``(server, port)`` —
  but its receive loop accepts datagrams from anyone. We receive with ``recvfrom`` and drop
  whatever does not come from the configured server (debug line, rate-limited warning).
* **It always registers** (``SIPClient.start`` blocks in ``register`` for up to 30 s per try
  with no registrar). With no password we run in **direct mode**: the SIP socket is bound and
  read, no REGISTER is sent, and INVITEs are answered from the configured server only.
* **A new call is handed over after a fixed 1 s timer** and runs on pyVoIP's ``Timer``
  thread; we answer at once on our own thread per call instead (the answer time is the
  benchmark's first figure).
* **Its RTP receiver crashes on a short or empty packet** (``ord(b"")``), reads from anyone,
  and writes each packet at ``timestamp - first`` into a ``BytesIO`` (a jump of the RTP
  timestamp allocates up to 4 GB); its **transmitter sleeps without a clock anchor** (it
  drifts behind real time), **encodes PCMA as μ-law**, and ``write_audio`` queues everything
  at once so playback cannot be interrupted. :class:`_Media` replaces its receiver and
  transmitter (same socket rules: bound on ``bind`` only): it accepts RTP only from the
  SDP's connection address, validates every header, keeps bounded buffers, and sends one
  20 ms frame per tick of a monotonic clock; ``play`` keeps only ~60 ms queued ahead so a key
  stops it at once (barge-in).
* **DTMF is RFC 2833 only, and a digit counts only on a packet with the marker bit** (a
  sender that omits it loses every key; one that sets it on each packet repeats them). We
  count a new event when the event's RTP timestamp changes, or a marker arrives after the
  previous event ended (the same recording played twice), and cap the queued keys (a DTMF
  storm is dropped with a warning). Key values are never logged (they may be PINs).
* **Its RTP port bookkeeping never releases an incoming call's port** and, once the range is
  exhausted, frees ports still in use; we allocate from our own free list (least recently
  freed first) and free a port only once its socket's threads have ended.
* **``hangup()`` raises when the caller already hung up**; :meth:`PyVoipChannel.hangup` is
  idempotent and never raises.
* **A malformed INVITE or SDP is silently ignored** (or raises inside its callbacks); we
  answer ``400``/``488`` and go on. A re-INVITE would re-bind the call's RTP socket; we
  answer it with the same media instead. It cannot parse ``OPTIONS`` (a PBX's qualify);
  we answer ``200 OK``. It ACKs every ``200 OK``, one to our BYE included (a peer then
  aborts the dialog); we never dial, so we ignore responses.

Audio is pyVoIP's: 8 kHz mono unsigned 8-bit PCM (see :mod:`softphone_bridge.ivr.ports`).
Concurrency: at most ``max_calls`` sessions run ``on_call``; beyond that a call is answered,
hears ``busy_audio`` and is hung up; beyond ``2 × max_calls`` it gets ``486 Busy Here``
without being answered.

Trust: SIP is read only from the server's exact ``(address, port)`` (the name is resolved
once, at construction); RTP only from the SDP's connection address, any port (a PBX need not
send from the port it announced). ``record`` ends on :class:`softphone_bridge.audio.
SpeechDetector` (energy over the line's own noise floor).
"""

from __future__ import annotations

import ipaddress
import logging
import random
import re
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any, Literal

# pyVoIP.VoIP first: importing pyVoIP.SIP first fails on its circular import
import pyVoIP.VoIP.VoIP as VoIP
from pyVoIP import RTP, SIP

from softphone_bridge.audio import SpeechDetector
from softphone_bridge.ivr.ports import (
    BYTES_PER_SECOND,
    FRAME_BYTES,
    SILENCE_BYTE,
    CallChannel,
    CallInfo,
    Hangup,
    Mode,
    Recording,
)

_log = logging.getLogger(__name__)

FRAME_S = FRAME_BYTES / BYTES_PER_SECOND
#: Frames queued ahead of the transmitter while playing: the barge-in latency bound.
PLAY_LEAD_FRAMES = 3
#: How late the caller's RTP may be before ``record`` counts the gap as silence.
RECORD_JITTER_S = 0.2
#: Keys kept per call before a DTMF storm's extra keys are dropped.
MAX_QUEUED_DIGITS = 32
#: Received audio kept between two reads (a record loop reads every 20 ms).
MAX_INPUT_BYTES = 5 * BYTES_PER_SECOND
#: After ``on_call`` returns without hanging up (a transfer), wait this long for the PBX's BYE.
TRANSFER_GRACE_S = 2.0
_DTMF_KEYS = "0123456789*#ABCD"
#: What pyVoIP's responses and BYE are built from.
_NEEDED_HEADERS = ("Via", "From", "To", "CSeq", "Contact")
_LINKEDID = re.compile(r"\d{1,20}\.\d{1,10}")
_PBX = re.compile(r"[A-Za-z0-9_-]{1,32}")
_CALLER = re.compile(r"[A-Za-z0-9+*#._-]{1,64}")
#: An Asterisk channel name (``PJSIP/trunk-0000002a``, ``Local/100@ctx-0000;1``): one token,
#: since a standalone IVR puts it into an AMI ``Redirect``.
_CHANNEL = re.compile(r"[A-Za-z0-9]{1,16}/[A-Za-z0-9@;:._+/-]{1,120}")


class _Throttle:
    """Warnings at most once per ``interval_s`` per kind, with how many were suppressed."""

    def __init__(self, interval_s: float = 10.0) -> None:
        self._interval = interval_s
        self._last: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}
        self._lock = threading.Lock()

    def warn(self, kind: str, msg: str, *args: object) -> None:
        _log.debug(msg, *args)
        now = time.monotonic()
        with self._lock:
            if now - self._last.get(kind, -1e9) < self._interval:
                self._suppressed[kind] = self._suppressed.get(kind, 0) + 1
                return
            self._last[kind] = now
            more = self._suppressed.pop(kind, 0)
        _log.warning(msg + (f" ({more} more suppressed)" if more else ""), *args)


_throttle = _Throttle()


# ------------------------------------------------------------------------------- G.711
def _ulaw_to_lin(u: int) -> int:
    u = ~u & 0xFF
    exp, mant = (u >> 4) & 7, u & 0x0F
    sample = (((mant << 3) + 0x84) << exp) - 0x84
    return -sample if u & 0x80 else sample


def _alaw_to_lin(a: int) -> int:
    a ^= 0x55
    exp, mant = (a >> 4) & 7, a & 0x0F
    sample = (mant << 4) + 8 if exp == 0 else ((mant << 4) + 0x108) << (exp - 1)
    return sample if a & 0x80 else -sample


def _lin_to_ulaw(s: int) -> int:
    sign = 0x80 if s < 0 else 0
    s = min(abs(s), 32635) + 0x84
    exp = min(7, max(0, s.bit_length() - 8))
    return ~(sign | (exp << 4) | ((s >> (exp + 3)) & 0x0F)) & 0xFF


def _lin_to_alaw(s: int) -> int:
    sign = 0x80 if s >= 0 else 0
    s = min(abs(s), 32767)
    if s < 256:
        code = s >> 4
    else:
        exp = min(7, s.bit_length() - 8)
        code = (exp << 4) | ((s >> (exp + 3)) & 0x0F)
    return (sign | code) ^ 0x55


def _u8(lin: int) -> int:
    return max(0, min(255, (lin >> 8) + 128))


#: ``bytes.translate`` tables: G.711 byte → u8 PCM and back (payload type 0 PCMU, 8 PCMA).
DECODE = {0: bytes(_u8(_ulaw_to_lin(b)) for b in range(256)),
          8: bytes(_u8(_alaw_to_lin(b)) for b in range(256))}
ENCODE = {0: bytes(_lin_to_ulaw((b - 128) << 8) for b in range(256)),
          8: bytes(_lin_to_alaw((b - 128) << 8) for b in range(256))}


# ------------------------------------------------------------------------------- speech
# ------------------------------------------------------------------------------- RTP
class _Media(RTP.RTPClient):
    """One call's RTP socket, replacing pyVoIP's receiver and transmitter (module docstring).

    ``write`` queues u8 PCM (split into 160-byte frames); the transmitter sends one frame per
    20 ms of the monotonic clock (silence when the queue is empty) and records each frame's
    lateness in ``lateness_s`` (the last minute). ``take_input`` returns the u8 PCM received
    since the previous call. DTMF keys go to ``on_digit``.
    """

    def __init__(self, assoc: dict[int, RTP.PayloadType], in_ip: str, in_port: int,
                 out_ip: str, out_port: int, sendrecv: RTP.TransmitType,
                 on_digit: Callable[[str], None]) -> None:
        super().__init__(assoc, in_ip, in_port, out_ip, out_port, sendrecv, dtmf=None)
        self.on_digit = on_digit
        self.cond = threading.Condition()
        self._out: deque[bytes] = deque()
        self._in = bytearray()
        self._event: tuple[int, int] | None = None  # (RTP timestamp, event) of the last key
        self._event_ended = False
        self._pt_out = 8 if self.preference == RTP.PayloadType.PCMA else 0
        self.lateness_s: deque[float] = deque(maxlen=3000)
        self.frames_sent = 0
        self.dropped_packets = 0
        self._threads: list[threading.Thread] = []
        self._sock: socket.socket | None = None

    def start(self) -> None:
        if self._sock is not None:  # pyVoIP's gen_ms starts clients again on a re-INVITE
            return
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            sock.bind((self.inIP, self.inPort))
        except OSError:
            sock.close()
            raise
        sock.settimeout(0.1)
        self._sock = self.sin = self.sout = sock
        for target, name in ((self._recv_loop, "rx"), (self._send_loop, "tx")):
            t = threading.Thread(target=target, name=f"ivr-rtp-{name}-{self.inPort}",
                                 daemon=True)
            t.start()
            self._threads.append(t)

    def stop(self) -> None:
        self.NSD = False
        with self.cond:
            self.cond.notify_all()
        if self._sock is not None:
            self._sock.close()

    def join(self, timeout_s: float = 1.0) -> None:
        """Wait for the threads: a socket closed under a blocked ``recvfrom`` keeps its port
        bound until that call returns (≤ 0.1 s), so the port is free only after this."""
        for t in self._threads:
            if t is not threading.current_thread():
                t.join(timeout_s)

    @property
    def running(self) -> bool:
        return self.NSD

    # the call thread's side
    def write(self, data: bytes) -> None:
        with self.cond:
            for i in range(0, len(data), FRAME_BYTES):
                frame = data[i:i + FRAME_BYTES]
                self._out.append(frame.ljust(FRAME_BYTES, bytes([SILENCE_BYTE])))

    def queued_unlocked(self) -> int:
        """Frames waiting to be sent (hold ``cond``)."""
        return len(self._out)

    def flush(self) -> None:
        with self.cond:
            self._out.clear()

    def take_input(self) -> bytes:
        with self.cond:
            data = bytes(self._in)
            self._in.clear()
        return data

    def read(self, length: int = FRAME_BYTES, blocking: bool = True) -> bytes:
        with self.cond:
            if blocking:
                self.cond.wait_for(lambda: len(self._in) >= length or not self.NSD)
            data = bytes(self._in[:length])
            del self._in[:length]
        return data.ljust(length, bytes([SILENCE_BYTE]))

    # the transmitter
    def _send_loop(self) -> None:
        assert self._sock is not None
        table = ENCODE[self._pt_out]
        seq, stamp = random.randint(0, 0xFFFF), random.randint(0, 0xFFFFFFFF)
        ssrc = random.randint(1, 0xFFFFFFFF)
        due = time.monotonic()
        while self.NSD:
            with self.cond:
                frame = self._out.popleft() if self._out else bytes([SILENCE_BYTE]) * FRAME_BYTES
                self.cond.notify_all()
            header = bytes([0x80, self._pt_out]) + seq.to_bytes(2, "big") \
                + stamp.to_bytes(4, "big") + ssrc.to_bytes(4, "big")
            now = time.monotonic()
            self.lateness_s.append(max(0.0, now - due))
            try:
                self._sock.sendto(header + frame.translate(table), (self.outIP, self.outPort))
            except OSError:
                if not self.NSD:
                    return
                _throttle.warn("rtp-send", "IVR RTP send to %s:%s failed", self.outIP,
                               self.outPort)
            self.frames_sent += 1
            seq = (seq + 1) & 0xFFFF
            stamp = (stamp + FRAME_BYTES) & 0xFFFFFFFF
            due += FRAME_S
            if now - due > 0.2:  # fell far behind (machine stalled): restart the clock
                due = now
            time.sleep(max(0.0, due - time.monotonic()))

    # the receiver
    def _recv_loop(self) -> None:
        assert self._sock is not None
        while self.NSD:
            try:
                packet, addr = self._sock.recvfrom(2048)
            except TimeoutError:
                continue
            except OSError:
                return
            if addr[0] != self.outIP:
                self.dropped_packets += 1
                _throttle.warn("rtp-addr", "IVR RTP from unexpected address %s dropped",
                               addr[0])
                continue
            try:
                self._packet(packet)
            except (ValueError, IndexError) as e:
                self.dropped_packets += 1
                _throttle.warn("rtp-bad", "IVR bad RTP packet dropped: %s", e)

    def _packet(self, packet: bytes) -> None:
        if len(packet) < 12 or packet[0] >> 6 != 2:
            raise ValueError("not RTP version 2")
        start = 12 + 4 * (packet[0] & 0x0F)
        if packet[0] & 0x10:  # header extension
            if len(packet) < start + 4:
                raise ValueError("truncated extension")
            start += 4 + 4 * int.from_bytes(packet[start + 2:start + 4], "big")
        end = len(packet)
        if packet[0] & 0x20:  # padding
            end -= packet[-1]
        if end < start:
            raise ValueError("truncated packet")
        payload = packet[start:end]
        pt = packet[1] & 0x7F
        kind = self.assoc.get(pt)
        if kind == RTP.PayloadType.EVENT:
            self._dtmf(payload, int.from_bytes(packet[4:8], "big"), bool(packet[1] & 0x80))
        elif kind in (RTP.PayloadType.PCMU, RTP.PayloadType.PCMA):
            data = payload.translate(DECODE[0 if kind == RTP.PayloadType.PCMU else 8])
            with self.cond:
                self._in += data
                if len(self._in) > MAX_INPUT_BYTES:
                    del self._in[:len(self._in) - MAX_INPUT_BYTES]
                self.cond.notify_all()
        else:
            raise ValueError(f"payload type {pt} not negotiated")

    def _dtmf(self, payload: bytes, stamp: int, marker: bool) -> None:
        if len(payload) < 4 or payload[0] >= len(_DTMF_KEYS):
            raise ValueError("bad telephone-event")
        key = (stamp, payload[0])
        ended = bool(payload[1] & 0x80)
        if key != self._event or (marker and self._event_ended):
            self._event, self._event_ended = key, ended
            self.on_digit(_DTMF_KEYS[payload[0]])
        else:
            self._event_ended = self._event_ended or ended


# ------------------------------------------------------------------------------- calls
class _Call(VoIP.VoIPCall):
    """pyVoIP's call with our media, a bounded key queue and a BYE flag."""

    def __init__(self, phone: _Phone, request: SIP.SIPMessage, session_id: int,
                 my_ip: str) -> None:
        self.cond = threading.Condition()
        self.digits: deque[str] = deque()
        self.bye_received = False
        self.rtp_port: int | None = None
        self.invite_at = phone.sip.received_at if isinstance(phone.sip, _SipClient) \
            else time.monotonic()
        super().__init__(phone, VoIP.CallState.RINGING, request, session_id, my_ip,
                         sendmode=phone.recvmode)

    def create_rtp_clients(self, codecs: dict[int, RTP.PayloadType], ip: str, port: int,
                           request: SIP.SIPMessage, baseport: int) -> None:
        self.rtp_port = port
        address = request.body["c"][0]["address"]
        self.RTPClients.append(_Media(codecs, ip, port, address, baseport, self.sendmode,
                                      on_digit=self._digit))

    @property
    def media(self) -> _Media:
        client = self.RTPClients[0]
        assert isinstance(client, _Media)
        return client

    def _digit(self, key: str) -> None:
        with self.cond:
            if len(self.digits) >= MAX_QUEUED_DIGITS:
                _throttle.warn("dtmf-storm", "IVR call %s: too many keys queued, dropped",
                               self.call_id)
                return
            self.digits.append(key)
            self.cond.notify_all()

    def bye(self) -> None:
        with self.cond:
            self.bye_received = True
            self.cond.notify_all()
        super().bye()
        for client in self.RTPClients:  # pyVoIP stops them only when the call was answered
            client.stop()

    def __del__(self) -> None:  # pyVoIP's would free ports by its own bookkeeping
        pass


class _SipClient(SIP.SIPClient):
    """pyVoIP's SIP client: direct mode, server-only datagrams, bounded error handling."""

    def __init__(self, endpoint: IvrEndpoint, phone: _Phone, **kwargs: Any) -> None:
        super().__init__(phone=phone, callCallback=phone.callback,
                         fatalCallback=phone.fatal, **kwargs)
        self.endpoint = endpoint
        self.register_timeout = 5
        self.received_at = 0.0  # when the datagram being handled arrived (monotonic)
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if not self.endpoint.direct:
            super().start()  # binds on myIP, registers (blocking, bounded by register_timeout)
            return
        if self.NSD:
            raise RuntimeError("SIP client already started")
        self.NSD = True
        self.s = self.out = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.s.bind((self.myIP, self.myPort))
        self.myPort = self.s.getsockname()[1]
        self._thread = threading.Thread(target=self.recv_loop, name="ivr-sip-rx", daemon=True)
        self._thread.start()

    def recv_loop(self) -> None:
        import select

        while self.NSD:
            try:
                ready, _, _ = select.select([self.s], [], [], 0.2)
            except (OSError, ValueError):
                return
            if not ready:
                continue
            with self.recvLock:
                try:
                    self.s.setblocking(False)
                    self.recv()
                except BlockingIOError:
                    pass
                except OSError:
                    if not self.NSD:
                        return
                finally:
                    if self.NSD:
                        try:
                            self.s.setblocking(True)
                        except OSError:
                            pass

    def recv(self) -> None:
        raw, addr = self.s.recvfrom(8192)
        self.received_at = time.monotonic()
        if addr != self.endpoint.server_addr:
            _throttle.warn("sip-addr", "IVR SIP datagram from %s:%s (not the server) dropped",
                           addr[0], addr[1])
            return
        if not raw.strip(b"\r\n\x00"):
            return  # keep-alive
        if raw.startswith(b"OPTIONS "):  # a PBX's qualify: pyVoIP cannot parse the method
            self.endpoint.reply_raw(raw, 200, "OK")
            return
        try:
            message = SIP.SIPMessage(raw)
        except Exception as e:  # pyVoIP raises anything from ValueError to UnboundLocalError
            _throttle.warn("sip-bad", "IVR unparsable SIP message refused: %s",
                           type(e).__name__)
            self.endpoint.reply_raw(raw, 400, "Bad Request")
            return
        try:
            self.parse_message(message)
        except Exception:
            _log.exception("IVR SIP message handling failed")


class _Phone(VoIP.VoIPPhone):
    """pyVoIP's phone with our SIP client, port allocator and INVITE handling."""

    def __init__(self, endpoint: IvrEndpoint, *, server: str, port: int, user: str,
                 password: str, bind: str, sip_port: int, rtp_ports: tuple[int, int]) -> None:
        super().__init__(server, port, user, password, myIP=bind,
                         callCallback=lambda call: None, sipPort=sip_port,
                         rtpPortLow=rtp_ports[0], rtpPortHigh=rtp_ports[1])
        self.endpoint = endpoint
        self.sip = _SipClient(endpoint, self, server=server, port=port, username=user,
                              password=password, myIP=bind, myPort=sip_port)
        ports = list(range(rtp_ports[0], rtp_ports[1] + 1))
        random.shuffle(ports)
        self._free = deque(ports)  # a freed port goes to the back: reused last
        self._ports_lock = threading.Lock()

    def request_port(self, blocking: bool = True) -> int:
        with self._ports_lock:
            if not self._free:
                raise VoIP.NoPortsAvailableError("no RTP port free")
            return self._free.popleft()

    def release_ports(self, call: VoIP.VoIPCall | None = None) -> None:
        if isinstance(call, _Call) and call.rtp_port is not None:
            with self._ports_lock:
                self._free.append(call.rtp_port)
            call.rtp_port = None

    def callback(self, request: SIP.SIPMessage) -> None:
        """pyVoIP's dispatch, minus its response handling: we never dial, so a response is
        to our BYE, and pyVoIP would ACK it (a 200 to a BYE is not ACKed: a peer aborts)."""
        if request.type != SIP.SIPMessageType.MESSAGE:
            _log.debug("IVR ignores response %s", request.status)
        elif request.method == "INVITE":
            self.endpoint.invite(request)
        elif request.method == "BYE":
            self._callback_MSG_Bye(request)


# ------------------------------------------------------------------------------- channel
class PyVoipChannel:
    """:class:`~softphone_bridge.ivr.ports.CallChannel` over one answered pyVoIP call.

    Besides the port: ``played`` (buffers sent), ``rtp_port`` (the local media port, for
    tests) and ``media_stats()``.
    """

    def __init__(self, call: _Call, info: CallInfo) -> None:
        self.info = info
        self.played: list[bytes] = []
        self._call = call
        self._hung_up = False
        self._lock = threading.Lock()

    @property
    def rtp_port(self) -> int:
        return int(self._call.media.inPort)

    @property
    def hung_up(self) -> bool:
        return self._hung_up or self._call.bye_received \
            or self._call.state == VoIP.CallState.ENDED

    def media_stats(self) -> tuple[int, list[float]]:
        """Frames sent so far and the lateness (s) of the last minute's frames."""
        media = self._call.media
        return media.frames_sent, list(media.lateness_s)

    def _check(self) -> None:
        if self.hung_up:
            raise Hangup()

    def _pop_digit(self) -> str | None:
        with self._call.cond:
            return self._call.digits.popleft() if self._call.digits else None

    def play(self, audio: bytes, *, interruptible: bool = True) -> str | None:
        """Send ``audio`` (u8 PCM) in real time; returns the key that interrupted it, if any.

        Raises :class:`Hangup` when the caller has gone (before or during playback).
        """
        self._check()
        self.played.append(audio)
        media = self._call.media
        for i in range(0, len(audio), FRAME_BYTES):
            key = self._wait_queue(PLAY_LEAD_FRAMES, interruptible)
            if key is not None:
                return key
            media.write(audio[i:i + FRAME_BYTES])
        key = self._wait_queue(0, interruptible)
        if key is not None:
            return key
        time.sleep(FRAME_S)  # the last frame left the queue; let its 20 ms go out
        self._check()
        return None

    def _wait_queue(self, frames: int, interruptible: bool) -> str | None:
        """Wait until at most ``frames`` are queued; a key (when interruptible) cuts it short
        and the queue is flushed. Raises :class:`Hangup`."""
        media = self._call.media
        while True:
            self._check()
            if interruptible:
                key = self._pop_digit()
                if key is not None:
                    media.flush()
                    return key
            with media.cond:
                if media.queued_unlocked() <= frames:
                    return None
                media.cond.wait(FRAME_S)

    def read_digit(self, timeout_s: float) -> str | None:
        """The next key (``"0"``–``"9"``, ``"*"``, ``"#"``…) or ``None`` after ``timeout_s``.

        Raises :class:`Hangup` when the caller has gone.
        """
        deadline = time.monotonic() + timeout_s
        with self._call.cond:
            while True:
                if self.hung_up:
                    raise Hangup()
                if self._call.digits:
                    return self._call.digits.popleft()
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._call.cond.wait(min(left, 0.2))

    def record(self, max_s: float, silence_s: float) -> Recording:
        """What the caller says, up to ``max_s`` s; see :class:`Recording` for the endings.

        Keys pressed and audio heard before the call are dropped (they answered the prompt,
        not the recording). A gap in the caller's RTP longer than ``RECORD_JITTER_S`` is
        recorded as silence, so the recording keeps real time and ``silence_s`` ends it
        even when the far end stops sending (silence suppression).
        """
        media = self._call.media
        media.take_input()
        with self._call.cond:
            self._call.digits.clear()
        detector = SpeechDetector(silence_s=silence_s)
        audio = bytearray()
        pending = b""
        started = time.monotonic()
        limit = int(max_s * BYTES_PER_SECOND)
        ended: Literal["silence", "max", "key", "hangup"] = "max"
        while True:
            if self.hung_up:
                ended = "hangup"
                break
            if self._pop_digit() is not None:
                ended = "key"
                break
            chunk = pending + media.take_input()
            behind = int((time.monotonic() - started - RECORD_JITTER_S) * BYTES_PER_SECOND) \
                - len(audio) - len(chunk)
            if behind >= FRAME_BYTES:
                chunk += bytes([SILENCE_BYTE]) * (behind - behind % FRAME_BYTES)
            whole = len(chunk) - len(chunk) % FRAME_BYTES
            for i in range(0, whole, FRAME_BYTES):
                detector.feed(chunk[i:i + FRAME_BYTES])
            audio += chunk[:whole]
            pending = chunk[whole:]
            if detector.finished:
                ended = "silence"
                break
            if len(audio) >= limit or time.monotonic() - started >= max_s + RECORD_JITTER_S:
                break
            with self._call.cond:
                self._call.cond.wait(FRAME_S)
        audio += pending
        return Recording(audio=bytes(audio[:limit]), ended_by=ended,
                         has_speech=detector.speech_heard)

    def hangup(self) -> None:
        """End the call (BYE); idempotent, never raises."""
        with self._lock:
            if self._hung_up:
                return
            self._hung_up = True
        call = self._call
        if call.state == VoIP.CallState.ANSWERED and not call.bye_received:
            try:
                call.hangup()
            except Exception as e:  # pyVoIP raises when the caller hung up meanwhile
                _log.debug("IVR hangup of %s: %s", self.info.call_ref, e)
        for client in call.RTPClients:
            client.stop()


# ------------------------------------------------------------------------------- endpoint
def parse_port_range(text: str) -> tuple[int, int]:
    """``"10000-10999"`` → ``(10000, 10999)``; ``ValueError`` for anything else."""
    low_s, sep, high_s = text.partition("-")
    low, high = int(low_s), int(high_s)
    if not sep or not 1024 <= low <= high <= 65535:
        raise ValueError(f"not an RTP port range: {text!r}")
    return low, high


def call_info(request: SIP.SIPMessage) -> CallInfo:
    """CallInfo from an INVITE: Call-ID, the From user part, the ``X-Hotline-*`` headers
    (``X-Hotline-Channel`` too: without it a standalone ``hotline ivr`` cannot redirect).

    Header values that do not match their shape are ignored (``None`` / ``"menu"``).
    """
    headers = {str(k).lower(): v for k, v in request.headers.items()}
    caller = (headers.get("from") or {}).get("number") or ""
    if not _CALLER.fullmatch(caller):
        caller = "anonymous"

    def text(name: str, pattern: re.Pattern[str]) -> str | None:
        value = headers.get(name)
        return value.strip() if isinstance(value, str) and pattern.fullmatch(value.strip()) \
            else None

    mode_raw = headers.get("x-hotline-ivr-mode")
    mode: Mode = "survey" if isinstance(mode_raw, str) and mode_raw.strip() == "survey" \
        else "menu"
    return CallInfo(call_ref=str(request.headers["Call-ID"]), caller=caller,
                    linkedid=text("x-hotline-linkedid", _LINKEDID),
                    pbx=text("x-hotline-pbx", _PBX), mode=mode,
                    channel=text("x-hotline-channel", _CHANNEL))


def _sdp_problem(request: SIP.SIPMessage) -> str | None:
    """Why an INVITE's offer cannot be answered (``None``: it can)."""
    body = request.body
    conns, medias = body.get("c") or [], body.get("m") or []
    if len(conns) != 1 or len(medias) != 1:
        return "need exactly one c= and one m= line"
    conn, media = conns[0], medias[0]
    try:
        address = ipaddress.IPv4Address(conn.get("address", ""))
    except ValueError:
        return "connection address is not IPv4"
    if address.is_unspecified or conn.get("address_count") != 1:
        return "unusable connection address"
    if media.get("type") != "audio" or media.get("port_count") != 1 \
            or not 0 < int(media.get("port", 0)) < 65536:
        return "not one audio stream"
    names = set()
    for fmt in media.get("methods", []):
        rtpmap = media.get("attributes", {}).get(fmt, {}).get("rtpmap")
        names.add(str(rtpmap["name"]).upper() if rtpmap else fmt)
    if not names & {"0", "8", "PCMU", "PCMA"}:
        return "no G.711 codec offered"
    return None


class IvrEndpoint:
    """The IVR's SIP endpoint (pyVoIP), one thread per call running ``on_call(channel)``.

    ``server``/``port``: the PBX (IP or name, UDP port); the only peer we answer and talk to.
    ``bind``: the only address SIP and RTP sockets bind (default loopback). ``sip_port``: our
    SIP port (0 = any free one in direct mode; see ``local_port`` after ``start``).
    ``password`` set → register as ``user`` (``start`` blocks up to ~5 s per try); ``None``
    or ``""`` → direct mode. ``rtp_ports``: inclusive range, one port per call.
    ``max_calls``: sessions running ``on_call`` at once; calls beyond it run
    ``on_busy(channel)`` when given (the IVR's busy prompt and journey), else hear
    ``busy_audio(info)`` (u8 PCM; default a busy tone), and are hung up; beyond twice it
    get ``486``. ``on_call`` runs in the call's thread after answering; when it returns
    without hanging up (a transfer) the endpoint waits up to ``TRANSFER_GRACE_S`` for the
    PBX's BYE, then hangs up. Exceptions from ``on_call`` are logged, the call hung up.
    """

    def __init__(self, server: str, port: int, *, bind: str = "127.0.0.1",
                 sip_port: int = 5080, user: str = "ivr", password: str | None = None,
                 rtp_ports: tuple[int, int] = (10000, 10999), max_calls: int = 20,
                 on_call: Callable[[CallChannel], None],
                 busy_audio: Callable[[CallInfo], bytes] | None = None,
                 on_busy: Callable[[CallChannel], None] | None = None) -> None:
        if max_calls < 1:
            raise ValueError("max_calls must be at least 1")
        if rtp_ports[1] - rtp_ports[0] + 1 < 2 * max_calls:
            raise ValueError("the RTP port range must hold 2 × max_calls ports")
        self.server_addr = (socket.gethostbyname(server), port)
        self.direct = not password
        self.max_calls = max_calls
        self._on_call = on_call
        self._busy_audio = busy_audio or _busy_tone
        self._on_busy = on_busy
        self._sessions: dict[str, threading.Thread] = {}
        self._channels: dict[str, PyVoipChannel] = {}
        self._lock = threading.Lock()
        self._stopping = False
        self.phone = _Phone(self, server=self.server_addr[0], port=port, user=user,
                            password=password or "", bind=bind, sip_port=sip_port,
                            rtp_ports=rtp_ports)
        self.answered = 0
        self.refused = 0
        #: INVITE datagram read → 200 OK sent, seconds, for the last 10 000 calls.
        self.answer_times_s: deque[float] = deque(maxlen=10_000)

    @property
    def local_port(self) -> int:
        return int(self.phone.sip.myPort)

    @property
    def active_calls(self) -> int:
        with self._lock:
            return len(self._sessions)

    def start(self) -> None:
        """Bind and (registered mode) register. ``OSError`` when the SIP port is taken."""
        self.phone.start()
        if not self.direct and self.phone.get_status() != VoIP.PhoneStatus.REGISTERED:
            _log.warning("IVR not registered with %s:%s yet; pyVoIP keeps trying",
                         *self.server_addr)

    def stop(self, timeout_s: float = 5.0) -> None:
        """Hang up every call, close the sockets, wait for the call threads."""
        self._stopping = True
        with self._lock:
            channels = list(self._channels.values())
            threads = list(self._sessions.values())
        for channel in channels:
            channel.hangup()
        self.phone.sip.stop()
        deadline = time.monotonic() + timeout_s
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    # the SIP receive thread
    def invite(self, request: SIP.SIPMessage) -> None:
        call_id = request.headers.get("Call-ID")
        if not isinstance(call_id, str) or not call_id \
                or not all(request.headers.get(h) for h in _NEEDED_HEADERS):
            _throttle.warn("sip-bad", "IVR INVITE without %s refused", "/".join(_NEEDED_HEADERS))
            self.reply(request, 400, "Bad Request")
            return
        existing = self.phone.calls.get(call_id)
        if existing is not None:
            self._reinvite(existing, request)
            return
        with self._lock:
            active = len(self._sessions)
            if self._stopping or active >= 2 * self.max_calls:
                self.refused += 1
                _throttle.warn("busy", "IVR at %d calls: INVITE refused (486)", active)
                self.reply(request, 486, "Busy Here")
                return
            problem = _sdp_problem(request)
            if problem:
                _throttle.warn("sdp", "IVR INVITE with unusable SDP refused: %s", problem)
                self.reply(request, 488, "Not Acceptable Here")
                return
            try:
                call = _Call(self.phone, request, random.randint(1, 2**31), self.phone.myIP)
            except VoIP.NoPortsAvailableError:
                self.reply(request, 503, "Service Unavailable")
                return
            if len(call.RTPClients) != 1:
                self.phone.release_ports(call)
                self.reply(request, 488, "Not Acceptable Here")
                return
            try:
                ringing = self.phone.sip.gen_ringing(request)
                self.phone.sip.out.sendto(ringing.encode(), self.server_addr)
            except (KeyError, OSError) as e:
                self.phone.release_ports(call)
                _log.debug("IVR could not ring %s: %s", call_id, e)
                return
            self.phone.calls[call_id] = call
            thread = threading.Thread(target=self._run, args=(call, active >= self.max_calls),
                                      name=f"ivr-call-{call_id[:16]}", daemon=True)
            self._sessions[call_id] = thread
        thread.start()

    def _reinvite(self, call: VoIP.VoIPCall, request: SIP.SIPMessage) -> None:
        """A retransmitted INVITE or re-INVITE: answer again with the same media."""
        if call.state != VoIP.CallState.ANSWERED or not isinstance(call, _Call):
            return
        media = call.media
        if _sdp_problem(request) is None and request.body["c"][0]["address"] == media.outIP:
            media.outPort = int(request.body["m"][0]["port"])
        answer = self.phone.sip.gen_answer(request, call.session_id,
                                           {media.inPort: media.assoc}, call.sendmode)
        self.phone.sip.out.sendto(answer.encode(), self.server_addr)

    # the call's thread
    def _run(self, call: _Call, busy: bool) -> None:
        call_id = call.call_id
        channel: PyVoipChannel | None = None
        try:
            info = call_info(call.request)
            channel = PyVoipChannel(call, info)
            with self._lock:
                self._channels[call_id] = channel
            try:
                call.answer()
            except OSError as e:  # the RTP port could not be bound
                _log.warning("IVR call %s not answered: %s", call_id, e)
                self.reply(call.request, 503, "Service Unavailable")
                return
            with self._lock:
                self.answered += 1
                self.answer_times_s.append(time.monotonic() - call.invite_at)
            if busy:
                _log.info("IVR call %s over the limit of %d: busy", call_id, self.max_calls)
                if self._on_busy is not None:
                    self._on_busy(channel)
                else:
                    channel.play(self._busy_audio(info), interruptible=False)
            else:
                self._on_call(channel)
                with call.cond:
                    call.cond.wait_for(lambda: call.bye_received or channel.hung_up,
                                       TRANSFER_GRACE_S)
        except Hangup:
            pass
        except Exception:
            _log.exception("IVR call %s failed", call_id)
        finally:
            if channel is not None:
                channel.hangup()
            for client in call.RTPClients:
                client.stop()
            for client in call.RTPClients:
                if isinstance(client, _Media):
                    client.join()
            self.phone.release_ports(call)
            with self._lock:
                self._sessions.pop(call_id, None)
                self._channels.pop(call_id, None)
            self.phone.calls.pop(call_id, None)
            sip = self.phone.sip
            sip.tagLibrary.pop(call_id, None)
            if len(sip.tags) > 1000:  # pyVoIP keeps every tag it made, searched linearly
                del sip.tags[:-1000]

    # replies
    def reply(self, request: SIP.SIPMessage, code: int, reason: str) -> None:
        """A final response to ``request`` (sent to the server); never raises."""
        try:
            h = request.headers
            text = (f"SIP/2.0 {code} {reason}\r\n"
                    + self.phone.sip._gen_response_via_header(request)
                    + f"From: {h['From']['raw']};tag={h['From']['tag']}\r\n"
                    + f"To: {h['To']['raw']};tag={self.phone.sip.gen_tag()}\r\n"
                    + f"Call-ID: {h['Call-ID']}\r\n"
                    + f"CSeq: {h['CSeq']['check']} {h['CSeq']['method']}\r\n"
                    + "Content-Length: 0\r\n\r\n")
            self.phone.sip.out.sendto(text.encode(), self.server_addr)
        except Exception as e:
            _log.debug("IVR could not reply %d: %s", code, e)

    def reply_raw(self, raw: bytes, code: int, reason: str) -> None:
        """A final response to an unparsable request, from its raw Via/From/To/Call-ID/CSeq
        lines; nothing when it is not a request with all of them (or is an ACK)."""
        try:
            lines = raw.split(b"\r\n\r\n", 1)[0].decode("utf-8").split("\r\n")
        except UnicodeDecodeError:
            return
        first = lines[0].split(" ")
        if len(first) != 3 or first[2] != "SIP/2.0" or first[0] in ("ACK", "SIP/2.0"):
            return
        wanted: dict[str, list[str]] = {h: [] for h in ("via", "from", "to", "call-id", "cseq")}
        for line in lines[1:]:
            name, sep, _ = line.partition(":")
            if sep and name.strip().lower() in wanted:
                wanted[name.strip().lower()].append(line)
        if not all(wanted.values()):
            return
        text = f"SIP/2.0 {code} {reason}\r\n" + "".join(
            line + "\r\n" for lines_ in wanted.values() for line in lines_
        ) + "Content-Length: 0\r\n\r\n"
        try:
            self.phone.sip.out.sendto(text.encode(), self.server_addr)
        except OSError as e:
            _log.debug("IVR could not reply %d: %s", code, e)


def _busy_tone(info: CallInfo) -> bytes:
    """3 × (0.5 s of 425 Hz, 0.5 s silence): the default busy audio."""
    import math

    on = bytes(int(128 + 60 * math.sin(2 * math.pi * 425 * i / BYTES_PER_SECOND))
               for i in range(BYTES_PER_SECOND // 2))
    off = bytes([SILENCE_BYTE]) * (BYTES_PER_SECOND // 2)
    return (on + off) * 3


__all__ = ["IvrEndpoint", "PyVoipChannel", "call_info", "parse_port_range"]
