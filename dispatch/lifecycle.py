"""The work-order status machine (pure: no I/O), shared by the service, the API and the tests.

    pending ──assign──▶ assigned ──accept──▶ accepted ──▶ en_route ──▶ on_site ──▶ completed
       ▲                  │  │                 │            │            │
       └──decline/unassign┘  └──(reassign)     └─unassign───┘            └──▶ failed (reason)
    any open status ──cancel──▶ cancelled

``completed``, ``failed`` and ``cancelled`` are final: a second visit is a new work order.
An order goes back to ``pending`` only by losing its engineer (a decline, the engineer going
off duty, a dispatcher taking it back): :func:`check_transition` refuses ``pending`` with an
engineer and every other status without one.
"""

from __future__ import annotations

from collections.abc import Mapping

from tickets.errors import Conflict, Invalid

FINAL = frozenset({"completed", "failed", "cancelled"})
OPEN = frozenset({"pending", "assigned", "accepted", "en_route", "on_site"})
#: statuses in which the engineer holds the order (counts toward their day's capacity)
HELD = frozenset({"assigned", "accepted", "en_route", "on_site"})

#: status → the statuses it may move to
TRANSITIONS: Mapping[str, frozenset[str]] = {
    "pending": frozenset({"assigned", "cancelled"}),
    "assigned": frozenset({"assigned", "accepted", "pending", "cancelled"}),
    "accepted": frozenset({"assigned", "en_route", "pending", "cancelled"}),
    "en_route": frozenset({"on_site", "pending", "failed", "cancelled"}),
    "on_site": frozenset({"completed", "failed"}),
    "completed": frozenset(),
    "failed": frozenset(),
    "cancelled": frozenset(),
}

#: the moves an engineer makes on their own order (the rest are the dispatcher's)
ENGINEER_MOVES = frozenset({("assigned", "accepted"), ("accepted", "en_route"),
                            ("en_route", "on_site"), ("on_site", "completed"),
                            ("on_site", "failed"), ("en_route", "failed")})


def check_transition(current: str, target: str, *, has_engineer: bool,
                     reason: str | None = None) -> None:
    """Raise if ``current`` → ``target`` is not allowed.

    Invalid: an unknown status, ``failed``/``cancelled`` without a reason. Conflict: a move
    the machine does not have (e.g. ``pending`` → ``completed``, anything out of a final
    status) or a status that contradicts the engineer (``assigned`` and later without one).
    """
    if target not in TRANSITIONS:
        raise Invalid(f"unknown work order status {target!r}; one of {sorted(TRANSITIONS)}")
    if target not in TRANSITIONS.get(current, frozenset()):
        raise Conflict(f"a work order cannot go from {current} to {target}")
    if target in HELD and not has_engineer:
        raise Conflict(f"a work order needs an engineer to be {target}")
    if target in {"failed", "cancelled"} and not (reason and reason.strip()):
        raise Invalid(f"reason: a work order {target} needs a reason")


def is_engineer_move(current: str, target: str) -> bool:
    """Is this a move the assigned engineer makes (rather than a dispatcher)?"""
    return (current, target) in ENGINEER_MOVES
