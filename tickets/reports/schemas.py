"""Shapes of the reports: the filters a report is asked with, and the rows it answers.

Rates are shares (0..1) or ``None`` when their denominator is 0; durations are seconds
(``float``) or ``None`` when nothing was measured; ``bucket_start`` is the bucket's local
start with the site's UTC offset (``2026-12-01T09:00:00+08:00``). Rows carry counts and the
sums behind every rate, so totals over buckets are exact (:func:`queue_totals` and the
like in :mod:`tickets.reports.service` add rows, they never average averages).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from pydantic import BaseModel, Field

from tickets.reports.period import Bucket, Period


@dataclass(frozen=True)
class Filters:
    """What a report covers. ``period``: the local dates. Tickets: created in the period,
    of ``group_id`` / assigned to ``agent_id`` / of ``type_id`` / on ``channel`` when set.
    Calls: started in the period; ``queues`` (None: every queue) restricts the queue
    report (the agent report's calls follow ``agent_id`` / ``group_id``'s members)."""

    period: Period
    bucket: Bucket = "day"
    group_id: int | None = None
    agent_id: int | None = None
    type_id: int | None = None
    channel: str | None = None
    queues: tuple[str, ...] | None = None
    #: calls answered within this many seconds of waiting count for the service level
    sl_threshold_s: float = 20.0
    #: abandoned calls that waited less than this are short abandons (left out of SL)
    short_abandon_s: float = 5.0


# --- queues ---------------------------------------------------------------------------------

class QueueRow(BaseModel):
    """Calls of one queue in one bucket (the contract's row, plus ``abandon_rate``)."""

    bucket_start: datetime
    queue: str
    offered: int
    answered: int
    abandoned: int
    short_abandoned: int
    answered_within_sl: int
    #: answered_within_sl / (offered - short_abandoned)
    service_level: float | None
    #: (abandoned - short_abandoned) / (offered - short_abandoned)
    abandon_rate: float | None
    #: average wait of the answered calls
    asa_s: float | None
    #: average talk time (answer → hang-up, holds included) of answered calls that ended
    aht_s: float | None


class Head(BaseModel):
    """What every report starts with: its dates (``from``, ``to``: local, both included)
    and the zone they are in."""

    from_: date = Field(serialization_alias="from")
    to: date
    timezone: str


class QueueReport(Head):
    bucket: Bucket
    sl_threshold_s: float
    short_abandon_s: float
    rows: list[QueueRow]
    #: every queue and bucket together (``bucket_start``: the period's start, queue ``*``)
    total: QueueRow


# --- tickets --------------------------------------------------------------------------------

class TicketFigures(BaseModel):
    """Figures of a set of tickets (all created in the period; see the service's docstring
    for each definition)."""

    created: int
    solved: int
    open: int
    cancelled: int
    first_contact_resolved: int
    #: first_contact_resolved / solved
    fcr_rate: float | None
    #: tickets given a first response, and their average wait for it (wall-clock seconds)
    first_responded: int
    first_response_avg_s: float | None
    #: average created → resolved (wall-clock seconds) of the solved tickets
    resolution_avg_s: float | None
    breached: int
    #: breached / created
    overdue_rate: float | None
    reopened: int
    #: reopened / tickets ever solved
    reopen_rate: float | None
    #: customer satisfaction: the summary's average score (its ``csat`` has the details);
    #: None in the per-bucket, type and channel tables
    csat: float | None = None


class TicketBucketRow(TicketFigures):
    bucket_start: datetime


class TicketTypeRow(TicketFigures):
    type: str | None
    type_name: str | None
    type_name_zh: str | None


class TicketChannelRow(TicketFigures):
    channel: str


class TicketReport(Head):
    bucket: Bucket
    total: TicketFigures
    by_bucket: list[TicketBucketRow]
    by_type: list[TicketTypeRow]
    by_channel: list[TicketChannelRow]


# --- agents ---------------------------------------------------------------------------------

class AgentRow(BaseModel):
    """One staff member: the tickets assigned to them (created in the period) and the
    inbound calls offered to their extension (started in the period)."""

    user_id: int
    username: str
    name: str
    extension: str | None
    tickets_handled: int
    tickets_solved: int
    first_contact_resolved: int
    fcr_rate: float | None
    resolution_avg_s: float | None
    reopened: int
    calls_offered: int
    calls_answered: int
    #: rang on their phone, never answered by them
    calls_missed: int
    #: talk time of the calls they handled last (answer → hang-up)
    talk_s: float
    #: talk_s / calls with a talk time
    aht_s: float | None
    #: idle time needs the agent-state history, which is not stored: always None
    idle_s: float | None = None
    #: not collected yet: always None
    csat: float | None = None


class AgentReport(Head):
    rows: list[AgentRow]


class CsatFigures(BaseModel):
    """Customer satisfaction: the 1–5 scores given in the period (each ticket once, its
    latest score; ``tickets.csat``), of tickets matching the filters."""

    count: int
    #: mean score (None without ratings)
    average: float | None
    #: share of scores 4 or 5 (None without ratings)
    satisfied_share: float | None


class SummaryReport(Head):
    """The period at a glance: every ticket figure, the calls of every queue and CSAT."""

    tickets: TicketFigures
    calls: QueueRow
    csat: CsatFigures
