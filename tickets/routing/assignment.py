"""Assignment inside a group: which member gets the next ticket (pure).

A group chooses its :data:`METHODS`. The service gathers one :class:`Candidate` per member
(open tickets, telephony state, cap, skills, seniority, when each was last given one) and
:func:`choose` decides; it does no I/O, so fairness is tested over thousands of rounds.

Who can take work at all: an active user, not paused or logged out in the telephony queue
(``available``; always true where there is no PBX), under their cap of open tickets, and
holding every skill the ticket's type requires (skill-based routing is this filter, under
whichever method). Among them:

* ``round_robin`` — the one given a ticket longest ago (never beats ever);
* ``least_loaded`` — the fewest open tickets weighted by priority (:data:`WEIGHTS`);
* ``manual`` — nobody: the ticket waits in the group's queue for a person to pick it.

A VIP customer's ticket goes to the most senior eligible member when the group says so
(``vip_to_senior``), the method breaking ties. Every remaining tie is broken by who was given
a ticket longest ago, then by user id: deterministic and fair (equal members take turns, so
over any number of rounds their counts differ by at most one).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

METHODS = ("manual", "round_robin", "least_loaded")
#: Weight of one open ticket of each priority in ``least_loaded``.
WEIGHTS = {"low": 1, "normal": 2, "high": 3, "urgent": 4}


@dataclass(frozen=True)
class Candidate:
    """A group member as assignment sees them.

    ``load`` the weighted sum of their open tickets; ``open_count`` how many; ``cap`` the
    most open tickets they may hold (None: no cap); ``last_assigned`` a number that grows
    with each automatic assignment (0: never), so smaller means longer ago.
    """

    user_id: int
    username: str
    active: bool = True
    available: bool = True
    load: int = 0
    open_count: int = 0
    cap: int | None = None
    skills: frozenset[str] = frozenset()
    seniority: int = 0
    last_assigned: int = 0


@dataclass(frozen=True)
class Choice:
    """The member chosen, or None with ``reason`` (shown in the history and the dry run)."""

    user_id: int | None
    username: str | None
    reason: str


def load_of(priorities: Iterable[str]) -> int:
    """The weighted load of open tickets with these priorities."""
    return sum(WEIGHTS.get(p, WEIGHTS["normal"]) for p in priorities)


def choose(method: str, members: Iterable[Candidate], *,
           required_skills: frozenset[str] = frozenset(), vip: bool = False,
           vip_to_senior: bool = False) -> Choice:
    """The member of a group who gets the ticket; see the module docstring for the rules.

    Raises ValueError for a method not in :data:`METHODS` (the schema refuses those first).
    """
    if method not in METHODS:
        raise ValueError(f"unknown assignment method {method!r}")
    if method == "manual":
        return Choice(None, None, "the group assigns by hand: the ticket waits in its queue")
    members = list(members)
    if not members:
        return Choice(None, None, "the group has no members: the ticket waits in its queue")
    able = [m for m in members if m.active and m.available
            and (m.cap is None or m.open_count < m.cap) and required_skills <= m.skills]
    if not able:
        return Choice(None, None, _nobody_why(members, required_skills))
    if vip and vip_to_senior:
        top = max(m.seniority for m in able)
        able = [m for m in able if m.seniority == top]
    if method == "round_robin":
        best = min(able, key=lambda m: (m.last_assigned, m.user_id))
        how = "round robin"
    else:
        best = min(able, key=lambda m: (m.load, m.last_assigned, m.user_id))
        how = f"least loaded (load {best.load})"
    senior = " (VIP: most senior)" if vip and vip_to_senior else ""
    return Choice(best.user_id, best.username, f"{how}{senior}")


def _nobody_why(members: list[Candidate], required: frozenset[str]) -> str:
    reasons = []
    if not any(m.active for m in members):
        reasons.append("no member is active")
    elif not any(m.active and m.available for m in members):
        reasons.append("every active member is paused or logged out")
    elif required and not any(required <= m.skills for m in members):
        reasons.append(f"no member has the skills {', '.join(sorted(required))}")
    else:
        reasons.append("every member who could take it is at their cap or lacks a skill")
    return f"{reasons[0]}: the ticket waits in the group's queue"
