"""The call log and the caller context a screen pop shows.

The caller context's shape is :class:`tickets.messages.CallerContext` (the screen pop carries
each of its keys), so the pop and the customer API name an order's fields the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import case, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from tickets import lifecycle
from tickets.customers import find_by_e164, in_warranty
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


async def upsert_call(session: AsyncSession, call_id: str, values: dict[str, Any]) -> CallLog:
    """Insert or update one call's row; called at each milestone, safe to repeat.

    A ``None`` never overwrites a known value, so a late or replayed milestone (for instance
    after an AMI resync) cannot erase what an earlier one recorded; and the first recorded
    start and answer stay (a bridge restarted mid-call only estimates them), with the wait
    that goes with the answer and the talk time measured from it.
    """
    return (await upsert_calls(session, [(call_id, values)]))[call_id]


async def upsert_calls(session: AsyncSession,
                       items: Sequence[tuple[str, dict[str, Any]]]) -> dict[str, CallLog]:
    """:func:`upsert_call` for many milestones, applied in order; returns the rows by id.

    The call-log writer's batch: one locking SELECT for every row the batch touches (ids
    sorted, so two writers lock in the same order), the milestones merged in order, and
    the customer and agent of every row resolved at the end in one query each (same result
    as after each milestone: both depend on the row's final numbers only; the customer is
    the lowest id among those with the number, as :func:`find_by_e164` orders them).
    """
    ids = sorted({call_id for call_id, _ in items})
    rows: dict[str, CallLog] = {}
    for i in range(0, len(ids), 500):
        found = await session.scalars(select(CallLog).where(CallLog.call_id.in_(ids[i:i + 500]))
                                      .order_by(CallLog.call_id).with_for_update())
        rows.update((row.call_id, row) for row in found)
    touched: dict[str, CallLog] = {}
    for call_id, raw in items:
        values = {k: v for k, v in raw.items() if k in CALL_FIELDS or k == "extra"}
        row = rows.get(call_id)
        if row is None:
            row = rows[call_id] = CallLog(call_id=call_id, extra={}, **{
                k: v for k, v in values.items() if k != "extra"})
            row.extra = dict(values.get("extra") or {})
            session.add(row)
        else:
            _merge(row, values)
        touched[call_id] = row
    numbers = sorted({n for row in touched.values() if row.customer_id is None
                      and (n := row.customer_number)})
    extensions = sorted({row.agent_extension for row in touched.values()
                         if row.agent_extension})
    customers: dict[str, int] = {}
    for i in range(0, len(numbers), 500):  # the lowest customer id per number, as before
        for e164, customer_id in await session.execute(
                select(CustomerPhone.e164, func.min(CustomerPhone.customer_id))
                .where(CustomerPhone.e164.in_(numbers[i:i + 500]))
                .group_by(CustomerPhone.e164)):
            customers[e164] = customer_id
    agents: dict[str, int] = {}
    if extensions:
        agents = {ext: uid for ext, uid in await session.execute(
            select(User.extension, User.id).where(User.extension.in_(extensions)))
            if ext is not None}
    for row in touched.values():
        number = row.customer_number
        if row.customer_id is None and number and number in customers:
            row.customer_id = customers[number]
        if row.agent_extension:
            row.agent_id = agents.get(row.agent_extension)
    await session.flush()
    return touched


def _merge(row: CallLog, values: dict[str, Any]) -> None:
    """Apply a later milestone to a known row (see :func:`upsert_call` for the rules)."""
    if row.started_at is not None:
        values.pop("started_at", None)
    if row.answered_at is not None and values.get("answered_at") is not None:
        values.pop("answered_at")
        values.pop("wait_s", None)
        ended = values.get("ended_at")
        if ended is not None:
            values["talk_s"] = round(max(0.0, (ended - row.answered_at).total_seconds()), 3)
    for key, value in values.items():
        if key == "extra":
            row.extra = {**(row.extra or {}), **(value or {})}
        elif value is not None:
            setattr(row, key, value)


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
_CALL_COLUMNS = (CallLog.call_id, CallLog.pbx, CallLog.direction, CallLog.caller_number,
                 CallLog.callee_number, CallLog.queue, CallLog.agent_extension, CallLog.state,
                 CallLog.started_at, CallLog.talk_s, CallLog.wait_s)


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


async def customer_tickets(session: AsyncSession, customer_id: int,
                           limit: int = 10) -> list[PopTicket]:
    """The customer's open tickets first, then the most recent others: one query."""
    is_open = Ticket.status.in_(sorted(lifecycle.OPEN_STATUSES))
    rows = await session.execute(
        select(Ticket.id, Ticket.title, Ticket.status, Ticket.priority, Ticket.created_at)
        .where(Ticket.customer_id == customer_id)
        .order_by(case((is_open, 0), else_=1), Ticket.created_at.desc())
        .limit(limit))
    return [{"id": row.id, "number": ticket_number(row.id), "title": row.title,
             "status": row.status, "priority": row.priority,
             "open": row.status in lifecycle.OPEN_STATUSES,
             "created_at": row.created_at.isoformat()} for row in rows]


async def caller_context(session: AsyncSession, e164: str | None, *, tickets_limit: int = 10,
                         calls_limit: int = 5, orders_limit: int = 10) -> CallerContext:
    """What an agent needs the moment the phone rings: who, their orders, tickets and calls.

    Open tickets come first (all of them, up to the limit), then the most recent others.
    Four indexed queries (customer with phones, calls, tickets, orders); measured in
    tests/bench/bench_core.py and, end to end, bench_pop.py.
    """
    if not e164:
        return no_caller()
    customers = await find_by_e164(session, e164)
    # Columns, not ORM entities, for calls and orders: the pop needs a few fields, and
    # building (and later collecting) entities was a good part of the lookup's CPU, run
    # on the event loop every console shares (issue #19).
    calls = await session.execute(
        select(*_CALL_COLUMNS)
        .where(or_(CallLog.caller_number == e164, CallLog.callee_number == e164))
        .order_by(CallLog.started_at.desc()).limit(calls_limit))
    call_list = [call_dict(c) for c in calls]  # type: ignore[arg-type]  # a row reads alike
    if not customers:
        return {"customer": None, "tickets": [], "calls": call_list, "orders": []}
    customer = customers[0]
    tickets = await customer_tickets(session, customer.id, tickets_limit)
    orders = await session.execute(
        select(Order.number, Order.product_name, Order.purchased_at, Order.warranty_end,
               Order.status)
        .where(Order.customer_id == customer.id)
        .order_by(Order.purchased_at.desc()).limit(orders_limit))
    order_list: list[PopOrder] = [
        {"number": o.number, "product_name": o.product_name,
         "purchased_at": o.purchased_at.isoformat(),
         "warranty_end": o.warranty_end.isoformat() if o.warranty_end else None,
         "in_warranty": in_warranty(o), "status": o.status}  # type: ignore[arg-type]
        for o in orders]
    info = customer_dict(customer)
    info["other_matches"] = [c.id for c in customers[1:]]
    return {"customer": info, "tickets": tickets, "calls": call_list, "orders": order_list}
