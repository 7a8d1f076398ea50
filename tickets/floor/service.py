"""The floor against the database: abandoned calls and their call-backs, the wallboard's
thresholds, tickets close to an SLA target. Nothing here commits (the caller's unit of work
does) and nothing talks to the PBX (``web/api/floor.py`` places the Originate and records
its outcome here, in the same transaction)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from pydantic import ValidationError
from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from tickets.errors import Conflict, Invalid, NotFound
from tickets.floor.models import Callback, CallbackAttempt, WallboardSettings
from tickets.floor.schemas import Thresholds
from tickets.lifecycle import OPEN_STATUSES
from tickets.models import CallLog, Customer, Ticket, User
from tickets.service import ticket_number

StatusFilter = Literal["open", "done", "all"]
SETTINGS_ID = 1


def _name(user: User | None) -> str | None:
    return None if user is None else (user.display_name or user.username)


async def _names(session: AsyncSession, ids: Sequence[int | None]) -> dict[int, str]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    rows = await session.execute(select(User.id, User.display_name, User.username)
                                 .where(User.id.in_(wanted)))
    return {uid: (dn or un) for uid, dn, un in rows.all()}


# --- abandoned calls ----------------------------------------------------------------------

async def list_abandoned(session: AsyncSession, since: datetime, status: StatusFilter = "open",
                         limit: int = 100, call_id: str | None = None) -> list[dict[str, Any]]:
    """Abandoned inbound calls started at or after ``since``, newest first, each with its
    call-back (``AbandonedOut`` shape). ``status``: ``open`` (no call-back marked done),
    ``done``, or ``all``. ``returned_at``: when the same number later got through to an
    agent (the earliest such call), else None. ``call_id``: only that call."""
    later = aliased(CallLog)
    returned = (select(func.min(later.started_at))
                .where(later.caller_number == CallLog.caller_number,
                       later.started_at > CallLog.started_at,
                       later.answered_at.is_not(None))
                .correlate(CallLog).scalar_subquery())
    query = (select(CallLog, Callback, Customer.name, returned.label("returned_at"))
             .outerjoin(Callback, Callback.call_id == CallLog.call_id)
             .outerjoin(Customer, Customer.id == CallLog.customer_id)
             .where(CallLog.state == "abandoned", CallLog.direction == "inbound",
                    CallLog.started_at >= since))
    if call_id is not None:
        query = query.where(CallLog.call_id == call_id)
    if status == "open":
        query = query.where(or_(Callback.id.is_(None), Callback.status == "open"))
    elif status == "done":
        query = query.where(Callback.status == "done")
    rows = (await session.execute(query.order_by(CallLog.started_at.desc(), CallLog.id.desc())
                                  .limit(limit))).all()
    callback_ids = [cb.id for _, cb, _, _ in rows if cb is not None]
    attempts: dict[int, list[CallbackAttempt]] = {}
    if callback_ids:
        for a in (await session.scalars(select(CallbackAttempt).where(
                CallbackAttempt.callback_id.in_(callback_ids))
                .order_by(CallbackAttempt.at, CallbackAttempt.id))).all():
            attempts.setdefault(a.callback_id, []).append(a)
    names = await _names(session, [a.by_id for v in attempts.values() for a in v]
                         + [cb.done_by_id for _, cb, _, _ in rows if cb is not None])
    return [_abandoned_dict(call, cb, customer, back,
                            attempts.get(cb.id, []) if cb is not None else [], names)
            for call, cb, customer, back in rows]


def _abandoned_dict(call: CallLog, cb: Callback | None, customer: str | None,
                    returned_at: datetime | None, attempts: list[CallbackAttempt],
                    names: dict[int, str]) -> dict[str, Any]:
    if returned_at is not None and returned_at.tzinfo is None:  # SQLite's subquery: text
        returned_at = returned_at.replace(tzinfo=UTC)
    return {
        "call_id": call.call_id, "pbx": call.pbx, "queue": call.queue,
        "caller_number": call.caller_number, "caller_name": call.caller_name,
        "customer_id": call.customer_id, "customer_name": customer,
        "started_at": call.started_at, "ended_at": call.ended_at, "wait_s": call.wait_s,
        "returned_at": returned_at,
        "callback_status": cb.status if cb is not None else "open",
        "attempts": [{"at": a.at, "by": names.get(a.by_id) if a.by_id else None,
                      "extension": a.extension, "outcome": a.outcome, "detail": a.detail}
                     for a in attempts],
        "done_at": cb.done_at if cb is not None else None,
        "done_by": names.get(cb.done_by_id) if cb is not None and cb.done_by_id else None,
        "note": cb.note if cb is not None else None,
    }


async def abandoned_call(session: AsyncSession, call_id: str) -> CallLog:
    """The abandoned call ``call_id``; NotFound when the log has no such abandoned call."""
    call = await session.scalar(select(CallLog).where(CallLog.call_id == call_id))
    if call is None or call.state != "abandoned":
        raise NotFound(f"no abandoned call {call_id}")
    return call


async def _callback(session: AsyncSession, call_id: str, now: datetime) -> Callback:
    cb = await session.scalar(select(Callback).where(Callback.call_id == call_id))
    if cb is None:
        cb = Callback(call_id=call_id, status="open", attempts=0, created_at=now,
                      updated_at=now)
        session.add(cb)
        await session.flush()
    return cb


async def record_attempt(session: AsyncSession, call: CallLog, *, by_id: int | None,
                         extension: str, number: str, outcome: Literal["requested", "failed"],
                         detail: str | None, now: datetime) -> Callback:
    """One call-back attempt of ``call`` (an abandoned call), its outcome as the PBX gave
    it. A done call-back stays done (a second call after reaching the caller is allowed)."""
    cb = await _callback(session, call.call_id, now)
    session.add(CallbackAttempt(callback_id=cb.id, at=now, by_id=by_id, extension=extension,
                                number=number, outcome=outcome,
                                detail=(detail or None) and detail[:300]))
    cb.attempts += 1
    cb.last_attempt_at = now
    cb.updated_at = now
    await session.flush()
    return cb


async def mark_done(session: AsyncSession, call: CallLog, *, by_id: int,
                    note: str | None, now: datetime) -> Callback:
    """The caller was reached (or needs nothing more): ``done``, by whom, when, a note.
    Conflict when it is done already (the first one to mark it keeps the credit)."""
    cb = await _callback(session, call.call_id, now)
    if cb.status == "done":
        raise Conflict(f"the call-back of {call.call_id} is done already")
    cb.status = "done"
    cb.done_at = now
    cb.done_by_id = by_id
    cb.note = note or None
    cb.updated_at = now
    await session.flush()
    return cb


async def abandoned_one(session: AsyncSession, call_id: str) -> dict[str, Any]:
    """One abandoned call in the list's shape (after an action)."""
    call = await abandoned_call(session, call_id)
    rows = await list_abandoned(session, call.started_at, "all", limit=1, call_id=call_id)
    for row in rows:
        if row["call_id"] == call_id:
            return row
    raise NotFound(f"no abandoned call {call_id}")  # pragma: no cover (just found above)


# --- thresholds ---------------------------------------------------------------------------

async def get_settings(session: AsyncSession) -> dict[str, Any]:
    """The thresholds in force (stored values over the defaults), ``SettingsOut`` shape.
    A stored value that no longer passes the checks (a threshold narrowed in a later
    version) falls back to the defaults rather than failing the wallboard."""
    row = await session.get(WallboardSettings, SETTINGS_ID)
    stored = dict(row.thresholds or {}) if row is not None else {}
    known = {k: v for k, v in stored.items() if k in Thresholds.model_fields}
    try:
        current = Thresholds.model_validate(known)
    except ValidationError:
        current = Thresholds()
    by = None
    if row is not None and row.updated_by_id is not None:
        by = _name(await session.get(User, row.updated_by_id))
    return {"thresholds": current, "defaults": Thresholds(),
            "version": row.version if row is not None else 1,
            "updated_at": row.updated_at if row is not None else None, "updated_by": by}


def _invalid(exc: ValidationError) -> Invalid:
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err.get("loc", ()))
        msg = str(err.get("msg", "")).removeprefix("Value error, ")
        parts.append(f"thresholds.{loc}: {msg}" if loc else f"thresholds.{msg}")
    return Invalid("; ".join(parts))


async def put_settings(session: AsyncSession, changes: dict[str, Any], *, by_id: int,
                       version: int | None, now: datetime) -> dict[str, Any]:
    """Change some thresholds; the result is checked as a whole (Invalid naming
    ``thresholds.<name>``); ``version`` not the current one: Conflict."""
    row = await session.get(WallboardSettings, SETTINGS_ID)
    current_version = row.version if row is not None else 1
    if version is not None and version != current_version:
        raise Conflict(f"the settings changed since version {version} (now {current_version})")
    base = (await get_settings(session))["thresholds"].model_dump()
    try:
        merged = Thresholds.model_validate({**base, **changes})
    except ValidationError as exc:
        raise _invalid(exc) from None
    if row is None:
        row = WallboardSettings(id=SETTINGS_ID, thresholds={}, version=0)
        session.add(row)
    row.thresholds = merged.model_dump()
    row.version = current_version + 1
    row.updated_at = now
    row.updated_by_id = by_id
    await session.flush()
    return await get_settings(session)


# --- tickets at risk ------------------------------------------------------------------------

async def tickets_at_risk(session: AsyncSession, now: datetime, within: timedelta,
                          limit: int = 20) -> list[dict[str, Any]]:
    """Open tickets (not merged, clock not paused) whose first response (not yet given) or
    resolution falls due before ``now + within``, overdue ones included, soonest first.
    One row per ticket: its earliest pending target (``AtRiskOut`` shape)."""
    horizon = now + within
    first_pending = and_(Ticket.first_responded_at.is_(None),
                         Ticket.first_response_due_at.is_not(None),
                         Ticket.first_response_due_at <= horizon)
    resolution = and_(Ticket.due_at.is_not(None), Ticket.due_at <= horizon)
    rows = (await session.scalars(
        select(Ticket).where(Ticket.status.in_(OPEN_STATUSES), Ticket.merged_into_id.is_(None),
                             Ticket.sla_paused_at.is_(None), or_(first_pending, resolution))
        .order_by(case((first_pending, Ticket.first_response_due_at), else_=Ticket.due_at),
                  Ticket.id)
        .limit(limit))).all()
    out: list[dict[str, Any]] = []
    for t in rows:
        targets: list[tuple[datetime, str]] = []
        if t.first_responded_at is None and t.first_response_due_at is not None \
                and t.first_response_due_at <= horizon:
            targets.append((t.first_response_due_at, "first_response"))
        if t.due_at is not None and t.due_at <= horizon:
            targets.append((t.due_at, "resolution"))
        if not targets:
            continue
        due, target = min(targets)
        out.append({"id": t.id, "number": ticket_number(t.id), "title": t.title,
                    "priority": t.priority, "status": t.status, "assignee_id": t.assignee_id,
                    "assignee": None, "group_id": t.group_id, "target": target,
                    "due_at": due, "seconds_left": round((due - now).total_seconds(), 1)})
    out.sort(key=lambda r: (r["due_at"], r["id"]))
    names = await _names(session, [r["assignee_id"] for r in out])
    for r in out:
        r["assignee"] = names.get(r["assignee_id"]) if r["assignee_id"] else None
    return out
