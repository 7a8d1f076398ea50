"""The call log and the caller context a screen pop shows.

The caller context's shape is :class:`tickets.messages.CallerContext` (the screen pop carries
each of its keys), so the pop and the customer API name an order's fields the same way.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    Row,
    Select,
    Table,
    bindparam,
    case,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from tickets import lifecycle
from tickets.customers import in_warranty
from tickets.messages import CallerContext, PopCall, PopCustomer, PopOrder, PopTicket, no_caller
from tickets.models import CallLog, Customer, CustomerPhone, Order, Ticket, User
from tickets.service import ticket_number

CALL_FIELDS = ("pbx", "linkedid", "direction", "caller_number", "callee_number", "queue",
               "agent_extension", "state", "started_at", "answered_at", "ended_at", "wait_s",
               "talk_s", "hangup_cause", "recording_path")


@dataclass
class CallFilter:
    customer_phone: str | None = None  # E.164
    customer_id: int | None = None
    call_id: str | None = None
    agent_extension: str | None = None
    queue: str | None = None
    state: str | None = None
    since: datetime | None = None


async def upsert_call(session: AsyncSession, call_id: str,
                      values: dict[str, Any]) -> dict[str, Any]:
    """Insert or update one call's row; called at each milestone, safe to repeat.

    A ``None`` never overwrites a known value, so a late or replayed milestone (for instance
    after an AMI resync) cannot erase what an earlier one recorded; and the first recorded
    start and answer stay (a bridge restarted mid-call only estimates them), with the wait
    that goes with the answer and the talk time measured from it (:func:`merge_call`).
    Returns the row as written: column name → value (``call_log``'s columns but ``id``).
    """
    return (await upsert_calls(session, [(call_id, values)]))[call_id]


#: What :func:`upsert_calls` writes of a row (besides ``call_id``, its key).
_WRITTEN = (*CALL_FIELDS, "extra", "customer_id", "agent_id")
_CALL_LOG = cast(Table, CallLog.__table__)
#: Column defaults of a new row for what a first milestone leaves out.
_NEW_ROW: dict[str, Any] = {**dict.fromkeys(_WRITTEN), "direction": "inbound"}

_Row = Row[*tuple[Any, ...]]  # a result row of any columns


class _ByKeys:
    """A SELECT for rows whose ``column`` is one of some values, built once: ``= :key`` for
    one value (an ``IN`` list costs SQLAlchemy a regular-expression pass over the SQL at
    each run, and the call-log writer's batches are mostly one row), ``IN`` for more, 500
    at a time."""

    def __init__(self, base: Select[Any], column: ColumnElement[Any]) -> None:
        self.one = base.where(column == bindparam("key"))
        self.many = base.where(column.in_(bindparam("key", expanding=True)))

    async def rows(self, conn: AsyncConnection, keys: Sequence[Any]) -> list[_Row]:
        if len(keys) == 1:
            return list(await conn.execute(self.one, {"key": keys[0]}))
        out: list[_Row] = []
        for i in range(0, len(keys), 500):
            out.extend(await conn.execute(self.many, {"key": list(keys[i:i + 500])}))
        return out


#: The rows of some calls, locked (in call id order).
_LOCK_CALLS = _ByKeys(select(_CALL_LOG.c.id, _CALL_LOG.c.call_id,
                             *(_CALL_LOG.c[name] for name in _WRITTEN))
                      .order_by(_CALL_LOG.c.call_id).with_for_update(), _CALL_LOG.c.call_id)
_PHONES = cast(Table, CustomerPhone.__table__)
#: (number, the lowest id of a customer having it) of some numbers.
_CUSTOMERS_OF = _ByKeys(select(_PHONES.c.e164, func.min(_PHONES.c.customer_id))
                        .group_by(_PHONES.c.e164), _PHONES.c.e164)
_USERS = cast(Table, User.__table__)
#: (extension, user id) of some extensions.
_AGENTS_OF = _ByKeys(select(_USERS.c.extension, _USERS.c.id), _USERS.c.extension)
_INSERT_CALLS = insert(_CALL_LOG)
_UPDATE_CALLS = (update(_CALL_LOG).where(_CALL_LOG.c.id == bindparam("row_id"))
                 .values({name: bindparam(name) for name in _WRITTEN}))


async def upsert_calls(session: AsyncSession, items: Sequence[tuple[str, dict[str, Any]]]
                       ) -> dict[str, dict[str, Any]]:
    """:func:`upsert_call` for many milestones, applied in order; returns the rows by id.

    The call-log writer's batch: one locking SELECT for every row the batch touches (ids
    sorted, so two writers lock in the same order), the milestones merged in order, and
    the customer and agent of every row resolved at the end in one query each (same result
    as after each milestone: both depend on the row's final numbers only; the customer is
    the lowest id among those with the number, as ``find_by_e164`` orders them); then one
    INSERT for the new rows and one UPDATE for the known ones, each for many rows.

    SQLAlchemy Core on the session's connection, plain dicts for rows, statements built
    once: this runs on the event loop every console shares, at each call's start, answer
    and end, and ORM entities and their flush cost several times the CPU (issue #19).
    """
    conn = await session.connection()
    ids = sorted({call_id for call_id, _ in items})
    known = {row.call_id: row._asdict() for row in await _LOCK_CALLS.rows(conn, ids)}
    touched: dict[str, dict[str, Any]] = {}
    for call_id, values in items:
        touched[call_id] = merge_call(touched.get(call_id) or known.get(call_id), values)
    numbers = sorted({n for row in touched.values() if row["customer_id"] is None
                      and (n := customer_number(row))})
    customers = {e164: cid for e164, cid in await _CUSTOMERS_OF.rows(conn, numbers)
                 } if numbers else {}
    extensions = sorted({ext for row in touched.values() if (ext := row["agent_extension"])})
    agents = {ext: uid for ext, uid in await _AGENTS_OF.rows(conn, extensions)
              } if extensions else {}
    for row in touched.values():
        if row["customer_id"] is None:
            row["customer_id"] = customers.get(customer_number(row) or "")
        if row["agent_extension"]:
            row["agent_id"] = agents.get(row["agent_extension"])
    new = [{"call_id": call_id, **row} for call_id, row in touched.items()
           if call_id not in known]
    changed = [{"row_id": known[call_id]["id"], **row} for call_id, row in touched.items()
               if call_id in known]
    if new:
        await conn.execute(_INSERT_CALLS, new)
    if changed:
        await conn.execute(_UPDATE_CALLS, changed)
    return touched


def customer_number(row: Mapping[str, Any]) -> str | None:
    """The customer's side of a call row: the caller of an inbound call, the callee of one
    we placed (``CallLog.customer_number`` for a row read as a mapping)."""
    return row["caller_number"] if row["direction"] == "inbound" else row["callee_number"]


def merge_call(row: Mapping[str, Any] | None, values: Mapping[str, Any]) -> dict[str, Any]:
    """A call-log row after one more milestone (pure; neither argument is changed).

    ``row``: the row so far (at least :data:`CALL_FIELDS`, ``extra``, ``customer_id`` and
    ``agent_id``; other keys such as ``id`` are dropped), or ``None`` for a new call;
    ``values``: the milestone's columns (others are ignored; ``extra`` is merged key by
    key). Returns every written column. On a known row a ``None`` never overwrites, the
    first start stays, and so does the first answer with its wait; an end after a
    re-reported answer then gets its talk time from the first answer.
    """
    values = {k: v for k, v in values.items() if k in CALL_FIELDS or k == "extra"}
    extra = values.pop("extra", None) or {}
    if row is None:
        new = {**_NEW_ROW, **{k: v for k, v in values.items() if v is not None}}
        new["extra"] = dict(extra)
        return new
    out = {name: row[name] for name in _WRITTEN}
    if out["started_at"] is not None:
        values.pop("started_at", None)
    if out["answered_at"] is not None and values.get("answered_at") is not None:
        values.pop("answered_at")
        values.pop("wait_s", None)
        ended = values.get("ended_at")
        if ended is not None:
            values["talk_s"] = round(max(0.0, (ended - out["answered_at"]).total_seconds()), 3)
    out.update((k, v) for k, v in values.items() if v is not None)
    out["extra"] = {**(out["extra"] or {}), **extra}
    return out


async def list_calls(session: AsyncSession, flt: CallFilter, limit: int = 50,
                     offset: int = 0) -> list[CallLog]:
    query = select(CallLog)
    if flt.customer_phone:
        query = query.where(or_(CallLog.caller_number == flt.customer_phone,
                                CallLog.callee_number == flt.customer_phone))
    if flt.customer_id is not None:
        query = query.where(CallLog.customer_id == flt.customer_id)
    if flt.call_id:
        query = query.where(CallLog.call_id == flt.call_id)
    if flt.agent_extension:
        query = query.where(CallLog.agent_extension == flt.agent_extension)
    if flt.queue:
        query = query.where(CallLog.queue == flt.queue)
    if flt.state:
        query = query.where(CallLog.state == flt.state)
    if flt.since:
        query = query.where(CallLog.started_at >= flt.since)
    rows = await session.scalars(query.order_by(CallLog.started_at.desc(), CallLog.id.desc())
                                 .limit(limit).offset(offset))
    return list(rows.all())


#: The call-log columns :func:`call_dict` reads (a row of them reads like a ``CallLog``).
_CALL_COLUMNS = tuple(_CALL_LOG.c[name] for name in (
    "call_id", "pbx", "direction", "caller_number", "callee_number", "queue",
    "agent_extension", "state", "started_at", "talk_s", "wait_s"))


def call_dict(call: CallLog) -> PopCall:
    return {
        "call_id": call.call_id, "pbx": call.pbx, "direction": call.direction,
        "caller_number": call.caller_number, "callee_number": call.callee_number,
        "queue": call.queue,
        "agent_extension": call.agent_extension, "state": call.state,
        "started_at": call.started_at.isoformat() if call.started_at else None,
        "talk_s": call.talk_s, "wait_s": call.wait_s,
    }


def customer_dict(customer: Customer) -> PopCustomer:
    return {
        "id": customer.id, "name": customer.name, "tier": customer.tier,
        "vip": customer.tier == "vip", "language": customer.language,
        "email": customer.email, "company": customer.company, "notes": customer.notes,
        "phones": [p.e164 for p in customer.phones],
    }


def group_customers(rows: Iterable[Sequence[Any]]) -> list[PopCustomer]:
    """:func:`customer_dict` of each customer in rows of (id, name, tier, language, email,
    company, notes, one of its phones' E.164), a customer's rows next to each other (as
    ordered by id): one dict per customer, its phones in row order."""
    out: list[PopCustomer] = []
    for cid, name, tier, language, email, company, notes, e164 in rows:
        if not out or out[-1]["id"] != cid:
            out.append({"id": cid, "name": name, "tier": tier, "vip": tier == "vip",
                        "language": language, "email": email, "company": company,
                        "notes": notes, "phones": []})
        out[-1]["phones"].append(e164)
    return out


# The screen pop's statements, built once (SQLAlchemy Core: building a statement and its
# cache key, and the ORM's entities, were most of the lookup's CPU, which runs on the event
# loop every console shares; issue #19). Bound values are named parameters.
_CUSTOMERS = cast(Table, Customer.__table__)
_MATCHED = _PHONES.alias("matched")
#: Every customer having the number ``e164`` (one row per phone of each), oldest first.
_CALLER_CUSTOMERS = (
    select(_CUSTOMERS.c.id, _CUSTOMERS.c.name, _CUSTOMERS.c.tier, _CUSTOMERS.c.language,
           _CUSTOMERS.c.email, _CUSTOMERS.c.company, _CUSTOMERS.c.notes, _PHONES.c.e164)
    .join_from(_CUSTOMERS, _PHONES, _PHONES.c.customer_id == _CUSTOMERS.c.id)
    .where(_CUSTOMERS.c.id.in_(select(_MATCHED.c.customer_id)
                               .where(_MATCHED.c.e164 == bindparam("e164"))))
    .order_by(_CUSTOMERS.c.id, _PHONES.c.id))
#: The latest ``limit`` calls from or to ``e164``.
_RECENT_CALLS = (
    select(*_CALL_COLUMNS)
    .where(or_(_CALL_LOG.c.caller_number == bindparam("e164"),
               _CALL_LOG.c.callee_number == bindparam("e164")))
    .order_by(_CALL_LOG.c.started_at.desc()).limit(bindparam("limit")))
_TICKETS = cast(Table, Ticket.__table__)
#: ``customer_id``'s open tickets first, then the most recent others, ``limit`` in all.
_CUSTOMER_TICKETS = (
    select(_TICKETS.c.id, _TICKETS.c.title, _TICKETS.c.status, _TICKETS.c.priority,
           _TICKETS.c.created_at)
    .where(_TICKETS.c.customer_id == bindparam("customer_id"))
    # status = a OR status = b …, not IN (a, b …): SQLAlchemy expands an IN list at each
    # run with a regular-expression pass over the SQL.
    .order_by(case((or_(*(_TICKETS.c.status == s for s in sorted(lifecycle.OPEN_STATUSES))),
                    0), else_=1),
              _TICKETS.c.created_at.desc())
    .limit(bindparam("limit")))
_ORDERS = cast(Table, Order.__table__)
#: ``customer_id``'s latest ``limit`` orders.
_CUSTOMER_ORDERS = (
    select(_ORDERS.c.number, _ORDERS.c.product_name, _ORDERS.c.purchased_at,
           _ORDERS.c.warranty_end, _ORDERS.c.status)
    .where(_ORDERS.c.customer_id == bindparam("customer_id"))
    .order_by(_ORDERS.c.purchased_at.desc()).limit(bindparam("limit")))


async def customer_tickets(session: AsyncSession, customer_id: int,
                           limit: int = 10) -> list[PopTicket]:
    """The customer's open tickets first, then the most recent others: one query."""
    conn = await session.connection()
    rows = await conn.execute(_CUSTOMER_TICKETS, {"customer_id": customer_id, "limit": limit})
    return [{"id": tid, "number": ticket_number(tid), "title": title, "status": status,
             "priority": priority, "open": status in lifecycle.OPEN_STATUSES,
             "created_at": created_at.isoformat()}
            for tid, title, status, priority, created_at in rows]


async def caller_context(session: AsyncSession, e164: str | None, *, tickets_limit: int = 10,
                         calls_limit: int = 5, orders_limit: int = 10) -> CallerContext:
    """What an agent needs the moment the phone rings: who, their orders, tickets and calls.

    Open tickets come first (all of them, up to the limit), then the most recent others.
    Four indexed queries (customers with their phones, calls, tickets, orders), in Core
    with plain rows (see the statements above); measured in tests/bench/bench_core.py and,
    end to end, bench_pop.py.
    """
    if not e164:
        return no_caller()
    conn = await session.connection()
    customers = group_customers(await conn.execute(_CALLER_CUSTOMERS, {"e164": e164}))
    calls = await conn.execute(_RECENT_CALLS, {"e164": e164, "limit": calls_limit})
    call_list = [call_dict(c) for c in calls]  # type: ignore[arg-type]  # a row reads alike
    if not customers:
        return {"customer": None, "tickets": [], "calls": call_list, "orders": []}
    info = customers[0]
    tickets = await customer_tickets(session, info["id"], tickets_limit)
    orders = await conn.execute(_CUSTOMER_ORDERS,
                                {"customer_id": info["id"], "limit": orders_limit})
    order_list: list[PopOrder] = [
        {"number": o.number, "product_name": o.product_name,
         "purchased_at": o.purchased_at.isoformat(),
         "warranty_end": o.warranty_end.isoformat() if o.warranty_end else None,
         "in_warranty": in_warranty(o), "status": o.status}  # type: ignore[arg-type]
        for o in orders]
    info["other_matches"] = [c["id"] for c in customers[1:]]
    return {"customer": info, "tickets": tickets, "calls": call_list, "orders": order_list}
