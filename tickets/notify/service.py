"""Notification services the API calls: staff mutes, the admin's outbox view and retry,
webhook subscriptions. Services never commit (the request's unit of work does)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from tickets.errors import Conflict, Invalid, NotFound
from tickets.notify import delivery, policy
from tickets.notify.events import EVENT_KINDS
from tickets.notify.models import NotificationPref, OutboxMessage, WebhookSubscription
from tickets.notify.schemas import PrefItem, WebhookIn, WebhookPatch


async def preferences(session: AsyncSession, user_id: int) -> list[dict[str, Any]]:
    """Every (kind, staff channel) with the user's choice, or the default when none."""
    chosen = {(p.kind, p.channel): p.enabled for p in (await session.scalars(
        select(NotificationPref).where(NotificationPref.user_id == user_id))).all()}
    out = []
    for kind in EVENT_KINDS:
        for channel in policy.STAFF_CHANNELS:
            default = channel == "ws" or kind in policy.STAFF_EMAIL_KINDS
            out.append({"kind": kind, "channel": channel, "default": default,
                        "enabled": chosen.get((kind, channel), default)})
    return out


async def set_preferences(session: AsyncSession, user_id: int, items: list[PrefItem]) -> None:
    """Record the user's choices (a choice equal to the default is stored all the same)."""
    for item in items:
        row = await session.get(NotificationPref, (user_id, item.kind, item.channel))
        if row is None:
            session.add(NotificationPref(user_id=user_id, kind=item.kind,
                                         channel=item.channel, enabled=item.enabled))
        else:
            row.enabled = item.enabled
    await session.flush()


async def outbox_page(session: AsyncSession, status: str | None, limit: int,
                      offset: int) -> tuple[list[OutboxMessage], int]:
    """Outbox rows (newest first), of one ``status`` when given."""
    query = select(OutboxMessage)
    if status:
        query = query.where(OutboxMessage.status == status)
    total = await session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = await session.scalars(query.order_by(OutboxMessage.id.desc()).limit(limit)
                                 .offset(offset))
    return list(rows.all()), total


async def retry_message(session: AsyncSession, message_id: int, now: datetime) -> OutboxMessage:
    """Make a dead (or waiting) message due now with fresh attempts. NotFound; Conflict
    when it was sent already."""
    try:
        row = await delivery.retry(session, message_id, now)
    except ValueError as exc:
        raise Conflict(str(exc)) from None
    if row is None:
        raise NotFound(f"no outbox message {message_id}")
    return row


async def webhooks(session: AsyncSession) -> list[WebhookSubscription]:
    return list((await session.scalars(select(WebhookSubscription)
                                       .order_by(WebhookSubscription.id))).all())


async def add_webhook(session: AsyncSession, data: WebhookIn) -> WebhookSubscription:
    hook = WebhookSubscription(url=str(data.url), secret=data.secret,
                               kinds=sorted(set(data.kinds)), active=data.active)
    session.add(hook)
    await session.flush()
    return hook


async def get_webhook(session: AsyncSession, hook_id: int) -> WebhookSubscription:
    hook = await session.get(WebhookSubscription, hook_id)
    if hook is None:
        raise NotFound(f"no webhook subscription {hook_id}")
    return hook


async def update_webhook(session: AsyncSession, hook_id: int,
                         data: WebhookPatch) -> WebhookSubscription:
    hook = await get_webhook(session, hook_id)
    changes = data.model_dump(exclude_unset=True)
    for name in ("url", "secret", "active"):
        if name in changes:
            if changes[name] is None:
                raise Invalid(f"{name} cannot be null")
            setattr(hook, name, str(changes[name]) if name == "url" else changes[name])
    if "kinds" in changes:
        hook.kinds = sorted(set(changes["kinds"] or []))
    await session.flush()
    return hook


async def delete_webhook(session: AsyncSession, hook_id: int) -> None:
    """Delete a subscription; its undelivered messages die at their next attempt."""
    await session.delete(await get_webhook(session, hook_id))
    await session.flush()
