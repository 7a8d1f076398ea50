"""The ticket lifecycle as a pure state machine: which moves are legal, and why not.

new → assigned → in_progress → pending_customer → resolved → closed; a resolved or closed
ticket can be reopened (customer unsatisfied); anything open can be cancelled.

"Assigned" means a person owns the ticket: a ticket that only sits in a group's queue is
still new (the queue is where it waits for a person). The moves a ticket may make depend
on its owner too, so clients ask :func:`allowed_moves` for a ticket's state rather than
repeating these rules.
"""

from __future__ import annotations

from dataclasses import dataclass

STATUSES = ("new", "assigned", "in_progress", "pending_customer", "resolved", "closed",
            "cancelled")
OPEN_STATUSES = frozenset({"new", "assigned", "in_progress", "pending_customer"})
DONE_STATUSES = frozenset({"resolved", "closed", "cancelled"})

_MOVES: dict[str, frozenset[str]] = {
    "new": frozenset({"assigned", "in_progress", "resolved", "cancelled"}),
    "assigned": frozenset({"new", "in_progress", "pending_customer", "resolved", "cancelled"}),
    "in_progress": frozenset({"assigned", "pending_customer", "resolved", "cancelled"}),
    "pending_customer": frozenset({"in_progress", "resolved", "cancelled"}),
    # Moving a resolved/closed ticket back to work is a reopen.
    "resolved": frozenset({"closed", "in_progress", "assigned"}),
    "closed": frozenset({"in_progress", "assigned"}),
    "cancelled": frozenset(),
}


class IllegalTransition(Exception):
    """A status change the lifecycle does not allow; ``str()`` is the reason for the user."""


@dataclass(frozen=True)
class TicketState:
    status: str
    assignee_id: int | None
    group_id: int | None


def is_reopen(old: str, new: str) -> bool:
    return old in ("resolved", "closed") and new in ("in_progress", "assigned")


def _needs_owner(state: TicketState, new_status: str) -> str | None:
    """Why ``new_status`` is out of reach for lack of an assignee, or None."""
    if new_status in ("assigned", "in_progress", "pending_customer") \
            and state.assignee_id is None:
        return f"cannot move to {new_status}: the ticket has no assignee"
    return None


def check_transition(state: TicketState, new_status: str) -> None:
    """Raise :class:`IllegalTransition` unless ``state.status → new_status`` is legal."""
    if new_status not in STATUSES:
        raise IllegalTransition(f"unknown status {new_status!r}; one of {', '.join(STATUSES)}")
    old = state.status
    if new_status == old:
        raise IllegalTransition(f"ticket is already {old}")
    if new_status not in _MOVES[old]:
        allowed = ", ".join(allowed_moves(state)) or "none (final state)"
        raise IllegalTransition(
            f"cannot move the ticket from {old} to {new_status}; allowed: {allowed}")
    why = _needs_owner(state, new_status)
    if why:
        raise IllegalTransition(why)


def status_after_assignment(status: str, assignee_id: int | None) -> str:
    """A new ticket that gets an assignee becomes assigned; losing the assignee makes an
    assigned ticket new again (a group alone does not count as an owner)."""
    if status == "new" and assignee_id is not None:
        return "assigned"
    if status == "assigned" and assignee_id is None:
        return "new"
    return status


def status_when_queued(status: str) -> str:
    """The status of an open ticket handed to a group's queue with no person (a department
    forward): nobody owns it, so it is new, whatever its owner had made of it (in progress
    and waiting on the customer need an owner too). A done ticket keeps its status."""
    return "new" if status in OPEN_STATUSES else status


def allowed_moves(state: TicketState) -> list[str]:
    """The statuses ``state`` may move to now, sorted (what a status menu should offer)."""
    return [target for target in sorted(_MOVES.get(state.status, frozenset()))
            if _needs_owner(state, target) is None]
