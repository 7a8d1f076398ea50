"""Ticket-type field templates: checking the extra fields a ticket carries (pure)."""

from __future__ import annotations

import math
from datetime import date
from typing import Any

from tickets.errors import Invalid

MAX_TEXT = 2000
#: Number fields are stored in JSON: finite (JSON has no inf/NaN) and of a sane size.
MAX_NUMBER = 1e15


def _coerce(spec: dict[str, Any], value: Any) -> Any:
    key, kind = spec["key"], spec.get("type", "text")
    if kind == "text":
        if not isinstance(value, str):
            raise Invalid(f"field {key!r} must be text")
        if len(value) > MAX_TEXT:
            raise Invalid(f"field {key!r} is longer than {MAX_TEXT} characters")
        return value
    if kind == "number":
        if isinstance(value, bool) or not isinstance(value, int | float) \
                or not math.isfinite(value) or abs(value) > MAX_NUMBER:
            raise Invalid(f"field {key!r} must be a number of at most {MAX_NUMBER:g}")
        return value
    if kind == "bool":
        if not isinstance(value, bool):
            raise Invalid(f"field {key!r} must be true or false")
        return value
    if kind == "date":
        try:
            return date.fromisoformat(str(value)).isoformat()
        except ValueError:
            raise Invalid(f"field {key!r} must be a date (YYYY-MM-DD)") from None
    if kind == "choice":
        options = spec.get("options") or []
        if value not in options:
            raise Invalid(f"field {key!r} must be one of {options}")
        return value
    raise Invalid(f"field {key!r} has unknown type {kind!r}")


def validate_fields(template: list[dict[str, Any]], values: dict[str, Any],
                    *, partial: bool = False) -> dict[str, Any]:
    """Return ``values`` checked against ``template``; ``partial`` skips required checks."""
    specs = {spec["key"]: spec for spec in template}
    unknown = sorted(set(values) - set(specs))
    if unknown:
        raise Invalid(f"unknown fields for this ticket type: {unknown}")
    clean: dict[str, Any] = {}
    for key, value in values.items():
        if value is None or value == "":
            continue
        clean[key] = _coerce(specs[key], value)
    if not partial:
        missing = [k for k, s in specs.items() if s.get("required") and k not in clean]
        if missing:
            raise Invalid(f"required fields missing: {missing}")
    return clean
