"""The pure rules: audience, channels, keys, backoff; rendering in zh and en."""

from __future__ import annotations

import pytest

from tickets.notify import policy
from tickets.notify.events import NotificationEvent
from tickets.notify.policy import TicketFacts
from tickets.notify.render import render

T = TicketFacts(7, "T-000007", "Printer <jam>", "open", "high", 3, 9, 5)
UNOWNED = TicketFacts(7, "T-000007", "Printer", "new", "normal", None, 9, 5)


def members(_: int) -> list[int]:
    return [4, 3, 6]


def test_backoff_grows_with_equal_jitter_and_is_capped() -> None:
    assert policy.backoff_s(1, lambda: 0.0) == 2.5
    assert policy.backoff_s(1, lambda: 0.999999) == pytest.approx(5.0, abs=1e-4)
    assert policy.backoff_s(4, lambda: 0.5) == 40 * 0.75
    assert policy.backoff_s(40, lambda: 0.0) == 1800.0  # half the 3600-s cap
    with pytest.raises(ValueError):
        policy.backoff_s(0, lambda: 0.0)


def test_keys_are_stable_distinct_and_safe() -> None:
    a = policy.idempotency_key("sla_breach", "k1", "a@x", "email")
    assert a == policy.idempotency_key("sla_breach", "k1", "a@x", "email")
    assert a != policy.idempotency_key("sla_breach", "k1", "a@x", "sms")
    assert a != policy.idempotency_key("sla_breach", "k2", "a@x", "email")
    assert len(a) <= 64 and all(c.isalnum() or c in "-_" for c in a)


def test_audience_per_kind() -> None:
    ev = NotificationEvent("ticket_created", 7, "c7", actor_id=1)
    assert policy.staff_audience(ev, T, members) == [3]
    assert policy.staff_audience(ev, UNOWNED, members) == [3, 4, 6]  # the group, sorted
    comment = NotificationEvent("public_comment", 7, "k", actor_id=3)
    assert policy.staff_audience(comment, T, members) == []  # staff wrote: no staff told
    assert policy.tell_customer(comment, T)
    by_customer = NotificationEvent("public_comment", 7, "k", data={"by_customer": True})
    assert policy.staff_audience(by_customer, T, members) == [3]
    assert not policy.tell_customer(by_customer, T)
    breach = NotificationEvent("sla_breach", 7, "b", user_ids=(8, 3, 8))
    assert policy.staff_audience(breach, T, members) == [8, 3]
    resolved = NotificationEvent("status_changed", 7, "s", data={"status": "resolved"})
    assert policy.tell_customer(resolved, T)
    assert not policy.tell_customer(NotificationEvent("status_changed", 7, "s",
                                                      data={"status": "in_progress"}), T)


def test_channels_and_mutes() -> None:
    assert policy.staff_channels("ticket_assigned", has_email=True, prefs={}) == ["email", "ws"]
    assert policy.staff_channels("ticket_created", has_email=True, prefs={}) == ["ws"]
    assert policy.staff_channels("ticket_assigned", has_email=False, prefs={}) == ["ws"]
    muted = {("ticket_assigned", "email"): False, ("ticket_assigned", "ws"): False}
    assert policy.staff_channels("ticket_assigned", has_email=True, prefs=muted) == []
    assert policy.customer_channels("status_changed", has_email=True, has_mobile=True) == [
        "email", "sms"]
    assert policy.customer_channels("public_comment", has_email=False, has_mobile=True) == []


def test_templates_in_both_languages_escape_html() -> None:
    zh = render("sla_breach", "zh", T, {"target": "resolution", "due_at": "10:00"}, "王")
    en = render("sla_breach", "en-GB", T, {"target": "resolution"}, "Ann")
    assert "超时" in zh.subject and "解决" in zh.body and "10:00" in zh.body
    assert en.subject.startswith("SLA breached") and "resolution target" in en.body
    assert "Printer <jam>" in en.body  # plain text stays as written
    assert "&lt;jam&gt;" in en.html and "<jam>" not in en.html


@pytest.mark.parametrize("kind", sorted(policy.STAFF_EMAIL_KINDS | {
    "ticket_created", "status_changed", "public_comment"}))  # sorted: one order in every process
@pytest.mark.parametrize("lang", ["zh", "en"])
def test_every_kind_renders(kind: str, lang: str) -> None:
    out = render(kind, lang, T, {})
    assert out.subject and out.body and out.sms and "T-000007" in out.body + out.sms
