"""What the engineer records of a visit: the service report (notes, parts used, the
customer's rating, who signed), photos and the customer's signature.

Why a module of its own: these are the visit's evidence, written by the engineer's phone
(directly or replayed from its offline queue, ``dispatch.sync``) and read back by staff; the
order's life (assignment, moves) stays in ``dispatch.service``. Photos and the signature are
ticket attachments (``tickets.service.add_attachment``: one store, one size limit, one
visibility rule) with a :class:`~dispatch.models.WorkOrderFile` row saying which order and
what kind; the bytes must be PNG or JPEG (checked by their signature, not their label).
Functions take the caller's session and never commit; history rows in its transaction.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from dispatch import service as svc
from dispatch.models import FILE_KINDS, WorkOrder, WorkOrderFile
from dispatch.schemas import ReportIn
from dispatch.service import IMAGE_TYPES, Ctx
from tickets import service as tickets
from tickets.db import utcnow
from tickets.errors import Conflict, Forbidden, Invalid, NotFound
from tickets.models import Ticket
from tickets.service import Actor


def _worker(order: WorkOrder, actor: Actor) -> None:
    """The order's engineer, or staff; final orders only take a report or files when done."""
    if actor.role == "engineer" and order.engineer_id != actor.id:
        raise NotFound(f"work order {order.id} not found")
    if not actor.is_staff and actor.role != "engineer":
        raise Forbidden("only staff and the order's engineer report on it")
    if order.status in ("cancelled", "pending"):
        raise Conflict(f"work order {svc.number(order.id)} is {order.status}")


async def report(session: AsyncSession, order_id: int, data: ReportIn, actor: Actor,
                 ctx: Ctx) -> WorkOrder:
    """What was done: notes, parts used, the customer's rating and name (history
    ``work_order_report``). ``signed_by`` is kept only once the order has a signature: a
    name alone (the phone pre-fills the contact's) must not read as "signed". Conflict for a
    pending or cancelled order, a stale version."""
    order = await svc.get_order(session, order_id, actor, lock=True)
    _worker(order, actor)
    svc.check_version(order, data.version)
    changes = data.model_dump(exclude_unset=True, exclude={"version"}, exclude_none=True)
    if "signed_by" in changes and not await session.scalar(
            select(WorkOrderFile.id).where(WorkOrderFile.work_order_id == order.id,
                                           WorkOrderFile.kind == "signature").limit(1)):
        del changes["signed_by"]
    if not changes:
        return order
    if "parts_used" in changes:
        changes["parts_used"] = [dict(p) for p in changes["parts_used"]]
    for name, value in changes.items():
        setattr(order, name, value)
    svc.bump(order)
    svc.record_event(session, order, actor, "work_order_report", **changes)
    ctx.touch(order)
    await session.flush()
    return order


def decode_data_url(data_url: str) -> tuple[str, bytes]:
    """``data:image/png;base64,…`` → (content type, bytes); Invalid naming ``data_url``
    for another type or bad base64."""
    head, _, payload = data_url.partition(",")
    content_type = head.removeprefix("data:").split(";")[0].strip().lower()
    if content_type not in IMAGE_TYPES:
        raise Invalid(f"data_url: a PNG or JPEG image, not {content_type!r}")
    try:
        content = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise Invalid("data_url: not valid base64") from None
    return content_type, content


async def add_file(session: AsyncSession, order_id: int, actor: Actor, ctx: Ctx, *,
                   kind: str, content: bytes, content_type: str, filename: str | None = None,
                   signed_by: str | None = None) -> WorkOrderFile:
    """A photo or the signature, stored as a ticket attachment (the ticket's store, size
    limit and types: TooLarge over ``ctx.max_bytes``, Invalid for a type other than PNG or
    JPEG) plus its :class:`WorkOrderFile`; history ``work_order_file``. The engineer's
    upload is visible to the customer, as any non-staff upload is."""
    if kind not in FILE_KINDS:
        raise Invalid(f"kind: one of {list(FILE_KINDS)}")
    order = await svc.get_order(session, order_id, actor, lock=True)
    _worker(order, actor)
    if ctx.store is None:
        raise Conflict("no attachment store configured")
    base_type = content_type.split(";")[0].strip().lower()
    if base_type not in IMAGE_TYPES:
        raise Invalid(f"file: a PNG or JPEG image, not {base_type!r}")
    # the bytes decide, not the label: text or HTML called image/png is refused
    sniffed = ("image/png" if content.startswith(b"\x89PNG\r\n\x1a\n")
               else "image/jpeg" if content.startswith(b"\xff\xd8\xff") else None)
    if sniffed is None:
        raise Invalid("file: the content is not a PNG or JPEG image")
    base_type = sniffed
    ticket = await session.get(Ticket, order.ticket_id)
    assert ticket is not None
    # The engineer of the order may not be the ticket's assignee (whom ticket visibility
    # follows): the upload is made in the ticket service's name for them, public as any
    # non-staff upload, and signed with their id.
    uploader = actor if tickets.can_see(actor, ticket) else Actor(id=actor.id, role="agent")
    ext = "png" if base_type == "image/png" else "jpg"
    name = filename or f"{svc.number(order.id)}-{kind}.{ext}"
    attachment = await tickets.add_attachment(
        session, order.ticket_id, uploader, filename=name, content_type=base_type,
        content=content, store=ctx.store, max_bytes=ctx.max_bytes,
        allowed_types=list(IMAGE_TYPES), public=True)
    row = WorkOrderFile(work_order_id=order.id, attachment_id=attachment.id, kind=kind,
                        created_at=utcnow())
    session.add(row)
    if kind == "signature" and signed_by:
        order.signed_by = signed_by
    svc.bump(order)
    await session.flush()
    svc.record_event(session, order, actor, "work_order_file", kind=kind,
                           attachment_id=attachment.id, file_id=row.id, signed_by=signed_by)
    ctx.touch(order)
    await session.flush()
    return row


async def get_file(session: AsyncSession, order_id: int, file_id: int,
                   actor: Actor) -> tuple[WorkOrderFile, Any]:
    """A file of a visible order with its attachment row (NotFound otherwise)."""
    from tickets.models import Attachment

    await svc.get_order(session, order_id, actor)
    row = await session.get(WorkOrderFile, file_id)
    if row is None or row.work_order_id != order_id:
        raise NotFound(f"file {file_id} not found")
    attachment = await session.get(Attachment, row.attachment_id)
    if attachment is None:
        raise NotFound(f"file {file_id} not found")
    return row, attachment


