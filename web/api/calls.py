"""Calls: the call log, live calls and queues from the AMI bridge, and call actions."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query
from pydantic import StringConstraints

from tickets import calls as call_service
from tickets import messages
from tickets import service as ticket_service
from tickets.bus import TOPIC_QUEUES, TOPIC_TICKETS
from tickets.errors import Invalid
from tickets.floor.schemas import PauseReason
from tickets.models import CallLog
from tickets.phones import InvalidPhoneNumber, normalize
from tickets.schemas import CallLogOut, DbId, Flag, In, TicketOut
from tickets.timeinput import Moment
from web.callaccess import check_call_access
from web.deps import IdQuery, Manager, OffsetQuery, ServicesDep, SessionDep, Staff, UowDep
from web.security import Principal

router = APIRouter(prefix="/api/v1", tags=["calls"])

Dialable = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40,
                                            pattern=r"^[0-9+()\-. *#]+$")]


class OriginateIn(In):
    to: Dialable
    #: Calling the customer back about this ticket: its history says so and, if it is the
    #: first, its first response is met (the SLA target stops).
    ticket_id: DbId | None = None


class TransferIn(In):
    extension: Annotated[str, StringConstraints(pattern=r"^[0-9A-Za-z_-]{1,32}$")]
    ticket_id: DbId | None = None
    attended: Flag = False


class AgentStateIn(In):
    state: Literal["available", "paused", "wrapup"]
    reason: PauseReason | None = None  # sent to the PBX: no control characters


class SpyIn(In):
    extension: Annotated[str, StringConstraints(pattern=r"^[0-9A-Za-z_-]{1,32}$")]
    mode: Literal["listen", "whisper", "barge"] = "listen"


def _telephony(services: ServicesDep) -> Any:
    if services.telephony is None:
        # Not a passing outage (503): this server is set up without one (HOTLINE_AMI_URL=off).
        raise HTTPException(409, "no PBX is configured (set HOTLINE_AMI_URL)")
    return services.telephony


def _own_call(services: ServicesDep, principal: Principal, call_id: str) -> Any:
    """The telephony service, once the call is known to be the principal's to act on.

    503 without a PBX; 404 for no such live call; 403 when it is not on the agent's
    extension (supervisors and admins may act on any call; ``web/callaccess.py``).
    """
    telephony = _telephony(services)
    check_call_access(telephony, principal.role, principal.extension, call_id)
    return telephony


def _extension(principal: Principal) -> str:
    if not principal.extension:
        raise HTTPException(409, "your user has no phone extension; ask an admin to set one")
    return principal.extension


@router.get("/calls", response_model=list[CallLogOut])
async def list_calls(
    _: Staff, services: ServicesDep, session: SessionDep,
    customer_phone: Annotated[str | None, Query(max_length=40)] = None,
    customer_id: IdQuery = None,
    call_id: Annotated[str | None, Query(max_length=96)] = None,
    agent_extension: Annotated[str | None, Query(max_length=32)] = None,
    queue: Annotated[str | None, Query(max_length=64)] = None,
    state: Annotated[str | None, Query(max_length=16)] = None,
    since: Moment | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: OffsetQuery = 0,
) -> list[CallLog]:
    phone = None
    if customer_phone:
        try:
            phone = normalize(customer_phone, services.settings.default_region)
        except InvalidPhoneNumber as exc:
            raise Invalid(str(exc)) from None
    flt = call_service.CallFilter(customer_phone=phone, customer_id=customer_id,
                                  call_id=call_id, agent_extension=agent_extension,
                                  queue=queue, state=state, since=since)
    return await call_service.list_calls(session, flt, limit, offset)


@router.get("/calls/live")
async def live_calls(_: Staff, services: ServicesDep) -> list[dict[str, Any]]:
    if services.telephony is None:
        return []
    result: list[dict[str, Any]] = services.telephony.live_calls()
    return result


@router.get("/queues")
async def queues(_: Staff, services: ServicesDep) -> list[dict[str, Any]]:
    if services.telephony is None:
        return []
    return [dict(q) for q in services.telephony.queues()]


@router.post("/calls/originate", status_code=202)
async def originate(data: OriginateIn, principal: Staff, services: ServicesDep,
                    uow: UowDep) -> dict[str, Any]:
    """Ring the agent's own phone, then the number (click-to-call). With ``ticket_id``
    (404 if not visible, 409 if merged, checked before ringing): a call-back on that ticket
    (history ``called_back``; the first one meets its first response)."""
    telephony = _telephony(services)
    if data.ticket_id is not None:
        ticket_service.ensure_writable(await ticket_service.get_ticket(
            uow.session, data.ticket_id, principal.actor))
    result: dict[str, Any] = await telephony.originate(_extension(principal), data.to)
    if data.ticket_id is not None:
        await ticket_service.called_back(uow.session, data.ticket_id, principal.actor,
                                         data.to)
        await uow.commit()
    return result


@router.post("/calls/{call_id}/hangup", status_code=202)
async def hangup(call_id: str, principal: Staff, services: ServicesDep) -> dict[str, Any]:
    """Hang the call up. 403 unless it is on the agent's own extension (supervisors and
    admins: any call); 404 for no such live call."""
    await _own_call(services, principal, call_id).hangup(call_id)
    return {"call_id": call_id, "hangup": "requested"}


@router.post("/calls/{call_id}/transfer", status_code=202)
async def transfer(call_id: str, data: TransferIn, principal: Staff, services: ServicesDep,
                   uow: UowDep) -> dict[str, Any]:
    """Transfer the call to a colleague; with a ticket, their console pops it.

    The ticket is linked to the call first, so even if the PBX refuses the transfer the
    link (useful history) stays; the pop is only sent once the transfer was accepted.
    403 unless the call is on the agent's own extension (supervisors and admins: any call);
    404 for no such live call.
    """
    telephony = _own_call(services, principal, call_id)
    ticket = None
    if data.ticket_id is not None:
        found = await ticket_service.get_ticket(uow.session, data.ticket_id, principal.actor)
        await ticket_service.link_call(uow.session, found.id, call_id, principal.actor)
        ticket = ticket_service.ticket_dict(found)
        await uow.commit()
    if data.attended:
        await telephony.attended_transfer(call_id, data.extension)
    else:
        await telephony.blind_transfer(call_id, data.extension)
    if ticket is not None:
        uow.publish(TOPIC_TICKETS, messages.ticket_transfer(
            call_id=call_id, to_extension=data.extension, from_user=principal.display_name,
            ticket=TicketOut.model_validate(ticket).model_dump(mode="json")))
        await uow.commit()  # nothing left to write: this publishes
    return {"call_id": call_id, "to_extension": data.extension, "attended": data.attended,
            "ticket_id": data.ticket_id}


@router.post("/agents/me/state", status_code=202)
async def agent_state(data: AgentStateIn, principal: Staff,
                      services: ServicesDep) -> dict[str, Any]:
    telephony = _telephony(services)
    paused = data.state != "available"
    reason = data.reason or (data.state if paused else None)
    # The interface the member really has in its queues (Local/…, SIP/…), not a guess.
    await telephony.pause_agent(_extension(principal), paused, reason)
    await services.bus.publish(TOPIC_QUEUES, messages.agent_state(
        extension=principal.extension, user_id=principal.id, state=data.state, reason=reason))
    return {"extension": principal.extension, "state": data.state, "reason": reason}


@router.post("/calls/{call_id}/spy", status_code=202)
async def spy(call_id: str, data: SpyIn, principal: Manager,
              services: ServicesDep) -> dict[str, Any]:
    """Supervisor listens to, whispers to, or barges into the agent's leg of *this* call.

    404: no such live call; 409: the call has no live leg of that agent.
    """
    result: dict[str, Any] = await _own_call(services, principal, call_id).spy_call(
        call_id, _extension(principal), data.extension, data.mode)
    return result
