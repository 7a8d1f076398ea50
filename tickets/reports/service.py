"""Reports: SQL aggregates over tickets and the call log, one to three statements each.

Why this shape: a report must stay fast on a million tickets, so each is a range scan on an
indexed time column (``tickets.created_at``, ``call_log.started_at``: migration 0012) and a
GROUP BY, never a row per ticket brought into Python. Statements compute *sums and counts*
per group; rates and averages are taken in Python from those sums (:class:`TicketSums`,
:class:`QueueSums`), so totals over buckets are exact and no average of averages appears.
Local-time buckets are integers computed the same way on SQLite and PostgreSQL
(:mod:`tickets.reports.period`). Functions take the caller's session and only read.

Definitions (tickets: those *created* in the period, merged duplicates left out):

* **solved**: status ``resolved`` or ``closed``; **open**: new, assigned, in progress,
  pending customer; **cancelled**.
* **first-contact resolution (FCR)**: a solved ticket never reopened (``reopen_count`` 0)
  with at most one contact, contacts being the ticket's own call (``tickets.call_id``),
  the other calls linked to it (``ticket_calls``) and the times staff rang the customer
  about it (``called_back`` history events); comments do not count. ``fcr_rate`` =
  FCR / solved.
* **first response**: ``first_responded_at − created_at`` (wall-clock seconds: the SLA's
  business-time clock is :mod:`tickets.sla`'s) over tickets that have one.
* **resolution**: ``resolved_at − created_at`` of solved tickets; a reopened ticket counts
  from its creation to its last resolution.
* **overdue** (breached): an SLA target was missed (``sla_breached_at`` set by the SLA
  sweep); ``overdue_rate`` = breached / created.
* **reopened**: reopened at least once. ``reopen_count`` is raised in the same transaction
  as each ``reopened`` history event (``tickets.service.move_status``), so it is read
  instead of joining the history; ``reopen_rate`` = reopened / tickets ever solved (solved
  now, or reopened since).
* **CSAT** (summary only): the scores *given* in the period (``ticket_ratings.updated_at``,
  each ticket once with its latest score: :mod:`tickets.csat`) of tickets matching the
  group / agent / type / channel filters, whenever those were created: count, average,
  share of 4–5. ``tickets.csat`` is that average; the other reports leave it ``None``.

Calls (``call_log``, inbound, started in the period; the queue report: those with a queue):

* **offered**: every such call; **answered**: ``answered_at`` set; **abandoned**: never
  answered and ended as ``abandoned`` (the caller hung up in the queue); an unanswered call
  that ended otherwise (queue time-out, sent elsewhere) is offered but neither.
* **short abandoned**: abandoned after waiting less than ``short_abandon_s``.
* **answered within SL**: answered after waiting at most ``sl_threshold_s``.
* **service level** = answered within SL / (offered − short abandoned); **abandon rate** =
  (abandoned − short abandoned) / (offered − short abandoned); **ASA**: average wait of the
  answered calls; **AHT**: average talk time (answer → hang-up, holds included; wrap-up is
  not recorded) of answered calls that ended.
* Per agent (their extension): **offered** = calls that rang their phone or that they
  answered (``extra.rung``, ``extra.agents``), **answered** = calls they answered,
  **missed** = offered − answered; **talk** = talk time of the calls they handled last
  (``agent_extension``); **idle**: the agent-state history is not stored, so ``None``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any, Self, cast

import sqlalchemy as sa
from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Integer,
    Select,
    Table,
    and_,
    case,
    false,
    func,
    literal,
    literal_column,
    or_,
    select,
    true,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncSession

from tickets import lifecycle
from tickets.csat import service as csat
from tickets.models import (
    CallLog,
    Ticket,
    TicketCall,
    TicketEvent,
    TicketType,
    User,
    group_members,
)
from tickets.reports.period import BUCKET_S, Bucket, Period, bucket_start, segments
from tickets.reports.schemas import (
    AgentReport,
    AgentRow,
    CsatFigures,
    Filters,
    QueueReport,
    QueueRow,
    SummaryReport,
    TicketBucketRow,
    TicketChannelRow,
    TicketFigures,
    TicketReport,
    TicketTypeRow,
)

_T = cast(Table, Ticket.__table__)
_C = cast(Table, CallLog.__table__)
_E = cast(Table, TicketEvent.__table__)
_TC = cast(Table, TicketCall.__table__)
_SOLVED = ("resolved", "closed")
#: Roles whose members appear in the agent report.
STAFF_ROLES = ("agent", "supervisor", "admin")


# --- SQL building blocks --------------------------------------------------------------------

def epoch_s(col: ColumnElement[Any], dialect: str) -> ColumnElement[int]:
    """Whole UTC seconds since 1970 of a stored instant (truncated, on both backends).
    PostgreSQL: ``date_part`` (double precision), not ``extract`` (numeric since 14, several
    times slower per row). SQLite stores ``YYYY-MM-DD HH:MM:SS.ffffff``: the fraction is
    cut before ``strftime``, which would otherwise round 10:59:59.9996 up an hour."""
    if dialect == "postgresql":
        return sa.cast(func.floor(func.date_part("epoch", col)), BigInteger)
    return sa.cast(func.strftime("%s", func.substr(col, 1, 19)), Integer)


def seconds_between(later: ColumnElement[Any], earlier: ColumnElement[Any],
                    dialect: str) -> ColumnElement[float]:
    """``later − earlier`` in seconds (NULL when either is)."""
    if dialect == "postgresql":
        return cast(ColumnElement[float], func.date_part("epoch", later - earlier))
    return (func.julianday(later) - func.julianday(earlier)) * 86400.0


def bucket_expr(col: ColumnElement[Any], period: Period, bucket: Bucket,
                dialect: str) -> ColumnElement[int]:
    """The local hour/day number of an instant (see :mod:`tickets.reports.period`):
    ``(epoch + offset) / 3600`` or ``/ 86400``, the offset a CASE over the zone's segments
    in the period (a plain number for a zone without changes, e.g. Asia/Shanghai)."""
    epoch = epoch_s(col, dialect)
    segs = segments(period.zone, period.start, period.end)
    offset: ColumnElement[int]
    if len(segs) == 1:
        offset = literal(segs[0][1], Integer)
    else:
        offset = case(*((epoch < segs[i + 1][0], segs[i][1]) for i in range(len(segs) - 1)),
                      else_=segs[-1][1])
    return (epoch + offset) // literal_column(str(BUCKET_S[bucket]), Integer)


async def _dialect(session: AsyncSession) -> str:
    """The backend's name; on PostgreSQL, the transaction's settings for reports: no JIT
    (compiling the aggregate took 0.3–0.8 s of a 0.05 s query: the planner's estimate for
    a period's tickets is far above ``jit_above_cost``) and a ``work_mem`` that keeps a
    period's groups in memory. ``SET LOCAL``: gone with the transaction (the API's
    request has one; outside a transaction PostgreSQL ignores it with a warning)."""
    conn = await session.connection()
    if conn.dialect.name == "postgresql":
        await conn.exec_driver_sql("SET LOCAL jit = off")
        await conn.exec_driver_sql("SET LOCAL work_mem = '32MB'")
    return conn.dialect.name


def _share(num: float, den: float) -> float | None:
    return num / den if den else None


def _avg(total: float, n: int) -> float | None:
    return total / n if n else None


def _numbers(cls: type, values: Sequence[Any]) -> dict[str, Any]:
    """A result row as a sums dataclass's fields (NULL sums are 0; numerics made float)."""
    return {f.name: (float(v or 0) if f.type == "float" else int(v or 0))
            for f, v in zip(fields(cls), values, strict=True)}


class _Sums:
    """What the sums dataclasses share: made from a result row, added up across buckets."""

    @classmethod
    def of(cls, values: Sequence[Any]) -> Self:
        return cls(**_numbers(cls, values))

    def add(self, other: Self) -> None:
        for f in fields(self):  # type: ignore[arg-type]
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))


# --- tickets --------------------------------------------------------------------------------

def ticket_where(f: Filters, *, with_agent: bool = True) -> list[ColumnElement[bool]]:
    """The cohort: created in the period (through ``ix_tickets_created_at``), not merged,
    and the filters (:func:`ticket_filters`)."""
    t = _T
    return [t.c.created_at >= f.period.start, t.c.created_at < f.period.end,
            t.c.merged_into_id.is_(None), *ticket_filters(f, with_agent=with_agent)]


def ticket_filters(f: Filters, *, with_agent: bool = True) -> list[ColumnElement[bool]]:
    """Group, agent (assignee), type and channel, those set."""
    t = _T
    where: list[ColumnElement[bool]] = []
    if f.group_id is not None:
        where.append(t.c.group_id == f.group_id)
    if f.agent_id is not None and with_agent:
        where.append(t.c.assignee_id == f.agent_id)
    if f.type_id is not None:
        where.append(t.c.type_id == f.type_id)
    if f.channel is not None:
        where.append(t.c.channel == f.channel)
    return where


def contact_table(f: Filters) -> Any:
    """Per ticket: the calls linked to it (``links``, the first id ``first``) and its
    call-backs (``callbacks``), from the rows since the period's start (through
    ``ix_ticket_calls_linked_at`` and ``ix_ticket_events_called_back``): a ticket of the
    period is only linked or called back after it was created. One derived table joined
    once (a hash join), not two correlated counts per ticket."""
    rows = union_all(
        select(_TC.c.ticket_id, _TC.c.call_id, literal(1).label("link"))
        .where(_TC.c.linked_at >= f.period.start),
        select(_E.c.ticket_id, sa.null().label("call_id"), literal(0).label("link"))
        .where(_E.c.kind == "called_back", _E.c.at >= f.period.start)).subquery("contact")
    link = rows.c.link == 1
    return (select(rows.c.ticket_id, func.count().filter(link).label("links"),
                   func.min(rows.c.call_id).label("first"),
                   func.count().filter(rows.c.link == 0).label("callbacks"))
            .group_by(rows.c.ticket_id).subquery("contacts"))


def ticket_facts(f: Filters, dialect: str, *, with_agent: bool = True) -> Select[Any]:
    """One row per ticket of the cohort: its bucket, type, channel, assignee, status, the
    columns the figures test and its durations; :func:`ticket_sums` aggregates them (a
    derived table, so GROUP BY names columns)."""
    t = _T
    k = contact_table(f)
    own_call = case((t.c.call_id.is_(None), 0), else_=1)
    # other linked calls: 0, 1, or "2" for two or more (enough to miss FCR either way)
    other_calls = case((k.c.links.is_(None) | (k.c.links == 0), 0), (k.c.links >= 2, 2),
                       (k.c.first == t.c.call_id, 0), else_=1)
    return (select(
        bucket_expr(t.c.created_at, f.period, f.bucket, dialect).label("b"),
        t.c.type_id, t.c.channel, t.c.assignee_id, t.c.status, t.c.reopen_count,
        t.c.sla_breached_at,
        (own_call + other_calls + func.coalesce(k.c.callbacks, 0)).label("contacts"),
        seconds_between(t.c.first_responded_at, t.c.created_at, dialect).label("frt"),
        seconds_between(t.c.resolved_at, t.c.created_at, dialect).label("res"),
    ).select_from(t.outerjoin(k, k.c.ticket_id == t.c.id))
     .where(*ticket_where(f, with_agent=with_agent)))


def ticket_sums(facts: Any) -> list[ColumnElement[Any]]:
    """The aggregates of :class:`TicketSums`, in its field order, over ``facts``: counts
    with ``FILTER`` (PostgreSQL, SQLite 3.30+), no per-row CASE to sum."""
    c = facts.c
    solved = c.status.in_(_SOLVED)
    n = func.count
    return [n(), n().filter(solved), n().filter(c.status.in_(tuple(lifecycle.OPEN_STATUSES))),
            n().filter(c.status == "cancelled"),
            n().filter(and_(solved, c.reopen_count == 0, c.contacts <= 1)),
            n(c.frt), func.sum(c.frt), n(c.res).filter(solved), func.sum(c.res).filter(solved),
            n(c.sla_breached_at), n().filter(c.reopen_count > 0),
            n().filter(or_(solved, c.reopen_count > 0))]


@dataclass
class TicketSums(_Sums):
    """Counts and sums behind :class:`TicketFigures` (added exactly across groups)."""

    created: int = 0
    solved: int = 0
    open: int = 0
    cancelled: int = 0
    fcr: int = 0
    frt_n: int = 0
    frt_sum: float = 0.0
    res_n: int = 0
    res_sum: float = 0.0
    breached: int = 0
    reopened: int = 0
    ever_solved: int = 0

    def figures(self) -> dict[str, Any]:
        return {"created": self.created, "solved": self.solved, "open": self.open,
                "cancelled": self.cancelled, "first_contact_resolved": self.fcr,
                "fcr_rate": _share(self.fcr, self.solved), "first_responded": self.frt_n,
                "first_response_avg_s": _avg(self.frt_sum, self.frt_n),
                "resolution_avg_s": _avg(self.res_sum, self.res_n),
                "breached": self.breached, "overdue_rate": _share(self.breached, self.created),
                "reopened": self.reopened,
                "reopen_rate": _share(self.reopened, self.ever_solved)}


def ticket_statement(f: Filters, dialect: str) -> Select[Any]:
    """Sums per (bucket, type, channel): the whole ticket report in one statement."""
    facts = ticket_facts(f, dialect).subquery("facts")
    return (select(facts.c.b, facts.c.type_id, facts.c.channel, *ticket_sums(facts))
            .group_by(facts.c.b, facts.c.type_id, facts.c.channel))


async def ticket_report(session: AsyncSession, f: Filters, timezone: str) -> TicketReport:
    """Ticket volume by bucket / type / channel and the figures of the module docstring.
    Buckets without tickets are absent; ``by_type`` has ``type`` None for untyped tickets."""
    dialect = await _dialect(session)
    rows = (await session.execute(ticket_statement(f, dialect))).all()
    total = TicketSums()
    by_bucket: dict[int, TicketSums] = {}
    by_type: dict[int | None, TicketSums] = {}
    by_channel: dict[str, TicketSums] = {}
    for row in rows:
        sums = TicketSums.of(row[3:])
        total.add(sums)
        by_bucket.setdefault(int(row.b), TicketSums()).add(sums)
        by_type.setdefault(row.type_id, TicketSums()).add(sums)
        by_channel.setdefault(row.channel, TicketSums()).add(sums)
    typed = [k for k in by_type if k is not None]
    names = {tid: (key, name, name_zh) for tid, key, name, name_zh in (await session.execute(
        select(TicketType.id, TicketType.key, TicketType.name, TicketType.name_zh)
        .where(TicketType.id.in_(typed)))).all()} if typed else {}
    type_rows = []
    for k, s in by_type.items():
        key, name, name_zh = names.get(k, (None, None, None)) if k is not None else \
            (None, None, None)
        type_rows.append(TicketTypeRow(type=key, type_name=name, type_name_zh=name_zh,
                                       **s.figures()))
    type_rows.sort(key=lambda r: (-r.created, r.type or ""))
    return TicketReport(
        from_=f.period.first, to=f.period.last, bucket=f.bucket, timezone=timezone,
        total=TicketFigures(**total.figures()),
        by_bucket=[TicketBucketRow(bucket_start=bucket_start(k, f.period.zone, f.bucket),
                                   **s.figures()) for k, s in sorted(by_bucket.items())],
        by_type=type_rows,
        by_channel=sorted((TicketChannelRow(channel=k, **s.figures())
                           for k, s in by_channel.items()),
                          key=lambda r: (-r.created, r.channel)))


# --- calls per queue ------------------------------------------------------------------------

def call_where(f: Filters) -> list[ColumnElement[bool]]:
    """Inbound calls started in the period (through ``ix_call_log_started_at``)."""
    c = _C
    return [c.c.started_at >= f.period.start, c.c.started_at < f.period.end,
            c.c.direction == "inbound"]


def queue_statement(f: Filters, dialect: str) -> Select[Any]:
    """Sums per (bucket, queue), in :class:`QueueSums` order after ``b`` and ``queue``."""
    c = _C
    where = [*call_where(f), c.c.queue.is_not(None)]
    if f.queues is not None:
        where.append(c.c.queue.in_(f.queues) if f.queues else false())
    facts = select(
        bucket_expr(c.c.started_at, f.period, f.bucket, dialect).label("b"), c.c.queue,
        c.c.answered_at, c.c.ended_at, c.c.state, c.c.wait_s, c.c.talk_s,
    ).where(*where).subquery("facts")
    x = facts.c
    answered = x.answered_at.is_not(None)
    abandoned = and_(x.answered_at.is_(None), x.state == "abandoned")
    talked = and_(answered, x.ended_at.is_not(None), x.talk_s.is_not(None))
    n = func.count
    return (select(x.b, x.queue, n(), n().filter(answered), n().filter(abandoned),
                   n().filter(and_(abandoned, x.wait_s < f.short_abandon_s)),
                   n().filter(and_(answered, x.wait_s <= f.sl_threshold_s)),
                   n(x.wait_s).filter(answered), func.sum(x.wait_s).filter(answered),
                   n().filter(talked), func.sum(x.talk_s).filter(talked))
            .group_by(x.b, x.queue).order_by(x.b, x.queue))


@dataclass
class QueueSums(_Sums):
    offered: int = 0
    answered: int = 0
    abandoned: int = 0
    short_abandoned: int = 0
    answered_within_sl: int = 0
    wait_n: int = 0
    wait_sum: float = 0.0
    talk_n: int = 0
    talk_sum: float = 0.0

    def row(self, start: datetime, queue: str) -> QueueRow:
        base = self.offered - self.short_abandoned
        return QueueRow(bucket_start=start, queue=queue, offered=self.offered,
                        answered=self.answered, abandoned=self.abandoned,
                        short_abandoned=self.short_abandoned,
                        answered_within_sl=self.answered_within_sl,
                        service_level=_share(self.answered_within_sl, base),
                        abandon_rate=_share(self.abandoned - self.short_abandoned, base),
                        asa_s=_avg(self.wait_sum, self.wait_n),
                        aht_s=_avg(self.talk_sum, self.talk_n))


async def queue_report(session: AsyncSession, f: Filters, timezone: str) -> QueueReport:
    """Calls per queue and bucket (the contract's ``/reports/queues``); buckets without
    calls are absent. ``total``: all rows together, ``queue`` ``*``."""
    dialect = await _dialect(session)
    rows = (await session.execute(queue_statement(f, dialect))).all()
    total = QueueSums()
    out = []
    for row in rows:
        sums = QueueSums.of(row[2:])
        total.add(sums)
        out.append(sums.row(bucket_start(int(row.b), f.period.zone, f.bucket), row.queue))
    return QueueReport(from_=f.period.first, to=f.period.last, bucket=f.bucket,
                       timezone=timezone, sl_threshold_s=f.sl_threshold_s,
                       short_abandon_s=f.short_abandon_s, rows=out,
                       total=total.row(f.period.start.astimezone(f.period.zone), "*"))


# --- agents ---------------------------------------------------------------------------------

def _call_members(key: str, dialect: str) -> Any:
    """The extensions of a call's ``extra[key]`` list as a table joined to ``call_log``."""
    if dialect == "postgresql":
        return (func.jsonb_array_elements_text(_C.c.extra[key])
                .table_valued("value").lateral(f"m_{key}"))
    return func.json_each(_C.c.extra, f"$.{key}").table_valued("value").alias(f"m_{key}")


def agent_call_statement(f: Filters, dialect: str,
                         extensions: Iterable[str] | None) -> Select[Any]:
    """(extension, offered, answered) of the period's inbound calls: each call once per
    extension in its ``rung`` or ``agents`` lists.

    PostgreSQL: per call, the distinct extensions of both lists (a tiny LATERAL DISTINCT)
    and ``agents ? ext`` for answered: 3× faster than expanding the lists into one big
    (call, extension) aggregate. SQLite (no LATERAL subqueries): that aggregate."""
    if dialect == "postgresql":
        return _agent_calls_pg(f, extensions)
    parts = []
    for key, rang, answered in (("rung", 1, 0), ("agents", 0, 1)):
        m = _call_members(key, dialect)
        where = call_where(f)
        if extensions is not None:
            where.append(m.c.value.in_(list(extensions)))
        parts.append(select(_C.c.id.label("call"), m.c.value.label("ext"),
                            literal(rang).label("rang"), literal(answered).label("ans"))
                     .select_from(_C.join(m, true())).where(*where))
    u = union_all(*parts).subquery("members")
    # each (call, extension) once, then per extension: a hash aggregate, no DISTINCT sort
    pairs = (select(u.c.call, u.c.ext, func.max(u.c.ans).label("ans"))
             .group_by(u.c.call, u.c.ext).subquery("pairs"))
    return (select(pairs.c.ext, func.count(), func.count().filter(pairs.c.ans == 1))
            .group_by(pairs.c.ext))


def _agent_calls_pg(f: Filters, extensions: Iterable[str] | None) -> Select[Any]:
    empty: ColumnElement[Any] = literal_column("'[]'::jsonb")
    both = func.coalesce(_C.c.extra["rung"], empty).op("||")(
        func.coalesce(_C.c.extra["agents"], empty))
    x = func.jsonb_array_elements_text(both).table_valued("value").alias("x")
    e = select(x.c.value.label("ext")).distinct().lateral("e")
    answered = func.coalesce(_C.c.extra["agents"], empty).op("?")(e.c.ext)
    where = call_where(f)
    if extensions is not None:
        where.append(e.c.ext.in_(list(extensions)))
    return (select(e.c.ext, func.count(), func.count().filter(answered))
            .select_from(_C.join(e, true())).where(*where).group_by(e.c.ext))


def agent_talk_statement(f: Filters, extensions: Iterable[str] | None) -> Select[Any]:
    """(extension, calls with a talk time, their talk seconds) by the last handler."""
    c = _C
    where = [*call_where(f), c.c.answered_at.is_not(None), c.c.talk_s.is_not(None),
             c.c.agent_extension.is_not(None)]
    if extensions is not None:
        where.append(c.c.agent_extension.in_(list(extensions)))
    return (select(c.c.agent_extension, func.count(), func.sum(c.c.talk_s))
            .where(*where).group_by(c.c.agent_extension))


def agent_ticket_statement(f: Filters, dialect: str) -> Select[Any]:
    facts = ticket_facts(f, dialect).subquery("facts")
    return (select(facts.c.assignee_id, *ticket_sums(facts))
            .where(facts.c.assignee_id.is_not(None)).group_by(facts.c.assignee_id))


async def agent_report(session: AsyncSession, f: Filters, timezone: str) -> AgentReport:
    """One row per staff member (role agent, supervisor or admin) with tickets or calls in
    the period, plus every active agent (zeros); ``group_id``: its members only;
    ``agent_id``: that one. Type and channel filter the tickets only. Ordered by calls
    answered, then tickets handled, then username."""
    dialect = await _dialect(session)
    users_q = select(User.id, User.username, User.display_name, User.extension, User.role,
                     User.is_active).where(User.role.in_(STAFF_ROLES))
    if f.group_id is not None:
        users_q = users_q.where(User.id.in_(select(group_members.c.user_id)
                                            .where(group_members.c.group_id == f.group_id)))
    if f.agent_id is not None:
        users_q = users_q.where(User.id == f.agent_id)
    users = (await session.execute(users_q)).all()
    restricted = f.group_id is not None or f.agent_id is not None
    extensions = [u.extension for u in users if u.extension] if restricted else None
    tickets = {row[0]: TicketSums.of(row[1:]) for row in
               (await session.execute(agent_ticket_statement(f, dialect))).all()}
    calls: dict[str, tuple[int, int]] = {}
    talk: dict[str, tuple[int, float]] = {}
    if extensions is None or extensions:
        calls = {ext: (int(o), int(a)) for ext, o, a in (await session.execute(
            agent_call_statement(f, dialect, extensions))).all()}
        talk = {ext: (int(n), float(s or 0)) for ext, n, s in (await session.execute(
            agent_talk_statement(f, extensions))).all()}
    rows = []
    for u in users:
        sums = tickets.get(u.id, TicketSums())
        offered, answered = calls.get(u.extension or "", (0, 0))
        talk_n, talk_s = talk.get(u.extension or "", (0, 0.0))
        if not (sums.created or offered or talk_n or (u.role == "agent" and u.is_active)):
            continue
        rows.append(AgentRow(
            user_id=u.id, username=u.username, name=u.display_name or u.username,
            extension=u.extension, tickets_handled=sums.created, tickets_solved=sums.solved,
            first_contact_resolved=sums.fcr, fcr_rate=_share(sums.fcr, sums.solved),
            resolution_avg_s=_avg(sums.res_sum, sums.res_n), reopened=sums.reopened,
            calls_offered=offered, calls_answered=answered, calls_missed=offered - answered,
            talk_s=talk_s, aht_s=_avg(talk_s, talk_n)))
    rows.sort(key=lambda r: (-r.calls_answered, -r.tickets_handled, r.username))
    return AgentReport(from_=f.period.first, to=f.period.last, timezone=timezone, rows=rows)


# --- summary --------------------------------------------------------------------------------

async def summary_report(session: AsyncSession, f: Filters, timezone: str) -> SummaryReport:
    """Every ticket figure, all queues' calls and CSAT over the whole period (three
    statements)."""
    dialect = await _dialect(session)
    facts = ticket_facts(f, dialect).subquery("facts")
    row = (await session.execute(select(*ticket_sums(facts)))).one()
    calls = QueueSums()
    for q in (await session.execute(queue_statement(f, dialect))).all():
        calls.add(QueueSums.of(q[2:]))
    # the rated tickets: the filters, not the creation period (ticket_where's first three)
    rated = await csat.summary(session, f.period.start, f.period.end,
                               ticket_filters(f))
    figures = TicketFigures(**TicketSums.of(row).figures(), csat=rated.average)
    return SummaryReport(from_=f.period.first, to=f.period.last, timezone=timezone,
                         tickets=figures,
                         calls=calls.row(f.period.start.astimezone(f.period.zone), "*"),
                         csat=CsatFigures(count=rated.count, average=rated.average,
                                          satisfied_share=rated.satisfied_share))
