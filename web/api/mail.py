"""The email channel's log: what became of each received message (supervisors, admins).

Auto-replies, bounces and rejected mail make no ticket, so this is where they can be seen.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from tickets.mail.ingest import received
from tickets.mail.schemas import MailMessageOut, MailMessagePage, Outcome
from web.deps import IdQuery, Manager, OffsetQuery, SessionDep

router = APIRouter(prefix="/api/v1/mail", tags=["mail"])


@router.get("/messages", response_model=MailMessagePage)
async def list_messages(_: Manager, session: SessionDep, outcome: Outcome | None = None,
                        ticket_id: IdQuery = None,
                        limit: Annotated[int, Query(ge=1, le=200)] = 50,
                        offset: OffsetQuery = 0) -> dict[str, Any]:
    rows, total = await received(session, outcome=outcome, ticket_id=ticket_id, limit=limit,
                                 offset=offset)
    return {"items": [MailMessageOut.model_validate(r) for r in rows], "total": total,
            "limit": limit, "offset": offset}
