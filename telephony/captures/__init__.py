"""The real Asterisk 22 AMI captures (this folder, README.md says what each holds) and their loader.

They ship with the product: the demo PBX replays them, and the tests replay them through the
tracker and the bridge.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from telephony.ami import FrameParser

FIXTURES = Path(__file__).resolve().parent


def capture_bytes(name: str) -> bytes:
    return (FIXTURES / f"{name}.log").read_bytes()


def timed_messages(name: str) -> list[tuple[float, dict[str, Any]]]:
    """Every received message of a capture with the time (s since connect) of its TCP read.

    Parsed from the real read boundaries in ``<name>.timeline.jsonl`` so half frames are
    exercised exactly as Asterisk delivered them.
    """
    parser = FrameParser()
    out: list[tuple[float, dict[str, Any]]] = []
    for line in (FIXTURES / f"{name}.timeline.jsonl").read_text().splitlines():
        rec = json.loads(line)
        if rec["dir"] != "rx":
            continue
        for msg in parser.feed(rec["data"].encode()):
            out.append((rec["t"], msg))
    return out


def events(name: str) -> list[tuple[float, dict[str, Any]]]:
    """Only the unsolicited events (what reaches the tracker through the event queue)."""
    return [(t, m) for t, m in timed_messages(name)
            if "Event" in m and "ActionID" not in m]
