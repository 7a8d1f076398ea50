"""Pydantic shapes of field dispatch's API: what comes in (strict) and what goes out.

Why strict here rather than in the service: a wrong coordinate, a window that ends before it
starts or a part with no quantity is a 422 *naming the field* (``loc``), which only the
request's own validation can say precisely. What needs the database (an unknown skill, an
unknown status of a move) is checked by :mod:`dispatch.service`, which raises
:class:`tickets.errors.Invalid` whose message starts with the field's name.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, Field, StringConstraints, model_validator

from dispatch.models import WORK_ORDER_KINDS, WORK_ORDER_STATUSES
from tickets.schemas import DbId, Flag, In, Label, LongText, Priority, Version
from tickets.timeinput import LocalDate, Moment

Kind = Literal["repair", "maintenance", "install"]
assert set(WORK_ORDER_KINDS) == {"repair", "maintenance", "install"}
WorkOrderStatus = Literal["pending", "assigned", "accepted", "en_route", "on_site", "completed",
                          "failed", "cancelled"]
assert set(WORK_ORDER_STATUSES) == set(WorkOrderStatus.__args__)  # type: ignore[attr-defined]

Lat = Annotated[float, Field(ge=-90, le=90, allow_inf_nan=False, strict=True)]
Lon = Annotated[float, Field(ge=-180, le=180, allow_inf_nan=False, strict=True)]
#: time on site: 5 minutes to a 12-hour day
Duration = Annotated[int, Field(ge=5, le=720, strict=True)]
Skill = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40)]
Reason = Annotated[str, StringConstraints(strip_whitespace=True, max_length=255)]
Address = Annotated[str, StringConstraints(strip_whitespace=True, max_length=255)]
Phone = Annotated[str, StringConstraints(strip_whitespace=True, max_length=32)]
OpId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.:-]{1,64}$")]
#: a ``data:image/png;base64,…`` URL (the size is checked after decoding: 413)
DataUrl = Annotated[str, StringConstraints(pattern=r"^data:[a-z]+/[a-z0-9.+-]+;base64,",
                                           max_length=30_000_000)]


def _plannable(value: date) -> date:
    if not 2000 <= value.year <= 2999:
        raise ValueError("date: a day between the years 2000 and 2999")
    return value


#: A site-local day of plans and boards (``2026-11-30``), in a range a day plan can use.
Day = Annotated[LocalDate, AfterValidator(_plannable)]


def _plannable_moment(value: datetime) -> datetime:
    if not 2000 <= value.year <= 2999:
        raise ValueError("a time between the years 2000 and 2999")
    return value


#: An appointment window's bound: a date or time (``tickets.timeinput``) in a usable range.
WindowMoment = Annotated[Moment, AfterValidator(_plannable_moment)]
HHMM = Annotated[str, StringConstraints(pattern=r"^([01]\d|2[0-3]):[0-5]\d$|^24:00$")]


class Part(In):
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=128)]
    qty: Annotated[int, Field(ge=1, le=10_000, strict=True)]


Parts = Annotated[list[Part], Field(max_length=100)]
Skills = Annotated[list[Skill], Field(max_length=30)]


class _Window(In):
    window_start: WindowMoment | None = None
    window_end: WindowMoment | None = None

    @model_validator(mode="after")
    def _window(self) -> _Window:
        start, end = self.window_start, self.window_end
        if start is not None and end is not None and end <= start:
            raise ValueError("window_end must be after window_start")
        return self


class WorkOrderIn(_Window):
    """A new work order for a ticket; what is left out comes from the ticket, its customer
    and its type (address, contact, required skills, priority)."""

    kind: Kind = "repair"
    priority: Priority | None = None
    address: Address | None = None
    region: Annotated[str, StringConstraints(strip_whitespace=True, max_length=64)] | None = None
    lat: Lat | None = None
    lon: Lon | None = None
    contact_name: Label | None = None
    contact_phone: Phone | None = None
    required_skills: Skills | None = None
    duration_min: Duration = 60
    equipment_id: DbId | None = None
    parts_planned: Parts = Field(default_factory=list)
    notes: LongText = ""
    auto_assign: Flag = False

    @model_validator(mode="after")
    def _both_coordinates(self) -> WorkOrderIn:
        if (self.lat is None) != (self.lon is None):
            raise ValueError("lon: give both lat and lon, or neither")
        if (self.window_start is None) != (self.window_end is None):
            raise ValueError("window_end: give both window_start and window_end, or neither")
        return self


class WorkOrderPatch(_Window):
    """What a dispatcher may change; ``version`` (optional) refuses a stale edit (409)."""

    priority: Priority | None = None
    address: Address | None = None
    region: Annotated[str, StringConstraints(strip_whitespace=True, max_length=64)] | None = None
    lat: Lat | None = None
    lon: Lon | None = None
    contact_name: Label | None = None
    contact_phone: Phone | None = None
    required_skills: Skills | None = None
    duration_min: Duration | None = None
    parts_planned: Parts | None = None
    notes: LongText | None = None
    version: Version | None = None


class AssignIn(In):
    """``{"engineer_id": 7}`` (a dispatcher's choice) or ``{"auto": true}`` (the best)."""

    engineer_id: DbId | None = None
    auto: Flag = False

    @model_validator(mode="after")
    def _one(self) -> AssignIn:
        if (self.engineer_id is None) == (not self.auto):
            raise ValueError("engineer_id: give an engineer_id or auto: true (one of them)")
        return self


class StatusIn(In):
    """A move of the status machine (``dispatch/lifecycle.py``). ``status`` is a plain
    string so that an unknown one is a 422 naming ``status`` from the machine itself."""

    status: Annotated[str, StringConstraints(min_length=1, max_length=32)]
    reason: Reason | None = None
    version: Version | None = None
    op_id: OpId | None = None
    at: Moment | None = None
    lat: Lat | None = None
    lon: Lon | None = None


class DeclineIn(In):
    reason: Reason = ""


class ReportIn(In):
    notes: LongText | None = None
    parts_used: Parts | None = None
    rating: Annotated[int, Field(ge=1, le=5, strict=True)] | None = None
    signed_by: Label | None = None
    version: Version | None = None


class FileIn(In):
    """A photo (or the signature) as a data URL (PNG or JPEG)."""

    data_url: DataUrl
    op_id: OpId | None = None
    filename: Annotated[str, StringConstraints(max_length=128)] | None = None


class SignatureIn(FileIn):
    signed_by: Label | None = None


class SyncOp(In):
    op_id: OpId
    work_order_id: DbId
    kind: Literal["status", "report", "photo", "signature"]
    base_version: Version | None = None
    payload: dict[str, Any] = Field(default_factory=dict)
    at: Moment | None = None


class SyncIn(In):
    ops: Annotated[list[SyncOp], Field(max_length=200)]


class DutyIn(In):
    on_duty: Flag
    reason: Annotated[str, StringConstraints(strip_whitespace=True, max_length=64)] | None = None


class PositionIn(In):
    lat: Lat
    lon: Lon


class EngineerIn(In):
    """An engineer's profile (``PUT``: every field given replaces the stored one)."""

    region: Annotated[str, StringConstraints(strip_whitespace=True, max_length=64)] | None = None
    base_lat: Lat | None = None
    base_lon: Lon | None = None
    work_start: HHMM = "09:00"
    work_end: HHMM = "18:00"
    work_days: Annotated[list[Annotated[int, Field(ge=1, le=7, strict=True)]],
                         Field(min_length=1, max_length=7)] = Field(
        default_factory=lambda: [1, 2, 3, 4, 5, 6])
    daily_capacity: Annotated[int, Field(ge=0, le=50, strict=True)] = 8
    skills: Skills | None = None

    @model_validator(mode="after")
    def _hours(self) -> EngineerIn:
        if (self.base_lat is None) != (self.base_lon is None):
            raise ValueError("base_lon: give both base_lat and base_lon, or neither")
        if self.work_end <= self.work_start:
            raise ValueError("work_end must be after work_start")
        return self


# --- out ------------------------------------------------------------------------------------

class Ref(BaseModel):
    id: int
    name: str


class EquipmentRef(BaseModel):
    id: int
    serial_number: str
    model: str
    warranty_end: Any = None


class FileOut(BaseModel):
    id: int
    kind: str
    attachment_id: int
    url: str


class WorkOrderOut(BaseModel):
    id: int
    number: str
    ticket_id: int
    ticket_number: str
    kind: str
    status: str
    allowed_status: list[str]
    priority: str
    engineer: Ref | None
    address: str | None
    region: str | None
    lat: float | None
    lon: float | None
    contact_name: str | None
    contact_phone: str | None
    customer: Ref | None
    equipment: EquipmentRef | None
    required_skills: list[str]
    window_start: datetime | None
    window_end: datetime | None
    duration_min: int
    parts_planned: list[dict[str, Any]]
    parts_used: list[dict[str, Any]]
    notes: str
    fail_reason: str | None
    signed_by: str | None
    rating: int | None
    plan_seq: int | None
    planned_arrival: datetime | None
    files: list[FileOut]
    status_times: dict[str, str]
    version: int
    created_at: datetime
    updated_at: datetime


class WorkOrderPage(BaseModel):
    items: list[WorkOrderOut]
    total: int
    limit: int
    offset: int


class ReasonOut(BaseModel):
    code: str
    params: dict[str, Any]


class RankedOut(BaseModel):
    engineer: Ref
    score: float
    distance_km: float | None
    travel_min: float | None
    reasons: list[ReasonOut]


class RefusedOut(BaseModel):
    engineer: Ref
    reasons: list[ReasonOut]


class CandidatesOut(BaseModel):
    ranked: list[RankedOut]
    refused: list[RefusedOut]


class SyncResultOut(BaseModel):
    op_id: str
    outcome: Literal["applied", "duplicate", "conflict", "rejected"]
    work_order: WorkOrderOut | None
    detail: str | None


class SyncOut(BaseModel):
    results: list[SyncResultOut]


class PositionOut(BaseModel):
    lat: float
    lon: float
    at: datetime | None
    source: str


class EngineerOut(BaseModel):
    id: int
    name: str
    username: str
    is_active: bool
    skills: list[str]
    region: str | None
    base_lat: float | None
    base_lon: float | None
    work_start: str
    work_end: str
    work_days: list[int]
    daily_capacity: int
    on_duty: bool
    off_reason: str | None
    position: PositionOut | None
    load_today: int
    open_orders: int


class StopOut(BaseModel):
    seq: int
    arrival: datetime
    start: datetime
    travel_min: float
    work_order: WorkOrderOut


class UnplannedOut(BaseModel):
    work_order: WorkOrderOut
    reason: str


class PlanEngineerOut(BaseModel):
    """The plan's engineer: who, and whether on duty (their phone shows it)."""

    id: int
    name: str
    on_duty: bool
    off_reason: str | None


class PlanOut(BaseModel):
    date: str
    engineer: PlanEngineerOut
    stops: list[StopOut]
    unplanned: list[UnplannedOut]
    travel_min: float
    solver: str
    solve_ms: float


class BoardEngineerOut(BaseModel):
    engineer: EngineerOut
    on_duty: bool
    position: PositionOut | None
    plan: PlanOut


class BoardOut(BaseModel):
    date: str
    unassigned: list[WorkOrderOut]
    engineers: list[BoardEngineerOut]

