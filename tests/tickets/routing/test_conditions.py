"""Rule conditions: the grammar, every field kind, keywords in Chinese and English, and the
errors that name where a condition is wrong."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tickets.routing.conditions import (
    ConditionError,
    Facts,
    compile_condition,
    fields_used,
    keyword_pattern,
)

SH = ZoneInfo("Asia/Shanghai")
MONDAY_10 = datetime(2026, 11, 30, 10, 0, tzinfo=SH)


def facts(**kw: Any) -> Facts:
    return Facts(now=kw.pop("now", MONDAY_10), **kw)


def holds(cond: dict[str, Any], **kw: Any) -> bool:
    return compile_condition(cond)(facts(**kw))


def leaf(field: str, op: str, value: Any = None) -> dict[str, Any]:
    out = {"field": field, "op": op}
    if value is not None:
        out["value"] = value
    return out


def test_all_any_not() -> None:
    vip = leaf("customer.tier", "eq", "vip")
    refund = leaf("type", "eq", "refund")
    assert holds({"all": [vip, refund]}, customer_tier="vip", type="refund")
    assert not holds({"all": [vip, refund]}, customer_tier="vip", type="repair")
    assert holds({"any": [vip, refund]}, customer_tier="standard", type="refund")
    assert not holds({"any": []})
    assert holds({"all": []})
    assert holds({"not": vip}, customer_tier=None)


def test_value_fields() -> None:
    assert holds(leaf("channel", "in", ["phone", "ivr"]), channel="ivr")
    assert not holds(leaf("channel", "not_in", ["phone", "ivr"]), channel="ivr")
    assert holds(leaf("queue", "eq", "support"), queue="support")
    assert holds(leaf("queue", "ne", "support"), queue=None)
    assert holds(leaf("queue", "is_not_set"), queue=None)
    assert holds(leaf("order_number", "is_set"), order_number="A-1")
    assert not holds(leaf("order_number", "is_set"), order_number="")


def test_priority_is_ordered() -> None:
    assert holds(leaf("priority", "at_least", "high"), priority="urgent")
    assert holds(leaf("priority", "at_least", "high"), priority="high")
    assert not holds(leaf("priority", "at_least", "high"), priority="normal")
    assert holds(leaf("priority", "at_most", "normal"), priority="low")
    with pytest.raises(ConditionError, match=r"conditions\.value: unknown priority 'hot'"):
        compile_condition(leaf("priority", "at_least", "hot"))


@pytest.mark.parametrize(("keyword", "text", "found"), [
    ("退款", "我想申请退款，谢谢", True),
    ("退货", "我想退款", False),
    ("refund", "Please REFUND my order", True),
    ("refund", "two refunds please", True),
    ("refund", "it was refunded", True),
    ("refund", "nonrefundable ticket", False),
    ("VIP", "ｖｉｐ客户来电", True),  # full-width, case-folded
    ("black screen", "the TV has a black   screen", True),
    ("黑屏", "上个月 买 的 电视 黑屏 了", True),
    ("12", "order 123", False),
    ("12", "order 12 please", True),
    ("car", "my card was charged", False),
])
def test_keywords_zh_and_en(keyword: str, text: str, found: bool) -> None:
    assert bool(keyword_pattern(keyword).search(facts(title=text).text("title"))) is found


def test_text_fields_and_text_is_all_three() -> None:
    cond = leaf("text", "contains_any", ["漏水", "leak"])
    assert holds(cond, transcript="洗衣机 漏水 了")
    assert holds(cond, description="water leaks from the door")
    assert not holds(cond, title="dishwasher noise")
    assert holds(leaf("title", "contains_all", ["电视", "黑屏"]), title="电视黑屏")
    assert not holds(leaf("title", "contains_all", ["电视", "黑屏"]), title="电视没声音")
    assert holds(leaf("title", "contains_none", ["投诉"]), title="咨询")
    assert holds(leaf("customer.address", "contains_any", ["上海"]),
                 customer_address="上海市浦东新区")
    assert holds(leaf("product", "contains_any", ["洗衣机"]), product="滚筒洗衣机 X1")


def test_tags() -> None:
    tags = frozenset({"vip", "refund"})
    assert holds(leaf("tags", "has_any", ["refund", "x"]), tags=tags)
    assert not holds(leaf("tags", "has_all", ["refund", "x"]), tags=tags)
    assert holds(leaf("tags", "has_none", ["x"]), tags=tags)


def test_time_of_day_and_weekday_in_site_time() -> None:
    office = leaf("time_of_day", "between", ["09:00", "18:00"])
    assert holds(office, now=MONDAY_10)
    assert not holds(office, now=MONDAY_10.replace(hour=18))  # end excluded
    night = leaf("time_of_day", "between", ["22:00", "06:00"])
    assert holds(night, now=MONDAY_10.replace(hour=23))
    assert holds(night, now=MONDAY_10.replace(hour=5, minute=59))
    assert not holds(night, now=MONDAY_10)
    weekend = leaf("weekday", "in", [6, 7])
    assert not holds(weekend)
    assert holds(weekend, now=datetime(2026, 12, 6, 10, tzinfo=SH))  # a Sunday


@pytest.mark.parametrize(("cond", "message"), [
    ([], r"^conditions: a condition is an object, got list"),
    ({"field": "colour", "op": "eq", "value": "red"}, r"conditions\.field: unknown field 'colour'"),
    ({"all": [{"field": "priority", "op": "matches", "value": "x"}]},
     r"conditions\.all\[0\]\.op: unknown operator 'matches' for field 'priority'"),
    ({"any": [{"not": {"field": "tags", "op": "has_any", "value": []}}]},
     r"conditions\.any\[0\]\.not\.value: a list of 1 to 200 strings"),
    ({"field": "title", "op": "contains_any", "value": ["ok", 3]},
     r"conditions\.value\[1\]: a non-empty string, got int"),
    ({"field": "time_of_day", "op": "between", "value": ["9:00", "18:00"]},
     r"conditions\.value\[0\]: a time as HH:MM"),
    ({"field": "weekday", "op": "in", "value": [0]}, r"ISO weekdays"),
    ({"field": "queue", "op": "is_set", "value": "x"}, r"is_set takes no value"),
    ({"every": []}, r"expected one of all / any / not"),
    ({"all": "x"}, r"conditions\.all: a list"),
])
def test_errors_name_the_place(cond: Any, message: str) -> None:
    with pytest.raises(ConditionError, match=message):
        compile_condition(cond)


def test_depth_is_bounded() -> None:
    cond: dict[str, Any] = leaf("queue", "is_set")
    for _ in range(12):
        cond = {"not": cond}
    with pytest.raises(ConditionError, match="nested deeper"):
        compile_condition(cond)


def test_fields_used() -> None:
    either = {"any": [leaf("text", "contains_any", ["x"]), {"not": leaf("queue", "is_set")}]}
    cond = {"all": [leaf("type", "eq", "refund"), either]}
    assert fields_used(cond) == {"type", "text", "queue"}
