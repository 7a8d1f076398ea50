"""Shapes of the SLA API: calendars, policies, a ticket's clock, supervision orders."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints, field_validator, model_validator

from tickets.schemas import DbId, Flag, In, Out, Priority, Version
from tickets.sla.calendar import WEEKDAYS, week_spans
from tickets.sla.policy import check_escalation
from tickets.timeinput import Moment

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=128)]
CalKey = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64,
                                          pattern=r"^[a-z0-9_\-]+$")]
Zone = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
Region = Annotated[str, StringConstraints(strip_whitespace=True, min_length=2, max_length=16)]
IsoDay = Annotated[str, StringConstraints(pattern=r"^\d{4}-\d{2}-\d{2}$")]
SpanText = Annotated[str, StringConstraints(max_length=11)]
Hours = dict[Annotated[str, StringConstraints(max_length=3)],
             Annotated[list[SpanText], Field(max_length=6)]]
Minutes = Annotated[int, Field(ge=1, le=60 * 24 * 365, strict=True)]
Share = Annotated[float, Field(gt=0, le=1, allow_inf_nan=False)]
Step = Annotated[int, Field(ge=0, le=100, strict=True)]
#: The tiers a customer can have (tickets.models.Customer.tier).
Tier = Literal["standard", "vip"]
Note = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]


def _check_hours(v: dict[str, list[str]] | None) -> dict[str, list[str]] | None:
    if v is not None:
        week_spans(v)  # ValueError names the day or span: a 422
    return v


def _check_zone(v: str | None) -> str | None:
    if v is not None:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {v!r} (an IANA name such as "
                             "Asia/Shanghai)") from None
    return v


def _check_region(v: str | None) -> str | None:
    if v is not None:
        from tickets.sla.calendar import holiday_source
        holiday_source(v)  # ValueError: unknown region
    return v


def _check_days(v: list[str] | None) -> list[str] | None:
    if v is not None:
        from datetime import date
        for d in v:
            date.fromisoformat(d)
        return sorted(set(v))
    return v


def check_days_apart(closed_days: list[str], open_days: list[str]) -> None:
    """A day is either closed or open (a working day off the week's hours), never both:
    ValueError naming ``open_days`` and the first such day."""
    both = sorted(set(closed_days) & set(open_days))
    if both:
        raise ValueError(f"open_days: {both[0]} is also in closed_days (a day is one or "
                         "the other)")


def check_targets(first_response_minutes: int, resolution_minutes: int) -> None:
    """Resolving includes responding: ValueError naming ``resolution_minutes`` when it is
    shorter than ``first_response_minutes``."""
    if resolution_minutes < first_response_minutes:
        raise ValueError(f"resolution_minutes: {resolution_minutes} is shorter than "
                         f"first_response_minutes ({first_response_minutes})")


class CalendarIn(In):
    key: CalKey
    name: Name
    timezone: Zone | None = None
    holidays: Region | None = None
    hours: Hours = Field(default_factory=dict)
    closed_days: list[IsoDay] = Field(default_factory=list, max_length=1000)
    open_days: list[IsoDay] = Field(default_factory=list, max_length=1000)
    always_open: Flag = False

    _hours = field_validator("hours")(_check_hours)
    _zone = field_validator("timezone")(_check_zone)
    _region = field_validator("holidays")(_check_region)
    _days = field_validator("closed_days", "open_days")(_check_days)

    @model_validator(mode="after")
    def _some_hours(self) -> CalendarIn:
        check_open(self.hours, self.always_open)
        check_days_apart(self.closed_days, self.open_days)
        return self


def check_open(hours: dict[str, list[str]], always_open: bool) -> None:
    """A calendar must have working hours somewhere in the week (or be 24×7): without them
    no due time could ever be reached. ValueError naming ``hours``."""
    if not always_open and not any(hours.get(d) for d in WEEKDAYS):
        raise ValueError("hours: give working hours for at least one weekday, or make the "
                         "calendar always_open")


class CalendarPatch(In):
    name: Name | None = None
    timezone: Zone | None = None
    holidays: Region | None = None
    hours: Hours | None = None
    closed_days: list[IsoDay] | None = Field(default=None, max_length=1000)
    open_days: list[IsoDay] | None = Field(default=None, max_length=1000)
    always_open: Flag | None = None
    version: Version | None = None

    _hours = field_validator("hours")(_check_hours)
    _zone = field_validator("timezone")(_check_zone)
    _region = field_validator("holidays")(_check_region)
    _days = field_validator("closed_days", "open_days")(_check_days)


class CalendarOut(Out):
    id: int
    key: str
    name: str
    timezone: str | None
    holidays: str | None
    hours: dict[str, list[str]]
    closed_days: list[str]
    open_days: list[str]
    always_open: bool
    version: int
    updated_at: datetime


def _check_steps(v: list[dict[str, Any]] | None) -> list[dict[str, Any]] | None:
    if v is not None:
        return [s.as_json() for s in check_escalation(v)]
    return v


class PolicyIn(In):
    name: Name
    enabled: Flag = True
    priority: Priority
    type_key: Annotated[str, StringConstraints(max_length=64)] | None = None
    customer_tier: Tier | None = None
    flow_step: Step | None = None
    calendar_id: DbId
    first_response_minutes: Minutes
    resolution_minutes: Minutes
    reminder_share: Share = 0.8
    escalation: list[dict[Annotated[str, StringConstraints(max_length=16)], Any]] = Field(
        default_factory=list, max_length=10)

    _steps = field_validator("escalation")(_check_steps)

    @model_validator(mode="after")
    def _targets(self) -> PolicyIn:
        check_targets(self.first_response_minutes, self.resolution_minutes)
        return self


class PolicyPatch(In):
    name: Name | None = None
    enabled: Flag | None = None
    priority: Priority | None = None
    type_key: Annotated[str, StringConstraints(max_length=64)] | None = None
    customer_tier: Tier | None = None
    flow_step: Step | None = None
    calendar_id: DbId | None = None
    first_response_minutes: Minutes | None = None
    resolution_minutes: Minutes | None = None
    reminder_share: Share | None = None
    escalation: list[dict[Annotated[str, StringConstraints(max_length=16)], Any]] | None = \
        Field(default=None, max_length=10)
    version: Version | None = None

    _steps = field_validator("escalation")(_check_steps)


class PolicyOut(Out):
    id: int
    name: str
    enabled: bool
    priority: str
    type_key: str | None
    customer_tier: str | None
    flow_step: int | None
    calendar_id: int
    first_response_minutes: int
    resolution_minutes: int
    reminder_share: float
    escalation: list[dict[str, Any]]
    version: int
    updated_at: datetime


class TargetOut(Out):
    target: str
    due_at: datetime
    met_at: datetime | None
    #: business time left (negative: overdue by that much); None once met or done
    business_seconds_left: int | None
    breached: bool


class OrderIn(In):
    note: Note
    deadline_at: Moment


class OrderOut(Out):
    id: int
    ticket_id: int
    created_by_id: int | None
    note: str
    deadline_at: datetime
    status: str
    created_at: datetime
    closed_at: datetime | None


class ClockOut(Out):
    policy_id: int | None
    policy: str
    calendar_id: int | None
    business_time: bool
    paused: bool
    paused_since: datetime | None
    paused_seconds: int
    breached_at: datetime | None
    next_at: datetime | None
    targets: list[TargetOut]
    orders: list[OrderOut]

