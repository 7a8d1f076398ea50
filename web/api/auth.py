"""Login, logout and who-am-I.

A token is a signed JWT, checked against the database on every request: logging out puts
its ``jti`` on a revocation list (until it would expire anyway); "log out everywhere" voids
every older token of the user. Either way the consoles riding on it are closed through the
bus, so this works across processes too.
"""

from __future__ import annotations

import asyncio
import logging
import math
from typing import NoReturn

from fastapi import APIRouter, Depends, HTTPException, Request, Response, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from tickets import messages
from tickets.bus import TOPIC_SESSIONS
from tickets.passwords import GateBusy
from tickets.ratelog import RateLimitedLog
from tickets.schemas import LoginIn, TokenOut
from tickets.users import authenticate, end_sessions, revoke_token
from web.deps import PrincipalDep, ServicesDep, SessionDep, UowDep
from web.security import COOKIE_NAME, create_token, decode_token, principal_from_token
from web.settings import Settings
from web.uow import UnitOfWork

log = logging.getLogger(__name__)
_bearer = HTTPBearer(auto_error=False)

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])


def _too_many(wait: float) -> HTTPException:
    return HTTPException(status.HTTP_429_TOO_MANY_REQUESTS,
                         f"too many failed logins; try again in {math.ceil(wait)} s",
                         headers={"Retry-After": str(math.ceil(wait))})


#: A refused guess is answered after min(wait, this) seconds: a guesser ignoring
#: Retry-After gets at most one answer a second per connection instead of a flood of 429s
#: (which cost the event loop more than the guesses themselves), for no CPU.
TARPIT_S = 1.0
_refusal_log = RateLimitedLog(log, interval=10.0)  # a flood of guesses: one line per 10 s


async def _refuse_slowly(username: str, address: str | None, wait: float) -> NoReturn:
    _refusal_log.warning("login-refused", "login for %r from %s refused: too many failed "
                         "attempts", username, address)
    await asyncio.sleep(min(wait, TARPIT_S))
    raise _too_many(max(1.0, wait - TARPIT_S))


def cookie_secure(settings: Settings, request: Request) -> bool:
    """The session cookie's ``Secure`` flag: the setting, or (auto) whether the request
    itself came over https (behind a TLS proxy, set ``HOTLINE_COOKIE_SECURE=true``)."""
    if settings.cookie_secure == "auto":
        return request.url.scheme == "https"
    return settings.cookie_secure == "true"


@router.post("/login", response_model=TokenOut, responses={
    401: {"description": "wrong username or password"},
    429: {"description": "too many failed logins from this address (see Retry-After)"},
    503: {"description": "too many password checks at once (see Retry-After)"}})
async def login(data: LoginIn, request: Request, response: Response, services: ServicesDep,
                session: SessionDep) -> TokenOut:
    """Check a password; set the HttpOnly session cookie (pages use it) and return the
    token as well (API clients send it as ``Authorization: Bearer``).

    Failed attempts slow down the next ones from the same address for the same username
    (429 + Retry-After, even for the right password: a guesser must not learn it is right);
    other users and other addresses are not affected. Password checks run a few at once;
    a login that cannot get one within a few seconds gets 503 + Retry-After."""
    throttle = services.login_throttle
    address = request.client.host if request.client else None
    wait = throttle.retry_after(data.username, address)
    if wait > 0:
        await _refuse_slowly(data.username, address, wait)
    try:
        async with services.password_gate.slot(priority=throttle.known(data.username,
                                                                       address)):
            # Checked again: concurrent guesses for one pair all passed the check above
            # before the first of them failed.
            wait = throttle.retry_after(data.username, address)
            if wait > 0:
                raise _too_many(wait)
            user = await authenticate(session, data.username, data.password,
                                      services.password_gate)
    except GateBusy as busy:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE,
                            f"too many logins at once; try again in {busy.retry_after_s} s",
                            headers={"Retry-After": str(busy.retry_after_s)}) from None
    if user is None:
        throttle.failed(data.username, address)
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "wrong username or password")
    throttle.succeeded(data.username, address)
    token = create_token(services.secret_key, user, services.settings.token_ttl_s)
    response.set_cookie(COOKIE_NAME, token, httponly=True, samesite="lax",
                        secure=cookie_secure(services.settings, request),
                        max_age=services.settings.token_ttl_s)
    return TokenOut(access_token=token)


def end_consoles(uow: UnitOfWork, user_id: int, *, token_id: str | None = None,
                 before_ms: int | None = None) -> None:
    """Once committed, tell every process's hub to close the consoles of a revoked login
    (if that announcement fails, the revocation is stored: the sockets end at expiry)."""
    uow.publish(TOPIC_SESSIONS, messages.session_revoked(
        user_id=user_id, token_id=token_id, before_ms=before_ms))


@router.post("/logout", status_code=204)
async def logout(request: Request, response: Response, services: ServicesDep, uow: UowDep,
                 creds: HTTPAuthorizationCredentials | None = Depends(_bearer)) -> Response:
    """End this login: the token (bearer or cookie) stops working. Always 204, so a
    client can log out whatever state its token is in."""
    token = creds.credentials if creds else request.cookies.get(COOKIE_NAME)
    claims = decode_token(services.secret_key, token) if token else None
    if claims is not None and claims.token_id and \
            await principal_from_token(services, token) is not None:
        await revoke_token(uow.session, claims.token_id, claims.user_id, claims.expires_at)
        end_consoles(uow, claims.user_id, token_id=claims.token_id)
        await uow.commit()
    response.delete_cookie(COOKIE_NAME)
    response.status_code = 204
    return response


@router.post("/logout-all", status_code=204)
async def logout_everywhere(principal: PrincipalDep, response: Response,
                            uow: UowDep) -> Response:
    """End every login of the caller (a lost laptop, a shared password)."""
    cutoff = await end_sessions(uow.session, principal.id)
    end_consoles(uow, principal.id, before_ms=int(cutoff.timestamp() * 1000) + 1)
    await uow.commit()
    response.delete_cookie(COOKIE_NAME)
    response.status_code = 204
    return response


@router.get("/me")
async def me(principal: PrincipalDep) -> dict[str, object]:
    return {"id": principal.id, "username": principal.username, "role": principal.role,
            "extension": principal.extension, "display_name": principal.display_name,
            "group_ids": list(principal.group_ids), "customer_id": principal.customer_id,
            "locale": principal.locale}
