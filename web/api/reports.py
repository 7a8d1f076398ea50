"""Reports over HTTP (supervisors and admins): tickets, agents, calls per queue, a summary.

``GET /api/v1/reports/{tickets,agents,queues,summary}?from=YYYY-MM-DD&to=YYYY-MM-DD`` (local
dates of ``HOTLINE_TIMEZONE``, both included; default: the last 7 days up to today) with
``bucket=hour|day``, ``group`` (key), ``agent`` (username), ``type`` (key), ``channel``,
``queue`` as each report allows, and ``format=json|csv|xlsx``: JSON is the report itself
(:mod:`tickets.reports.schemas`); CSV its main table, XLSX every table
(:mod:`tickets.reports.export`), as a download named after the report and dates.

Bad input is a 422 whose ``loc`` names the parameter: ``from`` after ``to``, a period over
366 days, hourly buckets over more than 31 days, an unknown group, agent, type or channel.
The figures are defined in :mod:`tickets.reports.service`.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, tzinfo
from typing import Annotated, Any, Literal, NoReturn

from fastapi import APIRouter, Query
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import BaseModel
from sqlalchemy import select

from tickets.models import Group, TicketType, User
from tickets.reports import export
from tickets.reports import service as reports
from tickets.reports.period import MAX_DAYS, Bucket, Period
from tickets.reports.schemas import (
    AgentReport,
    Filters,
    QueueReport,
    SummaryReport,
    TicketReport,
)
from tickets.schemas import Channel
from tickets.timeinput import LocalDate, zone
from web.deps import Manager, ServicesDep, SessionDep

router = APIRouter(prefix="/api/v1/reports", tags=["reports"])

#: Hourly buckets over a longer period would be thousands of points per queue.
MAX_HOUR_DAYS = 31
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
FILES: dict[int | str, dict[str, Any]] = {200: {"content": {"text/csv": {}, XLSX: {}},
               "description": "the report (JSON), or its tables as CSV / XLSX"}}

From = Annotated[LocalDate | None, Query(alias="from", description="first local date (included)")]
To = Annotated[LocalDate | None, Query(alias="to",
                                  description="last local date (included); default today")]
BucketQ = Annotated[Bucket, Query(description="hour or day buckets (local time)")]
Key = Annotated[str | None, Query(min_length=1, max_length=64)]
ChannelQ = Annotated[Channel | None, Query()]
Format = Annotated[Literal["json", "csv", "xlsx"], Query()]
Threshold = Annotated[int | None, Query(ge=1, le=3600, description=(
    "seconds of waiting within which an answer counts for the service level "
    "(default HOTLINE_STATS_SL_THRESHOLD_S, else 20)"))]
ShortAbandon = Annotated[int | None, Query(ge=0, le=600, description=(
    "abandons after less waiting are short (default HOTLINE_STATS_SHORT_ABANDON_S, else 5)"))]


def _bad(field: str, message: str) -> NoReturn:
    raise RequestValidationError([{"loc": ("query", field), "msg": message,
                                   "type": "value_error"}])


def _period(first: date | None, last: date | None, bucket: Bucket, tz: tzinfo) -> Period:
    """The local dates asked for (default: the 7 days up to today), checked."""
    for name, day in (("from", first), ("to", last)):  # before any date arithmetic
        if day is not None and not 2000 <= day.year <= 2099:
            _bad(name, "dates from 2000 to 2099")
    today = datetime.now(tz).date()
    last = last or (first + timedelta(days=6) if first else today)
    first = first or last - timedelta(days=6)
    days = (last - first).days + 1
    if first > last:
        _bad("from", f"from ({first}) is after to ({last})")
    if days > MAX_DAYS:
        _bad("to", f"the period is {days} days; at most {MAX_DAYS}")
    if first.year < 2000 or last.year > 2099:
        _bad("from" if first.year < 2000 else "to", "dates from 2000 to 2099")
    if bucket == "hour" and days > MAX_HOUR_DAYS:
        _bad("bucket", f"hourly buckets cover at most {MAX_HOUR_DAYS} days; use day")
    return Period(first, last, tz)


class _Ask:
    """A request's filters, checked: names looked up, the period bounded."""

    def __init__(self, services: ServicesDep, session: SessionDep) -> None:
        self.settings = services.settings
        self.session = session

    async def filters(self, first: date | None, last: date | None, bucket: Bucket = "day", *,
                      group: str | None = None, agent: str | None = None,
                      type_key: str | None = None, channel: str | None = None,
                      queue: str | None = None, sl: int | None = None,
                      short: int | None = None) -> Filters:
        period = _period(first, last, bucket, zone(self.settings.timezone))
        group_id = group_queue = None
        if group is not None:
            row = (await self.session.execute(select(Group.id, Group.queue)
                                              .where(Group.key == group))).first()
            if row is None:
                _bad("group", f"unknown group {group!r}")
            group_id, group_queue = row
        agent_id = None
        if agent is not None:
            agent_id = await self.session.scalar(select(User.id).where(
                User.username == agent, User.role.in_(reports.STAFF_ROLES)))
            if agent_id is None:
                _bad("agent", f"unknown agent {agent!r}")
        type_id = None
        if type_key is not None:
            type_id = await self.session.scalar(select(TicketType.id)
                                                .where(TicketType.key == type_key))
            if type_id is None:
                _bad("type", f"unknown ticket type {type_key!r}")
        queues: tuple[str, ...] | None = None
        if queue is not None:
            queues = (queue,)
        if group is not None:  # the group's own queue (none: no calls)
            wanted = {group_queue} if group_queue else set()
            queues = tuple(sorted(wanted & set(queues) if queues is not None else wanted))
        return Filters(
            period=period, bucket=bucket, group_id=group_id,
            agent_id=agent_id, type_id=type_id, channel=channel,
            queues=queues,
            sl_threshold_s=float(sl if sl is not None else self._setting(
                "stats_sl_threshold_s", 20)),
            short_abandon_s=float(short if short is not None else self._setting(
                "stats_short_abandon_s", 5)))

    def _setting(self, name: str, default: float) -> float:
        """``HOTLINE_STATS_*`` when the live statistics' settings exist, else the default."""
        value = getattr(self.settings, name, None)
        return float(value) if isinstance(value, int | float) else default


def _answer(name: str, f: Filters, report: BaseModel, fmt: str) -> Any:
    if fmt == "json":
        return report
    stem = f"hotline-{name}-{f.period.first.isoformat()}_{f.period.last.isoformat()}"
    sheets = export.tables(report)
    if fmt == "csv":
        body, media, ext = export.to_csv(sheets[0]), "text/csv; charset=utf-8", "csv"
    else:
        body, media, ext = export.to_xlsx(sheets), XLSX, "xlsx"
    return Response(body, media_type=media, headers={
        "Content-Disposition": f'attachment; filename="{stem}.{ext}"'})


@router.get("/tickets", response_model=TicketReport, responses=FILES)
async def ticket_report(_: Manager, services: ServicesDep, session: SessionDep,
                        first: From = None, last: To = None, bucket: BucketQ = "day",
                        group: Key = None, agent: Key = None, type: Key = None,
                        channel: ChannelQ = None, format: Format = "json") -> Any:
    """Tickets created in the period: volume per bucket, type and channel; solved, open,
    cancelled; first-contact resolution, first response and resolution times, overdue and
    reopen rates (CSAT: null until collected). Filters: group, agent (assignee), type,
    channel. CSV: the per-bucket table."""
    f = await _Ask(services, session).filters(first, last, bucket, group=group, agent=agent,
                                              type_key=type, channel=channel)
    report = await reports.ticket_report(session, f, services.settings.timezone)
    return _answer("tickets", f, report, format)


@router.get("/agents", response_model=AgentReport, responses=FILES)
async def agent_report(_: Manager, services: ServicesDep, session: SessionDep,
                       first: From = None, last: To = None, group: Key = None,
                       agent: Key = None, type: Key = None, channel: ChannelQ = None,
                       format: Format = "json") -> Any:
    """Per staff member: tickets handled (assigned, created in the period), solved, FCR,
    resolution time, reopened; inbound calls offered, answered, missed; talk time and AHT
    (idle time and CSAT: null, not recorded). Filters: group (its members), agent, and
    type / channel for the ticket figures."""
    f = await _Ask(services, session).filters(first, last, group=group, agent=agent,
                                              type_key=type, channel=channel)
    report = await reports.agent_report(session, f, services.settings.timezone)
    return _answer("agents", f, report, format)


@router.get("/queues", response_model=QueueReport, responses=FILES)
async def queue_report(_: Manager, services: ServicesDep, session: SessionDep,
                       first: From = None, last: To = None, bucket: BucketQ = "day",
                       queue: Key = None, group: Key = None, sl_threshold_s: Threshold = None,
                       short_abandon_s: ShortAbandon = None,
                       format: Format = "json") -> Any:
    """Inbound calls per queue and bucket (from the call log): offered, answered,
    abandoned, short abandons, answered within the SL threshold, service level, abandon
    rate, ASA, AHT; ``total`` over everything. Filters: queue, group (its queue)."""
    f = await _Ask(services, session).filters(first, last, bucket, queue=queue, group=group,
                                              sl=sl_threshold_s, short=short_abandon_s)
    report = await reports.queue_report(session, f, services.settings.timezone)
    return _answer("queues", f, report, format)


@router.get("/summary", response_model=SummaryReport, responses=FILES)
async def summary_report(_: Manager, services: ServicesDep, session: SessionDep,
                         first: From = None, last: To = None, group: Key = None,
                         agent: Key = None, type: Key = None, channel: ChannelQ = None,
                         format: Format = "json") -> Any:
    """Every ticket figure and every queue's calls over the whole period, at a glance.
    Filters: group (tickets of the group, calls of its queue), agent, type, channel (the
    ticket figures)."""
    f = await _Ask(services, session).filters(first, last, group=group, agent=agent,
                                              type_key=type, channel=channel)
    report = await reports.summary_report(session, f, services.settings.timezone)
    return _answer("summary", f, report, format)
