"""Rules: order, stop, one pass (no loops), hand-set fields locked, and action checking."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tickets.routing.conditions import ConditionError, Facts, compile_condition
from tickets.routing.rules import Routing, Rule, compile_actions, evaluate

NOW = datetime(2026, 11, 30, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai"))


def rule(rid: int, cond: dict[str, Any], actions: list[dict[str, Any]], *, stop: bool = False,
         enabled: bool = True, position: int | None = None) -> Rule:
    return Rule(rid, f"rule {rid}", compile_condition(cond), compile_actions(actions),
                stop=stop, enabled=enabled, position=rid if position is None else position)


ALWAYS: dict[str, Any] = {"all": []}
VIP_REFUND = {"all": [{"field": "customer.tier", "op": "eq", "value": "vip"},
                      {"field": "type", "op": "eq", "value": "refund"}]}


def test_rules_fire_in_order_and_later_ones_see_earlier_changes() -> None:
    rules = [
        rule(2, {"field": "priority", "op": "eq", "value": "urgent"},
             [{"kind": "set_group", "value": "finance"}]),
        rule(1, VIP_REFUND, [{"kind": "set_priority", "value": "urgent"},
                             {"kind": "add_tags", "value": ["vip"]}]),
    ]
    out = evaluate(rules, Facts(now=NOW, type="refund", customer_tier="vip"), Routing())
    assert [f.rule_id for f in out.fired] == [1, 2]
    assert out.routing.priority == "urgent" and out.routing.group == "finance"
    assert out.routing.tags == ("vip",)
    assert out.changed() == {"priority": "urgent", "tags": ("vip",), "group": "finance"}


def test_stop_after_this_rule() -> None:
    rules = [rule(1, ALWAYS, [{"kind": "set_group", "value": "a"}], stop=True),
             rule(2, ALWAYS, [{"kind": "set_group", "value": "b"}])]
    out = evaluate(rules, Facts(now=NOW), Routing())
    assert out.routing.group == "a" and [f.rule_id for f in out.fired] == [1]
    assert out.fired[0].stopped


def test_disabled_rules_do_not_fire() -> None:
    out = evaluate([rule(1, ALWAYS, [{"kind": "set_group", "value": "a"}], enabled=False)],
                   Facts(now=NOW), Routing())
    assert out.fired == () and out.routing.group is None


def test_rules_that_undo_each_other_run_once() -> None:
    """Group a → b by one rule, b → a by the next: one pass, the last one wins, both logged."""
    rules = [rule(1, {"field": "group", "op": "eq", "value": "a"},
                  [{"kind": "set_group", "value": "b"}]),
             rule(2, {"field": "group", "op": "eq", "value": "b"},
                  [{"kind": "set_group", "value": "a"}])]
    out = evaluate(rules, Facts(now=NOW, group="a"), Routing(group="a"))
    assert out.routing.group == "a" and len(out.fired) == 2


def test_a_hand_set_field_wins() -> None:
    rules = [rule(1, ALWAYS, [{"kind": "set_assignee", "value": "bob"},
                              {"kind": "set_priority", "value": "high"}])]
    out = evaluate(rules, Facts(now=NOW), Routing(assignee="alice", locked=frozenset({"assignee"})))
    assert out.routing.assignee == "alice" and out.routing.priority == "high"
    skipped = [c for c in out.fired[0].changes if c.skipped]
    assert [(c.field, c.new, c.skipped) for c in skipped] == [("assignee", "bob", "set by hand")]
    assert out.changed() == {"priority": "high"}


def test_an_action_that_changes_nothing_is_not_a_change() -> None:
    out = evaluate([rule(1, ALWAYS, [{"kind": "set_priority", "value": "normal"}])],
                   Facts(now=NOW), Routing())
    assert out.fired[0].changes == () and out.changed() == {}


def test_notify_collects_recipients_without_changing_the_ticket() -> None:
    rules = [rule(1, ALWAYS, [{"kind": "notify", "value": ["sue", "group:finance"]}]),
             rule(2, ALWAYS, [{"kind": "notify", "value": ["sue"]}])]
    out = evaluate(rules, Facts(now=NOW), Routing())
    assert out.routing.notify == ("sue", "group:finance")


@pytest.mark.parametrize(("actions", "message"), [
    ([], r"^actions: a list of 1 to 20 actions"),
    ([{"kind": "explode", "value": "x"}], r"actions\[0\]\.kind: unknown action 'explode'"),
    ([{"kind": "set_priority", "value": "hot"}], r"actions\[0\]\.value: unknown priority"),
    ([{"kind": "add_tags", "value": "x"}], r"actions\[0\]\.value: a list of 1 to 20"),
    ([{"kind": "set_group"}], r'actions\[0\]: an action is \{"kind", "value"\}'),
    ([{"kind": "set_group", "value": " "}], r"actions\[0\]\.value: a non-empty string"),
])
def test_bad_actions_name_the_place(actions: Any, message: str) -> None:
    with pytest.raises(ConditionError, match=message):
        compile_actions(actions)
