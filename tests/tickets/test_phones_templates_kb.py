"""Pure helpers: phone normalization, field templates, SLA due times, KB terms."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tickets import sla
from tickets.errors import Invalid
from tickets.kb import terms
from tickets.phones import InvalidPhoneNumber, display, normalize, try_normalize
from tickets.templates import validate_fields


@pytest.mark.parametrize("raw", ["138 0013 8000", "+86 138-0013-8000", "008613800138000",
                                 "(138)00138000", "+8613800138000", " 13800138000 "])
def test_every_written_form_is_one_number(raw: str) -> None:
    assert normalize(raw, "CN") == "+8613800138000"


def test_region_decides_national_numbers() -> None:
    assert normalize("020 7946 0123", "GB") == "+442079460123"
    assert normalize("+1 555 123 0001", "CN") == "+15551230001"
    assert normalize("010 6552 9988", "CN") == "+861065529988"


@pytest.mark.parametrize("raw", ["", "abc", "12", "<unknown>", "+", "99999999999999999999"])
def test_garbage_is_refused(raw: str) -> None:
    with pytest.raises(InvalidPhoneNumber):
        normalize(raw, "CN")
    assert try_normalize(raw, "CN") is None


def test_display_form() -> None:
    assert display("+8613800138000") == "+86 138 0013 8000"


TEMPLATE = [
    {"key": "reason", "type": "choice", "required": True, "options": ["defective", "late"]},
    {"key": "amount", "type": "number"},
    {"key": "visit", "type": "date"},
    {"key": "urgent_fix", "type": "bool"},
    {"key": "fault", "type": "text"},
]


def test_template_accepts_and_cleans() -> None:
    out = validate_fields(TEMPLATE, {"reason": "late", "amount": 12.5, "visit": "2026-12-01",
                                     "urgent_fix": True, "fault": ""})
    assert out == {"reason": "late", "amount": 12.5, "visit": "2026-12-01", "urgent_fix": True}


@pytest.mark.parametrize(("values", "why"), [
    ({}, "required fields missing"),
    ({"reason": "other"}, "must be one of"),
    ({"reason": "late", "amount": "12"}, "must be a number"),
    ({"reason": "late", "amount": True}, "must be a number"),
    ({"reason": "late", "visit": "tomorrow"}, "must be a date"),
    ({"reason": "late", "nope": 1}, "unknown fields"),
    ({"reason": "late", "fault": "x" * 3000}, "longer than"),
])
def test_template_refuses_with_reason(values: dict[str, object], why: str) -> None:
    with pytest.raises(Invalid, match=why):
        validate_fields(TEMPLATE, values)


def test_partial_skips_required() -> None:
    assert validate_fields(TEMPLATE, {"amount": 3}, partial=True) == {"amount": 3}


def test_sla_due_times_by_priority() -> None:
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    first, due = sla.due_times("urgent", t0)
    assert (first - t0, due - t0) == (timedelta(minutes=30), timedelta(hours=4))
    assert sla.due_times("bogus", t0) == sla.due_times("normal", t0)


def test_kb_terms_split_cjk_into_bigrams() -> None:
    assert terms("空调不制冷") == {"空调": 1, "调不": 1, "不制": 1, "制冷": 1}
    assert terms("The refund for my order")["refund"] == 1
    assert "the" not in terms("the")
