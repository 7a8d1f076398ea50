"""Merge and link: merge a duplicate into another ticket, child tickets of a parent incident
and the bulk actions on them (``tickets.relations``). Staff only.

Each handler changes the tickets through the service in the request's transaction and
queues one ``ticket_updated`` per changed ticket (the catalogue's builder, the same message
a PATCH sends), which the unit of work publishes after the commit.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from tickets import messages, relations, service
from tickets.bus import TOPIC_TICKETS
from tickets.models import Ticket
from tickets.schemas import BulkIn, BulkOut, MergeIn, MergeOut, TicketDetailOut, TicketOut
from web.deps import IdPath, Staff, UowDep

router = APIRouter(prefix="/api/v1/tickets", tags=["tickets"])


def _announce(uow: UowDep, *tickets: Ticket) -> dict[int, dict[str, Any]]:
    """Queue ``ticket_updated`` for each ticket (once each); their API shapes by id."""
    out: dict[int, dict[str, Any]] = {}
    for ticket in tickets:
        if ticket.id in out:
            continue
        shape = TicketOut.model_validate(service.ticket_dict(ticket)).model_dump(mode="json")
        uow.publish(TOPIC_TICKETS, messages.ticket_changed("ticket_updated", shape))
        out[ticket.id] = shape
    return out


async def _detail(uow: UowDep, ticket: Ticket, actor: service.Actor) -> dict[str, Any]:
    """The ticket with its parent, children and merged duplicates (TicketDetailOut)."""
    return {**service.ticket_dict(ticket), **await relations.relations(uow.session, ticket,
                                                                        actor)}


@router.post("/{ticket_id}/merge", response_model=MergeOut)
async def merge_ticket(ticket_id: IdPath, data: MergeIn, principal: Staff,
                       uow: UowDep) -> dict[str, Any]:
    """Merge this ticket (a duplicate) into ``into`` (an id or a number, ``T-000042``):
    its comments and attachments are copied there, its calls linked from there, both
    histories record it, and it is closed and read-only with ``merged_into`` set; its
    customer gets a public comment naming the ticket to follow. A target that was merged
    itself is followed to where it went (``followed``). 409: into itself, already merged, a
    cancelled ticket on either side, a parent incident with children, or another customer's
    ticket without ``"force": true``."""
    result = await relations.merge(uow.session, ticket_id, data.into, principal.actor,
                                   note=data.note, force=data.force)
    shapes = _announce(uow, result.ticket, result.into)
    await uow.commit()
    return {"ticket": shapes[result.ticket.id], "into": shapes[result.into.id],
            "carried": {"comments": result.comments, "attachments": result.attachments,
                        "calls": result.calls},
            "followed": result.followed,
            "notice_comment_id": result.notice.id if result.notice else None}


@router.post("/{ticket_id}/children/bulk", response_model=BulkOut)
async def bulk_children(ticket_id: IdPath, data: BulkIn, principal: Staff,
                        uow: UowDep) -> dict[str, Any]:
    """One action on every child of this parent incident it applies to: ``reply`` (a
    public comment on each open child and the parent), ``status`` (each open child moves
    to ``status`` if the lifecycle allows), ``close`` (each open or resolved child is
    resolved and closed). Children that cannot move are listed in ``skipped`` with the
    reason; each child's history names the parent."""
    result = await relations.bulk(uow.session, ticket_id, principal.actor, data.action,
                                  body=data.body, status=data.status, reason=data.reason)
    shapes = _announce(uow, result.parent, *result.applied)
    await uow.commit()
    return {"action": result.action, "parent": shapes[result.parent.id],
            "applied": [relations.ticket_ref(t) for t in result.applied],
            "skipped": [{**relations.ticket_ref(t), "reason": why}
                        for t, why in result.skipped]}


@router.post("/{ticket_id}/children/{child_id:int}", response_model=TicketDetailOut)
async def link_child(ticket_id: IdPath, child_id: IdPath, principal: Staff,
                     uow: UowDep) -> dict[str, Any]:
    """Make ``child_id`` a child of this parent incident (again: no change). One level:
    409 naming the ticket when the parent is a child, the child a parent, the child
    another parent's, or either merged. Answers the parent with its children."""
    parent, child = await relations.link_child(uow.session, ticket_id, child_id,
                                               principal.actor)
    if child is not None:
        _announce(uow, parent, child)
    answer = await _detail(uow, parent, principal.actor)
    await uow.commit()
    return answer


@router.delete("/{ticket_id}/children/{child_id:int}", response_model=TicketDetailOut)
async def unlink_child(ticket_id: IdPath, child_id: IdPath, principal: Staff,
                       uow: UowDep) -> dict[str, Any]:
    """Take ``child_id`` out of this parent incident (not a child: no change; another
    parent's child: 409). Answers the parent with its children."""
    parent, child = await relations.unlink_child(uow.session, ticket_id, child_id,
                                                 principal.actor)
    if child is not None:
        _announce(uow, parent, child)
    answer = await _detail(uow, parent, principal.actor)
    await uow.commit()
    return answer
