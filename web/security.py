"""Bearer tokens (signed JWT) and turning a token into the acting user."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import jwt
from sqlalchemy import exists, false, select
from sqlalchemy.orm import selectinload

from tickets.models import RevokedToken, User
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
    #: The login this request or socket rides on (JWT ``jti`` and issue time in ms).
    token_id: str | None = None
    issued_ms: int = 0

    @property
    def actor(self) -> Actor:
        return Actor(id=self.id, role=self.role, customer_id=self.customer_id)


@dataclass(frozen=True)
class TokenClaims:
    user_id: int
    token_id: str | None  # tokens from before revocation existed have none
    issued_ms: int
    expires_at: datetime


def create_token(secret: str, user: User, ttl_s: int) -> str:
    now_ms = int(time.time() * 1000)
    now = now_ms // 1000
    claims = {"sub": str(user.id), "role": user.role, "iat": now, "exp": now + ttl_s,
              "jti": secrets.token_hex(16), "iat_ms": now_ms}
    return jwt.encode(claims, secret, algorithm=_ALGORITHM)


def decode_token(secret: str, token: str) -> TokenClaims | None:
    """The claims of a valid, unexpired token; ``None`` for anything else."""
    try:
        claims = jwt.decode(token, secret, algorithms=[_ALGORITHM],
                            options={"require": ["sub", "exp"]})
        issued_ms = claims.get("iat_ms", int(claims.get("iat", 0)) * 1000)
        jti = claims.get("jti")
        return TokenClaims(user_id=int(claims["sub"]),
                           token_id=jti if isinstance(jti, str) and jti else None,
                           issued_ms=int(issued_ms),
                           expires_at=datetime.fromtimestamp(int(claims["exp"]), UTC))
    except (jwt.PyJWTError, ValueError, TypeError, OverflowError):
        return None


def principal_of(user: User, claims: TokenClaims | None = None) -> Principal:
    return Principal(id=user.id, username=user.username, role=user.role,
                     extension=user.extension, display_name=user.display_name or user.username,
                     group_ids=tuple(g.id for g in user.groups), customer_id=user.customer_id,
                     locale=user.locale, token_id=claims.token_id if claims else None,
                     issued_ms=claims.issued_ms if claims else 0)


async def principal_from_token(services: Services, token: str | None) -> Principal | None:
    """Who holds ``token``: checked against the database, so a disabled user, a logged-out
    token or one issued before "log out everywhere" is out at once."""
    if not token:
        return None
    claims = decode_token(services.secret_key, token)
    if claims is None:
        return None
    revoked = exists().where(RevokedToken.jti == claims.token_id) if claims.token_id \
        else false()
    async with services.db() as session:  # the revocation check rides on the user query
        row = (await session.execute(select(User, revoked).options(selectinload(User.groups))
                                     .where(User.id == claims.user_id))).first()
    if row is None or row[1] or not row[0].is_active:
        return None
    user = row[0]
    cutoff = user.sessions_valid_after
    if cutoff is not None and claims.issued_ms < cutoff.timestamp() * 1000:
        return None
    return principal_of(user, claims)
