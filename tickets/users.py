"""Users, groups and password checks (argon2, through :mod:`tickets.passwords`)."""

from __future__ import annotations

import asyncio
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from tickets.db import utcnow
from tickets.errors import Conflict, Invalid, NotFound
from tickets.models import Customer, Group, RevokedToken, User
from tickets.passwords import PasswordGate, hash_password
from tickets.schemas import GroupIn, GroupPatch, UserIn, UserPatch


async def authenticate(session: AsyncSession, username: str, password: str,
                       gate: PasswordGate) -> User | None:
    """The user if the password matches. argon2 is deliberately slow (tens of ms of CPU), so
    it runs on the gate's threads (the caller holds a ``gate.slot()``): the event loop also
    carries AMI events and websockets. An unknown or disabled user costs the same check."""
    user = await session.scalar(select(User).where(User.username == username))
    if user is None or not user.is_active:
        await gate.verify(None, password)
        return None
    return user if await gate.verify(user.password_hash, password) else None


async def get_user(session: AsyncSession, user_id: int) -> User:
    user = await session.scalar(
        select(User).options(selectinload(User.groups)).where(User.id == user_id))
    if user is None:
        raise NotFound(f"user {user_id} not found")
    return user


async def find_user(session: AsyncSession, ref: int | str) -> User:
    """A user by id or username (tickets may be assigned either way)."""
    if isinstance(ref, int) or (isinstance(ref, str) and ref.isdigit()):
        user = await session.get(User, int(ref))
    else:
        user = await session.scalar(select(User).where(User.username == ref))
    if user is None:
        raise Invalid(f"unknown user {ref!r}")
    return user


async def user_by_extension(session: AsyncSession, extension: str) -> User | None:
    return await session.scalar(select(User).where(User.extension == extension))


async def _check_customer_link(session: AsyncSession, role: str,
                               customer_id: int | None) -> None:
    """A customer login speaks for exactly one customer record; staff logins for none.

    Raises ``Invalid`` naming ``customer_id`` otherwise."""
    if role != "customer":
        if customer_id is not None:
            raise Invalid(f"customer_id: only a customer login is linked to a customer "
                          f"(role is {role})")
        return
    if customer_id is None:
        raise Invalid("customer_id: a customer login needs the customer it belongs to")
    if await session.get(Customer, customer_id) is None:
        raise Invalid(f"customer_id: unknown customer {customer_id}")


async def _groups(session: AsyncSession, ids: list[int]) -> list[Group]:
    if not ids:
        return []
    groups = list((await session.scalars(select(Group).where(Group.id.in_(ids)))).all())
    missing = set(ids) - {g.id for g in groups}
    if missing:
        raise Invalid(f"unknown group ids: {sorted(missing)}")
    return groups


async def create_user(session: AsyncSession, data: UserIn, *,
                      password_hash: str | None = None) -> User:
    """A new user. ``password_hash``, from :func:`hash_password` of ``data.password``, saves
    hashing again (argon2 costs ~0.1 s of CPU; the demo hashes its one password once).

    Raises ``Conflict`` (username or extension taken), ``Invalid`` (groups, customer link)."""
    if await session.scalar(select(User.id).where(User.username == data.username)):
        raise Conflict(f"username {data.username!r} is taken")
    if data.extension and await user_by_extension(session, data.extension):
        raise Conflict(f"extension {data.extension} belongs to another user")
    await _check_customer_link(session, data.role, data.customer_id)
    if password_hash is None:
        password_hash = await asyncio.to_thread(hash_password, data.password)
    user = User(
        username=data.username, display_name=data.display_name or data.username,
        role=data.role, password_hash=password_hash, extension=data.extension,
        email=data.email, phone=data.phone, locale=data.locale, skills=list(data.skills),
        customer_id=data.customer_id, seniority=data.seniority,
        max_open_tickets=data.max_open_tickets,
    )
    user.groups = await _groups(session, data.group_ids)
    session.add(user)
    await session.flush()
    return user


async def set_locale(session: AsyncSession, user_id: int, locale: str) -> User:
    """Set the user's own language (``zh``/``en``: the schema checks it); NotFound for no
    such user. Unlike :func:`update_user` this never ends the user's sessions."""
    user = await get_user(session, user_id)
    user.locale = locale
    await session.flush()
    return user


async def update_user(session: AsyncSession, user_id: int, data: UserPatch) -> User:
    user = await get_user(session, user_id)
    changes = data.model_dump(exclude_unset=True)
    # null means "clear" only where clearing makes sense (the extension); elsewhere it is
    # a client sending every field, and leaves the value alone.
    changes = {k: v for k, v in changes.items()
               if v is not None or k in ("extension", "max_open_tickets")}
    if changes.get("extension"):
        other = await user_by_extension(session, changes["extension"])
        if other is not None and other.id != user.id:
            raise Conflict(f"extension {changes['extension']} belongs to another user")
    if "role" in changes or "customer_id" in changes:
        role = changes.get("role", user.role)
        # A login that stops being a customer's drops its link rather than being refused.
        link = changes.get("customer_id", user.customer_id if role == "customer" else None)
        await _check_customer_link(session, role, link)
        changes["customer_id"] = link
    if "password" in changes or changes.get("is_active") is False or \
            changes.get("role", user.role) != user.role or \
            changes.get("customer_id", user.customer_id) != user.customer_id:
        user.sessions_valid_after = utcnow()  # the old logins no longer speak for the user
    if "password" in changes:
        user.password_hash = await asyncio.to_thread(hash_password, changes.pop("password"))
    if "group_ids" in changes:
        user.groups = await _groups(session, changes.pop("group_ids") or [])
    for key, value in changes.items():
        setattr(user, key, value)
    await session.flush()
    return user


async def revoke_token(session: AsyncSession, jti: str, user_id: int,
                       expires_at: datetime) -> None:
    """Log one token out (until it would have expired anyway); purges the expired ones."""
    await session.execute(delete(RevokedToken).where(RevokedToken.expires_at < utcnow()))
    if await session.get(RevokedToken, jti) is None:
        session.add(RevokedToken(jti=jti, user_id=user_id, expires_at=expires_at))
    await session.flush()


async def end_sessions(session: AsyncSession, user_id: int) -> datetime:
    """Void every token of the user issued until now ("log out everywhere")."""
    user = await get_user(session, user_id)
    user.sessions_valid_after = cutoff = utcnow()
    await session.flush()
    return cutoff


async def list_users(session: AsyncSession, role: str | None = None) -> list[User]:
    query = select(User).options(selectinload(User.groups)).order_by(User.id)
    if role:
        query = query.where(User.role == role)
    return list((await session.scalars(query)).all())


async def create_group(session: AsyncSession, data: GroupIn) -> Group:
    if await session.scalar(select(Group.id).where(Group.key == data.key)):
        raise Conflict(f"group {data.key!r} exists")
    group = Group(key=data.key, name=data.name, name_zh=data.name_zh, skills=list(data.skills),
                  queue=data.queue, assignment=data.assignment,
                  vip_to_senior=data.vip_to_senior)
    if data.member_ids:
        members = list((await session.scalars(
            select(User).where(User.id.in_(data.member_ids)))).all())
        missing = set(data.member_ids) - {u.id for u in members}
        if missing:
            raise Invalid(f"unknown user ids: {sorted(missing)}")
        group.members = members
    else:
        group.members = []
    session.add(group)
    await session.flush()
    return group


async def update_group(session: AsyncSession, group_id: int, data: GroupPatch) -> Group:
    """Change a group; ``member_ids`` replaces the members. Raises NotFound, Invalid."""
    group = await session.get(Group, group_id, options=[selectinload(Group.members)])
    if group is None:
        raise NotFound(f"no group {group_id}")
    changes = {k: v for k, v in data.model_dump(exclude_unset=True).items()
               if v is not None or k in ("name_zh", "queue")}
    if "member_ids" in changes:
        ids = changes.pop("member_ids")
        members = list((await session.scalars(select(User).where(User.id.in_(ids)))).all())
        missing = set(ids) - {u.id for u in members}
        if missing:
            raise Invalid(f"member_ids: unknown user ids {sorted(missing)}")
        group.members = members
    for key, value in changes.items():
        setattr(group, key, value)
    await session.flush()
    return group


async def list_groups(session: AsyncSession) -> list[Group]:
    return list((await session.scalars(
        select(Group).options(selectinload(Group.members)).order_by(Group.id))).all())


async def find_group(session: AsyncSession, ref: int | str) -> Group:
    if isinstance(ref, int) or (isinstance(ref, str) and ref.isdigit()):
        group = await session.get(Group, int(ref))
    else:
        group = await session.scalar(select(Group).where(Group.key == ref))
    if group is None:
        raise Invalid(f"unknown group {ref!r}")
    return group
