"""Notifications: a user's language (``PATCH /me``: templates are chosen by it), a staff
member's mutes, the admin's outbox (dead letters, retry) and webhook subscriptions."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Response

from tickets import users
from tickets.db import utcnow
from tickets.notify import service
from tickets.notify.schemas import (
    OutboxOut,
    OutboxPage,
    PrefsIn,
    PrefsOut,
    WebhookIn,
    WebhookOut,
    WebhookPatch,
)
from tickets.schemas import MeIn
from web.deps import Admin, IdPath, OffsetQuery, PrincipalDep, ServicesDep, SessionDep, require
from web.security import Principal

router = APIRouter(prefix="/api/v1", tags=["notifications"])
#: Who gets notifications (and so has mutes): staff and field engineers.
Notified = Annotated[Principal, Depends(require("agent", "supervisor", "admin", "engineer"))]


@router.patch("/me")
async def patch_me(data: MeIn, me: PrincipalDep, services: ServicesDep,
                   session: SessionDep) -> dict[str, str]:
    """Change one's own ``locale`` (``zh``/``en``; 422 naming ``locale`` otherwise, or any
    other field): the language of the notifications one gets from now on. Any logged-in
    user. → ``{"locale": …}``."""
    user = await users.set_locale(session, me.id, data.locale)
    await session.commit()
    services.notify.directory.invalidate()  # staff templates are chosen from its cache
    return {"locale": user.locale}


@router.get("/me/notification-preferences", response_model=PrefsOut)
async def get_preferences(me: Notified, session: SessionDep) -> PrefsOut:
    """Every (event kind, channel ``email``/``ws``) with ``enabled`` and the ``default``."""
    return PrefsOut.model_validate({"items": await service.preferences(session, me.id)})


@router.put("/me/notification-preferences", response_model=PrefsOut)
async def put_preferences(data: PrefsIn, me: Notified, services: ServicesDep,
                          session: SessionDep) -> PrefsOut:
    """Mute or unmute: the items given are stored, the rest unchanged. Other processes
    apply them within 30 s (their recipient cache), this one at once."""
    await service.set_preferences(session, me.id, data.items)
    await session.commit()
    services.notify.directory.invalidate()
    return PrefsOut.model_validate({"items": await service.preferences(session, me.id)})


@router.get("/admin/outbox", response_model=OutboxPage)
async def list_outbox(_: Admin, session: SessionDep,
                      status: Annotated[Literal["pending", "sent", "dead"] | None,
                                        Query()] = None,
                      limit: Annotated[int, Query(ge=1, le=200)] = 50,
                      offset: OffsetQuery = 0) -> OutboxPage:
    """Outbox messages, newest first: ``status=dead`` the dead letters, ``pending`` those
    waiting (with their attempts, next attempt and last error)."""
    rows, total = await service.outbox_page(session, status, limit, offset)
    return OutboxPage(items=[OutboxOut.model_validate(r) for r in rows], total=total)


@router.post("/admin/outbox/{message_id}/retry", response_model=OutboxOut)
async def retry_outbox(message_id: IdPath, _: Admin, session: SessionDep) -> OutboxOut:
    """Send a dead (or waiting) message again now, with a fresh count of attempts: 404 when
    there is no such message, 409 when it was sent."""
    row = await service.retry_message(session, message_id, utcnow())
    out = OutboxOut.model_validate(row)
    await session.commit()
    return out


@router.get("/admin/webhooks", response_model=list[WebhookOut])
async def list_webhooks(_: Admin, session: SessionDep) -> list[WebhookOut]:
    return [WebhookOut.model_validate(r) for r in await service.webhooks(session)]


@router.post("/admin/webhooks", status_code=201, response_model=WebhookOut)
async def create_webhook(data: WebhookIn, _: Admin, services: ServicesDep,
                         session: SessionDep) -> WebhookOut:
    """Subscribe an endpoint to event ``kinds`` (empty: all); bodies are signed with
    ``secret`` (``X-Hotline-Signature: sha256=HMAC(secret, "<timestamp>." + body)``)."""
    out = WebhookOut.model_validate(await service.add_webhook(session, data))
    await session.commit()
    services.notify.directory.invalidate()
    return out


@router.patch("/admin/webhooks/{hook_id}", response_model=WebhookOut)
async def patch_webhook(hook_id: IdPath, data: WebhookPatch, _: Admin, services: ServicesDep,
                        session: SessionDep) -> WebhookOut:
    out = WebhookOut.model_validate(await service.update_webhook(session, hook_id, data))
    await session.commit()
    services.notify.directory.invalidate()
    return out


@router.delete("/admin/webhooks/{hook_id}", status_code=204)
async def delete_webhook(hook_id: IdPath, _: Admin, services: ServicesDep,
                         session: SessionDep) -> Response:
    await service.delete_webhook(session, hook_id)
    await session.commit()
    services.notify.directory.invalidate()
    return Response(status_code=204)
