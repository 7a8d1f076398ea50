"""FastAPI dependencies: the services, a transaction, and the authenticated principal."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Path, Query, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession

from tickets.schemas import MAX_ID, MAX_OFFSET
from web.security import COOKIE_NAME, Principal, principal_from_token
from web.services import Services
from web.uow import UnitOfWork

_bearer = HTTPBearer(auto_error=False)

#: Path and query ids, bounded so an absurd id is a 422 rather than a database error.
IdPath = Annotated[int, Path(ge=1, le=MAX_ID)]
IdQuery = Annotated[int | None, Query(ge=1, le=MAX_ID)]
#: How many rows a list skips: bounded like every integer input (a 422, not an overflow).
OffsetQuery = Annotated[int, Query(ge=0, le=MAX_OFFSET)]


# Every dependency is ``async def``: FastAPI runs a plain ``def`` dependency in a worker
# thread, a hand-off (and back) per request for what is an attribute read.


async def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


async def get_session(services: ServicesDep) -> AsyncIterator[AsyncSession]:
    """One transaction per request. Handlers that write call ``commit()`` before answering,
    so a failed commit is an error response, never a 2xx for data that was not saved;
    anything uncommitted is rolled back when the session closes."""
    async with services.db() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session)]


async def get_uow(services: ServicesDep, session: SessionDep) -> UnitOfWork:
    """The request's transaction (the same session as ``SessionDep``) and its messages."""
    return UnitOfWork(session, services.bus)


#: For handlers that announce what they change: ``uow.publish(…)``, then ``uow.commit()``.
UowDep = Annotated[UnitOfWork, Depends(get_uow)]


def request_token(request: Request) -> str | None:
    """The token of a request: ``Authorization: Bearer …``, else the session cookie."""
    scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        return credentials.strip()
    return request.cookies.get(COOKIE_NAME)


async def optional_principal(request: Request) -> Principal | None:
    """Who is asking, if anyone (for routes that answer everyone, but some more fully)."""
    token = request_token(request)
    if not token:
        return None
    return await principal_from_token(request.app.state.services, token)


async def get_principal(
    request: Request,
    services: ServicesDep,
    creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    token = creds.credentials if creds else request.cookies.get(COOKIE_NAME)
    principal = await principal_from_token(services, token)
    if principal is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "not authenticated: log in at /api/v1/auth/login and send 'Authorization: Bearer …'",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return principal


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def require(*roles: str) -> Callable[..., Coroutine[Any, Any, Principal]]:
    """A dependency that lets only ``roles`` through (403 with the reason otherwise)."""

    async def check(principal: PrincipalDep) -> Principal:
        if principal.role not in roles:
            raise HTTPException(status.HTTP_403_FORBIDDEN,
                                f"role {principal.role!r} may not do this; needs one of {roles}")
        return principal

    return check


STAFF = ("agent", "supervisor", "admin")
MANAGERS = ("supervisor", "admin")
Staff = Annotated[Principal, Depends(require(*STAFF))]
Manager = Annotated[Principal, Depends(require(*MANAGERS))]
Admin = Annotated[Principal, Depends(require("admin"))]
