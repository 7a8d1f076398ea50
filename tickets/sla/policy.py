"""Policies as values, and which one applies to a ticket (pure).

A stored :class:`tickets.sla.models.SlaPolicy` becomes a :class:`Policy` (checked when an
admin saves it: :func:`check_escalation`); :func:`match` picks, among the enabled policies of
the ticket's priority, the most specific one whose optional criteria (type, customer tier,
flow step) all hold; equal specificity: the lowest id. No match: :data:`FALLBACK` (the former
fixed table on a 24×7 calendar), so a site without policies behaves as before.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal

Action = Literal["notify_supervisors", "raise_priority", "assign_group", "assign_user"]
ACTIONS: tuple[Action, ...] = ("notify_supervisors", "raise_priority", "assign_group",
                               "assign_user")
PRIORITIES = ("low", "normal", "high", "urgent")
#: Escalation steps per policy, and the longest offset (minutes of business time).
MAX_STEPS = 10
MAX_OFFSET_MIN = 60 * 24 * 365


@dataclass(frozen=True)
class EscalationStep:
    """After a breach, ``after`` business time later: ``action`` (``user`` for assign_user)."""

    after: timedelta
    action: Action
    user: str | None = None

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"after_minutes": int(self.after.total_seconds() // 60),
                               "action": self.action}
        if self.user is not None:
            out["user"] = self.user
        return out


@dataclass(frozen=True)
class Policy:
    id: int | None
    name: str
    priority: str
    calendar_id: int | None
    first_response: timedelta
    resolution: timedelta
    reminder_share: float = 0.8
    escalation: tuple[EscalationStep, ...] = ()
    type_key: str | None = None
    customer_tier: str | None = None
    flow_step: int | None = None
    enabled: bool = True

    @property
    def specificity(self) -> int:
        return sum(x is not None for x in (self.type_key, self.customer_tier, self.flow_step))


#: priority → (first response, resolution): the table tickets/sla.py had (wall clock).
DEFAULT_MINUTES: dict[str, tuple[int, int]] = {
    "urgent": (30, 240), "high": (120, 1440), "normal": (480, 4320), "low": (1440, 10080)}


def fallback(priority: str) -> Policy:
    """The built-in policy for ``priority`` (unknown priorities: ``normal``'s), 24×7."""
    first, resolution = DEFAULT_MINUTES.get(priority, DEFAULT_MINUTES["normal"])
    return Policy(None, f"built-in {priority}", priority, None, timedelta(minutes=first),
                  timedelta(minutes=resolution))


def match(policies: Iterable[Policy], *, priority: str, type_key: str | None,
          customer_tier: str | None, flow_step: int | None) -> Policy:
    """The policy for a ticket with these attributes (see the module docstring)."""
    best: Policy | None = None
    for p in policies:
        if not p.enabled or p.priority != priority:
            continue
        if p.type_key is not None and p.type_key != type_key:
            continue
        if p.customer_tier is not None and p.customer_tier != customer_tier:
            continue
        if p.flow_step is not None and p.flow_step != flow_step:
            continue
        if best is None or p.specificity > best.specificity or (
                p.specificity == best.specificity and (p.id or 0) < (best.id or 0)):
            best = p
    return best if best is not None else fallback(priority)


def check_escalation(steps: Sequence[Any]) -> tuple[EscalationStep, ...]:
    """Stored/posted escalation JSON → steps; ValueError naming ``escalation[i].field``."""
    if not isinstance(steps, list | tuple):
        raise ValueError("escalation: a list of steps")
    if len(steps) > MAX_STEPS:
        raise ValueError(f"escalation: at most {MAX_STEPS} steps")
    out = []
    for i, raw in enumerate(steps):
        where = f"escalation[{i}]"
        if not isinstance(raw, dict):
            raise ValueError(f"{where}: an object with after_minutes and action")
        unknown = set(raw) - {"after_minutes", "action", "user"}
        if unknown:
            raise ValueError(f"{where}.{sorted(unknown)[0]}: unknown field")
        after = raw.get("after_minutes", 0)
        if isinstance(after, bool) or not isinstance(after, int) \
                or not 0 <= after <= MAX_OFFSET_MIN:
            raise ValueError(f"{where}.after_minutes: a whole number 0…{MAX_OFFSET_MIN}")
        action = raw.get("action")
        if action not in ACTIONS:
            raise ValueError(f"{where}.action: one of {', '.join(ACTIONS)}")
        user = raw.get("user")
        if action == "assign_user":
            if not isinstance(user, str) or not user.strip() or len(user) > 64:
                raise ValueError(f"{where}.user: the username to assign to")
            user = user.strip()
        elif user is not None:
            raise ValueError(f"{where}.user: only for assign_user")
        out.append(EscalationStep(timedelta(minutes=after), action, user))
    if [s.after for s in out] != sorted(s.after for s in out):
        raise ValueError("escalation: steps in the order of after_minutes")
    return tuple(out)


def raised(priority: str) -> str:
    """One priority up (``urgent`` stays)."""
    i = PRIORITIES.index(priority) if priority in PRIORITIES else 1
    return PRIORITIES[min(i + 1, len(PRIORITIES) - 1)]
