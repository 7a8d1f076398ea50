"""Service-level targets per priority: first-response and resolution due times (pure)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class SlaTarget:
    first_response: timedelta
    resolution: timedelta


DEFAULT_TARGETS: dict[str, SlaTarget] = {
    "urgent": SlaTarget(timedelta(minutes=30), timedelta(hours=4)),
    "high": SlaTarget(timedelta(hours=2), timedelta(hours=24)),
    "normal": SlaTarget(timedelta(hours=8), timedelta(days=3)),
    "low": SlaTarget(timedelta(days=1), timedelta(days=7)),
}


def due_times(priority: str, opened_at: datetime,
              targets: dict[str, SlaTarget] = DEFAULT_TARGETS) -> tuple[datetime, datetime]:
    """(first response due, resolution due) for a ticket opened at ``opened_at``."""
    target = targets.get(priority, targets["normal"])
    return opened_at + target.first_response, opened_at + target.resolution
