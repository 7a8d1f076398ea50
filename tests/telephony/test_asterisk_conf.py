"""asterisk_conf/ must load with no error of its own and agree with Hotline's defaults.

We cannot run Asterisk here, so the checks are the faults seen live: an active trunk with
placeholder hosts (DNS failures, a registration retried every 60 s), prompts referenced but
not installed, a supervisor phone the demo does not use, a context name the code does not
use, and gotos to contexts that do not exist.
"""

from __future__ import annotations

import re
from pathlib import Path

from web.demo_data import USERS as DEMO_USERS
from web.settings import Settings

CONF = Path(__file__).resolve().parents[2] / "asterisk_conf"
#: Stock sounds of asterisk-core-sounds (installed with every Asterisk).
STOCK_SOUNDS = {"beep", "vm-intro"}


def active_lines(name: str) -> list[str]:
    """Configuration lines without comments (``;`` to the end of the line)."""
    lines = (CONF / name).read_text().splitlines()
    return [x.split(";", 1)[0].rstrip() for x in lines if x.split(";", 1)[0].strip()]


def sections(name: str) -> set[str]:
    return {m.group(1) for x in active_lines(name) if (m := re.match(r"^\[([^\]]+)\]", x))}


def test_no_active_trunk_placeholder() -> None:
    for name in ("pjsip.conf", "extensions.conf", "queues.conf"):
        for line in active_lines(name):
            assert "example" not in line, f"{name}: {line}"
            if "CHANGE-ME" in line:  # only secrets the admin must set
                assert re.match(r"^(password|secret) = CHANGE-ME", line), f"{name}: {line}"
    assert not [x for x in active_lines("pjsip.conf") if x == "type = registration"]


def test_prompts_are_stock_sounds() -> None:
    played = []
    for line in active_lines("extensions.conf"):
        for app, arg in re.findall(r"\b(Playback|Background|Read)\(([^)]*)\)", line):
            played.append(arg.split(",")[1] if app == "Read" else arg.split(",")[0])
    assert played and set(played) <= STOCK_SOUNDS, played


def test_gotos_and_contexts_exist() -> None:
    ext = sections("extensions.conf")
    for line in active_lines("extensions.conf"):
        for ctx in re.findall(r"Goto\(([A-Za-z][\w-]*),", line):
            assert ctx in ext, line
    for line in active_lines("pjsip.conf"):
        if line.startswith("context = "):
            assert line.split(" = ")[1] in ext, line
    assert Settings().agent_context in ext  # the code's context is the sample's


def test_phones_match_the_demo_users() -> None:
    endpoints = {s.split("]")[0] for s in sections("pjsip.conf") if s.isdigit()}
    demo = {ext for *_, ext in DEMO_USERS if ext}
    assert demo <= endpoints, demo - endpoints
    sue = next(u for u in DEMO_USERS if u[0] == "sue")
    assert sue[-1] == "6010" and "6010" in endpoints
    members = {m.group(1) for x in active_lines("queues.conf")
               if (m := re.match(r"^member => PJSIP/(\d+)", x))}
    assert members <= endpoints


def test_manager_reads_what_the_bridge_needs() -> None:
    read = next(x for x in active_lines("manager.conf") if x.startswith("read = "))
    classes = set(read.split(" = ")[1].split(","))
    # system: FullyBooted and Shutdown (resync after a PBX restart), dtmf, dialplan VarSet.
    assert {"call", "agent", "dialplan", "dtmf", "system"} <= classes
