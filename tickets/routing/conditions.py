"""Routing conditions: JSON an admin writes, compiled once, evaluated by pure functions.

A rule's condition is data, never code (no ``eval``): a tree of

* ``{"all": [c, …]}`` — every one holds (an empty list always holds);
* ``{"any": [c, …]}`` — at least one holds;
* ``{"not": c}``;
* ``{"field": F, "op": O, "value": V}`` — a test on one fact of the ticket.

The fields and the operators each kind of field accepts are a closed set (:data:`FIELDS`).
:func:`compile_condition` checks a tree against it and returns a :class:`Condition` whose
``test(facts)`` is a plain function of :class:`Facts`; anything unknown or ill-typed raises
:class:`ConditionError` naming where it is (``conditions.all[1].op: unknown operator
'matches' for field 'priority' (use one of: eq, ne, in, not_in, at_least, at_most)``), which the
API turns into a 422. Compiling once keeps evaluation cheap: keyword tests are precompiled
regular expressions, sets are frozensets.

Keywords (``contains_any`` …) match Chinese and English alike: both sides NFKC-normalised and
case-folded; a keyword with a letter or digit at an end must not continue a word there
(``refund`` matches "Refunds please" but not "nonrefundable"), while Chinese keywords match
anywhere (Chinese has no spaces between words).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, time
from typing import Any

PRIORITY_RANK = {"low": 0, "normal": 1, "high": 2, "urgent": 3}
MAX_DEPTH = 8
MAX_VALUES = 200
MAX_KEYWORD = 100


class ConditionError(ValueError):
    """A condition that cannot be compiled; ``str()`` names the path and the reason."""


@dataclass(frozen=True)
class Facts:
    """What a rule may look at: the ticket as it would be saved, plus its context.

    ``now`` is the site's local time (aware; ``HOTLINE_TIMEZONE``), for time-of-day and
    weekday tests. Text fields are as written; normalisation happens here.
    """

    now: datetime
    type: str | None = None
    priority: str = "normal"
    channel: str = "phone"
    status: str = "new"
    customer_tier: str | None = None
    customer_address: str = ""
    product: str | None = None
    order_number: str | None = None
    tags: frozenset[str] = frozenset()
    title: str = ""
    description: str = ""
    transcript: str = ""
    queue: str | None = None
    group: str | None = None
    assignee: str | None = None
    _normal: dict[str, str] = field(default_factory=dict, compare=False, repr=False)

    def text(self, name: str) -> str:
        """The normalised text of ``name`` (``text`` = title, description and transcript)."""
        cached = self._normal.get(name)
        if cached is None:
            if name == "text":
                raw = "\n".join((self.title, self.description, self.transcript))
            else:
                raw = getattr(self, name) or ""
            cached = self._normal[name] = normalize(raw)
        return cached


def normalize(text: str) -> str:
    """NFKC and case-folded: full-width ``ＶＩＰ`` and ``vip`` are the same keyword."""
    return unicodedata.normalize("NFKC", text).casefold()


Test = Callable[[Facts], bool]


@dataclass(frozen=True)
class Condition:
    """A compiled condition: ``test(facts)`` and the JSON it came from (stored as is)."""

    source: Mapping[str, Any]
    test: Test

    def __call__(self, facts: Facts) -> bool:
        return self.test(facts)


# --- fields -------------------------------------------------------------------------------

#: Field name → (kind, how to read it from Facts). The kind decides the operators.
_Getter = Callable[[Facts], Any]
FIELDS: dict[str, tuple[str, _Getter]] = {
    "type": ("value", lambda f: f.type),
    "priority": ("priority", lambda f: f.priority),
    "channel": ("value", lambda f: f.channel),
    "status": ("value", lambda f: f.status),
    "customer.tier": ("value", lambda f: f.customer_tier),
    "queue": ("value", lambda f: f.queue),
    "group": ("value", lambda f: f.group),
    "assignee": ("value", lambda f: f.assignee),
    "order_number": ("value", lambda f: f.order_number),
    "product": ("text", lambda f: f.text("product")),
    "customer.address": ("text", lambda f: f.text("customer_address")),
    "title": ("text", lambda f: f.text("title")),
    "description": ("text", lambda f: f.text("description")),
    "transcript": ("text", lambda f: f.text("transcript")),
    "text": ("text", lambda f: f.text("text")),
    "tags": ("tags", lambda f: f.tags),
    "time_of_day": ("time", lambda f: f.now.timetz().replace(tzinfo=None)),
    "weekday": ("weekday", lambda f: f.now.isoweekday()),
}

OPS: dict[str, tuple[str, ...]] = {
    "value": ("eq", "ne", "in", "not_in", "is_set", "is_not_set"),
    "priority": ("eq", "ne", "in", "not_in", "at_least", "at_most"),
    "text": ("contains_any", "contains_all", "contains_none"),
    "tags": ("has_any", "has_all", "has_none"),
    "time": ("between",),
    "weekday": ("in", "not_in"),
}


def compile_condition(data: Any, where: str = "conditions") -> Condition:
    """Check ``data`` against the grammar above and compile it; :class:`ConditionError`
    naming ``where`` (a JSON path) when it does not fit."""
    return Condition(data if isinstance(data, Mapping) else {}, _compile(data, where, 0))


def _compile(data: Any, where: str, depth: int) -> Test:
    if depth > MAX_DEPTH:
        raise ConditionError(f"{where}: nested deeper than {MAX_DEPTH} levels")
    if not isinstance(data, Mapping):
        raise ConditionError(f"{where}: a condition is an object, got {_kind(data)}")
    keys = set(data)
    if keys in ({"all"}, {"any"}):
        key = next(iter(keys))
        parts = data[key]
        if not isinstance(parts, list) or len(parts) > MAX_VALUES:
            raise ConditionError(f"{where}.{key}: a list of at most {MAX_VALUES} conditions")
        tests = tuple(_compile(p, f"{where}.{key}[{i}]", depth + 1) for i, p in enumerate(parts))
        if key == "all":
            return lambda f: all(t(f) for t in tests)
        return lambda f: any(t(f) for t in tests)
    if keys == {"not"}:
        inner = _compile(data["not"], f"{where}.not", depth + 1)
        return lambda f: not inner(f)
    if keys == {"field", "op", "value"} or keys == {"field", "op"}:
        return _leaf(data, where)
    raise ConditionError(f"{where}: expected one of all / any / not / field+op+value, got "
                         f"keys {sorted(map(str, keys))}")


def _leaf(data: Mapping[str, Any], where: str) -> Test:
    name = data["field"]
    if not isinstance(name, str) or name not in FIELDS:
        raise ConditionError(f"{where}.field: unknown field {name!r} (use one of: "
                             f"{', '.join(FIELDS)})")
    kind, get = FIELDS[name]
    op = data["op"]
    if op not in OPS[kind]:
        raise ConditionError(f"{where}.op: unknown operator {op!r} for field {name!r} (use "
                             f"one of: {', '.join(OPS[kind])})")
    value = data.get("value")
    at = f"{where}.value"
    if op in ("is_set", "is_not_set"):
        if value is not None:
            raise ConditionError(f"{at}: {op} takes no value")
        want = op == "is_set"
        return lambda f: (get(f) not in (None, "")) is want
    if kind in ("value", "priority"):
        return _value_test(get, op, value, at, ranked=kind == "priority")
    if kind == "text":
        return _text_test(get, op, value, at)
    if kind == "tags":
        return _tags_test(get, op, value, at)
    if kind == "time":
        start, end = _time_range(value, at)
        if start <= end:  # 09:00–18:00; end excluded
            return lambda f: start <= get(f) < end
        return lambda f: get(f) >= start or get(f) < end  # 22:00–06:00 crosses midnight
    days = _weekdays(value, at)
    if op == "in":
        return lambda f: get(f) in days
    return lambda f: get(f) not in days


def _value_test(get: _Getter, op: str, value: Any, at: str, *, ranked: bool) -> Test:
    if op in ("eq", "ne", "at_least", "at_most"):
        if not isinstance(value, str) or not value:
            raise ConditionError(f"{at}: {op} compares with one non-empty string")
        if ranked and value not in PRIORITY_RANK:
            raise ConditionError(f"{at}: unknown priority {value!r} (use one of: "
                                 f"{', '.join(PRIORITY_RANK)})")
        if op == "eq":
            return lambda f: get(f) == value
        if op == "ne":
            return lambda f: get(f) != value
        rank = PRIORITY_RANK[value]
        if op == "at_least":
            return lambda f: PRIORITY_RANK.get(get(f), -1) >= rank
        return lambda f: PRIORITY_RANK.get(get(f), 99) <= rank
    values = frozenset(_strings(value, at))
    if ranked and not values <= PRIORITY_RANK.keys():
        raise ConditionError(f"{at}: unknown priority {sorted(values - PRIORITY_RANK.keys())}")
    if op == "in":
        return lambda f: get(f) in values
    return lambda f: get(f) not in values


def _tags_test(get: _Getter, op: str, value: Any, at: str) -> Test:
    tags = frozenset(_strings(value, at))
    if op == "has_any":
        return lambda f: not tags.isdisjoint(get(f))
    if op == "has_all":
        return lambda f: tags <= get(f)
    return lambda f: tags.isdisjoint(get(f))


def _text_test(get: _Getter, op: str, value: Any, at: str) -> Test:
    words = _strings(value, at)
    for i, word in enumerate(words):
        if len(word) > MAX_KEYWORD:
            raise ConditionError(f"{at}[{i}]: a keyword of at most {MAX_KEYWORD} characters")
    patterns = tuple(keyword_pattern(w) for w in words)
    if op == "contains_any":
        return lambda f: any(p.search(get(f)) for p in patterns)
    if op == "contains_all":
        return lambda f: all(p.search(get(f)) for p in patterns)
    return lambda f: not any(p.search(get(f)) for p in patterns)


def keyword_pattern(keyword: str) -> re.Pattern[str]:
    """The regular expression of one keyword: normalised, whitespace-tolerant, and bounded
    where it begins or ends with a letter or digit (Chinese characters are not bounded)."""
    word = normalize(keyword).strip()
    body = r"\s*".join(re.escape(part) for part in word.split())
    before = r"(?<![a-z0-9])" if _ascii_alnum(word[:1]) else ""
    after = r"(?![a-z0-9])" if _ascii_alnum(word[-1:]) and not word[-1:].isdigit() else ""
    # An English keyword may take an ending ("refund" → "refunds", "refunded"), a number
    # may not be part of a longer one ("12" is not in "123").
    if after:
        after = r"(?:e?s|ed|ing)?" + after
    if word[-1:].isdigit():
        after = r"(?!\d)"
    return re.compile(before + body + after)


def _ascii_alnum(ch: str) -> bool:
    return bool(ch) and ch.isascii() and ch.isalnum()


def _strings(value: Any, at: str) -> list[str]:
    if not isinstance(value, list) or not value or len(value) > MAX_VALUES:
        raise ConditionError(f"{at}: a list of 1 to {MAX_VALUES} strings")
    for i, item in enumerate(value):
        if not isinstance(item, str) or not item.strip():
            raise ConditionError(f"{at}[{i}]: a non-empty string, got {_kind(item)}")
    return [item.strip() for item in value]


def _time_range(value: Any, at: str) -> tuple[time, time]:
    if not isinstance(value, list) or len(value) != 2:
        raise ConditionError(f'{at}: ["HH:MM", "HH:MM"] (local time, end excluded)')
    out = []
    for i, item in enumerate(value):
        try:
            out.append(time.fromisoformat(item) if isinstance(item, str) else None)
        except ValueError:
            out.append(None)
        if out[-1] is None or len(item) != 5:
            raise ConditionError(f"{at}[{i}]: a time as HH:MM, got {item!r}")
    return out[0], out[1]  # type: ignore[return-value]


def _weekdays(value: Any, at: str) -> frozenset[int]:
    if (not isinstance(value, list) or not value
            or not all(isinstance(d, int) and not isinstance(d, bool) and 1 <= d <= 7
                       for d in value)):
        raise ConditionError(f"{at}: a list of ISO weekdays, 1 (Monday) to 7 (Sunday)")
    return frozenset(value)


def _kind(value: Any) -> str:
    return type(value).__name__ if value is not None else "null"


def fields_used(data: Any) -> set[str]:
    """The field names a (valid) condition tests; for the rules page and the docs."""
    if not isinstance(data, Mapping):
        return set()
    if "field" in data:
        return {str(data["field"])}
    parts: Sequence[Any] = data.get("all") or data.get("any") or [data.get("not")]
    return set().union(*(fields_used(p) for p in parts)) if parts else set()
