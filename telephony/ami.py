"""AMI wire format: framing, parsing and classification, with no I/O.

Asterisk speaks ``Key: Value\\r\\n`` lines grouped into messages ended by an empty line, after
a one-line banner. A peer (or a broken proxy) can also send garbage, half frames or absurdly
large messages; the :class:`FrameParser` here survives all of that with a hard size limit so
one bad message costs that message, never the process.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

#: Parsed message: keys as Asterisk wrote them; a repeated key gives a list of values.
AmiMessage = dict[str, Any]

EOL = b"\r\n"
END = b"\r\n\r\n"
BANNER_PREFIX = b"Asterisk Call Manager/"

#: Largest message accepted (a VarSet with a long value, a big Command output). Bigger ones
#: are skipped whole, with a counter, instead of growing the buffer without bound.
DEFAULT_MAX_MESSAGE = 4 * 1024 * 1024

_AGENT_RE = re.compile(r"^PJSIP/(\d+)(?:-[0-9a-fA-F]+)?$")


class FrameParser:
    """Incremental AMI framer: feed it bytes as TCP delivers them, get whole messages out.

    Why our own instead of panoramisk's: panoramisk keeps an unbounded text buffer and
    re-splits it on every read; a peer that never sends ``\\r\\n\\r\\n`` grows memory
    forever. Here a message over ``max_message`` bytes is discarded (``oversized`` counts
    them) and the stream resynchronises on the next blank line.
    """

    __slots__ = ("_buf", "_discarding", "banner", "garbage", "max_message", "oversized")

    def __init__(self, max_message: int = DEFAULT_MAX_MESSAGE) -> None:
        self._buf = bytearray()
        self._discarding = False
        self.max_message = max_message
        self.banner: str | None = None
        self.oversized = 0
        self.garbage = 0

    def feed(self, data: bytes) -> list[AmiMessage]:
        """Consume ``data``; return every complete message it finished, in order."""
        buf = self._buf
        # A message end not seen before ends in the new bytes (or straddles into them).
        start_scan = max(0, len(buf) - 3)
        buf += data
        out: list[AmiMessage] = []
        last = buf.rfind(END, start_scan)
        if last >= 0:
            # Every message this read completed, cut in one C-level split (a Python loop of
            # find and slice per message cost as much as parsing them).
            # Left to right like a find loop: where ends overlap (blank lines) the split
            # may stop short of ``last``; that tail waits in the buffer.
            raws = bytes(buf[:last + 4]).split(END)
            tail = raws.pop()
            del buf[:last + 4 - len(tail)]
            if self._discarding:
                # The tail of a message we refused: drop it and start clean after it.
                self._discarding = False
                del raws[0]
            limit = self.max_message
            parse = self._parse
            for raw in raws:
                if len(raw) > limit:
                    self.oversized += 1
                    continue
                msg = parse(raw)
                if msg is not None:
                    out.append(msg)
        if len(buf) > self.max_message:
            # A message still growing past the limit: forget what we have, skip to its end.
            self.oversized += 1
            self._discarding = True
            keep = bytes(buf[-3:])
            buf.clear()
            buf += keep
        return out

    def _parse(self, raw: bytes) -> AmiMessage | None:
        text = raw.decode("utf-8", "replace")
        if self.banner is None or text.startswith("Asterisk Call Manager/"):
            # The banner is one line with no blank line after it: it prefixes the first
            # message of the stream (possibly in the same TCP read).
            if text.startswith("Asterisk Call Manager/"):
                line, _, text = text.partition("\r\n")
                self.banner = line[len("Asterisk Call Manager/"):].strip()
        msg = parse_message(text)
        if msg is None:
            self.garbage += 1
        return msg


def parse_message(text: str) -> AmiMessage | None:
    """Parse one message body (no trailing blank line) into a dict, or None if it is junk.

    Repeated keys (``Output:`` of Command, ``ChanVariable``) become lists. Lines without
    ``": "`` are ignored except ``Key:`` with an empty value. Only a message with an
    ``Event`` or ``Response`` header is a message at all.
    """
    msg: AmiMessage = {}
    for line in text.split("\r\n"):
        key, sep, value = line.partition(": ")
        if not sep:
            if line.endswith(":") and " " not in line:
                key, value = line[:-1], ""
            else:
                continue
        if key in msg:
            prev = msg[key]
            if isinstance(prev, list):
                prev.append(value)
            else:
                msg[key] = [prev, value]
        else:
            msg[key] = value
    if "Event" in msg or "Response" in msg:
        return msg
    return None


def iter_messages(stream: bytes) -> Iterator[AmiMessage]:
    """Every message of a complete captured byte stream (banner skipped)."""
    parser = FrameParser()
    yield from parser.feed(stream)


def classify(msg: Mapping[str, Any]) -> str:
    """``"event"`` or ``"response"``: by ``Event`` first.

    ``OriginateResponse`` is an event that also carries ``Response:``; list items carry the
    ActionID of the list action. Classifying by ``Response`` first would misroute both.
    """
    if "Event" in msg:
        return "event"
    return "response"


def first(value: Any) -> str:
    """A header's value as one string (the first of repeated values)."""
    if isinstance(value, list):
        return str(value[0]) if value else ""
    return "" if value is None else str(value)


def agent_extension(channel: str | None) -> str | None:
    """The agent extension of ``PJSIP/6001-0000001a`` or ``PJSIP/6001`` (else None)."""
    if not channel:
        return None
    m = _AGENT_RE.match(channel)
    return m.group(1) if m else None


def endpoint_of(channel: str) -> str:
    """``PJSIP/customer-00000003`` -> ``PJSIP/customer`` (the device, not the channel)."""
    tech, _, rest = channel.partition("/")
    name, dash, suffix = rest.rpartition("-")
    if dash and suffix and all(c in "0123456789abcdefABCDEF" for c in suffix):
        return f"{tech}/{name}"
    return channel


def clean_number(value: str | None) -> str:
    """Caller ID number with Asterisk's ``<unknown>`` placeholder mapped to empty."""
    if not value or value == "<unknown>":
        return ""
    return value


def uniqueid_sort_key(uid: str) -> tuple[int, int]:
    """Order Uniqueids correctly: ``1795407643.10`` is after ``.9`` (not a float)."""
    a, _, b = uid.partition(".")
    try:
        return int(a), int(b or 0)
    except ValueError:
        return 0, 0


def encode_action(fields: Mapping[str, Any]) -> bytes:
    """Serialise an action (list values become repeated lines).

    Raises ValueError for a line break in a name or value: it would end the header, and a
    blank line the action, letting text from a request send actions of its own (callers
    validate their inputs; this is the last line of defence).
    """
    lines: list[str] = []
    for k, v in fields.items():
        if isinstance(v, (list, tuple)):
            lines.extend(f"{k}: {i}" for i in v)
        else:
            lines.append(f"{k}: {v}")
    if any("\r" in line or "\n" in line for line in lines):
        raise ValueError("an AMI header may not contain a line break")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()
