"""Users, groups (departments) and ticket types."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Response
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from tickets import users as service
from tickets.errors import Conflict, Invalid, NotFound
from tickets.models import Group, Ticket, TicketType, User
from tickets.routing import moves
from tickets.routing import service as routing
from tickets.routing.flow import FlowError, steps_of_type
from tickets.schemas import (
    GroupIn,
    GroupOut,
    GroupPatch,
    TicketTypeIn,
    TicketTypeOut,
    TicketTypePatch,
    UserIn,
    UserOut,
    UserPatch,
)
from web.api.auth import end_consoles
from web.deps import Admin, IdPath, Manager, ServicesDep, SessionDep, Staff, UowDep

router = APIRouter(prefix="/api/v1", tags=["admin"])


def _user_out(user: User) -> UserOut:
    out = UserOut.model_validate(user)
    out.group_ids = [g.id for g in user.groups]
    return out


def _group_out(group: Group) -> GroupOut:
    out = GroupOut.model_validate(group)
    out.member_ids = [u.id for u in group.members]
    return out


@router.get("/users", response_model=list[UserOut])
async def list_users(_: Staff, session: SessionDep, role: str | None = None) -> list[UserOut]:
    return [_user_out(u) for u in await service.list_users(session, role)]


@router.post("/users", status_code=201, response_model=UserOut)
async def create_user(data: UserIn, _: Admin, session: SessionDep) -> UserOut:
    user = await service.create_user(session, data)
    await session.commit()
    return _user_out(await service.get_user(session, user.id))


@router.patch("/users/{user_id}", response_model=UserOut)
async def patch_user(user_id: IdPath, data: UserPatch, _: Admin, services: ServicesDep,
                     uow: UowDep) -> UserOut:
    """Change a user. Disabling one gives their open tickets back to their groups, which
    assign them again (history says why)."""
    user = await service.get_user(uow.session, user_id)
    cutoff, was_active = user.sessions_valid_after, user.is_active
    user = await service.update_user(uow.session, user_id, data)
    if was_active and not user.is_active:
        await moves.release_tickets(uow.session, services.router, user.id,
                                    f"{user.username} was disabled", notify=services.notify)
    if user.sessions_valid_after != cutoff and user.sessions_valid_after is not None:
        # A new password, role or a disabled account: the user's open consoles close too.
        end_consoles(uow, user.id,
                     before_ms=int(user.sessions_valid_after.timestamp() * 1000))
    await uow.commit()
    return _user_out(user)


@router.get("/groups", response_model=list[GroupOut])
async def list_groups(_: Staff, session: SessionDep) -> list[GroupOut]:
    return [_group_out(g) for g in await service.list_groups(session)]


@router.post("/groups", status_code=201, response_model=GroupOut)
async def create_group(data: GroupIn, _: Manager, services: ServicesDep,
                       session: SessionDep) -> GroupOut:
    group = await service.create_group(session, data)
    await session.commit()
    services.router.book.invalidate()
    return _group_out(group)


@router.patch("/groups/{group_id}", response_model=GroupOut)
async def patch_group(group_id: IdPath, data: GroupPatch, _: Manager, services: ServicesDep,
                      uow: UowDep) -> GroupOut:
    """Change a group: names, skills, queue, members, assignment method (routing sees the
    change at once in this process, within 2 s in others)."""
    group = await service.update_group(uow.session, group_id, data)
    await uow.commit()
    services.router.book.invalidate()
    return _group_out(group)


@router.delete("/groups/{group_id}", status_code=204)
async def delete_group(group_id: IdPath, _: Admin, services: ServicesDep,
                       uow: UowDep) -> Response:
    """Delete a group nothing uses: 409 naming the rules, type flows or tickets that do."""
    session = uow.session
    group = await session.get(Group, group_id)
    if group is None:
        raise NotFound(f"no group {group_id}")
    users = await routing.groups_in_use(session, group.key)
    tickets = await session.scalar(select(func.count(Ticket.id)).where(
        Ticket.group_id == group_id))
    if tickets:
        users.append(f"{tickets} ticket(s)")
    if users:
        raise Conflict(f"group {group.key!r} is used by {', '.join(users)}")
    await session.delete(group)
    await uow.commit()
    services.router.book.invalidate()
    return Response(status_code=204)


async def _check_flow(session: AsyncSession, flow: list[str], required: list[int]) -> None:
    try:
        steps_of_type(flow, required)
    except FlowError as exc:
        raise Invalid(str(exc)) from None
    for key in flow:
        await service.find_group(session, key)


@router.get("/ticket-types", response_model=list[TicketTypeOut])
async def list_ticket_types(_: Staff, session: SessionDep) -> list[TicketType]:
    rows = await session.scalars(select(TicketType).where(TicketType.active.is_(True))
                                 .order_by(TicketType.id))
    return list(rows.all())


@router.post("/ticket-types", status_code=201, response_model=TicketTypeOut)
async def create_ticket_type(data: TicketTypeIn, _: Manager, session: SessionDep) -> TicketType:
    if await session.scalar(select(TicketType.id).where(TicketType.key == data.key)):
        raise Conflict(f"ticket type {data.key!r} exists")
    await _check_flow(session, data.flow, data.required_steps)
    payload: dict[str, Any] = data.model_dump()
    ticket_type = TicketType(**payload)
    session.add(ticket_type)
    await session.commit()
    return ticket_type


@router.patch("/ticket-types/{key}", response_model=TicketTypeOut)
async def patch_ticket_type(key: Annotated[str, Path(max_length=64)], data: TicketTypePatch,
                            _: Manager, uow: UowDep) -> TicketType:
    """Change a ticket type (its flow, required steps and skills, template, names).
    Tickets already on their way keep the flow they started with."""
    session = uow.session
    ticket_type = await session.scalar(select(TicketType).where(TicketType.key == key))
    if ticket_type is None:
        raise NotFound(f"no ticket type {key!r}")
    changes = {k: v for k, v in data.model_dump(exclude_unset=True).items()
               if v is not None or k == "name_zh"}
    flow = changes.get("flow", ticket_type.flow or [])
    required = changes.get("required_steps", ticket_type.required_steps or [])
    if "flow" in changes or "required_steps" in changes:
        await _check_flow(session, flow, required)
    for name, value in changes.items():
        setattr(ticket_type, name, value)
    await uow.commit()
    return ticket_type
