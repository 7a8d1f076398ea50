"""The live statistics engine (telephony/stats), pure: real captures and generated calls in,
figures checked against values computed by hand (the arithmetic is written next to them)."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from telephony.captures import events
from telephony.ports import CallRecord
from telephony.stats import StatsConfig, StatsEngine
from telephony.stats.windows import Rolling, Tally, midnight_after, midnight_before

T0 = 1_795_407_600.0  # the captures' times are seconds since connect: placed here
SHANGHAI = ZoneInfo("Asia/Shanghai")
DATA = Path(__file__).parent / "data"


def replay(eng: StatsEngine, name: str, base: float = T0) -> float:
    t = base
    for t_rel, ev in events(name):
        t = base + t_rel
        eng.feed(ev, t)
    return t


def today(eng: StatsEngine, now: float, queue: str = "support") -> dict[str, Any]:
    return dict(eng.queue_live(queue, now)["windows"]["today"])


def agent(eng: StatsEngine, ext: str, now: float) -> dict[str, Any]:
    return dict(eng.agent_message(ext, now))


# -- the real captures --------------------------------------------------------------------
def test_capture_a_answered_queue_call() -> None:
    eng = StatsEngine("pbx1")
    end = replay(eng, "a_inbound_queue_answered")
    w = today(eng, end)
    # One call, AgentConnect HoldTime 2 (<= T 20): answered within SL; AgentComplete
    # TalkTime 8, no wrap-up (Wrapuptime 0): AHT 8.
    assert w == {"offered": 1, "answered": 1, "abandoned": 0, "short_abandoned": 0,
                 "answered_within_sl": 1, "service_level": 1.0,  # 1 / (1 - 0)
                 "abandon_rate": 0.0, "asa_s": 2.0, "aht_s": 8.0}
    assert eng.queue_live("support", end)["windows"]["15m"] == w
    a1, a2 = agent(eng, "6001", end), agent(eng, "6002", end)
    # Ring-all: both rang; 6001 answered, 6002's ring was cancelled (rang, not answered).
    assert (a1["today"]["offered"], a1["today"]["answered"], a1["today"]["missed"]) == (1, 1, 0)
    assert (a2["today"]["offered"], a2["today"]["answered"], a2["today"]["missed"]) == (1, 0, 1)
    # 6001 talked from its leg's Newstate Up (t=7.402) to the member status saying the
    # phone is free again (t=15.954): 15.954 - 7.402 = 8.552 s.
    assert a1["today"]["talk_s"] == pytest.approx(8.552, abs=0.002)
    assert a1["state"] == "available" and a1["call_id"] is None
    assert a1["name"] == "Agent 6001" and a1["queues"] == ["support"]


def test_capture_a_agent_states_while_it_plays() -> None:
    eng = StatsEngine("pbx1")
    seen: list[tuple[str, str]] = []
    for t_rel, ev in events("a_inbound_queue_answered"):
        eng.feed(ev, T0 + t_rel)
        for ext in ("6001", "6002"):
            if ext in eng.agents and (not seen or seen[-1] != (ext, eng.agents[ext].state)):
                st = eng.agents[ext].state
                if (ext, st) not in seen:
                    seen.append((ext, st))
    assert ("6001", "ringing") in seen and ("6002", "ringing") in seen
    assert seen.index(("6001", "ringing")) < seen.index(("6001", "on_call"))
    assert ("6002", "on_call") not in seen


def test_capture_b_abandon() -> None:
    eng = StatsEngine("pbx1")
    end = replay(eng, "b_queue_abandon")
    # QueueCallerAbandon HoldTime 7 > 5: a real abandon. SL 0 / (1 - 0) = 0; abandon
    # rate (1 - 0) / (1 - 0) = 1; no answered call: ASA and AHT null.
    assert today(eng, end) == {"offered": 1, "answered": 0, "abandoned": 1,
                               "short_abandoned": 0, "answered_within_sl": 0,
                               "service_level": 0.0, "abandon_rate": 1.0, "asa_s": None,
                               "aht_s": None}
    for ext in ("6001", "6002"):  # both rang until the caller gave up
        t = agent(eng, ext, end)["today"]
        assert (t["offered"], t["answered"], t["missed"]) == (1, 0, 1)
    # With a 10 s short-abandon threshold the 7 s abandon is short: no denominator left.
    eng = StatsEngine("pbx1", StatsConfig(short_abandon_s=10))
    end = replay(eng, "b_queue_abandon")
    w = today(eng, end)
    assert (w["short_abandoned"], w["service_level"], w["abandon_rate"]) == (1, None, None)


def test_capture_e_blind_transfer() -> None:
    eng = StatsEngine("pbx1")
    end = replay(eng, "e_queue_blind_transfer")
    w = today(eng, end)
    # HoldTime 2; AgentComplete (Reason transfer) TalkTime 4: the queue's handling ends
    # at the transfer, AHT 4.
    assert (w["offered"], w["answered"], w["asa_s"], w["aht_s"]) == (1, 1, 2.0, 4.0)
    t2 = agent(eng, "6002", end)["today"]
    # 6002 lost the ring-all, then answered the transferred call: the call is offered,
    # answered, and not missed (missed counts calls, like the call log's rung - agents).
    assert (t2["offered"], t2["answered"], t2["missed"]) == (1, 1, 0)
    # 6002 talked from its new leg's Up (13.433) to its hang-up (21.947): 8.514 s.
    assert t2["talk_s"] == pytest.approx(21.947 - 13.433, abs=0.002)


def test_three_captures_in_a_row() -> None:
    eng = StatsEngine("pbx1")
    replay(eng, "a_inbound_queue_answered", T0)
    replay(eng, "b_queue_abandon", T0 + 60)
    end = replay(eng, "e_queue_blind_transfer", T0 + 120)
    w = today(eng, end)
    # a: answered (wait 2, talk 8); b: abandoned after 7 s; e: answered (wait 2, talk 4).
    assert (w["offered"], w["answered"], w["abandoned"], w["short_abandoned"]) == (3, 2, 1, 0)
    assert w["service_level"] == round(2 / 3, 4)  # 2 within 20 s / (3 - 0)
    assert w["abandon_rate"] == round(1 / 3, 4)
    assert w["asa_s"] == (2 + 2) / 2
    assert w["aht_s"] == (8 + 4) / 2


def _live_session() -> list[tuple[float, dict[str, str]]]:
    """f_live_session.log.gz (see /work/shared/fixtures/ami/f_live_session.md): ``---
    <unix time>`` before each read, LF line ends; unsolicited events only."""
    out: list[tuple[float, dict[str, str]]] = []
    t, cur = 0.0, {}
    with gzip.open(DATA / "f_live_session.log.gz", "rt") as f:
        for raw in f:
            line = raw.rstrip("\n")
            if line.startswith("--- "):
                t = float(line[4:])
            elif not line or line.startswith("### "):
                if "Event" in cur and "ActionID" not in cur:
                    out.append((t, cur))
                cur = {}
            elif ":" in line:
                k, _, v = line.partition(":")
                cur[k] = v[1:] if v.startswith(" ") else v
    return out


def test_the_live_session_across_asterisk_restarts() -> None:
    evs = _live_session()
    eng = StatsEngine("pbx1")  # Asia/Shanghai: the session runs 23:55 to 00:16 local
    for t, ev in evs:
        eng.feed(ev, t)
    end = evs[-1][0]
    w = today(eng, end)
    # By hand from the events (f_live_session.md): 8 AgentConnect, all HoldTime 2, and 2
    # QueueCallerAbandon, HoldTime 4 (short: <= 5) and 25. AgentComplete TalkTime 7, 14, 5,
    # 3, 9, 23 (two answered calls were cut by Asterisk restarts: no AgentComplete).
    assert (w["offered"], w["answered"], w["abandoned"], w["short_abandoned"]) == (10, 8, 2, 1)
    assert w["answered_within_sl"] == 8
    assert w["service_level"] == round(8 / (10 - 1), 4)
    assert w["abandon_rate"] == round((2 - 1) / (10 - 1), 4)
    assert w["asa_s"] == 2.0
    assert w["aht_s"] == round((7 + 14 + 5 + 3 + 9 + 23) / 6, 3)
    # 15 minutes after 16:06:20 UTC the first answer (AgentConnect 16:06:17.606) has
    # rolled off: 9 offered, 7 answered, SL 7 / (9 - 1).
    later = datetime(2026, 11, 30, 16, 21, 20, tzinfo=UTC).timestamp()
    w15 = eng.queue_live("support", later)["windows"]["15m"]
    assert (w15["offered"], w15["answered"], w15["service_level"]) == (9, 7, round(7 / 8, 4))
    a1 = agent(eng, "6001", end)["today"]
    # 6001 answered all 8; both abandoned callers rang it too: missed 2.
    assert (a1["answered"], a1["missed"]) == (8, 2)
    # The supervisor's spy phone (6010) has channels but is no agent: not listed.
    assert "6010" not in {a["extension"] for a in eng.agent_messages(end)}


# -- generated calls ----------------------------------------------------------------------
def queue_call(eng: StatsEngine, i: int, t: float, *, wait: float, talk: float | None,
               agent_ext: str = "6001", queue: str = "support") -> float:
    """One caller: join, ring ``agent_ext``, answered after ``wait`` (talk ``talk``) or
    abandoned (``talk`` None). Returns the time of the last event."""
    uid, leg = f"{int(t)}.{2 * i}", f"{int(t)}.{2 * i + 1}"
    caller = {"Channel": f"PJSIP/trunk-{i:08x}", "Uniqueid": uid, "Linkedid": uid,
              "Queue": queue}
    dest = {"DestChannel": f"PJSIP/{agent_ext}-{i:08x}", "DestUniqueid": leg,
            "DestLinkedid": uid, "Interface": f"PJSIP/{agent_ext}"}
    eng.feed({"Event": "Newchannel", **caller, "ChannelStateDesc": "Ring"}, t)
    eng.feed({"Event": "QueueCallerJoin", **caller, "Position": "1"}, t)
    eng.feed({"Event": "Newchannel", "Channel": dest["DestChannel"], "Uniqueid": leg,
              "Linkedid": uid, "ChannelStateDesc": "Down"}, t)
    eng.feed({"Event": "AgentCalled", **caller, **dest}, t)
    if talk is None:
        t += wait
        eng.feed({"Event": "QueueCallerAbandon", **caller, "HoldTime": str(int(wait))}, t)
        eng.feed({"Event": "Hangup", "Channel": dest["DestChannel"], "Uniqueid": leg,
                  "Linkedid": uid, "Cause": "0"}, t)
        eng.feed({"Event": "QueueCallerLeave", **caller}, t)
        eng.feed({"Event": "Hangup", **caller, "Cause": "16"}, t)
        return t
    t += wait
    eng.feed({"Event": "QueueCallerLeave", **caller}, t)
    eng.feed({"Event": "AgentConnect", **caller, **dest, "HoldTime": str(int(wait))}, t)
    eng.feed({"Event": "BridgeEnter", "Channel": dest["DestChannel"], "Uniqueid": leg,
              "Linkedid": uid, "BridgeUniqueid": f"b{i}"}, t)
    t += talk
    eng.feed({"Event": "AgentComplete", **caller, **dest, "HoldTime": str(int(wait)),
              "TalkTime": str(int(talk)), "Reason": "caller"}, t)
    eng.feed({"Event": "Hangup", "Channel": dest["DestChannel"], "Uniqueid": leg,
              "Linkedid": uid, "Cause": "16"}, t)
    eng.feed({"Event": "Hangup", **caller, "Cause": "16"}, t)
    return t


def member(ext: str, *, queue: str = "support", paused: bool = False, reason: str = "",
           status: str = "1", wrapup: int = 0) -> dict[str, str]:
    return {"Event": "QueueMemberStatus", "Queue": queue, "Interface": f"PJSIP/{ext}",
            "MemberName": f"Agent {ext}", "StateInterface": f"PJSIP/{ext}", "Status": status,
            "Paused": "1" if paused else "0", "PausedReason": reason, "InCall": "0",
            "Wrapuptime": str(wrapup)}


def test_a_burst_of_fifty_calls() -> None:
    eng = StatsEngine("pbx1")
    base = datetime(2026, 12, 1, 10, 0, tzinfo=SHANGHAI).timestamp()
    end = base
    for i in range(50):
        # Every 5th call (i = 4, 9, ..., 49) abandons after 3 s (i < 25) or 8 s; the
        # others are answered after i seconds and talk 60 + 30 * (i % 3) seconds.
        if i % 5 == 4:
            end = queue_call(eng, i, base + 10 * i, wait=3 if i < 25 else 8, talk=None)
        else:
            end = queue_call(eng, i, base + 10 * i, wait=i, talk=60 + 30 * (i % 3))
    w = today(eng, end)
    answered = [i for i in range(50) if i % 5 != 4]  # 40 calls
    assert len(answered) == 40
    within = [i for i in answered if i <= 20]  # 0..20 less 4, 9, 14, 19: 17
    assert len(within) == 17
    # Abandons: 10 in all, 5 of them (i = 4, 9, 14, 19, 24) short (3 s <= 5 s).
    assert (w["offered"], w["answered"], w["abandoned"], w["short_abandoned"]) == (50, 40, 10, 5)
    assert w["answered_within_sl"] == 17
    assert w["service_level"] == round(17 / (50 - 5), 4) == 0.3778
    assert w["abandon_rate"] == round((10 - 5) / (50 - 5), 4) == 0.1111
    # ASA: (0+1+...+49 - (4+9+...+49)) / 40 = (1225 - 265) / 40 = 24.
    assert w["asa_s"] == (1225 - 265) / 40 == 24.0
    talk = sum(60 + 30 * (i % 3) for i in answered)
    assert w["aht_s"] == round(talk / 40, 3)
    t = agent(eng, "6001", end)["today"]
    assert (t["offered"], t["answered"], t["missed"]) == (50, 40, 10)
    assert t["talk_s"] == pytest.approx(talk)  # bridged from answer to hang-up


def test_window_roll_off_is_exact_to_the_second() -> None:
    r = Rolling(900)
    r.record(1000.3, Tally(offered=1, answered=1, wait_s=4.0))
    r.record(1500.0, Tally(offered=1, abandoned=1))
    assert r.roll(1899.9) is False and r.total.offered == 2  # 1899 - 1000 = 899 < 900
    assert r.roll(1900.0) is True and r.total.offered == 1  # 1900 - 1000 = 900: gone
    assert (r.total.answered, r.total.wait_s) == (0, 0.0)
    r.roll(2400.0)
    assert r.total == Tally() and not r.buckets


def test_windows_of_a_queue_roll_off_and_the_day_stays() -> None:
    eng = StatsEngine("pbx1")
    base = datetime(2026, 12, 1, 10, 0, tzinfo=SHANGHAI).timestamp()
    queue_call(eng, 0, base, wait=5, talk=100)  # answered at base + 5, completed + 105
    queue_call(eng, 1, base + 1200, wait=30, talk=None)  # abandoned at base + 1230
    wins = eng.queue_live("support", base + 1230)["windows"]
    # At +1230 the answer (+5) is 1225 s old: out of 15 min, inside 60 min.
    assert (wins["15m"]["offered"], wins["15m"]["answered"]) == (1, 0)
    assert wins["15m"]["aht_s"] is None  # the completion (+105) is 1125 s old
    assert (wins["60m"]["offered"], wins["60m"]["answered"], wins["60m"]["aht_s"]) == \
        (2, 1, 100.0)
    wins = eng.queue_live("support", base + 1230 + 3600)["windows"]
    assert wins["60m"]["offered"] == 0 and wins["15m"]["service_level"] is None
    assert wins["today"]["offered"] == 2  # the day keeps everything since midnight
    eng.tick(base + 1230 + 3600)
    assert "support" in eng.take_changes()[0]


def test_midnight_resets_the_day_in_asia_shanghai() -> None:
    eng = StatsEngine("pbx1", StatsConfig(timezone="Asia/Shanghai"))
    late = datetime(2026, 12, 1, 23, 50, tzinfo=SHANGHAI).timestamp()
    eng.feed(member("6001"), late)  # available from 23:50 local
    queue_call(eng, 0, late + 300, wait=4, talk=200)  # 23:55:00, answered 23:55:04
    midnight = datetime(2026, 12, 2, 0, 0, tzinfo=SHANGHAI).timestamp()
    assert midnight - late == 600 and midnight_after(late, SHANGHAI) == midnight
    assert midnight_before(midnight + 1, SHANGHAI) == midnight
    assert midnight == datetime(2026, 12, 1, 16, 0, tzinfo=UTC).timestamp()  # UTC+8
    assert today(eng, midnight - 1)["offered"] == 1
    after = midnight + 300  # 00:05 local
    eng.tick(after)
    assert today(eng, after)["offered"] == 0  # a new day
    # The rolling window does not care about midnight: the 23:55 call is 10 min old.
    assert eng.queue_live("support", after)["windows"]["15m"]["offered"] == 1
    t = agent(eng, "6001", after)["today"]
    assert (t["offered"], t["answered"], t["talk_s"]) == (0, 0, 0.0)
    # Available again since the call ended (23:55:04 + 200 s = 23:58:24): today counts
    # only from midnight: 300 s of idle time, not 300 + 96.
    assert t["idle_s"] == pytest.approx(300.0)


def test_pause_reasons_wrapup_and_hold() -> None:
    eng = StatsEngine("pbx1", StatsConfig(wrapup_reasons=frozenset({"acw"})))
    t0 = datetime(2026, 12, 1, 9, 0, tzinfo=SHANGHAI).timestamp()
    eng.feed(member("6001", paused=True, reason="lunch"), t0)
    a = agent(eng, "6001", t0 + 60)
    assert (a["state"], a["reason"]) == ("paused", "lunch")
    assert a["state_since"] == datetime.fromtimestamp(t0, UTC).isoformat()
    eng.feed(member("6001"), t0 + 600)
    assert agent(eng, "6001", t0 + 600)["state"] == "available"
    # A call; on hold 20 s in the middle; the agent then pauses "ACW" for 30 s.
    end = queue_call(eng, 0, t0 + 700, wait=2, talk=0)
    eng.feed({"Event": "Hold", "Channel": "PJSIP/6001-00000000", "Uniqueid": "x"}, end)
    uid, leg = f"{int(t0 + 800)}.0", f"{int(t0 + 800)}.1"
    caller = {"Channel": "PJSIP/trunk-1", "Uniqueid": uid, "Linkedid": uid,
              "Queue": "support"}
    dest = {"DestChannel": "PJSIP/6001-1", "DestUniqueid": leg, "DestLinkedid": uid,
            "Interface": "PJSIP/6001"}
    t = t0 + 800
    eng.feed({"Event": "QueueCallerJoin", **caller}, t)
    eng.feed({"Event": "AgentCalled", **caller, **dest}, t)
    eng.feed({"Event": "AgentConnect", **caller, **dest, "HoldTime": "3"}, t + 3)
    eng.feed({"Event": "BridgeEnter", "Channel": "PJSIP/6001-1", "Uniqueid": leg,
              "Linkedid": uid}, t + 3)
    eng.feed({"Event": "Hold", "Channel": "PJSIP/6001-1", "Uniqueid": leg}, t + 13)
    a = agent(eng, "6001", t + 20)
    assert (a["state"], a["call_id"]) == ("on_hold", f"pbx1:{uid}")
    eng.feed({"Event": "Unhold", "Channel": "PJSIP/6001-1", "Uniqueid": leg}, t + 33)
    assert agent(eng, "6001", t + 33)["state"] == "on_call"
    eng.feed({"Event": "AgentComplete", **caller, **dest, "TalkTime": "50"}, t + 53)
    eng.feed({"Event": "Hangup", "Channel": "PJSIP/6001-1", "Uniqueid": leg,
              "Linkedid": uid}, t + 53)
    eng.feed({"Event": "Hangup", **caller}, t + 53)
    eng.feed(member("6001", paused=True, reason="ACW"), t + 55)
    a = agent(eng, "6001", t + 60)
    assert (a["state"], a["reason"]) == ("wrapup", "ACW")
    # Talk: 3..13 and 33..53 = 30 s (the first call talked 0 s); hold 13..33 = 20 s.
    assert a["today"]["talk_s"] == pytest.approx(30.0)
    assert a["today"]["hold_s"] == pytest.approx(20.0)
    eng.feed(member("6001"), t + 83)  # wrap-up ends 30 s after the call's end
    w = today(eng, t + 83)
    # Handle times: call 0: 0 s; call 1: TalkTime 50 + wrap-up (t+83 - t+53 = 30) = 80.
    assert w["aht_s"] == (0 + 80) / 2
    assert agent(eng, "6001", t + 83)["state"] == "available"


def test_a_pause_is_dated_by_asterisks_last_pause() -> None:
    # After a reconnect, QueueStatus says the pause began 12 min before we saw it: the
    # agent has been paused since then, not since the snapshot (LastPause, Unix seconds).
    eng = StatsEngine("pbx1")
    t0 = datetime(2026, 12, 1, 9, 0, tzinfo=SHANGHAI).timestamp()
    eng.feed({**member("6001", paused=True, reason="lunch"), "LastPause": str(int(t0) - 720)},
             t0)
    assert agent(eng, "6001", t0)["state_since"] == \
        datetime.fromtimestamp(t0 - 720, UTC).isoformat()
    eng.feed({**member("6001", paused=True, reason="lunch"), "LastPause": "0"}, t0 + 5)
    assert agent(eng, "6001", t0 + 5)["state_since"] == \
        datetime.fromtimestamp(t0 - 720, UTC).isoformat()  # 0 = unknown: the date stays
    eng.feed(member("6001"), t0 + 60)
    assert agent(eng, "6001", t0 + 60)["state_since"] == \
        datetime.fromtimestamp(t0 + 60, UTC).isoformat()


def test_asterisk_wrapuptime_is_wrapup_state_and_handle_time() -> None:
    eng = StatsEngine("pbx1")
    t0 = datetime(2026, 12, 1, 9, 0, tzinfo=SHANGHAI).timestamp()
    eng.feed(member("6001", wrapup=15), t0)
    end = queue_call(eng, 0, t0 + 10, wait=1, talk=40)
    eng.feed(member("6001", wrapup=15), end)
    assert agent(eng, "6001", end + 1)["state"] == "wrapup"
    assert today(eng, end)["aht_s"] == 40 + 15
    eng.tick(end + 14.9)
    assert agent(eng, "6001", end + 14.9)["state"] == "wrapup"
    eng.tick(end + 15)
    assert agent(eng, "6001", end + 15)["state"] == "available"


def test_ring_no_answer_then_logged_out() -> None:
    eng = StatsEngine("pbx1")
    t = datetime(2026, 12, 1, 9, 0, tzinfo=SHANGHAI).timestamp()
    eng.feed(member("6002"), t)
    caller = {"Channel": "PJSIP/trunk-2", "Uniqueid": "9.1", "Linkedid": "9.1",
              "Queue": "support"}
    dest = {"DestChannel": "PJSIP/6002-2", "DestUniqueid": "9.2", "DestLinkedid": "9.1",
            "Interface": "PJSIP/6002"}
    eng.feed({"Event": "QueueCallerJoin", **caller}, t)
    eng.feed({"Event": "AgentCalled", **caller, **dest}, t)
    assert agent(eng, "6002", t)["state"] == "ringing"
    eng.feed({"Event": "AgentRingNoAnswer", **caller, **dest, "RingTime": "15"}, t + 15)
    assert agent(eng, "6002", t + 15)["today"]["missed"] == 1
    eng.feed({"Event": "Hangup", "Channel": "PJSIP/6002-2", "Uniqueid": "9.2",
              "Linkedid": "9.1"}, t + 15)
    eng.feed({"Event": "QueueMemberRemoved", "Queue": "support", "Interface": "PJSIP/6002"},
             t + 20)
    a = agent(eng, "6002", t + 20)
    assert (a["state"], a["queues"], a["today"]["missed"]) == ("logged_out", [], 1)
    # The caller still waits: 20 s, longest wait in the trend sample of the minute.
    eng.tick(t + 20)
    [point] = eng.trend(60, t + 20)["support"]
    assert (point["waiting"], point["longest_wait_s"]) == (1, 20.0)
    # A timeout exit: QueueCallerLeave without an answer, then nothing for 5 s.
    eng.feed({"Event": "QueueCallerLeave", **caller}, t + 30)
    eng.tick(t + 35)
    w = today(eng, t + 35)
    assert (w["offered"], w["answered"], w["abandoned"]) == (1, 0, 0)
    assert w["service_level"] == 0.0


# -- after a reconnect, after a restart ----------------------------------------------------
def test_resync_snapshots() -> None:
    eng = StatsEngine("pbx1")
    now = datetime(2026, 12, 1, 9, 0, tzinfo=SHANGHAI).timestamp()
    eng.feed(member("6003"), now - 100)  # a member that the PBX no longer lists
    snap = [
        {"Event": "QueueParams", "Queue": "sales", "ServiceLevel": "30", "Completed": "4"},
        {"Event": "QueueMember", "Queue": "sales", "Interface": "PJSIP/6001",
         "Name": "alice", "Status": "1", "Paused": "1", "PausedReason": "lunch",
         "LastPause": "0", "InCall": "0"},
        {"Event": "QueueEntry", "Queue": "sales", "Uniqueid": "77.1", "Wait": "12"},
        {"Event": "QueueParams", "Queue": "support", "ServiceLevel": "0"},
    ]
    eng.resync_queues(snap, now)
    live = eng.queue_live("sales", now)
    assert live["sl_threshold_s"] == 30.0  # the queue's own ServiceLevel
    assert eng.queue_live("support", now)["sl_threshold_s"] == 20.0  # 0: the setting
    assert eng.queues["sales"].waiting == {"77.1": now - 12}
    a = agent(eng, "6001", now)
    assert (a["state"], a["reason"], a["name"], a["queues"]) == ("paused", "lunch", "alice",
                                                                 ["sales"])
    assert eng.agents["6003"].members == {}  # support listed, 6003 not in it
    eng.tick(now)
    assert eng.trend(1, now)["sales"][0]["longest_wait_s"] == 12.0
    # The caller went away while the link was down: no longer waiting, and not counted
    # (the tracker settles it into the call log).
    eng.resync_queues(snap[:2], now + 60)
    assert eng.queues["sales"].waiting == {}
    assert eng.queue_live("sales", now + 60)["windows"]["today"]["offered"] == 0
    # Channels: 6001's phone bridged in a call we never saw; then gone.
    chan = {"Event": "CoreShowChannel", "Channel": "PJSIP/6001-0000a", "Uniqueid": "80.2",
            "Linkedid": "80.1", "ChannelStateDesc": "Up", "BridgeId": "br"}
    trunk = {"Event": "CoreShowChannel", "Channel": "PJSIP/trunk-0000b", "Uniqueid": "80.1",
             "Linkedid": "80.1", "ChannelStateDesc": "Up", "BridgeId": "br"}
    eng.resync_channels([trunk, chan], now + 61)
    a = agent(eng, "6001", now + 61)
    assert (a["state"], a["call_id"]) == ("on_call", "pbx1:80.1")
    eng.resync_channels([], now + 62)
    assert agent(eng, "6001", now + 62)["state"] == "paused"


def record(i: int, *, queue: str | None = "support", answered_after: float | None,
           talk: float | None, start: datetime, state: str = "ended",
           rung: tuple[str, ...] = ("6001", "6002"), agents: tuple[str, ...] = ("6001",),
           ended: bool = True) -> CallRecord:
    t = start.timestamp()
    answered = None if answered_after is None else t + answered_after
    end = None if not ended else (answered or t) + (talk or 10)
    return CallRecord(
        call_id=f"pbx1:{int(t)}.{i}", pbx="pbx1", linkedid=f"{int(t)}.{i}",
        direction="inbound", caller_number="+8613800138000", caller_name="", queue=queue,
        agent_extension=agents[-1] if agents else None, agents=agents, state=state,
        started_at=start, answered_at=None if answered is None else
        datetime.fromtimestamp(answered, UTC),
        ended_at=None if end is None else datetime.fromtimestamp(end, UTC),
        wait_s=answered_after if answered_after is not None else 6.0, talk_s=talk,
        hangup_cause=None, recording_path=None, dtmf="", order_number=None,
        transferred_to=None, asr_uuid=None, rung=rung)


def test_restart_rebuilds_the_day_from_the_call_log() -> None:
    now = datetime(2026, 12, 1, 10, 30, tzinfo=SHANGHAI).timestamp()
    sh = lambda h, m: datetime(2026, 12, 1, h, m, tzinfo=SHANGHAI)  # noqa: E731
    rows = [
        record(1, answered_after=10, talk=100, start=sh(9, 0)),  # within SL, AHT 100
        record(2, answered_after=30, talk=200, start=sh(9, 10)),  # out of SL
        record(3, answered_after=None, talk=None, start=sh(9, 20), state="abandoned",
               agents=()),  # wait 6 > 5: a real abandon
        record(4, answered_after=None, talk=None, start=datetime(2026, 11, 30, 23, 0,
                                                                 tzinfo=SHANGHAI),
               state="abandoned", agents=()),  # yesterday: not today's
        record(5, queue=None, answered_after=1, talk=50, start=sh(9, 30)),  # no queue
        record(6, answered_after=5, talk=None, start=sh(10, 25), ended=False,
               state="answered"),  # still on the line at the restart
    ]
    eng = StatsEngine("pbx1")
    assert eng.rebuild(rows, now) == 4  # 1, 2, 3, 6
    w = today(eng, now)
    assert (w["offered"], w["answered"], w["abandoned"], w["answered_within_sl"]) == \
        (4, 3, 1, 2)  # 10 s and 5 s are within 20 s; 30 s is not
    assert w["service_level"] == round(2 / 4, 4)
    assert w["asa_s"] == round((10 + 30 + 5) / 3, 3)
    assert w["aht_s"] == (100 + 200) / 2  # call 6 has not ended
    t1 = agent(eng, "6001", now)["today"]
    # 6001 rang for calls 1, 2, 3, 5, 6 and answered 1, 2, 5, 6; missed 3 (abandoned).
    # Talk from the log: 100 + 200 + 50 (call 5 has no queue but is 6001's talk).
    assert (t1["offered"], t1["answered"], t1["missed"], t1["talk_s"]) == (5, 4, 1, 350.0)
    t2 = agent(eng, "6002", now)["today"]
    # 6002 rang for the same five and answered none: missed 5 (call 6 is live, but 6001
    # answered it: 6002's ring ended there, as a cancelled ring-all ring does live).
    assert (t2["offered"], t2["answered"], t2["missed"]) == (5, 0, 5)
    # Call 6 goes on live: its AgentComplete adds its handle time; no second answer.
    uid = f"{int(sh(10, 25).timestamp())}.6"
    caller = {"Channel": "PJSIP/trunk-6", "Uniqueid": uid, "Linkedid": uid,
              "Queue": "support"}
    dest = {"DestChannel": "PJSIP/6001-6", "DestUniqueid": uid + "1", "Interface": "PJSIP/6001"}
    eng.feed({"Event": "AgentComplete", **caller, **dest, "TalkTime": "300"}, now + 10)
    eng.feed({"Event": "Hangup", **caller}, now + 10)
    w = today(eng, now + 10)
    assert (w["offered"], w["answered"], w["aht_s"]) == (4, 3, (100 + 200 + 300) / 3)
    t2 = agent(eng, "6002", now + 10)["today"]
    assert (t2["offered"], t2["missed"]) == (5, 5)  # the end counts nothing twice


def test_take_changes_names_what_changed_once() -> None:
    eng = StatsEngine("pbx1")
    now = datetime(2026, 12, 1, 9, 0, tzinfo=SHANGHAI).timestamp()
    eng.feed(member("6001"), now)
    eng.feed({"Event": "QueueCallerJoin", "Queue": "support", "Uniqueid": "1.1"}, now)
    assert eng.take_changes() == (["support"], ["6001"])
    assert eng.take_changes() == ([], [])
    eng.feed({"Event": "RTCPSent", "Channel": "PJSIP/6001-1"}, now)
    assert eng.take_changes() == ([], [])


def test_the_thresholds_are_inclusive() -> None:
    eng = StatsEngine("pbx1")
    t = datetime(2026, 12, 1, 9, 0, tzinfo=SHANGHAI).timestamp()
    queue_call(eng, 0, t, wait=20, talk=10)  # answered at exactly T: within SL
    end = queue_call(eng, 1, t + 100, wait=5, talk=None)  # abandoned at exactly 5 s: short
    w = today(eng, end)
    assert (w["answered_within_sl"], w["short_abandoned"]) == (1, 1)
    assert w["service_level"] == 1.0  # 1 / (2 - 1)


def test_a_caller_gone_while_the_link_was_down_counts_by_the_trackers_record() -> None:
    eng = StatsEngine("pbx1")
    t = datetime(2026, 12, 1, 9, 0, tzinfo=SHANGHAI).timestamp()
    eng.feed({"Event": "QueueCallerJoin", "Queue": "support", "Uniqueid": "50.1",
              "Linkedid": "50.1"}, t)
    eng.resync_channels([], t + 40)  # gone: answered or abandoned? not counted yet
    assert today(eng, t + 40)["offered"] == 0 and eng.unsettled
    start = datetime.fromtimestamp(t, UTC)
    other = record(9, answered_after=None, talk=None, start=start, state="abandoned")
    assert eng.settle(other, t + 41) is False  # not a caller we let go
    rec = record(1, answered_after=None, talk=None, start=start, state="abandoned",
                 agents=())
    rec = CallRecord(**{**{f: getattr(rec, f) for f in rec.__dataclass_fields__},
                        "linkedid": "50.1", "wait_s": 31.0})
    assert eng.settle(rec, t + 41) is True and not eng.unsettled
    w = today(eng, t + 41)
    assert (w["offered"], w["abandoned"], w["short_abandoned"]) == (1, 1, 0)  # 31 s > 5
    assert eng.settle(rec, t + 42) is False  # once


def test_the_event_list_names_every_handler() -> None:
    assert set(StatsEngine("pbx1")._handlers) == StatsEngine.EVENTS


def test_rebuild_keeps_only_what_the_windows_hold() -> None:
    """A restart late in a busy day: outcomes older than a window are not put in it (each
    one out of order, a call answered before the previous one ended, re-sorted the whole
    day's buckets: 6000 overlapping calls took 40 s of the event loop at start)."""
    now = datetime(2026, 12, 1, 20, 0, tzinfo=SHANGHAI).timestamp()
    first = datetime(2026, 12, 1, 8, 0, tzinfo=SHANGHAI)
    # One call every 60 s from 08:00 to 19:59 (720 calls), answered after 10 s, talk
    # 300 s: each answer comes before the previous 5 calls ended (out of order).
    rows = [record(i, answered_after=10, talk=300,
                   start=datetime.fromtimestamp(first.timestamp() + 60 * i, UTC))
            for i in range(720)]
    eng = StatsEngine("pbx1")
    assert eng.rebuild(rows, now) == 720
    q = eng.queues["support"]
    for w in (q.w15, q.w60):
        assert all(int(now) - s < w.span_s for s, _ in w.buckets)
    wins = eng.queue_live("support", now)["windows"]
    # Answers at 19:00:10 .. 19:59:10 (60 calls) are in the last hour; ends (answer + 300 s)
    # at 19:05:10 .. 19:59:10 (55 calls: the call started 19:54 ends 19:59:10, later ones
    # have not ended by 20:00).
    assert (wins["60m"]["offered"], wins["60m"]["aht_s"]) == (60, 300.0)
    assert wins["15m"]["offered"] == 15  # 19:45:10 .. 19:59:10
    assert wins["today"]["offered"] == 720


@pytest.mark.parametrize("bad", ["-30", "nan", "inf", "1e999", "abc", ""])
def test_odd_seconds_in_headers_never_give_odd_figures(bad: str) -> None:
    """Asterisk computes TalkTime and HoldTime from its wall clock (a step back of the
    PBX's clock mid-call makes them negative); 'nan' and 'inf' parse as floats. Figures
    stay finite and >= 0, so the REST answer and the pushes stay valid JSON."""
    eng = StatsEngine("pbx1")
    t = datetime(2026, 12, 1, 9, 0, tzinfo=SHANGHAI).timestamp()
    eng.resync_queues([{"Event": "QueueParams", "Queue": "support", "ServiceLevel": bad},
                       {"Event": "QueueEntry", "Queue": "support", "Uniqueid": "1.1",
                        "Wait": bad}], t)
    eng.feed(member("6001") | {"Wrapuptime": bad}, t)
    caller = {"Channel": "PJSIP/trunk-1", "Uniqueid": "1.1", "Linkedid": "1.1",
              "Queue": "support"}
    dest = {"DestChannel": "PJSIP/6001-1", "DestUniqueid": "1.2", "Interface": "PJSIP/6001"}
    eng.feed({"Event": "AgentConnect", **caller, **dest, "HoldTime": bad}, t + 3)
    eng.feed({"Event": "AgentComplete", **caller, **dest, "HoldTime": bad,
              "TalkTime": bad}, t + 33)
    eng.feed({"Event": "Hangup", "Channel": "PJSIP/6001-1", "Uniqueid": "1.2",
              "Linkedid": "1.1"}, t + 33)
    eng.feed({"Event": "Hangup", **caller}, t + 33)
    eng.feed({"Event": "QueueCallerJoin", **caller, "Uniqueid": "2.1"}, t + 40)
    eng.feed({"Event": "QueueCallerAbandon", **caller, "Uniqueid": "2.1",
              "HoldTime": bad}, t + 50)
    eng.tick(t + 60)
    live = eng.queue_live("support", t + 60)
    json.dumps([live, eng.agent_message("6001", t + 60), eng.trend(5, t + 60)],
               allow_nan=False)  # raises on NaN / Infinity
    w = live["windows"]["today"]
    assert live["sl_threshold_s"] == 20.0  # the setting: the queue's own is no number
    # The answer's wait: HoldTime when it is a number >= 0 (clamped), else measured: the
    # caller was listed waiting since t (Wait unusable: 0), answered at t + 3.
    assert w["asa_s"] == (0.0 if bad == "-30" else 3.0)
    assert w["aht_s"] == 0.0  # no usable talk time, no wrap-up
    assert (w["offered"], w["answered"], w["abandoned"]) == (2, 1, 1)
    assert agent(eng, "6001", t + 60)["state"] == "available"  # no endless wrap-up


def test_events_without_a_queue_name_make_no_queue() -> None:
    """An empty or missing Queue header: no queue named '' pushed to the wallboards."""
    eng = StatsEngine("pbx1", StatsConfig(wrapup_reasons=frozenset({"acw"})))
    t = datetime(2026, 12, 1, 9, 0, tzinfo=SHANGHAI).timestamp()
    eng.feed(member("6001"), t)
    eng.take_changes()
    eng.feed({"Event": "QueueCallerLeave", "Queue": "", "Uniqueid": "1.1"}, t)
    eng.feed({"Event": "QueueCallerLeave", "Uniqueid": "1.1"}, t)
    eng.feed({"Event": "AgentComplete", "Uniqueid": "1.1", "Interface": "PJSIP/6001",
              "TalkTime": "30"}, t + 30)
    eng.feed(member("6001", paused=True, reason="ACW"), t + 31)  # its wrap-up pause
    eng.feed(member("6001"), t + 50)
    eng.tick(t + 60)
    assert set(eng.queues) == {"support"}
    assert "" not in eng.take_changes()[0] and "" not in eng.trend(5, t + 60)


def test_rebuild_measures_a_missing_wait_from_the_rows_times() -> None:
    """A call-log row without wait_s (NULL: written by an older version, or by hand) is not
    a 0 s wait (within SL when answered, a short abandon when not)."""
    now = datetime(2026, 12, 1, 10, 30, tzinfo=SHANGHAI).timestamp()
    start = datetime(2026, 12, 1, 9, 0, tzinfo=SHANGHAI)
    base = record(1, answered_after=60, talk=100, start=start)
    answered = CallRecord(**{**{f: getattr(base, f) for f in base.__dataclass_fields__},
                             "wait_s": None})
    base = record(2, answered_after=None, talk=30, start=start, state="abandoned",
                  agents=())  # ended 30 s after it started
    abandoned = CallRecord(**{**{f: getattr(base, f) for f in base.__dataclass_fields__},
                              "wait_s": None})
    eng = StatsEngine("pbx1")
    assert eng.rebuild([answered, abandoned], now) == 2
    w = today(eng, now)
    # Answered 60 s after it started (> 20 s); abandoned after 30 s (> 5 s).
    assert (w["answered_within_sl"], w["short_abandoned"], w["asa_s"]) == (0, 0, 60.0)
    assert w["service_level"] == 0.0  # 0 / (2 - 0)


def test_a_ring_across_midnight_is_offered_in_the_day_it_is_answered_or_missed() -> None:
    """A call ringing an agent at midnight counts in the new day's offered when it is
    answered (or missed) then: never answered > offered."""
    eng = StatsEngine("pbx1")
    midnight = datetime(2026, 12, 2, 0, 0, tzinfo=SHANGHAI).timestamp()
    eng.feed(member("6001"), midnight - 100)
    eng.feed(member("6002"), midnight - 100)
    caller = {"Channel": "PJSIP/trunk-1", "Uniqueid": "1.1", "Linkedid": "1.1",
              "Queue": "support"}
    eng.feed({"Event": "QueueCallerJoin", **caller}, midnight - 20)
    for ext, leg in (("6001", "1.2"), ("6002", "1.3")):  # ring-all
        eng.feed({"Event": "AgentCalled", **caller, "DestChannel": f"PJSIP/{ext}-1",
                  "DestUniqueid": leg, "Interface": f"PJSIP/{ext}"}, midnight - 20)
    eng.tick(midnight + 1)
    eng.feed({"Event": "AgentConnect", **caller, "DestChannel": "PJSIP/6001-1",
              "DestUniqueid": "1.2", "Interface": "PJSIP/6001", "HoldTime": "25"},
             midnight + 5)
    eng.feed({"Event": "Hangup", "Channel": "PJSIP/6002-1", "Uniqueid": "1.3",
              "Linkedid": "1.1"}, midnight + 5)
    t1 = agent(eng, "6001", midnight + 6)["today"]
    t2 = agent(eng, "6002", midnight + 6)["today"]
    assert (t1["offered"], t1["answered"], t1["missed"]) == (1, 1, 0)
    assert (t2["offered"], t2["answered"], t2["missed"]) == (1, 0, 1)
    assert today(eng, midnight + 6)["offered"] == 1  # the queue counts it today too


def test_rebuild_counts_today_the_end_of_a_call_answered_yesterday() -> None:
    """A call answered before midnight and ended after it: live, its AgentComplete adds
    to today's AHT and the agent's talk is split at midnight; a rebuild does the same."""
    midnight = datetime(2026, 12, 2, 0, 0, tzinfo=SHANGHAI)
    now = midnight.timestamp() + 3600
    row = record(1, answered_after=600, talk=1200,
                 start=datetime.fromtimestamp(midnight.timestamp() - 1200, UTC))
    # Started 23:40, answered 23:50 (yesterday's outcome), ended 00:10.
    eng = StatsEngine("pbx1")
    assert eng.rebuild([row], now) == 0  # offered yesterday
    w = today(eng, now)
    assert (w["offered"], w["aht_s"]) == (0, 1200.0)  # handled today: talk 1200 s
    t1 = agent(eng, "6001", now)["today"]
    assert (t1["offered"], t1["answered"], t1["talk_s"]) == (0, 0, 600.0)  # 00:00-00:10


def test_calls_gone_while_the_link_was_down_are_forgotten() -> None:
    """Who began a call and the ticket linked to it are forgotten at the call's end; a
    call that ended while the link was down is forgotten at the channel snapshot (they
    grew by every such call, reconnect after reconnect)."""
    eng = StatsEngine("pbx1")
    t = datetime(2026, 12, 1, 9, 0, tzinfo=SHANGHAI).timestamp()
    for uid, chan in (("1.1", "PJSIP/6001-1"), ("2.1", "PJSIP/trunk-2")):
        eng.feed({"Event": "Newchannel", "Channel": chan, "Uniqueid": uid, "Linkedid": uid,
                  "ChannelStateDesc": "Ring"}, t)
    eng.link_ticket("pbx1:1.1", 7)
    eng.link_ticket("pbx1:2.1", 8)
    live = {"Event": "CoreShowChannel", "Channel": "PJSIP/trunk-2", "Uniqueid": "2.1",
            "Linkedid": "2.1", "ChannelStateDesc": "Up"}
    eng.resync_channels([live], t + 60)  # call 1.1 ended unseen; 2.1 goes on
    assert set(eng.outbound) == {"2.1"} and eng.tickets == {"pbx1:2.1": 8}


@pytest.mark.parametrize("gap", [2, 8])
def test_a_timeout_exit_then_the_same_queue_again_counts_like_any_timeout(gap: int) -> None:
    """Queue(support,,,,30) -> Playback -> Queue(support) again: the first stay ended
    unanswered (a timeout exit) whether the announcement took less or more than the 5 s
    the engine waits for an AgentConnect (a re-join within 5 s replaced it, uncounted)."""
    eng = StatsEngine("pbx1")
    t = datetime(2026, 12, 1, 9, 0, tzinfo=SHANGHAI).timestamp()
    caller = {"Channel": "PJSIP/trunk-1", "Uniqueid": "1.1", "Linkedid": "1.1",
              "Queue": "support"}
    eng.feed({"Event": "QueueCallerJoin", **caller}, t)
    eng.feed({"Event": "QueueCallerLeave", **caller}, t + 30)
    eng.tick(t + 30 + gap - 1)
    eng.feed({"Event": "QueueCallerJoin", **caller}, t + 30 + gap)
    eng.feed({"Event": "QueueCallerLeave", **caller}, t + 40 + gap)
    eng.feed({"Event": "AgentConnect", **caller, "Interface": "PJSIP/6001",
              "HoldTime": "10"}, t + 40 + gap)
    w = today(eng, t + 50 + gap)
    assert (w["offered"], w["answered"], w["answered_within_sl"]) == (2, 1, 1)
    assert w["service_level"] == 0.5  # 1 / (2 - 0)


def test_a_repeated_join_keeps_the_callers_first_join() -> None:
    eng = StatsEngine("pbx1")
    t = datetime(2026, 12, 1, 9, 0, tzinfo=SHANGHAI).timestamp()
    join = {"Event": "QueueCallerJoin", "Queue": "support", "Uniqueid": "1.1"}
    eng.feed(join, t)
    eng.feed(join, t + 10)  # the same event again
    assert eng.queues["support"].waiting == {"1.1": t}
    eng.feed({"Event": "Hangup", "Uniqueid": "1.1", "Linkedid": "1.1"}, t + 30)
    w = today(eng, t + 30)
    assert (w["offered"], w["abandoned"], w["short_abandoned"]) == (1, 1, 0)  # 30 s > 5 s
