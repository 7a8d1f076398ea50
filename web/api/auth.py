"""Login, logout and who-am-I."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request, Response, status

from tickets.schemas import LoginIn, TokenOut
from tickets.users import authenticate
from web.deps import PrincipalDep, ServicesDep, SessionDep
from web.security import COOKIE_NAME, create_token

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])


@router.post("/login", response_model=TokenOut)
async def login(data: LoginIn, request: Request, response: Response, services: ServicesDep,
                session: SessionDep) -> TokenOut:
    user = await authenticate(session, data.username, data.password)
    if user is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "wrong username or password")
    token = create_token(services.secret_key, user, services.settings.token_ttl_s)
    response.set_cookie(COOKIE_NAME, token, httponly=True, samesite="lax",
                        secure=request.url.scheme == "https",
                        max_age=services.settings.token_ttl_s)
    return TokenOut(access_token=token)


@router.post("/logout", status_code=204)
async def logout(response: Response) -> Response:
    response.delete_cookie(COOKIE_NAME)
    response.status_code = 204
    return response


@router.get("/me")
async def me(principal: PrincipalDep) -> dict[str, object]:
    return {"id": principal.id, "username": principal.username, "role": principal.role,
            "extension": principal.extension, "display_name": principal.display_name,
            "group_ids": list(principal.group_ids), "customer_id": principal.customer_id,
            "locale": principal.locale}
