"""Tickets: create, read, list, change, history, comments, attachments, forward."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, File, Form, HTTPException, Query, Response, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse

from tickets import messages, relations, service
from tickets.bus import TOPIC_TICKETS
from tickets.mail.ingest import comments_by_mail
from tickets.models import Attachment, Comment, TicketEvent
from tickets.routing import moves
from tickets.routing.service import Routed
from tickets.schemas import (
    MAX_ID,
    AttachmentOut,
    AttachmentPatch,
    CommentIn,
    CommentOut,
    TicketDetailOut,
    TicketEventOut,
    TicketIn,
    TicketOut,
    TicketPage,
    TicketPatch,
)
from tickets.timeinput import Moment, MomentEnd
from web.deps import (
    IdPath,
    IdQuery,
    OffsetQuery,
    PrincipalDep,
    ServicesDep,
    SessionDep,
    Staff,
    UowDep,
)
from web.services import Services

router = APIRouter(prefix="/api/v1/tickets", tags=["tickets"])


async def _commit(uow: UowDep, kind: Literal["ticket_created", "ticket_updated"],
                  ticket: dict[str, Any], status_code: int = 200,
                  notices: list[Routed] | None = None,
                  reader: service.Actor | None = None) -> Response:
    """Commit, then tell the consoles that see the ticket (and the people routing rules
    said to notify); the answer: the ticket as JSON.

    The ticket is validated and serialised once, for the message and the answer alike
    (returning the dict made FastAPI validate and serialise it a second time). The bus
    carries the staff shape; a customer ``reader`` is answered :func:`service.reader_shape`."""
    out = TicketOut.model_validate(ticket)
    as_json = out.model_dump(mode="json")
    uow.publish(TOPIC_TICKETS, messages.ticket_changed(kind, as_json))
    for routed in notices or ():
        if routed.notify_user_ids:
            uow.publish(TOPIC_TICKETS, messages.ticket_notice(
                user_ids=routed.notify_user_ids, ticket=as_json, rules=[
                    f.rule_name for f in routed.outcome.fired
                    if any(c.field == "notify" and not c.skipped for c in f.changes)]))
    await uow.commit()
    if reader is not None and reader.role == "customer":
        out = TicketOut.model_validate(service.reader_shape(ticket, reader))
    return Response(out.model_dump_json(), status_code=status_code,
                    media_type="application/json")


@router.post("", status_code=201, response_model=TicketOut)
async def create_ticket(data: TicketIn, principal: PrincipalDep, services: ServicesDep,
                        uow: UowDep) -> Response:
    routed: list[Routed] = []
    ticket = await service.create_ticket(uow.session, data, principal.actor,
                                         services.settings.default_region, services.router,
                                         routed, notify=services.notify)
    response = await _commit(uow, "ticket_created", service.ticket_dict(ticket), 201,
                             notices=routed, reader=principal.actor)
    _link_live_call(services, data.call_id, ticket.id)
    return response


def _link_live_call(services: Services, call_id: str | None, ticket_id: int) -> None:
    """A ticket for a live call: the agents on it show it on the wallboard
    (``agent_stats.ticket_id``; only in the worker that runs the PBX bridges)."""
    if call_id and services.telephony is not None:
        services.telephony.link_ticket(call_id, ticket_id)


@router.get("", response_model=TicketPage)
async def list_tickets(
    principal: PrincipalDep, services: ServicesDep, session: SessionDep,
    status: Annotated[str | None, Query(max_length=200,
                                        description="comma-separated; 'open' = all open")] = None,
    customer_phone: Annotated[str | None, Query(max_length=40)] = None,
    customer_id: IdQuery = None,
    assignee: Annotated[str | None, Query(pattern=r"^(me|[1-9][0-9]{0,9})$",
                                          description="user id or 'me'")] = None,
    unassigned: Annotated[bool, Query(description="only tickets with no assignee")] = False,
    group_id: IdQuery = None,
    type: Annotated[str | None, Query(max_length=64)] = None,
    priority: Annotated[str | None, Query(pattern="^(urgent|high|normal|low)$")] = None,
    call_id: Annotated[str | None, Query(max_length=96)] = None,
    q: Annotated[str | None, Query(max_length=100)] = None,
    created_from: Moment | None = None,
    created_to: Annotated[MomentEnd | None, Query(
        description="exclusive; a date includes that whole day")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: OffsetQuery = 0,
) -> dict[str, Any]:
    assignee_id: int | None = None
    if assignee == "me":
        assignee_id = principal.id
    elif assignee:
        assignee_id = int(assignee)
        if assignee_id > MAX_ID:
            raise RequestValidationError([{"loc": ("query", "assignee"), "type": "less_than_equal",
                                           "msg": f"a user id is at most {MAX_ID}"}])
    flt = service.TicketFilter(
        status=[s.strip() for s in status.split(",") if s.strip()] if status else None,
        customer_id=customer_id, customer_phone=customer_phone, assignee_id=assignee_id,
        unassigned=unassigned, group_id=group_id, type=type, priority=priority,
        call_id=call_id, q=q,
        created_from=created_from, created_to=created_to)
    rows, total = await service.list_tickets(session, principal.actor, flt, limit=limit,
                                             offset=offset,
                                             region=services.settings.default_region)
    return {"items": [service.ticket_dict(t, principal.actor) for t in rows], "total": total,
            "limit": limit, "offset": offset}


@router.get("/{ticket_id}", response_model=TicketDetailOut)
async def get_ticket(ticket_id: IdPath, principal: PrincipalDep,
                     session: SessionDep) -> dict[str, Any]:
    """The ticket, with its parent incident, its children and the tickets merged into it
    (each only if the reader may see it); staff also read its PIN."""
    ticket = await service.get_ticket(session, ticket_id, principal.actor)
    return {**service.ticket_dict(ticket, principal.actor),
            **await relations.relations(session, ticket, principal.actor),
            "pin": ticket.pin if principal.actor.is_staff else None}


@router.patch("/{ticket_id}", response_model=TicketOut)
async def patch_ticket(ticket_id: IdPath, patch: TicketPatch, principal: PrincipalDep,
                       services: ServicesDep, uow: UowDep) -> Response:
    ticket = await service.update_ticket(uow.session, ticket_id, patch, principal.actor,
                                         notify=services.notify)
    routed = None
    if principal.actor.is_staff:  # the rules that run on updates (routing)
        routed = await moves.apply_update_rules(uow.session, services.router, ticket,
                                                set(patch.model_fields_set))
    return await _commit(uow, "ticket_updated", service.ticket_dict(ticket),
                         notices=[routed] if routed else None, reader=principal.actor)


@router.post("/{ticket_id}/forward", response_model=TicketOut)
async def forward_ticket(ticket_id: IdPath, principal: Staff, services: ServicesDep,
                         uow: UowDep,
                         note: Annotated[str | None, Query(max_length=500)] = None,
                         ) -> Response:
    """The next step of the ticket's flow (``POST …/flow`` also goes back or jumps)."""
    ticket = await moves.move_on_flow(uow.session, services.router, ticket_id,
                                      principal.actor, "forward", note=note,
                                      notify=services.notify)
    return await _commit(uow, "ticket_updated", service.ticket_dict(ticket))


@router.get("/{ticket_id}/history", response_model=list[TicketEventOut])
async def ticket_history(ticket_id: IdPath, principal: PrincipalDep,
                         session: SessionDep) -> list[TicketEvent] | list[dict[str, Any]]:
    """Staff: every event. Customers and engineers: no events of private comments,
    internal attachments or linked calls; a customer sees ``actor`` (you/staff/system)
    instead of staff ids, and only the public fields of each event."""
    return await service.history(session, ticket_id, principal.actor)


@router.get("/{ticket_id}/comments", response_model=list[CommentOut])
async def list_comments(ticket_id: IdPath, principal: PrincipalDep,
                        session: SessionDep) -> list[CommentOut]:
    """The comments the caller may see; for staff, ``email_from`` names the sender of those
    that came by email (an unverified sender's note included)."""
    found = await service.comments(session, ticket_id, principal.actor)
    by_mail = (await comments_by_mail(session, ticket_id)
               if service.sees_internal(principal.actor) else {})
    return [CommentOut.model_validate(c).model_copy(update={"email_from": by_mail.get(c.id)})
            for c in found]


@router.post("/{ticket_id}/comments", status_code=201, response_model=CommentOut)
async def add_comment(ticket_id: IdPath, data: CommentIn, principal: PrincipalDep,
                      services: ServicesDep, session: SessionDep) -> Comment:
    comment = await service.add_comment(session, ticket_id, data, principal.actor,
                                        notify=services.notify)
    await session.commit()
    return comment


@router.post("/{ticket_id}/calls", status_code=204)
async def link_call(ticket_id: IdPath, principal: Staff, session: SessionDep,
                    services: ServicesDep,
                    call_id: Annotated[str, Form(max_length=96)]) -> None:
    await service.link_call(session, ticket_id, call_id, principal.actor)
    await session.commit()
    _link_live_call(services, call_id, ticket_id)


@router.get("/{ticket_id}/attachments", response_model=list[AttachmentOut])
async def list_attachments(ticket_id: IdPath, principal: PrincipalDep,
                           session: SessionDep) -> list[Attachment]:
    return await service.attachments(session, ticket_id, principal.actor)


@router.post("/{ticket_id}/attachments", status_code=201, response_model=AttachmentOut)
async def upload_attachment(ticket_id: IdPath, principal: PrincipalDep, services: ServicesDep,
                            session: SessionDep,
                            file: Annotated[UploadFile, File()],
                            public: Annotated[bool, Form()] = False) -> Attachment:
    """Upload a file. Staff: internal unless ``public=true`` (form field); a customer's
    (or engineer's) upload is always public."""
    limit = services.settings.attachment_max_bytes
    content = await file.read(limit + 1)
    found = await service.add_attachment(
        session, ticket_id, principal.actor, filename=file.filename or "file",
        content_type=file.content_type or "application/octet-stream", content=content,
        store=services.attachment_store, max_bytes=limit,
        allowed_types=services.settings.attachment_types, public=public)
    await session.commit()
    return found


@router.patch("/{ticket_id}/attachments/{attachment_id}", response_model=AttachmentOut)
async def patch_attachment(ticket_id: IdPath, attachment_id: IdPath, data: AttachmentPatch,
                           principal: Staff, session: SessionDep) -> Attachment:
    """Staff publish an attachment to the customer (``{"public": true}``) or make it
    internal again; the change is a history event (``attachment_visibility``)."""
    found = await service.set_attachment_public(session, ticket_id, attachment_id,
                                                data.public, principal.actor)
    await session.commit()
    return found


@router.get("/{ticket_id}/attachments/{attachment_id}")
async def download_attachment(ticket_id: IdPath, attachment_id: IdPath, principal: PrincipalDep,
                              services: ServicesDep, session: SessionDep) -> FileResponse:
    found = await service.attachment(session, ticket_id, attachment_id, principal.actor)
    path = services.attachment_store / found.storage_key
    if not path.is_file():
        raise HTTPException(410, "the attachment's file is gone from storage")
    return FileResponse(path, media_type=found.content_type, filename=found.filename)
