"""Users, groups (departments) and ticket types."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from sqlalchemy import select

from tickets import users as service
from tickets.errors import Conflict
from tickets.models import Group, TicketType, User
from tickets.schemas import (
    GroupIn,
    GroupOut,
    TicketTypeIn,
    TicketTypeOut,
    UserIn,
    UserOut,
    UserPatch,
)
from web.api.auth import end_consoles
from web.deps import Admin, IdPath, Manager, SessionDep, Staff, UowDep

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
async def patch_user(user_id: IdPath, data: UserPatch, _: Admin, uow: UowDep) -> UserOut:
    user = await service.get_user(uow.session, user_id)
    cutoff = user.sessions_valid_after
    user = await service.update_user(uow.session, user_id, data)
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
async def create_group(data: GroupIn, _: Manager, session: SessionDep) -> GroupOut:
    group = await service.create_group(session, data)
    await session.commit()
    return _group_out(group)


@router.get("/ticket-types", response_model=list[TicketTypeOut])
async def list_ticket_types(_: Staff, session: SessionDep) -> list[TicketType]:
    rows = await session.scalars(select(TicketType).where(TicketType.active.is_(True))
                                 .order_by(TicketType.id))
    return list(rows.all())


@router.post("/ticket-types", status_code=201, response_model=TicketTypeOut)
async def create_ticket_type(data: TicketTypeIn, _: Manager, session: SessionDep) -> TicketType:
    if await session.scalar(select(TicketType.id).where(TicketType.key == data.key)):
        raise Conflict(f"ticket type {data.key!r} exists")
    for key in data.flow:
        await service.find_group(session, key)
    payload: dict[str, Any] = data.model_dump()
    ticket_type = TicketType(**payload)
    session.add(ticket_type)
    await session.commit()
    return ticket_type
