"""Service levels: business-time calendars, policies, the ticket's clock, the sweep, 督办.

Sub-modules: :mod:`.calendar` (business time, pure), :mod:`.policy` (which policy applies,
pure), :mod:`.clock` (due times, schedule, what fires, pure), :mod:`.models`,
:mod:`.service` (the clock and the sweep against the database), :mod:`.schemas`.

:func:`due_times` is the former fixed table in wall-clock time, kept for callers that want
a ticket's default targets without a database (demo data, tests).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from tickets.sla.policy import DEFAULT_MINUTES


@dataclass(frozen=True)
class SlaTarget:
    first_response: timedelta
    resolution: timedelta


DEFAULT_TARGETS: dict[str, SlaTarget] = {
    p: SlaTarget(timedelta(minutes=a), timedelta(minutes=b))
    for p, (a, b) in DEFAULT_MINUTES.items()}


def due_times(priority: str, opened_at: datetime,
              targets: dict[str, SlaTarget] = DEFAULT_TARGETS) -> tuple[datetime, datetime]:
    """(first response due, resolution due) of the built-in table (wall clock)."""
    target = targets.get(priority, targets["normal"])
    return opened_at + target.first_response, opened_at + target.resolution
