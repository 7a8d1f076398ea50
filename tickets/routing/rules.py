"""Routing rules: ordered (condition → actions) pairs, applied in one pass by a pure function.

:func:`evaluate` walks the enabled rules in order. A rule fires when its condition holds for
the facts *as the earlier rules left them* (a rule that raises the priority lets a later
"urgent → 财务组" rule see it); its actions change a :class:`Routing` proposal; "stop after
this rule" ends the walk. One pass, each rule at most once, so two rules that would undo
each other cannot loop: the later one wins and both are in the history.

What a person set by hand is *locked* (``Routing.locked``): a rule's action on it is
recorded as skipped, never applied. The outcome lists every rule that fired with what it
changed (and what it was not allowed to), for the ticket's history and for the dry run.

Targets (group keys, usernames, flow type keys) are checked against the database by the
service when a rule is saved; here they are opaque strings.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from tickets.routing.conditions import PRIORITY_RANK, Condition, ConditionError, Facts

#: Action kind → the Routing field it sets (``notify`` adds recipients, changes nothing).
ACTIONS = ("set_group", "set_assignee", "set_priority", "add_tags", "set_flow", "notify")
MAX_ACTIONS = 20
MAX_TAGS = 20


@dataclass(frozen=True)
class Action:
    """``kind`` one of :data:`ACTIONS`; ``value`` a string, or a list of strings for
    ``add_tags`` and ``notify`` (usernames or ``group:<key>``)."""

    kind: str
    value: str | tuple[str, ...]

    def as_json(self) -> dict[str, Any]:
        value = list(self.value) if isinstance(self.value, tuple) else self.value
        return {"kind": self.kind, "value": value}


@dataclass(frozen=True)
class Rule:
    """One rule as stored; ``position`` orders them (lower first)."""

    id: int
    name: str
    condition: Condition
    actions: tuple[Action, ...]
    stop: bool = False
    enabled: bool = True
    position: int = 0


@dataclass(frozen=True)
class Routing:
    """The routing fields of a ticket as the rules see and change them."""

    group: str | None = None
    assignee: str | None = None
    priority: str = "normal"
    tags: tuple[str, ...] = ()
    flow: str | None = None
    notify: tuple[str, ...] = ()
    #: Fields a person chose: rules do not change them.
    locked: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Change:
    """What one action did: ``field`` from ``old`` to ``new``; ``skipped`` says why not."""

    field: str
    old: Any
    new: Any
    skipped: str | None = None


@dataclass(frozen=True)
class Fired:
    rule_id: int
    rule_name: str
    changes: tuple[Change, ...]
    stopped: bool


@dataclass(frozen=True)
class Outcome:
    routing: Routing
    fired: tuple[Fired, ...] = ()

    def changed(self) -> dict[str, Any]:
        """Field → final value, for the fields some rule actually changed."""
        out: dict[str, Any] = {}
        for fired in self.fired:
            for change in fired.changes:
                if change.skipped is None:
                    out[change.field] = getattr(self.routing, change.field)
        return out


def compile_actions(data: Any, where: str = "actions") -> tuple[Action, ...]:
    """Check a JSON list of ``{"kind", "value"}`` and return it typed; :class:`ConditionError`
    naming the path when it does not fit."""
    if not isinstance(data, list) or not data or len(data) > MAX_ACTIONS:
        raise ConditionError(f"{where}: a list of 1 to {MAX_ACTIONS} actions")
    out = []
    for i, item in enumerate(data):
        at = f"{where}[{i}]"
        if not isinstance(item, Mapping) or set(item) != {"kind", "value"}:
            raise ConditionError(f"{at}: an action is {{\"kind\", \"value\"}}")
        kind, value = item["kind"], item["value"]
        if kind not in ACTIONS:
            raise ConditionError(f"{at}.kind: unknown action {kind!r} (use one of: "
                                 f"{', '.join(ACTIONS)})")
        if kind in ("add_tags", "notify"):
            if (not isinstance(value, list) or not 1 <= len(value) <= MAX_TAGS
                    or not all(isinstance(v, str) and v.strip() for v in value)):
                raise ConditionError(f"{at}.value: a list of 1 to {MAX_TAGS} non-empty strings")
            out.append(Action(kind, tuple(v.strip() for v in value)))
            continue
        if not isinstance(value, str) or not value.strip():
            raise ConditionError(f"{at}.value: a non-empty string")
        if kind == "set_priority" and value not in PRIORITY_RANK:
            raise ConditionError(f"{at}.value: unknown priority {value!r} (use one of: "
                                 f"{', '.join(PRIORITY_RANK)})")
        out.append(Action(kind, value.strip()))
    return tuple(out)


def evaluate(rules: Sequence[Rule], facts: Facts, routing: Routing) -> Outcome:
    """Apply ``rules`` (any order given; sorted by position, then id) to ``routing`` in one
    pass over ``facts``. Pure: the same input gives the same outcome."""
    fired: list[Fired] = []
    for rule in sorted(rules, key=lambda r: (r.position, r.id)):
        if not rule.enabled or not rule.condition(facts):
            continue
        changes: list[Change] = []
        for action in rule.actions:
            routing, change = _apply(routing, action)
            if change is not None:
                changes.append(change)
        facts = _facts_after(facts, routing)
        fired.append(Fired(rule.id, rule.name, tuple(changes), rule.stop))
        if rule.stop:
            break
    return Outcome(routing, tuple(fired))


_FIELD = {"set_group": "group", "set_assignee": "assignee", "set_priority": "priority",
          "add_tags": "tags", "set_flow": "flow", "notify": "notify"}


def _apply(routing: Routing, action: Action) -> tuple[Routing, Change | None]:
    name = _FIELD[action.kind]
    old = getattr(routing, name)
    if action.kind in ("add_tags", "notify"):
        assert isinstance(action.value, tuple)
        new: Any = old + tuple(v for v in action.value if v not in old)
    else:
        new = action.value
    if new == old:
        return routing, None
    if name in routing.locked:
        return routing, Change(name, old, new, skipped="set by hand")
    return replace(routing, **{name: new}), Change(name, old, new)


def _facts_after(facts: Facts, routing: Routing) -> Facts:
    """The facts a later rule sees: the routing fields as changed so far."""
    return replace(facts, priority=routing.priority, tags=frozenset(routing.tags),
                   group=routing.group, assignee=routing.assignee, _normal=dict(facts._normal))

