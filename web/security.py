"""Bearer tokens (signed JWT) and turning a token into the acting user."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import jwt
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from tickets.models import User
from tickets.service import Actor

if TYPE_CHECKING:
    from web.services import Services

COOKIE_NAME = "hotline_token"
_ALGORITHM = "HS256"


@dataclass(frozen=True)
class Principal:
    """The authenticated user of a request or websocket."""

    id: int
    username: str
    role: str
    extension: str | None
    display_name: str
    group_ids: tuple[int, ...]
    customer_id: int | None = None
    locale: str = "zh"

    @property
    def actor(self) -> Actor:
        return Actor(id=self.id, role=self.role, customer_id=self.customer_id)


def create_token(secret: str, user: User, ttl_s: int) -> str:
    now = int(time.time())
    claims = {"sub": str(user.id), "role": user.role, "iat": now, "exp": now + ttl_s}
    return jwt.encode(claims, secret, algorithm=_ALGORITHM)


def decode_token(secret: str, token: str) -> int | None:
    """The user id in a valid, unexpired token; ``None`` for anything else."""
    try:
        claims = jwt.decode(token, secret, algorithms=[_ALGORITHM],
                            options={"require": ["sub", "exp"]})
        return int(claims["sub"])
    except (jwt.PyJWTError, ValueError, TypeError):
        return None


def principal_of(user: User) -> Principal:
    return Principal(id=user.id, username=user.username, role=user.role,
                     extension=user.extension, display_name=user.display_name or user.username,
                     group_ids=tuple(g.id for g in user.groups), customer_id=user.customer_id,
                     locale=user.locale)


async def principal_from_token(services: Services, token: str | None) -> Principal | None:
    """Who holds ``token``: checked against the database so disabled users are out at once."""
    if not token:
        return None
    user_id = decode_token(services.secret_key, token)
    if user_id is None:
        return None
    async with services.db() as session:
        user = await session.scalar(select(User).options(selectinload(User.groups))
                                    .where(User.id == user_id))
    if user is None or not user.is_active:
        return None
    return principal_of(user)
