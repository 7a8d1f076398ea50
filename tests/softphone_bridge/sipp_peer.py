"""A real SIP peer for the IVR's tests and benchmark: sipp runs, RTP pcaps, an RTP sink.

sipp (Debian ``sip-tester``) plays the caller from the scenarios in ``sipp/``; its
``play_pcap_audio`` sends RTP from pcap files (its own ``dtmf_2833_*.pcap`` for keys, and
speech pcaps written here from espeak-ng audio, μ-law encoded by sox so that the IVR's own
G.711 tables are not what the test checks against). Playing pcaps uses a raw socket, so it
needs root or CAP_NET_RAW (:func:`can_play_pcap`).
"""

from __future__ import annotations

import shutil
import socket
import struct
import subprocess
import threading
from dataclasses import dataclass, field
from pathlib import Path

import pytest

SCENARIOS = Path(__file__).parent / "sipp"
DTMF_PCAPS = Path("/usr/share/sip-tester")


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def require_tools(*tools: str) -> None:
    for tool in tools:
        if shutil.which(tool) is None:
            package = "sip-tester" if tool == "sipp" else tool
            pytest.fail(f"{tool} is not installed (apt-get install {package})")


def can_play_pcap() -> bool:
    """sipp's pcap play sends through a raw socket."""
    try:
        socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_UDP).close()
    except PermissionError:
        return False
    return True


@dataclass
class SippRun:
    returncode: int
    stdout: str
    errors: str


def run_sipp(scenario: str, *, ivr_port: int, sipp_port: int, calls: int = 1,
             limit: int = 1, rate: float = 10.0, rtp_sink: int | None = None,
             caller: str = "13800138000", mode: str = "menu", cwd: Path | None = None,
             timeout_s: float = 30.0, extra: tuple[str, ...] = ()) -> SippRun:
    """Run ``scenario`` (a file in ``sipp/``) against the IVR on 127.0.0.1:``ivr_port``."""
    media_port = free_udp_port()
    workdir = cwd or Path("/tmp")
    errors = workdir / f"sipp-errors-{sipp_port}.log"
    cmd = ["sipp", "-sf", str(SCENARIOS / scenario), "-p", str(sipp_port),
           "-i", "127.0.0.1", "-mi", "127.0.0.1", "-mp", str(media_port),
           "-key", "caller", caller, "-key", "mode", mode,
           "-key", "rtp_sink", str(rtp_sink or media_port),
           "-m", str(calls), "-l", str(limit), "-r", str(rate),
           "-timeout", f"{int(timeout_s)}s", "-timeout_error", "-nostdin",
           "-trace_err", "-error_file", str(errors), *extra, f"127.0.0.1:{ivr_port}"]
    proc = subprocess.run(cmd, capture_output=True, timeout=timeout_s + 15, cwd=workdir)
    text = errors.read_text(errors="replace") if errors.exists() else ""
    errors.unlink(missing_ok=True)
    return SippRun(proc.returncode, proc.stdout.decode(errors="replace"), text)


# ------------------------------------------------------------------------------ audio
def espeak_wav(text: str, path: Path, voice: str = "en") -> Path:
    subprocess.run(["espeak-ng", "-v", voice, "-w", str(path), text], check=True,
                   capture_output=True, timeout=60)
    return path


def sox_raw(wav: Path, encoding: str, *effects: str) -> bytes:
    """``wav`` as 8 kHz mono headerless bytes: ``u8`` (unsigned 8-bit) or ``ulaw``."""
    args = {"u8": ["-e", "unsigned-integer", "-b", "8"], "ulaw": ["-e", "u-law"]}[encoding]
    out = subprocess.run(["sox", str(wav), "-r", "8000", "-c", "1", *args, "-t", "raw", "-",
                          *effects], check=True, capture_output=True, timeout=60)
    return out.stdout


def ulaw_to_u8(data: bytes) -> bytes:
    """μ-law → u8 PCM by sox (independent of the IVR's own tables)."""
    out = subprocess.run(["sox", "-t", "raw", "-r", "8000", "-c", "1", "-e", "u-law", "-",
                          "-e", "unsigned-integer", "-b", "8", "-t", "raw", "-"],
                         input=data, check=True, capture_output=True, timeout=60)
    return out.stdout


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def write_rtp_pcap(path: Path, payloads: list[bytes], *, payload_type: int = 0,
                   frame_s: float = 0.02) -> Path:
    """A pcap (Ethernet, IPv4, UDP) of one RTP packet per payload, ``frame_s`` apart."""
    src, dst = bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2])
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)]
    for i, payload in enumerate(payloads):
        rtp = struct.pack("!BBHII", 0x80, (0x80 if i == 0 else 0) | payload_type,
                          (1000 + i) & 0xFFFF, 160 * i, 0x1234) + payload
        udp_len = 8 + len(rtp)
        pseudo = src + dst + struct.pack("!BBH", 0, 17, udp_len)
        udp = struct.pack("!HHHH", 40000, 40002, udp_len, 0) + rtp
        csum = _checksum(pseudo + udp) or 0xFFFF
        udp = udp[:6] + struct.pack("!H", csum) + udp[8:]
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + udp_len, i & 0xFFFF, 0, 64, 17, 0,
                         src, dst)
        ip = ip[:10] + struct.pack("!H", _checksum(ip)) + ip[12:]
        frame = b"\x02" * 6 + b"\x04" * 6 + b"\x08\x00" + ip + udp
        t = 1_000_000 + i * frame_s
        out.append(struct.pack("<IIII", int(t), round((t % 1) * 1e6) % 1_000_000,
                               len(frame), len(frame)) + frame)
    path.write_bytes(b"".join(out))
    return path


def speech_pcap(folder: Path, text: str) -> tuple[Path, float]:
    """``folder/speech.pcap``: PCMU RTP of espeak-ng saying ``text``; and its duration (s)."""
    ulaw = sox_raw(espeak_wav(text, folder / "speech.wav"), "ulaw")
    frames = [ulaw[i:i + 160].ljust(160, b"\xff") for i in range(0, len(ulaw), 160)]
    return write_rtp_pcap(folder / "speech.pcap", frames), len(frames) * 0.02


# ------------------------------------------------------------------------------ RTP sink
@dataclass
class RtpSink:
    """A UDP socket on 127.0.0.1 collecting RTP packets (the port a caller's SDP names)."""

    sock: socket.socket = field(default_factory=lambda: socket.socket(socket.AF_INET,
                                                                      socket.SOCK_DGRAM))
    packets: list[bytes] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self._stop = False
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    @property
    def port(self) -> int:
        return int(self.sock.getsockname()[1])

    def _run(self) -> None:
        while not self._stop:
            try:
                self.packets.append(self.sock.recv(2048))
            except TimeoutError:
                continue
            except OSError:
                return

    def close(self) -> None:
        self._stop = True
        self._thread.join(2)
        self.sock.close()

    def payload(self, payload_type: int = 0) -> bytes:
        """The concatenated payloads of the packets of ``payload_type``, in arrival order."""
        return b"".join(p[12:] for p in self.packets if p[1] & 0x7F == payload_type)
