"""The ticket lifecycle state machine, without a database."""

from __future__ import annotations

import pytest

from tickets import lifecycle
from tickets.lifecycle import IllegalTransition, TicketState


def state(status: str, assignee: int | None = 1, group: int | None = None) -> TicketState:
    return TicketState(status, assignee, group)


@pytest.mark.parametrize(("old", "new"), [
    ("new", "assigned"), ("assigned", "in_progress"), ("in_progress", "pending_customer"),
    ("pending_customer", "in_progress"), ("pending_customer", "resolved"),
    ("resolved", "closed"), ("resolved", "in_progress"), ("closed", "in_progress"),
    ("new", "cancelled"), ("in_progress", "cancelled"), ("new", "resolved"),
])
def test_legal_moves(old: str, new: str) -> None:
    lifecycle.check_transition(state(old), new)


@pytest.mark.parametrize(("old", "new", "why"), [
    ("new", "closed", "cannot move the ticket from new to closed"),
    ("cancelled", "new", "final state"),
    ("closed", "resolved", "allowed: assigned, in_progress"),
    ("resolved", "resolved", "already resolved"),
    ("new", "bogus", "unknown status"),
    ("pending_customer", "closed", "cannot move"),
])
def test_illegal_moves_say_why(old: str, new: str, why: str) -> None:
    with pytest.raises(IllegalTransition, match=why):
        lifecycle.check_transition(state(old), new)


def test_work_needs_an_assignee() -> None:
    with pytest.raises(IllegalTransition, match="no assignee"):
        lifecycle.check_transition(state("assigned", assignee=None, group=3), "in_progress")
    with pytest.raises(IllegalTransition, match="no assignee or group"):
        lifecycle.check_transition(state("new", assignee=None), "assigned")


def test_reopen_is_detected() -> None:
    assert lifecycle.is_reopen("closed", "in_progress")
    assert lifecycle.is_reopen("resolved", "assigned")
    assert not lifecycle.is_reopen("pending_customer", "in_progress")


def test_assignment_moves_new_and_back() -> None:
    assert lifecycle.status_after_assignment("new", 5, None) == "assigned"
    assert lifecycle.status_after_assignment("new", None, 2) == "assigned"
    assert lifecycle.status_after_assignment("assigned", None, None) == "new"
    assert lifecycle.status_after_assignment("in_progress", None, None) == "in_progress"


def test_every_status_has_a_rule() -> None:
    assert set(lifecycle.STATUSES) == set(lifecycle._MOVES)
    for targets in lifecycle._MOVES.values():
        assert targets <= set(lifecycle.STATUSES)
