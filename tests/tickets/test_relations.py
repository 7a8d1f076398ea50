"""The pure rules of merge and link (tickets/relations.py): what may be merged into what,
who may become whose child (one level, so no cycles), which children a bulk action touches,
the ticket a client names, and the notice in the customer's language."""

from __future__ import annotations

import pytest

from tickets import relations
from tickets.errors import Invalid
from tickets.models import Ticket


def _t(id: int, status: str = "new", customer_id: int | None = 1, *,
       merged_into_id: int | None = None, parent_id: int | None = None) -> Ticket:
    return Ticket(id=id, status=status, customer_id=customer_id,
                  merged_into_id=merged_into_id, parent_id=parent_id)


def _merge(source: Ticket, target: Ticket, force: bool = False, children: int = 0) -> str | None:
    return relations.merge_refusal(source, target, force=force, source_children=children)


def test_merge_refusals_name_the_ticket_and_why() -> None:
    assert _merge(_t(43), _t(42)) is None
    assert _merge(_t(43, "resolved"), _t(42, "closed")) is None  # done tickets may merge
    assert "into itself" in (_merge(_t(43), _t(43)) or "")
    assert _merge(_t(43, merged_into_id=40), _t(42)) == (
        "ticket T-000043 was merged into T-000040 already and is read-only")
    assert "T-000043 is cancelled" in (_merge(_t(43, "cancelled"), _t(42)) or "")
    assert _merge(_t(43), _t(42, "cancelled")) == "cannot merge into T-000042: it is cancelled"
    assert "merged into T-000041" in (_merge(_t(43), _t(42, merged_into_id=41)) or "")
    assert "parent of 2 ticket(s)" in (_merge(_t(43), _t(42), children=2) or "")


def test_merge_across_customers_needs_force() -> None:
    why = _merge(_t(43, customer_id=1), _t(42, customer_id=2))
    assert why is not None and "different customers" in why and '"force": true' in why
    assert _merge(_t(43, customer_id=1), _t(42, customer_id=2), force=True) is None
    # a ticket without a customer belongs to nobody else
    assert _merge(_t(43, customer_id=None), _t(42, customer_id=2)) is None
    assert _merge(_t(43, customer_id=1), _t(42, customer_id=None)) is None


def test_link_is_one_level_so_no_cycle_can_form() -> None:
    def why(parent: Ticket, child: Ticket, child_children: int = 0) -> str | None:
        return relations.link_refusal(parent, child, child_children=child_children)

    assert why(_t(40), _t(43)) is None
    assert why(_t(40), _t(43, parent_id=40)) is None  # already its child: no change
    assert why(_t(40), _t(40)) == "ticket T-000040 cannot be its own child"
    assert why(_t(40, parent_id=39), _t(43)) == (
        "ticket T-000040 is a child of T-000039: a child cannot be a parent (one level only)")
    assert why(_t(40), _t(43), child_children=3) == (
        "ticket T-000043 is the parent of 3 ticket(s): a parent cannot be a child "
        "(one level only)")
    assert why(_t(40), _t(43, parent_id=41)) == (
        "ticket T-000043 is already a child of T-000041: unlink it there first")
    assert "read-only" in (why(_t(40), _t(43, merged_into_id=42)) or "")
    assert "read-only" in (why(_t(40, merged_into_id=42), _t(43)) or "")
    # the two-ticket cycle: once 43 is 40's child, 40 cannot become 43's child
    assert why(_t(43, parent_id=40), _t(40), child_children=1) is not None


def test_bulk_targets_open_children_and_close_takes_the_resolved_too() -> None:
    open_ = {"new", "assigned", "in_progress", "pending_customer"}
    assert relations.bulk_targets("reply") == open_
    assert relations.bulk_targets("status") == open_
    assert relations.bulk_targets("close") == open_ | {"resolved"}


@pytest.mark.parametrize(("text", "expected"), [
    (42, 42), ("42", 42), ("T-000042", 42), ("t42", 42), (" T42 ", 42)])
def test_ticket_key_reads_ids_and_numbers(text: int | str, expected: int) -> None:
    assert relations.ticket_key(text) == expected


@pytest.mark.parametrize("text", ["", "T-", "abc", "42x", "99999999999", "T-0"])
def test_ticket_key_refuses_anything_else_naming_into(text: str) -> None:
    with pytest.raises(Invalid, match=r"^into: "):
        relations.ticket_key(text)


def test_notice_speaks_the_customers_language() -> None:
    zh = relations.merge_notice("zh", "T-000043", "T-000042")
    en = relations.merge_notice("en", "T-000043", "T-000042")
    assert "合并" in zh and "T-000042" in zh and "T-000043" in zh
    assert en.startswith("Your request T-000043 has been merged into ticket T-000042")
    assert relations.merge_notice("zh-CN", "a", "b") == relations.merge_notice("zh", "a", "b")
    assert relations.merge_notice(None, "a", "b") == relations.merge_notice("ko", "a", "b")
