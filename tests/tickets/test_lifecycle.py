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
    with pytest.raises(IllegalTransition, match="no assignee"):
        lifecycle.check_transition(state("new", assignee=None), "assigned")
    # A group's queue is not an owner: "assigned" means a person.
    with pytest.raises(IllegalTransition, match="no assignee"):
        lifecycle.check_transition(state("new", assignee=None, group=3), "assigned")
    with pytest.raises(IllegalTransition, match="no assignee"):
        lifecycle.check_transition(state("closed", assignee=None, group=3), "assigned")


def test_reopen_is_detected() -> None:
    assert lifecycle.is_reopen("closed", "in_progress")
    assert lifecycle.is_reopen("resolved", "assigned")
    assert not lifecycle.is_reopen("pending_customer", "in_progress")


def test_assignment_moves_new_and_back() -> None:
    assert lifecycle.status_after_assignment("new", 5) == "assigned"
    assert lifecycle.status_after_assignment("new", None) == "new"  # a group alone: still new
    assert lifecycle.status_after_assignment("assigned", None) == "new"
    assert lifecycle.status_after_assignment("in_progress", None) == "in_progress"


@pytest.mark.parametrize("status", lifecycle.STATUSES)
def test_a_queued_open_ticket_is_new(status: str) -> None:
    """Handed to a group's queue with nobody: an open ticket is new (no open status but new
    is legal without an owner); a done one keeps its status."""
    queued = lifecycle.status_when_queued(status)
    if status in lifecycle.OPEN_STATUSES:
        assert queued == "new"
        assert "cancelled" in lifecycle.allowed_moves(state(queued, assignee=None, group=2))
    else:
        assert queued == status


@pytest.mark.parametrize(("status", "assignee", "expected"), [
    ("new", None, ["cancelled", "resolved"]),
    ("new", 7, ["assigned", "cancelled", "in_progress", "resolved"]),
    ("assigned", 7, ["cancelled", "in_progress", "new", "pending_customer", "resolved"]),
    ("in_progress", None, ["cancelled", "resolved"]),
    ("resolved", None, ["closed"]),
    ("resolved", 7, ["assigned", "closed", "in_progress"]),
    ("cancelled", 7, []),
])
def test_allowed_moves_are_the_legal_ones_for_this_ticket(
        status: str, assignee: int | None, expected: list[str]) -> None:
    assert lifecycle.allowed_moves(state(status, assignee=assignee, group=2)) == expected
    for target in lifecycle.STATUSES:  # the menu and the server agree on every status
        legal = True
        try:
            lifecycle.check_transition(state(status, assignee=assignee, group=2), target)
        except IllegalTransition:
            legal = False
        assert legal == (target in expected), target


def test_every_status_has_a_rule() -> None:
    assert set(lifecycle.STATUSES) == set(lifecycle._MOVES)
    for targets in lifecycle._MOVES.values():
        assert targets <= set(lifecycle.STATUSES)
