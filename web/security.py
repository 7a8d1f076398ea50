"""Bearer tokens (signed JWT) and turning a token into the acting user.

Every authenticated request asks the database who holds its token, so that a logout, "log
out everywhere", a password or role change and a disabled user take effect at the very next
request, in every process. That question is one statement on an autocommit Core connection:
the user's row, one row per group (outer join) and whether the token is revoked, together —
no transaction (BEGIN/ROLLBACK are round trips too), no ORM session and no ORM entities. A
cache was the other way (a token-version epoch checked against the database or Redis at most
once a second), but it still needs a round trip per epoch check to stay right across
processes and it would stretch revocation from "next request" to "within a second"; one
cheap statement is simpler and exact (tests/bench/bench_create.py).
"""

from __future__ import annotations

import functools
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import jwt
from sqlalchemy import ColumnElement, Select, bindparam, exists, false, select

from tickets.models import RevokedToken, User, group_members
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


def decode_token(secret: str, token: str, *, now: float | None = None) -> TokenClaims | None:
    """The claims of a valid token unexpired at ``now`` (Unix seconds; default: the
    clock); ``None`` for anything else.

    The signature is checked once per token (a cache of the last :data:`VERIFIED_CACHE`
    good tokens: the edge and the route's dependency both ask, and a console asks with the
    same token all day); the expiry is checked at every call."""
    try:
        claims = _verified(secret, token)
    except (jwt.PyJWTError, ValueError, TypeError, OverflowError):
        return None
    now = time.time() if now is None else now
    return claims if now < claims.expires_at.timestamp() else None


#: How many verified tokens :func:`decode_token` remembers (~0.5 KiB each).
VERIFIED_CACHE = 4096


@functools.lru_cache(maxsize=VERIFIED_CACHE)
def _verified(secret: str, token: str) -> TokenClaims:
    """The claims of a token whose signature and claims check out (expiry aside); raises
    otherwise, so that only good tokens are cached."""
    claims = jwt.decode(token, secret, algorithms=[_ALGORITHM],
                        options={"require": ["sub", "exp"], "verify_exp": False})
    issued_ms = claims.get("iat_ms", int(claims.get("iat", 0)) * 1000)
    jti = claims.get("jti")
    return TokenClaims(user_id=int(claims["sub"]),
                       token_id=jti if isinstance(jti, str) and jti else None,
                       issued_ms=int(issued_ms),
                       expires_at=datetime.fromtimestamp(int(claims["exp"]), UTC))


def _principal_query(revoked: ColumnElement[bool]) -> Select[Any]:
    users = User.__table__.c
    return (select(users.id, users.username, users.role, users.extension, users.display_name,
                   users.customer_id, users.locale, users.is_active,
                   users.sessions_valid_after, group_members.c.group_id, revoked)
            .outerjoin_from(User.__table__, group_members,
                            group_members.c.user_id == users.id)
            .where(users.id == bindparam("user_id"))
            .order_by(group_members.c.group_id))


#: Who holds a token, its groups, and whether it is revoked: one statement (two shapes:
#: tokens from before revocation existed have no ``jti``).
_PRINCIPAL = _principal_query(
    exists().where(RevokedToken.jti == bindparam("jti")).label("revoked"))
_PRINCIPAL_NO_JTI = _principal_query(false().label("revoked"))


async def principal_from_token(services: Services, token: str | None) -> Principal | None:
    """Who holds ``token``: checked against the database, so a disabled user, a logged-out
    token or one issued before "log out everywhere" is out at once (one statement, no
    transaction)."""
    if not token:
        return None
    claims = decode_token(services.secret_key, token)
    if claims is None:
        return None
    if claims.token_id:
        query, params = _PRINCIPAL, {"user_id": claims.user_id, "jti": claims.token_id}
    else:
        query, params = _PRINCIPAL_NO_JTI, {"user_id": claims.user_id}
    async with services.read_engine.connect() as conn:  # Core: no ORM session to set up
        rows = (await conn.execute(query, params)).all()
    if not rows:
        return None
    (user_id, username, role, extension, display_name, customer_id, locale, is_active,
     valid_after, _group, revoked) = rows[0]
    if revoked or not is_active:
        return None
    if valid_after is not None and claims.issued_ms < valid_after.timestamp() * 1000:
        return None
    return Principal(id=user_id, username=username, role=role, extension=extension,
                     display_name=display_name or username,
                     group_ids=tuple(row[9] for row in rows if row[9] is not None),
                     customer_id=customer_id, locale=locale, token_id=claims.token_id,
                     issued_ms=claims.issued_ms)
