"""Field dispatch over HTTP: work orders, their moves and files, the engineers' offline
queue, engineers (profile, duty, position, day plan) and the dispatch board.

Each writing handler calls :mod:`dispatch.service` with a :class:`dispatch.service.Ctx`,
then queues what the call left to announce — a ``work_order`` message (topic
``work_orders``) to every engineer concerned (the full order to its engineer, a redacted
one to an engineer who lost it) and ``ticket_updated`` for a ticket its last visit
resolved — and commits (``web.uow``: published only after the commit).
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse
from pydantic import ValidationError
from starlette.datastructures import UploadFile

from dispatch import lifecycle, records
from dispatch import service as dispatch
from dispatch import sync as offline
from dispatch.models import WorkOrder
from dispatch.schemas import (
    AssignIn,
    BoardOut,
    CandidatesOut,
    Day,
    DeclineIn,
    DutyIn,
    EngineerIn,
    EngineerOut,
    FileIn,
    FileOut,
    PlanOut,
    PositionIn,
    ReportIn,
    SignatureIn,
    StatusIn,
    SyncIn,
    SyncOut,
    WorkOrderIn,
    WorkOrderOut,
    WorkOrderPage,
    WorkOrderPatch,
)
from tickets import messages
from tickets import service as tickets
from tickets.bus import TOPIC_TICKETS, TOPIC_WORK_ORDERS
from tickets.schemas import TicketOut
from tickets.service import SYSTEM, Actor
from web.deps import (
    IdPath,
    IdQuery,
    Manager,
    OffsetQuery,
    PrincipalDep,
    ServicesDep,
    SessionDep,
    Staff,
    UowDep,
)
from web.services import Services
from web.uow import UnitOfWork
from web.wiring import dispatch_context

router = APIRouter(prefix="/api/v1", tags=["dispatch"])


def _ctx(services: Services) -> dispatch.Ctx:
    return dispatch_context(services)


async def _announce(uow: UnitOfWork, ctx: dispatch.Ctx) -> None:
    """Queue the messages of what ``ctx`` says changed (sent after the commit)."""
    session = uow.session
    for order_id, engineer_ids in sorted(ctx.touched.items()):
        order = await session.get(WorkOrder, order_id)
        if order is None:
            continue
        for engineer_id in sorted(engineer_ids):
            reader = Actor(id=engineer_id, role="engineer")
            shape = await dispatch.order_json(session, order, reader,
                                              redact=order.engineer_id != engineer_id)
            uow.publish(TOPIC_WORK_ORDERS, messages.work_order(engineer_id=engineer_id,
                                                               order=shape))
    for ticket_id in sorted(ctx.tickets_changed):
        ticket = await tickets.get_ticket(session, ticket_id, SYSTEM)
        out = TicketOut.model_validate(tickets.ticket_dict(ticket)).model_dump(mode="json")
        uow.publish(TOPIC_TICKETS, messages.ticket_changed("ticket_updated", out))


async def _done(uow: UnitOfWork, ctx: dispatch.Ctx, order: WorkOrder, actor: Actor,
                status_code: int = 200) -> Response:
    """Announce, commit, answer the order as ``actor`` sees it."""
    await _announce(uow, ctx)
    await uow.session.flush()
    body = await dispatch.order_dicts(uow.session, [order], actor)
    out = WorkOrderOut.model_validate(body[0]).model_dump_json()
    await uow.commit()
    return Response(out, status_code=status_code, media_type="application/json")


# --- work orders -----------------------------------------------------------------------------

@router.post("/tickets/{ticket_id}/work_orders", status_code=201, response_model=WorkOrderOut)
async def create_work_order(ticket_id: IdPath, data: WorkOrderIn, principal: Staff,
                            services: ServicesDep, uow: UowDep) -> Response:
    """A work order for the ticket; what is left out comes from the ticket, its customer
    and type. ``auto_assign``: the best candidate takes it at once (it stays pending when
    nobody fits). 422 naming the field (coordinates, window, unknown skill, equipment)."""
    ctx = _ctx(services)
    order = await dispatch.create(uow.session, ticket_id, data, principal.actor, ctx)
    return await _done(uow, ctx, order, principal.actor, 201)


@router.get("/tickets/{ticket_id}/work_orders", response_model=list[WorkOrderOut])
async def ticket_work_orders(ticket_id: IdPath, principal: PrincipalDep,
                             session: SessionDep) -> list[dict[str, Any]]:
    """The ticket's work orders (staff: all; an engineer: their own; customers 404)."""
    rows = await dispatch.ticket_orders(session, ticket_id, principal.actor)
    return await dispatch.order_dicts(session, rows, principal.actor)


@router.get("/work_orders", response_model=WorkOrderPage)
async def list_work_orders(
    principal: PrincipalDep, session: SessionDep,
    status: Annotated[str | None, Query(max_length=200,
                                        description="comma-separated; 'open' = all open")] = None,
    engineer_id: IdQuery = None,
    date: Annotated[Day | None, Query(description="the site's day of the window")] = None,
    unassigned: bool = False,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: OffsetQuery = 0,
) -> dict[str, Any]:
    """Work orders, soonest window first: staff all (filtered), an engineer only theirs
    (the filters ignored), customers 404."""
    flt = dispatch.OrderFilter(
        status=[s.strip() for s in status.split(",") if s.strip()] if status else None,
        engineer_id=engineer_id, day=date, unassigned=unassigned)
    rows, total = await dispatch.list_orders(session, principal.actor, flt, limit=limit,
                                             offset=offset)
    return {"items": await dispatch.order_dicts(session, rows, principal.actor),
            "total": total, "limit": limit, "offset": offset}


@router.get("/work_orders/{work_order_id}", response_model=WorkOrderOut)
async def get_work_order(work_order_id: IdPath, principal: PrincipalDep,
                         session: SessionDep) -> dict[str, Any]:
    order = await dispatch.get_order(session, work_order_id, principal.actor)
    return (await dispatch.order_dicts(session, [order], principal.actor))[0]


@router.post("/work_orders/{work_order_id}/call", status_code=202)
async def call_work_order_contact(work_order_id: IdPath, principal: PrincipalDep,
                                  services: ServicesDep, session: SessionDep
                                  ) -> dict[str, Any]:
    """Click-to-call the order's contact: ring the caller's own extension, then the
    contact's number (an engineer: only on an order they hold; staff: any order). 404 as
    the order's read; 409 without a PBX, an extension, a contact number, or on a final
    order. The number comes from the order, never from the request: an engineer cannot
    dial anything else through the PBX."""
    order = await dispatch.get_order(session, work_order_id, principal.actor)
    if principal.actor.role not in ("engineer",) and not principal.actor.is_staff:
        raise HTTPException(403, "only staff and the order's engineer call its contact")
    if order.status in lifecycle.FINAL:
        raise HTTPException(409, f"work order {dispatch.number(order.id)} is {order.status}")
    if not order.contact_phone:
        raise HTTPException(409, "contact_phone: the work order has no contact number")
    if services.telephony is None:
        raise HTTPException(409, "no PBX is configured (set HOTLINE_AMI_URL)")
    if not principal.extension:
        raise HTTPException(409, "your user has no phone extension; ask an admin to set one")
    result: dict[str, Any] = await services.telephony.originate(principal.extension,
                                                                order.contact_phone)
    return result


@router.patch("/work_orders/{work_order_id}", response_model=WorkOrderOut)
async def patch_work_order(work_order_id: IdPath, data: WorkOrderPatch, principal: Staff,
                           services: ServicesDep, uow: UowDep) -> Response:
    """A dispatcher's edit; ``version`` (optional) refuses a stale one (409)."""
    ctx = _ctx(services)
    order = await dispatch.patch(uow.session, work_order_id, data, principal.actor, ctx)
    return await _done(uow, ctx, order, principal.actor)


@router.get("/work_orders/{work_order_id}/candidates", response_model=CandidatesOut)
async def work_order_candidates(work_order_id: IdPath, principal: Staff,
                                session: SessionDep) -> dict[str, Any]:
    """Who could take the order, best first, and why the others cannot."""
    ranking, names = await dispatch.candidates(session, work_order_id, principal.actor)

    def who(user_id: int) -> dict[str, Any]:
        return {"id": user_id, "name": names.get(user_id, "")}

    return {"ranked": [{"engineer": who(r.user_id), "score": r.score,
                        "distance_km": r.distance_km, "travel_min": r.travel_min,
                        "reasons": dispatch.reasons_json(r.reasons)} for r in ranking.ranked],
            "refused": [{"engineer": who(r.user_id), "reasons": dispatch.reasons_json(r.reasons)}
                        for r in ranking.refused]}


@router.post("/work_orders/{work_order_id}/assign", response_model=WorkOrderOut)
async def assign_work_order(work_order_id: IdPath, data: AssignIn, principal: Staff,
                            services: ServicesDep, uow: UowDep) -> Response:
    """``{engineer_id}``: any active engineer (422 otherwise); ``{auto: true}``: the best
    candidate (409 when none fits). 409 for a started or final order."""
    ctx = _ctx(services)
    order = await dispatch.assign(uow.session, work_order_id, principal.actor, ctx,
                                  engineer_id=data.engineer_id, auto=data.auto)
    return await _done(uow, ctx, order, principal.actor)


@router.post("/work_orders/{work_order_id}/status", response_model=WorkOrderOut)
async def move_work_order(work_order_id: IdPath, data: StatusIn, principal: PrincipalDep,
                          services: ServicesDep, uow: UowDep) -> Response:
    """A status move: the engineer's on their own order, the dispatcher's the rest (403
    for the other side's move, 409 an illegal one or a stale ``version``, 422 an unknown
    status or a missing reason). With ``op_id`` it is recorded like an offline op: sent
    again, it answers the order and applies nothing."""
    ctx = _ctx(services)
    actor = principal.actor
    key = offline.op_key("status", work_order_id, data.status)
    if await offline.seen_op(uow.session, data.op_id, actor, key):
        order = await dispatch.get_order(uow.session, work_order_id, actor)
        return await _done(uow, ctx, order, actor)
    order = await dispatch.move(uow.session, work_order_id, data, actor, ctx)
    await offline.record_op(uow.session, data.op_id, actor, order, key)
    return await _done(uow, ctx, order, actor)


@router.post("/work_orders/{work_order_id}/decline", response_model=WorkOrderOut)
async def decline_work_order(work_order_id: IdPath, data: DeclineIn, principal: PrincipalDep,
                             services: ServicesDep, uow: UowDep) -> Response:
    """The engineer declines: the order goes back to pending and on to the next best
    (never to them again). The answer is the order as they see it now (redacted: no
    longer theirs)."""
    ctx = _ctx(services)
    order = await dispatch.decline(uow.session, work_order_id, principal.actor, ctx,
                                   data.reason)
    await _announce(uow, ctx)
    out = await dispatch.order_json(uow.session, order, principal.actor, redact=True)
    await uow.commit()
    return Response(WorkOrderOut.model_validate(out).model_dump_json(),
                    media_type="application/json")


@router.post("/work_orders/{work_order_id}/report", response_model=WorkOrderOut)
async def report_work_order(work_order_id: IdPath, data: ReportIn, principal: PrincipalDep,
                            services: ServicesDep, uow: UowDep) -> Response:
    """Notes, parts used, the customer's rating and name."""
    ctx = _ctx(services)
    order = await records.report(uow.session, work_order_id, data, principal.actor, ctx)
    return await _done(uow, ctx, order, principal.actor)


def _invalid(exc: ValidationError) -> RequestValidationError:
    return RequestValidationError([{**e, "loc": ("body", *e["loc"])} for e in exc.errors(
        include_url=False, include_context=False)])


async def _upload(request: Request, services: Services, uow: UnitOfWork, actor: Actor,
                  work_order_id: int, kind: str) -> Response:
    """A photo or signature: multipart ``file`` (photos), or JSON with a ``data_url``."""
    ctx = _ctx(services)
    filename: str | None = None
    signed_by: str | None = None
    op_id: str | None = None
    if request.headers.get("content-type", "").lower().startswith("multipart/form-data"):
        form = await request.form()
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise RequestValidationError([{"loc": ("body", "file"), "type": "missing",
                                           "msg": "a file part named 'file' is required"}])
        content = await upload.read(ctx.max_bytes + 1)
        content_type = upload.content_type or "application/octet-stream"
        filename = upload.filename
        raw_signed = form.get("signed_by")
        signed_by = raw_signed[:128] if isinstance(raw_signed, str) else None
    else:
        try:
            body = await request.json()
        except ValueError:
            raise HTTPException(400, "a JSON body or a multipart upload") from None
        try:
            data: FileIn = (SignatureIn if kind == "signature" else FileIn).model_validate(body)
        except ValidationError as exc:
            raise _invalid(exc) from None
        content_type, content = records.decode_data_url(data.data_url)
        filename, op_id = data.filename, data.op_id
        signed_by = getattr(data, "signed_by", None)
    key = offline.op_key(kind, work_order_id)
    if await offline.seen_op(uow.session, op_id, actor, key):
        order = await dispatch.get_order(uow.session, work_order_id, actor)
        return await _done(uow, ctx, order, actor, 201)
    await records.add_file(uow.session, work_order_id, actor, ctx, kind=kind,
                            content=content, content_type=content_type, filename=filename,
                            signed_by=signed_by)
    order = await dispatch.get_order(uow.session, work_order_id, actor)
    await offline.record_op(uow.session, op_id, actor, order, key)
    return await _done(uow, ctx, order, actor, 201)


@router.post("/work_orders/{work_order_id}/photos", status_code=201, response_model=WorkOrderOut,
             openapi_extra={"requestBody": {"content": {
                 "multipart/form-data": {"schema": {"type": "object", "required": ["file"],
                                                    "properties": {"file": {
                                                        "type": "string",
                                                        "format": "binary"}}}},
                 "application/json": {"schema": FileIn.model_json_schema()}}}})
async def add_photo(work_order_id: IdPath, request: Request, principal: PrincipalDep,
                    services: ServicesDep, uow: UowDep) -> Response:
    """A photo of the visit (PNG/JPEG, at most ``HOTLINE_ATTACHMENT_MAX_BYTES``: 413),
    stored as a ticket attachment; the answer is the order with its files."""
    return await _upload(request, services, uow, principal.actor, work_order_id, "photo")


@router.post("/work_orders/{work_order_id}/signature", status_code=201,
             response_model=WorkOrderOut,
             openapi_extra={"requestBody": {"content": {"application/json": {
                 "schema": SignatureIn.model_json_schema()}}}})
async def add_signature(work_order_id: IdPath, request: Request, principal: PrincipalDep,
                        services: ServicesDep, uow: UowDep) -> Response:
    """The customer's signature (``{data_url, signed_by, op_id}``)."""
    return await _upload(request, services, uow, principal.actor, work_order_id, "signature")


@router.get("/work_orders/{work_order_id}/files/{file_id}", response_model=FileOut)
async def get_work_order_file(work_order_id: IdPath, file_id: IdPath, principal: PrincipalDep,
                              services: ServicesDep, session: SessionDep) -> FileResponse:
    """A photo or the signature's bytes (whoever sees the order)."""
    _row, attachment = await records.get_file(session, work_order_id, file_id,
                                               principal.actor)
    path = services.attachment_store / attachment.storage_key
    if not path.is_file():
        raise HTTPException(410, "the file is gone from storage")
    return FileResponse(path, media_type=attachment.content_type, filename=attachment.filename)


@router.post("/dispatch/sync", response_model=SyncOut)
async def sync_ops(data: SyncIn, principal: PrincipalDep, services: ServicesDep,
                   uow: UowDep) -> Response:
    """An engineer's offline queue, applied in order: ``applied``, ``duplicate`` (the
    ``op_id`` was seen: nothing applied), ``conflict`` (reassigned, cancelled or changed by
    the dispatcher since ``base_version``: the order as it is now) or ``rejected``."""
    ctx = _ctx(services)
    results = await offline.sync(uow.session, data.ops, principal.actor, ctx)
    await _announce(uow, ctx)
    out = SyncOut.model_validate({"results": results}).model_dump_json()
    await uow.commit()
    return Response(out, media_type="application/json")


# --- engineers -------------------------------------------------------------------------------

@router.get("/engineers", response_model=list[EngineerOut])
async def list_engineers(_: Staff, session: SessionDep) -> list[dict[str, Any]]:
    """Every engineer: profile, duty, position, today's load."""
    return await dispatch.engineer_dicts(session)


@router.put("/engineers/{engineer_id}", response_model=EngineerOut)
async def put_engineer(engineer_id: IdPath, data: EngineerIn, principal: Manager,
                       uow: UowDep) -> dict[str, Any]:
    """Replace an engineer's profile (``work_start``/``work_end`` as ``HH:MM``)."""
    await dispatch.put_engineer(uow.session, engineer_id, data, principal.actor)
    out = (await dispatch.engineer_dicts(uow.session, [engineer_id]))[0]
    await uow.commit()
    return out


@router.post("/engineers/me/position", response_model=EngineerOut)
async def post_position(data: PositionIn, principal: PrincipalDep,
                        uow: UowDep) -> dict[str, Any]:
    """The engineer's own position (engineers only: 403 otherwise)."""
    await dispatch.set_position(uow.session, principal.actor, data.lat, data.lon)
    out = (await dispatch.engineer_dicts(uow.session, [principal.id]))[0]
    await uow.commit()
    return out


@router.post("/engineers/{engineer_id}/duty", response_model=EngineerOut)
async def post_duty(engineer_id: IdPath, data: DutyIn, principal: PrincipalDep,
                    services: ServicesDep, uow: UowDep) -> dict[str, Any]:
    """On or off duty (the engineer, a supervisor or an admin). Going off duty hands their
    not-yet-started orders to others (history ``work_order_reassigned``, ``off_duty``)."""
    ctx = _ctx(services)
    await dispatch.set_duty(uow.session, engineer_id, data.on_duty, principal.actor, ctx,
                            data.reason)
    await _announce(uow, ctx)
    out = (await dispatch.engineer_dicts(uow.session, [engineer_id]))[0]
    await uow.commit()
    return out


def _day(value: date | None) -> date:
    return value or dispatch.today()


@router.get("/engineers/{engineer_id}/plan", response_model=PlanOut)
async def get_plan(engineer_id: IdPath, principal: PrincipalDep, services: ServicesDep,
                   session: SessionDep,
                   date: Annotated[Day | None, Query(
                       description="the site's day; default today")] = None) -> dict[str, Any]:
    """The engineer's day (staff; an engineer their own: 403 otherwise)."""
    return await dispatch.plan_dict(session, engineer_id, _day(date), principal.actor,
                                    _ctx(services))


@router.post("/engineers/{engineer_id}/plan", response_model=PlanOut)
async def post_plan(engineer_id: IdPath, principal: PrincipalDep, services: ServicesDep,
                    uow: UowDep,
                    date: Annotated[Day | None, Query(
                        description="the site's day; default today")] = None
                    ) -> dict[str, Any]:
    """Re-plan the engineer's day (OR-Tools) and store each stop's place and arrival."""
    ctx = _ctx(services)
    out = await dispatch.plan_dict(uow.session, engineer_id, _day(date), principal.actor, ctx,
                                   replanned=True)
    await _announce(uow, ctx)
    await uow.commit()
    return out


@router.get("/dispatch/board", response_model=BoardOut)
async def get_board(principal: Manager, services: ServicesDep, session: SessionDep,
                    date: Annotated[Day | None, Query(
                        description="the site's day; default today")] = None
                    ) -> dict[str, Any]:
    """Orders waiting for an engineer, and every engineer with duty, position and plan."""
    return await dispatch.board(session, _day(date), principal.actor, _ctx(services))
