"""SLA: calendars and policies (admins edit, supervisors read), a ticket's clock, and
supervision orders (督办: supervisors order, staff see)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Response
from sqlalchemy import select

from tickets import lifecycle
from tickets import service as tickets
from tickets.db import utcnow
from tickets.errors import Conflict, Invalid, NotFound
from tickets.models import Ticket, TicketType, User
from tickets.sla import service as sla
from tickets.sla.models import SlaCalendar, SlaPolicy, SupervisionOrder
from tickets.sla.schemas import (
    CalendarIn,
    CalendarOut,
    CalendarPatch,
    ClockOut,
    OrderIn,
    OrderOut,
    PolicyIn,
    PolicyOut,
    PolicyPatch,
    check_days_apart,
    check_open,
    check_targets,
)
from web.deps import (
    STAFF,
    Admin,
    IdPath,
    Manager,
    PrincipalDep,
    ServicesDep,
    SessionDep,
    UowDep,
)
from web.security import Principal

router = APIRouter(prefix="/api/v1", tags=["sla"])


# --- calendars ---------------------------------------------------------------------------

@router.get("/admin/sla/calendars", response_model=list[CalendarOut])
async def list_calendars(_: Manager, session: SessionDep) -> list[SlaCalendar]:
    return list((await session.scalars(select(SlaCalendar).order_by(SlaCalendar.id))).all())


@router.post("/admin/sla/calendars", status_code=201, response_model=CalendarOut)
async def create_calendar(data: CalendarIn, _: Admin, uow: UowDep) -> SlaCalendar:
    """A calendar; 409 for a key that exists, 422 naming a bad day, span, zone or region."""
    if await uow.session.scalar(select(SlaCalendar.id).where(SlaCalendar.key == data.key)):
        raise Conflict(f"a calendar with key {data.key!r} exists")
    row = SlaCalendar(**data.model_dump(), version=1, updated_at=utcnow())
    uow.session.add(row)
    await uow.session.flush()
    await uow.commit()
    sla.BOOK.invalidate()
    return row


async def _calendar(session: Any, calendar_id: int) -> SlaCalendar:
    row = await session.get(SlaCalendar, calendar_id)
    if row is None:
        raise NotFound(f"calendar {calendar_id} not found")
    return row


@router.patch("/admin/sla/calendars/{calendar_id}", response_model=CalendarOut)
async def patch_calendar(calendar_id: IdPath, data: CalendarPatch, _: Admin,
                         uow: UowDep) -> SlaCalendar:
    """Change a calendar (``version``: 409 for a stale edit). Due times of open tickets
    follow when they are next changed; timers already set keep their instants."""
    row = await _calendar(uow.session, calendar_id)
    if data.version is not None and data.version != row.version:
        raise Conflict(f"calendar changed since version {data.version} (now {row.version})")
    for key, value in data.model_dump(exclude_unset=True, exclude={"version"}).items():
        if value is None and key in ("name", "hours", "closed_days", "open_days",
                                     "always_open"):
            raise Invalid(f"{key} cannot be null")
        setattr(row, key, value)
    try:
        check_open(row.hours or {}, row.always_open)
        check_days_apart(row.closed_days or [], row.open_days or [])
    except ValueError as exc:
        raise Invalid(str(exc)) from None
    row.version += 1
    row.updated_at = utcnow()
    await uow.commit()
    sla.BOOK.invalidate()
    return row


@router.delete("/admin/sla/calendars/{calendar_id}", status_code=204)
async def delete_calendar(calendar_id: IdPath, _: Admin, uow: UowDep) -> Response:
    """Delete an unused calendar (409 while a policy uses it)."""
    row = await _calendar(uow.session, calendar_id)
    if await uow.session.scalar(select(SlaPolicy.id).where(
            SlaPolicy.calendar_id == calendar_id).limit(1)):
        raise Conflict("a policy uses this calendar: give it another one first")
    await uow.session.delete(row)
    await uow.commit()
    sla.BOOK.invalidate()
    return Response(status_code=204)


# --- policies ----------------------------------------------------------------------------

@router.get("/admin/sla/policies", response_model=list[PolicyOut])
async def list_policies(_: Manager, session: SessionDep) -> list[SlaPolicy]:
    return list((await session.scalars(select(SlaPolicy).order_by(
        SlaPolicy.priority, SlaPolicy.id))).all())


async def _check_policy(session: Any, name: str, calendar_id: int,
                        policy_id: int | None = None, *, type_key: str | None = None,
                        escalation: list[dict[str, Any]] | None = None) -> None:
    """What the schema cannot check: the calendar, the ticket type and every
    ``assign_user`` step's user exist (not a customer's login), the name is free.
    Invalid (422) naming ``calendar_id``, ``type_key`` or ``escalation[i].user``."""
    if await session.get(SlaCalendar, calendar_id) is None:
        raise Invalid(f"calendar_id: no calendar {calendar_id}")
    if type_key is not None and await session.scalar(
            select(TicketType.id).where(TicketType.key == type_key)) is None:
        raise Invalid(f"type_key: no ticket type {type_key!r}")
    for i, step in enumerate(escalation or []):
        if step.get("action") != "assign_user":
            continue
        role = await session.scalar(select(User.role).where(User.username == step["user"]))
        if role is None:
            raise Invalid(f"escalation[{i}].user: no user {step['user']!r}")
        if role == "customer":
            raise Invalid(f"escalation[{i}].user: {step['user']!r} is a customer login, "
                          "not staff")
    same = await session.scalar(select(SlaPolicy.id).where(SlaPolicy.name == name))
    if same is not None and same != policy_id:
        raise Conflict(f"a policy named {name!r} exists")


@router.post("/admin/sla/policies", status_code=201, response_model=PolicyOut)
async def create_policy(data: PolicyIn, _: Admin, uow: UowDep) -> SlaPolicy:
    """A policy; 422 naming a bad escalation step or calendar, 409 a name that exists."""
    await _check_policy(uow.session, data.name, data.calendar_id, type_key=data.type_key,
                        escalation=data.escalation)
    row = SlaPolicy(**data.model_dump(), version=1, updated_at=utcnow())
    uow.session.add(row)
    await uow.session.flush()
    await uow.commit()
    sla.BOOK.invalidate()
    return row


async def _policy(session: Any, policy_id: int) -> SlaPolicy:
    row = await session.get(SlaPolicy, policy_id)
    if row is None:
        raise NotFound(f"policy {policy_id} not found")
    return row


@router.patch("/admin/sla/policies/{policy_id}", response_model=PolicyOut)
async def patch_policy(policy_id: IdPath, data: PolicyPatch, _: Admin,
                       uow: UowDep) -> SlaPolicy:
    """Change a policy (``version``: 409 for a stale edit); optional criteria can be set
    back to null. Open tickets follow when their clock is next refreshed."""
    row = await _policy(uow.session, policy_id)
    if data.version is not None and data.version != row.version:
        raise Conflict(f"policy changed since version {data.version} (now {row.version})")
    changes = data.model_dump(exclude_unset=True, exclude={"version"})
    for key in ("name", "enabled", "priority", "calendar_id", "first_response_minutes",
                "resolution_minutes", "reminder_share", "escalation"):
        if key in changes and changes[key] is None:
            raise Invalid(f"{key} cannot be null")
    await _check_policy(uow.session, changes.get("name", row.name),
                        changes.get("calendar_id", row.calendar_id), row.id,
                        type_key=changes.get("type_key"),
                        escalation=changes.get("escalation"))
    try:
        check_targets(changes.get("first_response_minutes", row.first_response_minutes),
                      changes.get("resolution_minutes", row.resolution_minutes))
    except ValueError as exc:
        raise Invalid(str(exc)) from None
    for key, value in changes.items():
        setattr(row, key, value)
    row.version += 1
    row.updated_at = utcnow()
    await uow.commit()
    sla.BOOK.invalidate()
    return row


@router.delete("/admin/sla/policies/{policy_id}", status_code=204)
async def delete_policy(policy_id: IdPath, _: Admin, uow: UowDep) -> Response:
    """Delete a policy: its tickets match again when their clock is next refreshed."""
    await uow.session.delete(await _policy(uow.session, policy_id))
    await uow.commit()
    sla.BOOK.invalidate()
    return Response(status_code=204)


# --- a ticket's clock and its supervision orders ------------------------------------------

async def _staff_or_assignee(session: Any, ticket_id: int, principal: Principal) -> Ticket:
    """The ticket, for staff (agents, supervisors, admins) or its assignee of any staff role
    (a field engineer assigned to it: the 督办 is "visible to the assignee"); a customer
    403; a ticket the reader may not see 404 (an engineer sees only those assigned to them)."""
    if principal.role == "customer":
        raise HTTPException(403, "customers do not read a ticket's SLA or supervision")
    ticket = await tickets.get_ticket(session, ticket_id, principal.actor)
    if principal.role not in STAFF and ticket.assignee_id != principal.id:
        raise HTTPException(403, "only staff or the ticket's assignee read this")
    return ticket


async def _orders(session: Any, ticket_id: int) -> list[SupervisionOrder]:
    return list((await session.scalars(select(SupervisionOrder).where(
        SupervisionOrder.ticket_id == ticket_id).order_by(SupervisionOrder.id))).all())


@router.get("/tickets/{ticket_id}/sla", response_model=ClockOut)
async def ticket_clock(ticket_id: IdPath, principal: PrincipalDep,
                       session: SessionDep) -> dict[str, Any]:
    """The ticket's SLA: policy, due times and the business time left (negative: overdue
    by), paused or not, and its supervision orders (open first). Staff and the ticket's
    assignee (an engineer too); customers 403."""
    ticket = await _staff_or_assignee(session, ticket_id, principal)
    view = await sla.clock_view(session, ticket, utcnow())
    orders = await _orders(session, ticket_id)
    view["orders"] = sorted(orders, key=lambda o: (o.status != "open", -o.id))
    return view


@router.post("/tickets/{ticket_id}/supervision", status_code=201, response_model=OrderOut)
async def order_supervision(ticket_id: IdPath, data: OrderIn, principal: Manager,
                            services: ServicesDep, uow: UowDep) -> SupervisionOrder:
    """督办: order an open ticket fixed by ``deadline_at`` (future) with ``note``; the
    assignee is told, the order's timer joins the SLA sweep. 409 for a done ticket."""
    ticket = await tickets.get_writable_ticket(uow.session, ticket_id, principal.actor)
    if ticket.status in lifecycle.DONE_STATUSES:
        raise Conflict(f"a {ticket.status} ticket needs no supervision order")
    now = utcnow()
    if data.deadline_at <= now:
        raise Invalid("deadline_at: must be in the future")
    assert services.notify is not None  # built with the app (web.wiring.make_notify)
    order = await sla.order_supervision(uow.session, ticket, actor_id=principal.id,
                                        note=data.note, deadline_at=data.deadline_at,
                                        now=now, notify=services.notify)
    await uow.commit()
    return order


@router.get("/tickets/{ticket_id}/supervision", response_model=list[OrderOut])
async def list_supervision(ticket_id: IdPath, principal: PrincipalDep,
                           session: SessionDep) -> list[SupervisionOrder]:
    """The ticket's 督办 orders: staff and the ticket's assignee (an engineer too)."""
    await _staff_or_assignee(session, ticket_id, principal)
    return await _orders(session, ticket_id)


@router.post("/tickets/{ticket_id}/supervision/{order_id}/cancel", response_model=OrderOut)
async def cancel_supervision(ticket_id: IdPath, order_id: IdPath, principal: Manager,
                             uow: UowDep) -> SupervisionOrder:
    """Withdraw an open order (409 when it is no longer open)."""
    ticket = await tickets.get_writable_ticket(uow.session, ticket_id, principal.actor)
    order = await uow.session.get(SupervisionOrder, order_id)
    if order is None or order.ticket_id != ticket_id:
        raise NotFound(f"supervision order {order_id} not found")
    if order.status != "open":
        raise Conflict(f"the order is {order.status}")
    await sla.cancel_supervision(uow.session, ticket, order, actor_id=principal.id,
                                 now=utcnow())
    await uow.commit()
    return order
