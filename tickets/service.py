"""Ticket services: create, read, list, change, comment, attach, forward; each one transaction.

Callers pass an open session inside a transaction (``tickets.db.transaction``); every change
writes its history row in that same transaction, so a ticket and its history never disagree.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Integer,
    Select,
    bindparam,
    column,
    exists,
    false,
    func,
    insert,
    literal_column,
    null,
    or_,
    select,
    true,
    union_all,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.orm import InstrumentedAttribute, make_transient_to_detached

from tickets import lifecycle
from tickets.customers import (
    contains_pattern,
    customer_id_by_e164,
    customer_search_terms,
    find_by_e164,
    order_by_number,
)
from tickets.db import Base, utcnow
from tickets.errors import Conflict, Forbidden, Invalid, NotFound, TooLarge
from tickets.models import (
    Attachment,
    Comment,
    Customer,
    Group,
    Order,
    Ticket,
    TicketCall,
    TicketEvent,
    TicketType,
    User,
)
from tickets.notify.events import NotificationEvent, Notify
from tickets.notify.outbox import facts_of
from tickets.phones import InvalidPhoneNumber, lacks_area_code, normalize
from tickets.routing.flow import FlowError, parse_steps, step_of_group, steps_of_type
from tickets.routing.service import TAKE_TURN, Draft, Routed, Router, routing_of
from tickets.schemas import CommentIn, TicketIn, TicketPatch
from tickets.sla.service import refresh_clock, start_clock
from tickets.templates import validate_fields
from tickets.users import find_group, find_user

_TICKET_NUMBER = re.compile(r"[Tt]-?0*(\d{1,12})")
STAFF_ROLES = frozenset({"agent", "supervisor", "admin"})


@dataclass(frozen=True)
class Actor:
    """Who is acting: enough to check rights and to sign history rows."""

    id: int | None
    role: str
    customer_id: int | None = None

    @property
    def is_staff(self) -> bool:
        return self.role in STAFF_ROLES


SYSTEM = Actor(id=None, role="admin")


def new_pin() -> str:
    """A ticket's PIN: six digits from :mod:`secrets` (leading zeros kept: a string)."""
    return f"{secrets.randbelow(10 ** 6):06d}"


def ticket_number(ticket_id: int) -> str:
    return f"T-{ticket_id:06d}"


def parse_ticket_number(text: str) -> int | None:
    """``T-000123`` / ``t123`` → 123; anything else → None."""
    match = _TICKET_NUMBER.fullmatch(text.strip())
    return int(match.group(1)) if match else None


def _event(session: AsyncSession, ticket: Ticket, actor: Actor, kind: str,
           **data: Any) -> None:
    session.add(TicketEvent(ticket_id=ticket.id, actor_id=actor.id, kind=kind, data=data))


def may_see_ticket(actor: Actor, *, customer_id: int | None, assignee_id: int | None) -> bool:
    """THE ticket visibility rule (pure): may ``actor`` see a ticket with these fields?

    Staff (agents, supervisors, admins) see every ticket; a customer sees the tickets of
    their own customer record; a field engineer sees the tickets assigned to them; nobody
    else sees any. The REST API (:func:`can_see`, :func:`get_ticket`) and the websocket hub
    (``web/hub.py``, for every message that carries a ticket) both decide with this one
    function, so a socket can never show a ticket its user would get 404 for.
    :func:`visible` is the same rule as a SQL clause (a test checks they agree).
    """
    if actor.is_staff:
        return True
    if actor.role == "customer":
        return actor.customer_id is not None and customer_id == actor.customer_id
    if actor.role == "engineer":
        return actor.id is not None and assignee_id == actor.id
    return False


def can_see(actor: Actor, ticket: Ticket) -> bool:
    """:func:`may_see_ticket` for a loaded ticket."""
    return may_see_ticket(actor, customer_id=ticket.customer_id, assignee_id=ticket.assignee_id)


def visible(query: Select[Any], actor: Actor) -> Select[Any]:
    """Narrow a ticket query to what ``actor`` may see (:func:`may_see_ticket` in SQL)."""
    if actor.is_staff:
        return query
    if actor.role == "customer":
        return query.where(Ticket.customer_id == (actor.customer_id or -1))
    if actor.role == "engineer":
        return query.where(Ticket.assignee_id == actor.id)
    return query.where(false())


def _customer_exists(customer_id: int) -> ColumnElement[bool]:
    return exists().where(Customer.id == customer_id)


async def _check_customer(session: AsyncSession, customer_id: int) -> None:
    if not await session.scalar(select(_customer_exists(customer_id))):
        raise Invalid(f"unknown customer {customer_id}")


_TYPES = TicketType.__table__
#: A type's row and the id of the first group of its flow (Core: no ORM load on the hot path).
_TYPE_AND_FIRST_GROUP = select(_TYPES, Group.__table__.c.id.label("flow_group_id")) \
    .outerjoin_from(_TYPES, Group.__table__, Group.key == TicketType.flow[0].as_string()) \
    .where(_TYPES.c.key == bindparam("type_key"))
#: The same and whether a customer exists. Both built once: a statement built per call
#: paid for its construction and its cache key at every create.
_CUSTOMERS = Customer.__table__
#: ... and the customer's tier and address, which routing rules may test (same round trip).
_TYPE_FIRST_GROUP_AND_CUSTOMER = _TYPE_AND_FIRST_GROUP.add_columns(
    exists().where(Customer.id == bindparam("customer_id")).label("customer_found"),
    select(_CUSTOMERS.c.tier).where(_CUSTOMERS.c.id == bindparam("customer_id"))
    .scalar_subquery().label("customer_tier"),
    select(_CUSTOMERS.c.address).where(_CUSTOMERS.c.id == bindparam("customer_id"))
    .scalar_subquery().label("customer_address"))


@dataclass(frozen=True)
class _CustomerFacts:
    """A customer's routing facts, read with the ticket type (None: not read)."""

    tier: str
    address: str | None


async def _type_and_first_group(session: AsyncSession, key: str,
                                customer_id: int | None = None
                                ) -> tuple[TicketType, int | None, _CustomerFacts | None]:
    """The type (detached, all columns loaded) and the id of the first group of its flow —
    and, given ``customer_id``, whether that customer exists (:class:`Invalid` if not) and
    its routing facts — in one round trip (hot path)."""
    conn = await session.connection()
    customer = None
    if customer_id is None:
        row = (await conn.execute(_TYPE_AND_FIRST_GROUP, {"type_key": key})).first()
    else:
        row = (await conn.execute(_TYPE_FIRST_GROUP_AND_CUSTOMER,
                                  {"type_key": key, "customer_id": customer_id})).first()
        if row is None or not row.customer_found:
            # the customer's error first, as when it was checked on its own
            await _check_customer(session, customer_id)
    if row is None or not row.active:
        raise Invalid(f"unknown ticket type {key!r}")
    if customer_id is not None:
        customer = _CustomerFacts(row.customer_tier, row.customer_address)
    ticket_type = TicketType(**{c.key: row._mapping[c] for c in _TYPES.c})
    make_transient_to_detached(ticket_type)
    return ticket_type, row.flow_group_id, customer


async def _type(session: AsyncSession, key: str) -> TicketType:
    ticket_type = await session.scalar(select(TicketType).where(TicketType.key == key))
    if ticket_type is None or not ticket_type.active:
        raise Invalid(f"unknown ticket type {key!r}")
    return ticket_type


async def _resolve_customer(session: AsyncSession, data: TicketIn, region: str, *,
                            check_id: bool = True) -> int | None:
    """The customer a staff member's ticket is for. ``check_id=False``: the caller checks
    that a given ``customer_id`` exists (:func:`_type_and_first_group`, same round trip)."""
    if data.customer_id is not None:
        if check_id:
            await _check_customer(session, data.customer_id)
        return data.customer_id
    if data.customer_phone:
        try:
            e164 = normalize(data.customer_phone, region)
        except InvalidPhoneNumber as exc:
            raise Invalid(str(exc)) from None
        found = await customer_id_by_e164(session, e164)
        if found is None and lacks_area_code(data.customer_phone, region):
            raise Invalid(f"customer_phone {data.customer_phone.strip()!r} has no area code, so "
                          "it matches no customer: write it with one (e.g. 021 6552 9988)")
        if found is None:
            raise Invalid(f"customer_phone: no customer has the number {e164}; create the "
                          "customer first")
        return found
    return None


async def _order(session: AsyncSession, number: str | None,
                 customer_id: int | None) -> Order | None:
    if not number:
        return None
    order = await order_by_number(session, number)
    if order is not None and customer_id is not None and order.customer_id != customer_id:
        raise Invalid(f"order {number} belongs to another customer")
    return order


_TABLES = Base.metadata.tables
_INSERT_TICKET = insert(_TABLES["tickets"]).returning(_TABLES["tickets"].c.id)
_INSERT_TICKET_CALL = insert(_TABLES["ticket_calls"])
_INSERT_EVENT = insert(_TABLES["ticket_events"])
#: The columns :func:`create_ticket` sets (every one, every time: one statement shape).
_TICKET_KEYS = ("title", "description", "type_id", "priority", "status", "channel",
                "customer_id", "order_id", "order_number", "assignee_id", "group_id",
                "fields", "tags", "call_id", "flow_step", "reopen_count",
                "first_response_due_at", "due_at", "created_by_id", "created_at",
                "updated_at", "version", "flow_path", "sla_policy_id", "sla_paused_s",
                "sla_next_at", "pin")


def _insert_ticket_with_history(with_call: bool) -> Any:
    """PostgreSQL: the ticket, its "created" history row (and its call link) in ONE
    statement — data-modifying CTEs — returning the ticket's id. One round trip instead of
    two or three; still inside the request's transaction. Parameters: the ticket's columns
    (:data:`_TICKET_KEYS`, prefixed ``t_``: the UPDATE in the statement would add any
    parameter named like a column of ``users`` to its SET clause), ``ev_actor_id``,
    ``ev_at``, ``ev_data``, ``routing`` (routing's history rows), ``turn_user_id`` and
    ``turn_at`` (the round-robin turn to write, or None)."""
    tickets, events, calls = (_TABLES[n] for n in ("tickets", "ticket_events",
                                                   "ticket_calls"))
    new = (insert(tickets)
           .values({k: bindparam(f"t_{k}", type_=tickets.c[k].type) for k in _TICKET_KEYS})
           .returning(tickets.c.id).cte("new_ticket"))
    users = _TABLES["users"]
    turn = (update(users).where(users.c.id == bindparam("turn_user_id", type_=Integer))
            .values(last_assigned_at=bindparam("turn_at", type_=users.c.last_assigned_at.type))
            .returning(users.c.id).cte("turn"))  # a round-robin turn, or no row
    ctes = [new, turn]
    if with_call:
        ctes.append(insert(calls).from_select(
            ["ticket_id", "call_id", "linked_at"],
            select(new.c.id, bindparam("t_call_id", type_=calls.c.call_id.type),
                   bindparam("t_created_at", type_=calls.c.linked_at.type))).cte("new_call"))
    # the "created" row, then what routing did (a JSON array of {kind, data}, system rows),
    # in one INSERT whose rows take their ids in that order (history is ordered by id)
    routing = func.jsonb_array_elements(bindparam("routing", type_=JSONB)).table_valued(
        column("value", JSONB), with_ordinality="ord").render_derived()
    rows = union_all(
        select(new.c.id.label("ticket_id"),
               bindparam("ev_actor_id", type_=events.c.actor_id.type).label("actor_id"),
               literal_column("'created'", events.c.kind.type).label("kind"),
               bindparam("ev_at", type_=events.c.at.type).label("at"),
               bindparam("ev_data", type_=JSONB).label("data"),
               literal_column("0", BigInteger).label("ord")),
        # constants as SQL text, not bound values: a cached statement re-extracts bound
        # literals on every execution and lost track of them across these CTEs
        select(new.c.id, null(), routing.c.value.op("->>")(literal_column("'kind'")),
               bindparam("ev_at", type_=events.c.at.type),
               routing.c.value.op("->")(literal_column("'data'")),
               routing.c.ord).select_from(new).join(routing, true())).subquery()
    history = insert(events).from_select(
        ["ticket_id", "actor_id", "kind", "at", "data"],
        select(rows.c.ticket_id, rows.c.actor_id, rows.c.kind, rows.c.at, rows.c.data)
        .order_by(rows.c.ord))
    return history.add_cte(*ctes).returning(events.c.ticket_id)


_INSERT_TICKET_WITH_HISTORY = _insert_ticket_with_history(False)
_INSERT_TICKET_CALL_WITH_HISTORY = _insert_ticket_with_history(True)


async def create_ticket(session: AsyncSession, data: TicketIn, actor: Actor,
                        region: str = "CN", router: Router | None = None,
                        routed_out: list[Routed] | None = None,
                        notify: Notify | None = None) -> Ticket:
    """A new ticket, routed by ``router`` (rules, then assignment in the group) when given;
    what routing decided is appended to ``routed_out`` (the caller announces its notices).
    ``notify``: told ``ticket_created`` in this transaction (the assignee, else the group).

    Raises Forbidden (role), Invalid (unknown type, customer, order, user, group; fields)."""
    if actor.role == "customer":
        customer_id: int | None = actor.customer_id
        if data.assignee is not None or data.group is not None:
            raise Forbidden("customers cannot assign tickets")
    elif actor.is_staff:
        customer_id = await _resolve_customer(session, data, region,
                                              check_id=not data.type)
    else:
        raise Forbidden(f"role {actor.role} cannot create tickets")
    given_customer = data.customer_id if actor.is_staff else None
    ticket_type, flow_group_id, customer = (
        await _type_and_first_group(session, data.type, given_customer)
        if data.type else (None, None, None))
    fields = validate_fields(ticket_type.fields if ticket_type else [], dict(data.fields))
    order = await _order(session, data.order_number, customer_id)
    if order is not None and customer_id is None:
        customer_id = order.customer_id
    assignee = await find_user(session, data.assignee) if data.assignee is not None else None
    if assignee is not None and assignee.role == "customer":
        raise Invalid("tickets cannot be assigned to customers")
    group = await find_group(session, data.group) if data.group is not None else None
    group_id = group.id if group is not None else flow_group_id
    priority = data.priority or (ticket_type.default_priority if ticket_type else "normal")
    now = utcnow()
    routed = None
    if router is not None:
        routed = await router.route(session, Draft(
            priority=priority, channel=data.channel, type_key=data.type,
            customer_id=customer_id, order_number=data.order_number,
            product=order.product_name if order else None, tags=tuple(sorted(set(data.tags))),
            title=data.title, description=data.description, transcript=data.transcript or "",
            call_id=data.call_id,
            group=group.key if group else (ticket_type.flow[0] if ticket_type and group_id
                                           else None),
            assignee=assignee.username if assignee else None, locked=_hand_set(data),
            required_skills=frozenset(ticket_type.required_skills or ()) if ticket_type
            else frozenset(),
            customer_tier=customer.tier if customer is not None else None,
            customer_address=customer.address if customer is not None else None,
            customer_read=customer is not None), now=now, defer_turn=True)
        priority = routed.outcome.routing.priority
        if routed_out is not None:
            routed_out.append(routed)
    values: dict[str, Any] = {
        "title": data.title, "description": data.description,
        "type_id": ticket_type.id if ticket_type else None, "priority": priority,
        "status": lifecycle.status_after_assignment(
            "new", assignee.id if assignee else None),
        "channel": data.channel, "customer_id": customer_id,
        "order_id": order.id if order else None, "order_number": data.order_number,
        "assignee_id": assignee.id if assignee else None,
        "group_id": group_id, "fields": fields,
        "tags": sorted(set(data.tags)), "call_id": data.call_id, "flow_step": 0,
        "reopen_count": 0,
        "created_by_id": actor.id, "created_at": now, "updated_at": now, "version": 1,
        "pin": new_pin(),
    }
    if routed is not None:
        values.update(routing_of(routed))
        values["status"] = lifecycle.status_after_assignment("new", values["assignee_id"])
    if values.get("flow_path") is None and ticket_type is not None and ticket_type.flow:
        # the ticket keeps its own copy: editing the type's flow later does not move it
        values["flow_path"] = [st.as_json() for st in steps_of_type(
            ticket_type.flow, ticket_type.required_steps or [])]
    if routed is not None and values.get("flow_path"):
        # a rule that sends the ticket to a department on its flow puts it at that step
        values["flow_step"] = step_of_group(values["flow_path"],
                                            routed.outcome.routing.group)
    # the SLA clock: the policy matching priority, type, customer tier and flow step
    values.update(await start_clock(session, priority=values["priority"], type_key=data.type,
                                    customer_id=customer_id, flow_step=values["flow_step"],
                                    created_at=now))
    # Core inserts: creating tickets is the hot write path, and the ORM unit of work
    # roughly doubled its cost (tests/bench/bench_core.py).
    # Through the session's connection: the same transaction, without the ORM's layers.
    history = {"status": values["status"], "priority": priority, "type": data.type,
               "channel": data.channel, "assignee_id": values["assignee_id"],
               "group_id": values["group_id"], "call_id": data.call_id}
    values.setdefault("flow_path", None)
    ticket_id = await _insert_ticket(await session.connection(), values, history, actor,
                                     routed.events() if routed is not None else [],
                                     routed.turn_user_id if routed is not None else None)
    ticket = Ticket(id=ticket_id, merged_into_id=None, parent_id=None, first_responded_at=None,
                    resolved_at=None, closed_at=None, sla_paused_at=None,
                    sla_breached_at=None, **values)
    ticket.type = ticket_type
    make_transient_to_detached(ticket)  # a snapshot of the row; session.add() re-attaches it
    if notify is not None:
        await notify(session, NotificationEvent(
            "ticket_created", ticket_id, f"created:{ticket_id}", actor_id=actor.id,
            data={"ticket": facts_of(ticket), "channel": data.channel}))
    return ticket


async def take_write_turn(session: AsyncSession, ticket_ids: list[int]) -> None:
    """Make a following ``SELECT … FOR UPDATE`` of these tickets mean the same on SQLite.

    SQLite ignores ``FOR UPDATE``, and a request there reads before its transaction starts
    (at its first write), so a check such as "is this ticket merged?" could pass on a row
    another request changes before this one writes. A no-op UPDATE of the rows first takes
    the database's write turn (``tickets.db.SqliteWriteLock``) and opens the transaction:
    what is read next stays current until the commit. PostgreSQL's row locks do this
    already; there it does nothing."""
    if ticket_ids and (await session.connection()).dialect.name == "sqlite":
        table = _TABLES["tickets"]
        await session.execute(update(table).where(table.c.id.in_(ticket_ids))
                              .values(id=table.c.id))


async def _insert_ticket(conn: AsyncConnection, values: dict[str, Any],
                         history: dict[str, Any], actor: Actor,
                         routing_events: list[tuple[str, dict[str, Any]]],
                         turn_user_id: int | None = None) -> int:
    """Write the ticket, its "created" row, its call link, what routing did and the
    round-robin turn it took; the ticket's id."""
    now = values["created_at"]
    if conn.dialect.name == "postgresql":
        statement = (_INSERT_TICKET_CALL_WITH_HISTORY if values["call_id"]
                     else _INSERT_TICKET_WITH_HISTORY)
        first = (await conn.execute(statement, {
            **{f"t_{k}": v for k, v in values.items()},
            "ev_actor_id": actor.id, "ev_at": now, "ev_data": history,
            "routing": [{"kind": k, "data": d} for k, d in routing_events],
            "turn_user_id": turn_user_id, "turn_at": now})).scalars().first()
        assert first is not None  # an INSERT … RETURNING returns its rows
        return int(first)
    if turn_user_id is not None:
        await conn.execute(TAKE_TURN, {"user_id": turn_user_id, "at": now})
    # SQLite has no data-modifying CTEs: one statement each
    ticket_id: int = (await conn.execute(_INSERT_TICKET, values)).scalar_one()
    if values["call_id"]:
        await conn.execute(_INSERT_TICKET_CALL, {"ticket_id": ticket_id,
                                                 "call_id": values["call_id"],
                                                 "linked_at": now})
    await conn.execute(_INSERT_EVENT, {"ticket_id": ticket_id, "actor_id": actor.id,
                                       "kind": "created", "at": now, "data": history})
    if routing_events:  # rule by rule, then the assignment (no actor: the system did it)
        await conn.execute(_INSERT_EVENT, [
            {"ticket_id": ticket_id, "actor_id": None, "kind": kind, "at": now, "data": data}
            for kind, data in routing_events])
    return ticket_id


def _hand_set(data: TicketIn) -> frozenset[str]:
    """The routing fields the person creating the ticket chose: rules leave them alone."""
    return frozenset(name for name, value in (("group", data.group),
                                              ("assignee", data.assignee),
                                              ("priority", data.priority)) if value is not None)


async def get_ticket(session: AsyncSession, ticket_id: int, actor: Actor,
                     *, for_update: bool = False) -> Ticket:
    query = select(Ticket).where(Ticket.id == ticket_id)
    if for_update:
        await take_write_turn(session, [ticket_id])
        query = query.with_for_update(of=Ticket)
    ticket = await session.scalar(query)
    if ticket is None or not can_see(actor, ticket):
        # Not telling a customer that someone else's ticket exists.
        raise NotFound(f"ticket {ticket_id} not found")
    return ticket


def ensure_writable(ticket: Ticket) -> None:
    """A merged ticket is read-only (``tickets.relations``): Conflict naming the ticket it
    was merged into, where the work goes on."""
    if ticket.merged_into_id is not None:
        into = ticket_number(ticket.merged_into_id)
        raise Conflict(f"ticket {ticket_number(ticket.id)} was merged into {into} and is "
                       f"read-only: work on {into}")


async def get_writable_ticket(session: AsyncSession, ticket_id: int, actor: Actor) -> Ticket:
    """:func:`get_ticket` locked for a change (a merge waits for it, and it for a merge);
    NotFound as there, Conflict for a merged ticket (:func:`ensure_writable`)."""
    ticket = await get_ticket(session, ticket_id, actor, for_update=True)
    ensure_writable(ticket)
    return ticket


@dataclass
class TicketFilter:
    status: list[str] | None = None
    customer_id: int | None = None
    customer_phone: str | None = None
    assignee_id: int | None = None
    unassigned: bool = False  # only tickets nobody owns (with or without a group)
    group_id: int | None = None
    type: str | None = None
    priority: str | None = None
    call_id: str | None = None
    q: str | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None


def search_clause(q: str, actor: Actor) -> ColumnElement[bool]:
    """What ``q`` finds: the ticket number, text in the title, description, order number or
    a comment (public ones only for customers), or the ticket's customer as the customer
    search finds them (name, order number, phone digits written any way). Case-insensitive
    for Latin letters; ``%`` and ``_`` are literal."""
    pattern = contains_pattern(q)

    def has(column: InstrumentedAttribute[str] | InstrumentedAttribute[str | None]
            ) -> ColumnElement[bool]:
        return column.ilike(pattern, escape="\\")

    comments = select(Comment.ticket_id).where(has(Comment.body))
    if not actor.is_staff:
        comments = comments.where(Comment.public.is_(True))
    customers = select(Customer.id).where(or_(*customer_search_terms(q)))
    found: list[ColumnElement[bool]] = [
        has(Ticket.title), has(Ticket.description), has(Ticket.order_number),
        Ticket.id.in_(comments), Ticket.customer_id.in_(customers)]
    by_number = parse_ticket_number(q)
    if by_number is not None:
        found.append(Ticket.id == by_number)
    return or_(*found)


def _status_clause(statuses: list[str]) -> ColumnElement[bool]:
    """``status`` filter values (``open`` stands for every open status); Invalid if unknown."""
    unknown = set(statuses) - set(lifecycle.STATUSES) - {"open"}
    if unknown:
        raise Invalid(f"unknown status {sorted(unknown)}")
    wanted = set(statuses)
    if "open" in wanted:
        wanted = (wanted - {"open"}) | lifecycle.OPEN_STATUSES
    return Ticket.status.in_(sorted(wanted))


async def _customer_phone_clause(session: AsyncSession, phone: str,
                                 region: str) -> ColumnElement[bool]:
    try:
        e164 = normalize(phone, region)
    except InvalidPhoneNumber as exc:
        raise Invalid(str(exc)) from None
    ids = [c.id for c in await find_by_e164(session, e164)]
    return Ticket.customer_id.in_(ids or [-1])


def _plain_clauses(flt: TicketFilter, actor: Actor) -> list[ColumnElement[bool]]:
    """The filters that need no lookup: one clause each for the fields that are set."""
    out: list[ColumnElement[bool]] = []
    if flt.customer_id is not None:
        out.append(Ticket.customer_id == flt.customer_id)
    if flt.assignee_id is not None:
        out.append(Ticket.assignee_id == flt.assignee_id)
    if flt.unassigned:
        out.append(Ticket.assignee_id.is_(None))
    if flt.group_id is not None:
        out.append(Ticket.group_id == flt.group_id)
    if flt.priority:
        out.append(Ticket.priority == flt.priority)
    if flt.call_id:
        linked = select(TicketCall.ticket_id).where(TicketCall.call_id == flt.call_id)
        out.append(or_(Ticket.call_id == flt.call_id, Ticket.id.in_(linked)))
    if flt.q and flt.q.strip():
        out.append(search_clause(flt.q.strip(), actor))
    if flt.created_from:
        out.append(Ticket.created_at >= flt.created_from)
    if flt.created_to:
        out.append(Ticket.created_at < flt.created_to)
    return out


async def list_tickets(session: AsyncSession, actor: Actor, flt: TicketFilter, *,
                       limit: int = 50, offset: int = 0,
                       region: str = "CN") -> tuple[list[Ticket], int]:
    """The tickets ``actor`` may see that match ``flt``, newest first, and their total.

    Raises Invalid for an unknown status or an unusable ``customer_phone``.
    """
    query = visible(select(Ticket), actor)
    if flt.status:
        query = query.where(_status_clause(list(flt.status)))
    if flt.customer_phone:
        query = query.where(await _customer_phone_clause(session, flt.customer_phone, region))
    if flt.type:
        query = query.join(TicketType, TicketType.id == Ticket.type_id).where(
            TicketType.key == flt.type)
    query = query.where(*_plain_clauses(flt, actor))
    total = await session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = await session.scalars(
        query.order_by(Ticket.created_at.desc(), Ticket.id.desc()).limit(limit).offset(offset))
    return list(rows.all()), total


async def update_ticket(session: AsyncSession, ticket_id: int, patch: TicketPatch,
                        actor: Actor, notify: Notify | None = None) -> Ticket:
    """Apply a patch; the row is locked so concurrent patches serialize, none is lost.
    ``notify``: told ``ticket_assigned`` / ``status_changed`` in this transaction.

    Raises Forbidden (role), Conflict (stale ``version``, illegal status move, a merged
    ticket), Invalid.
    Every change is recorded in the history as ``{field: {"from", "to"}}``.
    """
    if not actor.is_staff and actor.role != "engineer":
        raise Forbidden("only staff and the assigned engineer can change tickets")
    ticket = await get_writable_ticket(session, ticket_id, actor)
    if patch.version is not None and patch.version != ticket.version:
        raise Conflict(f"ticket changed since version {patch.version} (now {ticket.version}); "
                       "reload and retry")
    changes = patch.model_dump(exclude_unset=True)
    changes.pop("version", None)
    reason = changes.pop("reason", None)
    if actor.role == "engineer" and set(changes) - {"status", "fields"}:
        raise Forbidden("engineers can only change status and fields of their work")
    diff: dict[str, Any] = {}
    await _patch_type(session, ticket, changes, diff)
    _patch_content(ticket, changes, diff)
    await _patch_routing(session, ticket, changes, diff)
    if "status" in changes and changes["status"] is not None:
        await move_status(ticket, changes["status"], diff)
    if not diff:
        return ticket
    _record_changes(session, ticket, actor, diff, reason)
    # the clock: pause/resume, a new policy for a new priority or type, orders closed
    await refresh_clock(session, ticket, rematch=bool({"priority", "type"} & set(diff)),
                        actor_id=actor.id)
    await session.flush()
    if notify is not None:
        await notify_changes(session, notify, ticket, actor, diff)
    return ticket


async def notify_changes(session: AsyncSession, notify: Notify, ticket: Ticket, actor: Actor,
                         diff: dict[str, Any]) -> None:
    """Tell ``notify`` of a new assignee and of a status move in ``diff`` (keys: the ticket
    and its new version, so each change is told once). A move to ``new`` or ``assigned`` is
    what (un)assigning does to the status: the assignment is the news, not the status."""
    facts = facts_of(ticket)
    if "assignee_id" in diff and ticket.assignee_id is not None:
        await notify(session, NotificationEvent(
            "ticket_assigned", ticket.id, f"assigned:{ticket.id}:v{ticket.version}",
            actor_id=actor.id, data={"ticket": facts}))
    if "status" in diff and diff["status"]["to"] not in ("new", "assigned"):
        await notify(session, NotificationEvent(
            "status_changed", ticket.id, f"status:{ticket.id}:v{ticket.version}",
            actor_id=actor.id, data={"ticket": facts, "status": diff["status"]["to"],
                                     "from": diff["status"]["from"]}))


def _set(ticket: Ticket, diff: dict[str, Any], name: str, value: Any) -> None:
    """Set ``ticket.<name>`` and note the change in ``diff`` (if it is one)."""
    old = getattr(ticket, name)
    if old != value:
        diff[name] = {"from": old, "to": value}
        setattr(ticket, name, value)


async def _patch_type(session: AsyncSession, ticket: Ticket, changes: dict[str, Any],
                      diff: dict[str, Any]) -> None:
    """A new ticket type restarts its department flow; the fields are revalidated."""
    if "type" in changes:
        new_type = await _type(session, changes["type"]) if changes["type"] else None
        if (new_type.id if new_type else None) != ticket.type_id:
            diff["type"] = {"from": ticket.type.key if ticket.type else None,
                            "to": new_type.key if new_type else None}
            ticket.type_id = new_type.id if new_type else None
            ticket.type = new_type
            ticket.flow_step = 0
    if "fields" in changes or "type" in changes:
        template = ticket.type.fields if ticket.type else []
        merged = {**ticket.fields, **(changes.get("fields") or {})}
        merged = {k: v for k, v in merged.items() if v is not None}
        _set(ticket, diff, "fields", validate_fields(template, merged))


def _patch_content(ticket: Ticket, changes: dict[str, Any], diff: dict[str, Any]) -> None:
    """Title, description, priority (which moves the SLA due times) and tags."""
    for name in ("title", "description", "priority"):
        if name in changes:
            if changes[name] is None:
                raise Invalid(f"{name} cannot be null")
            _set(ticket, diff, name, changes[name])
    if "tags" in changes:
        _set(ticket, diff, "tags", sorted(set(changes["tags"] or [])))


async def _patch_routing(session: AsyncSession, ticket: Ticket, changes: dict[str, Any],
                         diff: dict[str, Any]) -> None:
    """Order, assignee and group; a new owner moves the status unless the patch sets it."""
    if "order_number" in changes:
        order = await _order(session, changes["order_number"], ticket.customer_id)
        ticket.order_id = order.id if order else None
        _set(ticket, diff, "order_number", changes["order_number"])
    if "assignee" in changes:
        user = await find_user(session, changes["assignee"]) if changes["assignee"] else None
        if user is not None and user.role == "customer":
            raise Invalid("tickets cannot be assigned to customers")
        _set(ticket, diff, "assignee_id", user.id if user else None)
    if "group" in changes:
        group = await find_group(session, changes["group"]) if changes["group"] else None
        _set(ticket, diff, "group_id", group.id if group else None)
    if ("assignee_id" in diff or "group_id" in diff) and "status" not in changes:
        _set(ticket, diff, "status", lifecycle.status_after_assignment(
            ticket.status, ticket.assignee_id))


def _record_changes(session: AsyncSession, ticket: Ticket, actor: Actor,
                    diff: dict[str, Any], reason: str | None) -> None:
    """Stamp the change (first response included) and append its history events."""
    now = utcnow()
    ticket.updated_at = now
    if ticket.first_responded_at is None and actor.is_staff and actor.id != ticket.created_by_id:
        ticket.first_responded_at = now
    for kind in _event_kinds(diff):
        _event(session, ticket, actor, kind, reason=reason,
               **{k: v for k, v in diff.items() if kind == "updated" or k in _KIND_KEYS[kind]})


_KIND_KEYS = {"status_changed": {"status"}, "reopened": {"status"},
              "assigned": {"assignee_id", "group_id"}, "updated": set()}


def _event_kinds(diff: dict[str, Any]) -> list[str]:
    kinds = []
    if "status" in diff:
        old, new = diff["status"]["from"], diff["status"]["to"]
        kinds.append("reopened" if lifecycle.is_reopen(old, new) else "status_changed")
    if "assignee_id" in diff or "group_id" in diff:
        kinds.append("assigned")
    if set(diff) - {"status", "assignee_id", "group_id"}:
        kinds.append("updated")
    return kinds


async def move_status(ticket: Ticket, new_status: str, diff: dict[str, Any]) -> None:
    """Move ``ticket`` to ``new_status`` if the lifecycle allows it (Conflict with the
    lifecycle's reason otherwise), stamping resolved/closed/reopen; ``diff["status"]``
    records the move (history is the caller's)."""
    state = lifecycle.TicketState(ticket.status, ticket.assignee_id, ticket.group_id)
    if "status" in diff:  # already moved by an assignment in this patch
        state = lifecycle.TicketState(diff["status"]["from"], ticket.assignee_id,
                                      ticket.group_id)
        if new_status == ticket.status:
            return
    try:
        lifecycle.check_transition(state, new_status)
    except lifecycle.IllegalTransition as exc:
        raise Conflict(str(exc)) from None
    old = state.status
    diff["status"] = {"from": old, "to": new_status}
    ticket.status = new_status
    now = utcnow()
    if new_status == "resolved":
        ticket.resolved_at = now
    elif new_status == "closed":
        ticket.closed_at = now
    elif lifecycle.is_reopen(old, new_status):
        ticket.reopen_count += 1
        ticket.resolved_at = None
        ticket.closed_at = None


async def link_call(session: AsyncSession, ticket_id: int, call_id: str, actor: Actor) -> None:
    ticket = await get_writable_ticket(session, ticket_id, actor)
    exists = await session.get(TicketCall, (ticket_id, call_id))
    if exists is None:
        session.add(TicketCall(ticket_id=ticket_id, call_id=call_id))
        _event(session, ticket, actor, "call_linked", call_id=call_id)
        await session.flush()


def sees_internal(actor: Actor) -> bool:
    """May ``actor`` see staff-internal material (private comments, internal attachments,
    their history events)? Staff only; customers and engineers see public material."""
    return actor.is_staff


#: History data a customer may read (everything else names staff, groups, calls or notes).
CUSTOMER_EVENT_KEYS = frozenset({"status", "priority", "type", "title", "description",
                                 "order_number", "channel", "filename", "size", "public",
                                 "comment_id", "attachment_id", "into"})
#: History kinds only staff see: a linked call, and what ``tickets.relations`` records on a
#: merge's target and on parent/child links (they name other customers' tickets). The
#: merged ticket's own ``merged`` event is public: its customer is told where it went.
#: ``email_received`` (tickets.mail.ingest) names the sender and the Message-ID.
STAFF_EVENTS = frozenset({"call_linked", "merged_in", "child_linked", "child_unlinked",
                          "parent_linked", "parent_unlinked", "bulk_applied",
                          # the SLA clock and 督办 (tickets.sla): the staff's business
                          "sla_reminder", "sla_breached", "sla_escalated",
                          "supervision_ordered", "supervision_reminder",
                          "supervision_overdue", "supervision_closed",
                          "email_received",
                          # field dispatch (dispatch.service): engineers, ranks, reasons
                          "work_order_created", "work_order_assigned", "work_order_status",
                          "work_order_declined", "work_order_reassigned",
                          "work_order_report", "work_order_file", "work_order_updated"})
#: History kinds that are about one attachment (``data["attachment_id"]``).
ATTACHMENT_EVENTS = frozenset({"attachment_added", "attachment_visibility"})


def event_is_public(kind: str, data: dict[str, Any], public_attachments: set[int]) -> bool:
    """Is a history event public material (pure)? Not: a private comment's, an internal
    attachment's (by its flag *now*, so publishing it shows its history), a linked call's,
    the staff side of merges and parent/child links (:data:`STAFF_EVENTS`)."""
    if kind == "commented":
        return bool(data.get("public"))
    if kind in ATTACHMENT_EVENTS:
        return data.get("attachment_id") in public_attachments
    return kind not in STAFF_EVENTS


def customer_event(event: TicketEvent, actor: Actor) -> dict[str, Any]:
    """A history row as a customer sees it: no staff ids (``actor``: ``you``, ``staff`` or
    ``system``; ``actor_id`` only when it is their own), only :data:`CUSTOMER_EVENT_KEYS`."""
    own = event.actor_id is not None and event.actor_id == actor.id
    who = "you" if own else ("system" if event.actor_id is None else "staff")
    data = {k: v for k, v in (event.data or {}).items() if k in CUSTOMER_EVENT_KEYS}
    return {"id": event.id, "at": event.at, "actor_id": actor.id if own else None,
            "actor": who, "kind": event.kind, "data": data}


async def history(session: AsyncSession, ticket_id: int,
                  actor: Actor) -> list[TicketEvent] | list[dict[str, Any]]:
    """The ticket's history. Staff: every row. Others: only :func:`event_is_public` rows;
    a customer's rows are :func:`customer_event` (no staff ids, no internal fields)."""
    await get_ticket(session, ticket_id, actor)
    rows = list((await session.scalars(select(TicketEvent)
                                       .where(TicketEvent.ticket_id == ticket_id)
                                       .order_by(TicketEvent.id))).all())
    if sees_internal(actor):
        return rows
    public = set((await session.scalars(select(Attachment.id).where(
        Attachment.ticket_id == ticket_id, Attachment.public.is_(True)))).all())
    shown = [e for e in rows if event_is_public(e.kind, e.data or {}, public)]
    if actor.role == "customer":
        return [customer_event(e, actor) for e in shown]
    return shown


async def add_comment(session: AsyncSession, ticket_id: int, data: CommentIn,
                      actor: Actor, notify: Notify | None = None) -> Comment:
    """Comment on a visible ticket (a customer's is public). NotFound, Conflict (merged).
    ``notify``: told ``public_comment`` of a public one in this transaction."""
    ticket = await get_writable_ticket(session, ticket_id, actor)
    public = data.public or actor.role == "customer"
    comment = Comment(ticket_id=ticket_id, author_id=actor.id, body=data.body, public=public)
    session.add(comment)
    await session.flush()
    if ticket.first_responded_at is None and actor.is_staff and public:
        ticket.first_responded_at = utcnow()
        await refresh_clock(session, ticket, actor_id=actor.id)  # first response met
    _event(session, ticket, actor, "commented", comment_id=comment.id, public=public)
    await session.flush()
    if notify is not None and public:
        await notify(session, NotificationEvent(
            "public_comment", ticket.id, f"comment:{comment.id}", actor_id=actor.id,
            data={"ticket": facts_of(ticket), "body": data.body[:4000],
                  "by_customer": actor.role == "customer"}))
    return comment


async def called_back(session: AsyncSession, ticket_id: int, actor: Actor,
                      to: str) -> Ticket:
    """A staff member rang the customer about the ticket (click-to-call from its view): the
    history says so (``called_back``, the number) and, if it is the first, the first
    response is met (its SLA target stops). Forbidden for non-staff, NotFound, Conflict
    (merged)."""
    if not actor.is_staff:
        raise Forbidden("only staff call customers back")
    ticket = await get_writable_ticket(session, ticket_id, actor)
    _event(session, ticket, actor, "called_back", to=to)
    if ticket.first_responded_at is None:
        ticket.first_responded_at = utcnow()
        await refresh_clock(session, ticket, actor_id=actor.id)
    await session.flush()
    return ticket


async def comments(session: AsyncSession, ticket_id: int, actor: Actor) -> list[Comment]:
    await get_ticket(session, ticket_id, actor)
    query = select(Comment).where(Comment.ticket_id == ticket_id).order_by(Comment.id)
    if not sees_internal(actor):
        query = query.where(Comment.public.is_(True))
    return list((await session.scalars(query)).all())


_SAFE_NAME = re.compile(r"[^\w.\-]+")


async def add_attachment(session: AsyncSession, ticket_id: int, actor: Actor, *,
                         filename: str, content_type: str, content: bytes, store: Path,
                         max_bytes: int, allowed_types: list[str],
                         public: bool | None = None) -> Attachment:
    """Store an upload. Staff choose ``public`` (default: internal, the customer does not
    see it); anyone else's upload is public (they could not see it otherwise). Conflict for
    a merged ticket."""
    ticket = await get_writable_ticket(session, ticket_id, actor)
    if len(content) > max_bytes:
        raise TooLarge(f"attachment is {len(content)} bytes; the limit is {max_bytes}")
    if not content:
        raise Invalid("attachment is empty")
    base_type = content_type.split(";")[0].strip().lower()
    if base_type not in allowed_types:
        raise Invalid(f"attachment type {base_type!r} is not allowed; allowed: {allowed_types}")
    digest = hashlib.sha256(content).hexdigest()
    safe = _SAFE_NAME.sub("_", Path(filename or "file").name)[:100] or "file"
    key = f"{ticket_id}/{digest[:16]}-{safe}"
    path = store / key
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    attachment = Attachment(ticket_id=ticket_id, filename=(filename or safe)[:255],
                            content_type=base_type, size=len(content), sha256=digest,
                            storage_key=key, uploaded_by_id=actor.id,
                            public=bool(public) if sees_internal(actor) else True)
    session.add(attachment)
    await session.flush()
    _event(session, ticket, actor, "attachment_added", attachment_id=attachment.id,
           filename=attachment.filename, size=attachment.size, public=attachment.public)
    await session.flush()
    return attachment


async def attachment(session: AsyncSession, ticket_id: int, attachment_id: int,
                     actor: Actor) -> Attachment:
    """One attachment of a visible ticket; an internal one is NotFound for non-staff."""
    await get_ticket(session, ticket_id, actor)
    found = await session.get(Attachment, attachment_id)
    if found is None or found.ticket_id != ticket_id or not (
            found.public or sees_internal(actor)):
        raise NotFound(f"attachment {attachment_id} not found")
    return found


async def attachments(session: AsyncSession, ticket_id: int, actor: Actor) -> list[Attachment]:
    """The ticket's attachments the actor may see (non-staff: public ones only)."""
    await get_ticket(session, ticket_id, actor)
    query = select(Attachment).where(Attachment.ticket_id == ticket_id)
    if not sees_internal(actor):
        query = query.where(Attachment.public.is_(True))
    return list((await session.scalars(query.order_by(Attachment.id))).all())


async def set_attachment_public(session: AsyncSession, ticket_id: int, attachment_id: int,
                                public: bool, actor: Actor) -> Attachment:
    """Staff publish an attachment to the customer or make it internal again (history row
    ``attachment_visibility``). Forbidden for anyone else; NotFound as :func:`attachment`."""
    if not sees_internal(actor):
        raise Forbidden("only staff can change who sees an attachment")
    found = await attachment(session, ticket_id, attachment_id, actor)
    if found.public != public:
        ticket = await get_writable_ticket(session, ticket_id, actor)
        found.public = public
        _event(session, ticket, actor, "attachment_visibility", attachment_id=found.id,
               filename=found.filename, public=public)
        await session.flush()
    return found


def _flow_json(ticket: Ticket) -> list[dict[str, Any]]:
    """The flow a ticket walks: its own copy, else its type's (tickets from before copies)."""
    try:
        if ticket.flow_path is not None:
            return [st.as_json() for st in parse_steps(ticket.flow_path)]
        if ticket.type is not None and ticket.type.flow:
            return [st.as_json() for st in steps_of_type(ticket.type.flow,
                                                         ticket.type.required_steps or [])]
    except FlowError:
        return []
    return []


#: What a customer's copy of a ticket blanks: the SLA clock, staff and group ids and the
#: status moves (staff internals; the CONTRACT promises customers "never staff ids").
CUSTOMER_BLANKS: dict[str, Any] = {
    "assignee_id": None, "group_id": None, "first_response_due_at": None, "due_at": None,
    "sla_breached_at": None, "sla_paused": False, "allowed_status": []}


def reader_shape(shape: dict[str, Any], actor: Actor) -> dict[str, Any]:
    """``shape`` (:func:`ticket_dict`) as ``actor`` may read it: a customer's copy has
    :data:`CUSTOMER_BLANKS` (null / false / empty); anyone else's is ``shape`` itself."""
    if actor.role != "customer":
        return shape
    return {**shape, **CUSTOMER_BLANKS}


def ticket_dict(ticket: Ticket, actor: Actor | None = None) -> dict[str, Any]:
    """The API shape of a ticket (also what bus events carry: ``actor`` None, the staff
    shape); with ``actor``, as :func:`reader_shape` lets them read it."""
    shape = {
        "id": ticket.id, "number": ticket_number(ticket.id),
        "title": ticket.title, "description": ticket.description,
        "type": ticket.type.key if ticket.type else None, "priority": ticket.priority,
        "status": ticket.status, "channel": ticket.channel, "customer_id": ticket.customer_id,
        "order_number": ticket.order_number, "call_id": ticket.call_id,
        "assignee_id": ticket.assignee_id, "group_id": ticket.group_id,
        "fields": ticket.fields or {}, "tags": ticket.tags or [], "flow_step": ticket.flow_step,
        "flow": _flow_json(ticket),
        "first_response_due_at": ticket.first_response_due_at, "due_at": ticket.due_at,
        "sla_breached_at": ticket.sla_breached_at,
        "sla_paused": ticket.sla_paused_at is not None,
        "resolved_at": ticket.resolved_at, "closed_at": ticket.closed_at,
        "reopen_count": ticket.reopen_count, "created_at": ticket.created_at,
        "updated_at": ticket.updated_at, "version": ticket.version,
        # a merged ticket is read-only: no move is offered
        "allowed_status": [] if ticket.merged_into_id is not None else lifecycle.allowed_moves(
            lifecycle.TicketState(ticket.status, ticket.assignee_id, ticket.group_id)),
        "merged_into_id": ticket.merged_into_id,
        "merged_into": ticket_number(ticket.merged_into_id) if ticket.merged_into_id else None,
        "parent_id": ticket.parent_id,
        "parent": ticket_number(ticket.parent_id) if ticket.parent_id else None,
    }
    return shape if actor is None else reader_shape(shape, actor)


__all__ = ["SYSTEM", "Actor", "Group", "TicketFilter", "User"]
