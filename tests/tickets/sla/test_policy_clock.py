"""Policy matching and the clock's schedule and plan, without a database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from tickets.sla.calendar import Calendar, holiday_source, twenty_four_seven, week_spans
from tickets.sla.clock import OrderClock, TicketClock, due_times, plan, schedule
from tickets.sla.policy import EscalationStep, Policy, check_escalation, fallback, match, raised

M = timedelta(minutes=1)


def pol(pid: int, priority: str = "normal", **kw: object) -> Policy:
    return Policy(pid, f"p{pid}", priority, 1, 60 * M, 240 * M, **kw)  # type: ignore[arg-type]


def test_the_most_specific_enabled_policy_wins() -> None:
    ps = [pol(1), pol(2, type_key="repair"), pol(3, type_key="repair", customer_tier="vip"),
          pol(4, flow_step=1), pol(5, type_key="repair", customer_tier="vip", enabled=False),
          pol(6, "high")]
    def m(**kw: object) -> int | None:
        args = {"priority": "normal", "type_key": None, "customer_tier": None,
                "flow_step": 0} | kw
        return match(ps, **args).id  # type: ignore[arg-type]
    assert m() == 1
    assert m(type_key="repair") == 2
    assert m(type_key="repair", customer_tier="vip") == 3
    assert m(type_key="billing", customer_tier="vip") == 1
    assert m(flow_step=1) == 4
    assert m(type_key="repair", flow_step=1) == 2  # equal specificity: the lower id
    assert m(priority="high") == 6
    # nothing for the priority: the former fixed table, 24x7
    low = match(ps, priority="low", type_key=None, customer_tier=None, flow_step=0)
    assert low == fallback("low") and low.resolution == timedelta(days=7)


def test_escalation_steps_are_checked_with_their_path() -> None:
    steps = check_escalation([{"after_minutes": 0, "action": "notify_supervisors"},
                              {"after_minutes": 30, "action": "assign_user", "user": " sue "}])
    assert steps[1] == EscalationStep(30 * M, "assign_user", "sue")
    for bad, where in (([{"action": "explode"}], r"escalation\[0\]\.action"),
                       ([{"after_minutes": -1, "action": "raise_priority"}],
                        r"escalation\[0\]\.after_minutes"),
                       ([{"after_minutes": 1, "action": "assign_user"}],
                        r"escalation\[0\]\.user"),
                       ([{"after_minutes": 1, "action": "raise_priority", "x": 1}],
                        r"escalation\[0\]\.x"),
                       ([{"after_minutes": 9, "action": "raise_priority"},
                         {"after_minutes": 1, "action": "raise_priority"}], "order")):
        with pytest.raises(ValueError, match=where):
            check_escalation(bad)
    assert [raised(p) for p in ("low", "normal", "high", "urgent")] == \
        ["normal", "high", "urgent", "urgent"]


T0 = datetime(2026, 11, 30, 1, 0, tzinfo=UTC)  # Monday 09:00 in Shanghai


def test_schedule_and_plan_fire_each_step_once() -> None:
    p = pol(1, reminder_share=0.5, escalation=(EscalationStep(30 * M, "notify_supervisors"),))
    cal = twenty_four_seven()
    first, due = due_times(p, cal, T0)
    assert (first, due) == (T0 + 60 * M, T0 + 240 * M)
    steps = schedule(p, cal, TicketClock("assigned", T0, None, first, due))
    assert [(s.target, s.step, (s.at - T0) // M) for s in steps] == [
        ("first_response", "reminder", 30), ("first_response", "breach", 60),
        ("first_response", "escalation:0", 90), ("resolution", "reminder", 120),
        ("resolution", "breach", 240), ("resolution", "escalation:0", 270)]
    now = T0 + 31 * M
    a = plan(steps, set(), now)
    assert [s.key for s in a.fire] == [("first_response", "reminder")]
    assert a.next_at == T0 + 60 * M
    fired = {s.key for s in a.fire}
    assert plan(steps, fired, now).fire == ()
    # late: breach and escalation due together; the reminder of resolution is passed over
    b = plan(steps, fired, T0 + 250 * M)
    assert [s.key for s in b.fire] == [("first_response", "breach"),
                                       ("first_response", "escalation:0"),
                                       ("resolution", "breach")]
    assert [s.key for s in b.skip] == [("resolution", "reminder")]
    assert b.next_at == T0 + 270 * M


def test_met_paused_and_done_targets_stop() -> None:
    p = pol(1)
    cal = twenty_four_seven()
    first, due = due_times(p, cal, T0)
    met = schedule(p, cal, TicketClock("in_progress", T0, T0 + M, first, due))
    assert {s.target for s in met} == {"resolution"}
    order = OrderClock(7, T0, T0 + 100 * M)
    paused = schedule(p, cal, TicketClock("pending_customer", T0, None, first, due), [order])
    assert [(s.target, s.step, (s.at - T0) // M) for s in paused] == [
        ("order:7", "reminder", 80), ("order:7", "breach", 100)]
    assert schedule(p, cal, TicketClock("resolved", T0, None, first, due), [order]) == []


def test_due_times_in_business_hours_with_a_pause() -> None:
    sh = ZoneInfo("Asia/Shanghai")
    office = Calendar(zone=sh, week=week_spans(
        {d: ["09:00-12:00", "13:30-18:00"] for d in ("mon", "tue", "wed", "thu", "fri")}),
        holidays=holiday_source("CN"))
    p = Policy(1, "p", "normal", 2, 60 * M, 600 * M)
    created = datetime(2026, 11, 30, 9, tzinfo=sh)
    first, due = due_times(p, office, created)
    assert first == datetime(2026, 11, 30, 10, tzinfo=sh)
    assert due == datetime(2026, 12, 1, 11, 30, tzinfo=sh)  # 7.5 h Monday + 2.5 h Tuesday
    # paused 7.5 h of business time: everything moves a working day
    first, due = due_times(p, office, created, timedelta(hours=7, minutes=30))
    assert first == datetime(2026, 12, 1, 10, tzinfo=sh)
    assert due == datetime(2026, 12, 2, 11, 30, tzinfo=sh)
