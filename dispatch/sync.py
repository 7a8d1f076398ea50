"""The engineer's offline queue: changes made on the phone without a network, replayed in
order by ``POST /api/v1/dispatch/sync``, and the ``op_id`` receipts that make every replay
(and a retried direct call) apply a change at most once.

Why this shape: the phone names each change (``op_id``) and the order ``version`` it was
made on; :class:`~dispatch.models.SyncReceipt` keeps the first result per ``op_id``, so a
batch sent twice answers ``duplicate`` and applies nothing, and an ``op_id`` reused for
another change is refused rather than mistaken for a retry. A change on an order that was
reassigned, cancelled or changed by the dispatcher since its ``base_version`` is a
``conflict`` returned with the order as it is now — shown to the engineer, never applied
over the dispatcher's decision. Each op runs in a savepoint: a refused one leaves nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from dispatch import records
from dispatch import service as svc
from dispatch.models import SyncReceipt, WorkOrder
from dispatch.schemas import FileIn, ReportIn, SignatureIn, StatusIn, SyncOp
from dispatch.service import Ctx
from tickets.db import utcnow
from tickets.errors import Conflict, DomainError, Forbidden
from tickets.models import TicketEvent
from tickets.service import Actor


async def _changed_by_others(session: AsyncSession, order: WorkOrder, base_version: int,
                             actor: Actor) -> bool:
    """Whether someone other than ``actor`` changed the order after ``base_version``."""
    events = (await session.scalars(select(TicketEvent).where(
        TicketEvent.ticket_id == order.ticket_id,
        TicketEvent.kind.in_(svc.EVENT_KINDS)))).all()
    for e in events:
        data = e.data or {}
        if data.get("work_order_id") == order.id and int(data.get("version") or 0) \
                > base_version and e.actor_id != actor.id:
            return True
    return False


async def _ever_held(session: AsyncSession, order: WorkOrder, actor: Actor) -> bool:
    """Whether ``actor`` was ever assigned ``order`` (the history's assignments)."""
    if actor.id in (order.declined_by or []):
        return True
    events = (await session.scalars(select(TicketEvent).where(
        TicketEvent.ticket_id == order.ticket_id,
        TicketEvent.kind == "work_order_assigned"))).all()
    return any((e.data or {}).get("work_order_id") == order.id
               and (e.data or {}).get("engineer_id") == actor.id for e in events)


async def sync(session: AsyncSession, ops: Sequence[SyncOp], actor: Actor,
               ctx: Ctx) -> list[dict[str, Any]]:
    """Apply an engineer's offline queue in order; one result per op (``SyncResultOut``).

    An ``op_id`` seen before: ``duplicate`` with the first result's order and nothing
    applied. An order reassigned or cancelled meanwhile, or whose ``base_version`` is behind
    a change made by someone else: ``conflict`` with the order as it is now (without the
    address, contact and customer once it is no longer theirs). A domain error (an illegal
    move, a bad payload): ``conflict`` (Conflict) or ``rejected``. Each op runs in a
    savepoint: a refused one leaves nothing behind; each leaves a receipt."""
    if actor.role != "engineer" or actor.id is None:
        raise Forbidden("the offline queue is an engineer's")
    results: list[dict[str, Any]] = []
    for op in ops:
        key = op_key(op.kind, op.work_order_id,
                     op.payload.get("status") if op.kind == "status" else None)
        seen = await session.get(SyncReceipt, op.op_id)
        if seen is not None:
            if seen.user_id != actor.id:
                results.append({"op_id": op.op_id, "outcome": "rejected", "work_order": None,
                                "detail": "op_id: used by another user"})
                continue
            if _reused(seen, key):
                results.append({"op_id": op.op_id, "outcome": "rejected", "work_order": None,
                                "detail": "op_id: already used for another change"})
                continue
            first = seen.result or {}
            results.append({"op_id": op.op_id, "outcome": "duplicate",
                            "work_order": first.get("work_order"),
                            "detail": f"already {first.get('outcome', 'applied')}"})
            continue
        result = await _apply_op(session, op, actor, ctx)
        session.add(SyncReceipt(op_id=op.op_id, user_id=actor.id,
                                work_order_id=op.work_order_id if result["exists"] else None,
                                result={**{k: v for k, v in result.items() if k != "exists"},
                                        "key": key},
                                applied_at=utcnow()))
        await session.flush()
        results.append({"op_id": op.op_id, **{k: v for k, v in result.items()
                                              if k != "exists"}})
    return results


async def _apply_op(session: AsyncSession, op: SyncOp, actor: Actor,
                    ctx: Ctx) -> dict[str, Any]:
    order = await session.get(WorkOrder, op.work_order_id, populate_existing=True)
    if order is None:
        return {"exists": False, "outcome": "rejected", "work_order": None,
                "detail": f"work order {op.work_order_id} not found"}
    if order.engineer_id != actor.id and not await _ever_held(session, order, actor):
        # never theirs: as for GET (404), nothing of it (its notes, window, engineer)
        return {"exists": False, "outcome": "rejected", "work_order": None,
                "detail": f"work order {op.work_order_id} not found"}
    if order.engineer_id != actor.id:
        return {"exists": True, "outcome": "conflict",
                "work_order": await svc.order_json(session, order, actor, redact=True),
                "detail": "reassigned: the order is no longer yours"}
    if order.status == "cancelled":
        return {"exists": True, "outcome": "conflict",
                "work_order": await svc.order_json(session, order, actor),
                "detail": f"cancelled: {order.fail_reason or ''}".strip()}
    if op.base_version is not None and op.base_version < order.version \
            and await _changed_by_others(session, order, op.base_version, actor):
        return {"exists": True, "outcome": "conflict",
                "work_order": await svc.order_json(session, order, actor),
                "detail": f"changed by the dispatcher since version {op.base_version} "
                          f"(now {order.version})"}
    try:
        async with session.begin_nested():
            await _run_op(session, op, actor, ctx)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or "payload"
        return {"exists": True, "outcome": "rejected",
                "work_order": await _fresh_json(session, op.work_order_id, actor),
                "detail": f"payload.{where}: {first.get('msg')}"}
    except DomainError as exc:
        outcome = "conflict" if isinstance(exc, Conflict) else "rejected"
        return {"exists": True, "outcome": outcome,
                "work_order": await _fresh_json(session, op.work_order_id, actor),
                "detail": exc.message}
    return {"exists": True, "outcome": "applied",
            "work_order": await _fresh_json(session, op.work_order_id, actor), "detail": None}


async def _fresh_json(session: AsyncSession, order_id: int, actor: Actor
                      ) -> dict[str, Any] | None:
    order = await session.get(WorkOrder, order_id, populate_existing=True)
    if order is None:
        return None
    return await svc.order_json(session, order, actor, redact=not svc.may_see(actor, order))


async def _run_op(session: AsyncSession, op: SyncOp, actor: Actor, ctx: Ctx) -> None:
    payload = dict(op.payload)
    if op.kind == "status":
        data = StatusIn.model_validate({**payload, "at": payload.get("at") or op.at})
        await svc.move(session, op.work_order_id, data, actor, ctx)
    elif op.kind == "report":
        await records.report(session, op.work_order_id, ReportIn.model_validate(payload),
                             actor, ctx)
    else:
        model = SignatureIn if op.kind == "signature" else FileIn
        upload = model.model_validate(payload)
        content_type, content = records.decode_data_url(upload.data_url)
        await records.add_file(session, op.work_order_id, actor, ctx, kind=op.kind, content=content,
                       content_type=content_type, filename=upload.filename,
                       signed_by=getattr(upload, "signed_by", None))


def op_key(kind: str, work_order_id: int, status: object = None) -> str:
    """What an ``op_id`` stands for: the kind of change, the order and (a move) its target
    status. An ``op_id`` sent again for another change is refused, never taken for a
    retry of the first (which would drop the second change silently)."""
    return f"{kind}:{work_order_id}:{status if isinstance(status, str) else ''}"


def _reused(seen: SyncReceipt, key: str) -> bool:
    first = (seen.result or {}).get("key")
    return first is not None and first != key


async def seen_op(session: AsyncSession, op_id: str | None, actor: Actor,
                  key: str) -> bool:
    """Whether ``actor`` already sent ``op_id`` for the change ``key`` (:func:`op_key`): a
    retry then answers the order as it is and applies nothing. Conflict: the op_id is
    another user's, or was used for another change."""
    if op_id is None or actor.id is None:
        return False
    seen = await session.get(SyncReceipt, op_id)
    if seen is not None and seen.user_id != actor.id:
        raise Conflict("op_id: used by another user")
    if seen is not None and _reused(seen, key):
        raise Conflict("op_id: already used for another change; send a new op_id")
    return seen is not None


async def record_op(session: AsyncSession, op_id: str | None, actor: Actor,
                    order: WorkOrder, key: str) -> None:
    """The receipt of a direct call that carried ``op_id`` (see :func:`seen_op`)."""
    if op_id is None or actor.id is None:
        return
    session.add(SyncReceipt(op_id=op_id, user_id=actor.id, work_order_id=order.id,
                            result={"outcome": "applied", "key": key,
                                    "work_order": await svc.order_json(session, order, actor),
                                    "detail": None}, applied_at=utcnow()))
    await session.flush()
