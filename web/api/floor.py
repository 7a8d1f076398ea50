"""The supervisor's floor: act on agents (pause with a reason, take out of a queue), call
abandoned callers back, the wallboard's thresholds, tickets close to an SLA target.

Supervisors and admins only (403 for anyone else). Without a configured PBX the PBX actions
answer 409 like every call action (``web/api/calls.py``: this server has none); a PBX that
is configured but not connected answers 503 (``PbxUnavailable``). An extension that is
neither a Hotline user's nor listed by the PBX as a queue member is a 404, as is a call id
naming no abandoned call in the call log. Service logic is :mod:`tickets.floor.service`
(database) and :class:`telephony.service.Telephony` (PBX); this module only composes them.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from sqlalchemy import select

from telephony.ports import ActionFailed, ActionTimeout, PbxUnavailable
from tickets import messages
from tickets.bus import TOPIC_QUEUES
from tickets.db import utcnow
from tickets.errors import Conflict, NotFound
from tickets.floor import service as floor
from tickets.floor.schemas import (
    AbandonedOut,
    AtRiskOut,
    CallbackIn,
    DoneIn,
    LogoutIn,
    PauseIn,
    SettingsOut,
    ThresholdsPut,
)
from tickets.models import User
from tickets.timeinput import Moment, site_timezone
from web.api.calls import _extension, _telephony
from web.deps import Manager, ServicesDep, SessionDep, UowDep

router = APIRouter(prefix="/api/v1", tags=["floor"])

ExtensionPath = Annotated[str, Path(pattern=r"^[0-9]{2,10}$",
                                    description="the agent's phone extension")]
CallIdPath = Annotated[str, Path(min_length=3, max_length=96,
                                 description="the abandoned call's id (pbx:linkedid)")]


class CallbackOut(AbandonedOut):
    originate: dict[str, Any]


async def _agent_user(session: Any, extension: str) -> User | None:
    user: User | None = await session.scalar(
        select(User).where(User.extension == extension, User.is_active.is_(True),
                           User.role.in_(("agent", "supervisor", "admin"))))
    return user


def _member_pbx(telephony: Any, extension: str) -> str | None:
    """The PBX whose queues list the agent (the first one), else None (the default)."""
    for name in telephony.bridges:
        if telephony.memberships(extension, pbx=name):
            return str(name)
    return None


async def _known_agent(session: Any, telephony: Any, extension: str) -> User | None:
    """The agent's Hotline user (None if it has none but the PBX lists the extension as
    a queue member); NotFound when neither knows the extension."""
    user = await _agent_user(session, extension)
    if user is None and _member_pbx(telephony, extension) is None:
        raise NotFound(f"extension: no agent with extension {extension}")
    return user


@router.post("/agents/{extension}/pause", status_code=202)
async def pause_agent(extension: ExtensionPath, data: PauseIn, principal: Manager,
                      services: ServicesDep, session: SessionDep) -> dict[str, Any]:
    """Pause (``paused: true``, with an optional ``reason`` ≤ 64 characters) or unpause an
    agent in every queue, or in ``queue``: QueuePause with each interface the member
    really has. The agent's own consoles follow (an ``agent_state`` message). 404 unknown
    extension; 409 the PBX refused (e.g. not a member of ``queue``)."""
    telephony = _telephony(services)
    user = await _known_agent(session, telephony, extension)
    reason = (data.reason or None) if data.paused else None
    interfaces = await telephony.pause_agent(extension, data.paused, reason, queue=data.queue,
                                             pbx=_member_pbx(telephony, extension))
    state = "paused" if data.paused else "available"
    if user is not None:
        await services.bus.publish(TOPIC_QUEUES, messages.agent_state(
            extension=extension, user_id=user.id, state=state, reason=reason))
    return {"extension": extension, "paused": data.paused, "reason": reason,
            "queue": data.queue, "interfaces": interfaces, "by": principal.username}


@router.post("/agents/{extension}/logout", status_code=202)
async def log_out_agent(extension: ExtensionPath, data: LogoutIn, _: Manager,
                        services: ServicesDep, session: SessionDep) -> dict[str, Any]:
    """Take an agent out of ``queue`` (every queue the PBX lists it in when null):
    QueueRemove by the member's own interface. 404 unknown extension; 409 not a member
    of that queue (or of any)."""
    telephony = _telephony(services)
    await _known_agent(session, telephony, extension)
    removed = await telephony.log_out_agent(extension, data.queue,
                                            pbx=_member_pbx(telephony, extension))
    return {"extension": extension,
            "removed": [{"queue": q, "interface": i} for q, i in removed]}


def _with_site(settings: dict[str, Any], services: ServicesDep) -> dict[str, Any]:
    zone = site_timezone()
    return {**settings, "timezone": services.settings.timezone,
            "today": datetime.now(zone).date()}


def _site_midnight() -> datetime:
    zone = site_timezone()
    return datetime.combine(datetime.now(zone).date(), time(), tzinfo=zone)


@router.get("/abandoned", response_model=list[AbandonedOut])
async def list_abandoned(
    _: Manager, session: SessionDep,
    since: Annotated[Moment | None, Query(description="default: the site's midnight")] = None,
    status: Literal["open", "done", "all"] = "open",
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[dict[str, Any]]:
    """Abandoned inbound calls (the call log) since ``since``, newest first, with their
    call-back: status, attempts (who, when, from which phone, outcome), who marked it done;
    ``returned_at`` when the caller later got through anyway."""
    return await floor.list_abandoned(session, since or _site_midnight(), status, limit)


@router.post("/abandoned/{call_id}/callback", status_code=202, response_model=CallbackOut)
async def call_back(call_id: CallIdPath, data: CallbackIn, principal: Manager,
                    services: ServicesDep, uow: UowDep) -> dict[str, Any]:
    """Call the abandoned caller back: ring ``extension``'s phone (default: the caller's
    own; 409 when they have none, 404 for an extension no agent has), then the caller's
    number (Originate). The attempt is recorded either way (who, when, outcome); a PBX
    refusal then answers 409/503/504 as for any call action."""
    telephony = _telephony(services)
    call = await floor.abandoned_call(uow.session, call_id)
    if data.extension is not None:
        if await _agent_user(uow.session, data.extension) is None:
            raise NotFound(f"extension: no agent with extension {data.extension}")
        extension = data.extension
    else:
        extension = _extension(principal)
    if not call.caller_number:
        raise Conflict("the caller's number is unknown (withheld): nobody to call back")
    pbx = call.pbx if call.pbx in telephony.bridges else None
    now = utcnow()
    try:
        result: dict[str, Any] = await telephony.originate(extension, call.caller_number, pbx)
    except (ActionFailed, ActionTimeout, PbxUnavailable, ValueError) as exc:
        await floor.record_attempt(uow.session, call, by_id=principal.id, extension=extension,
                                   number=call.caller_number, outcome="failed",
                                   detail=str(exc), now=now)
        await uow.commit()
        raise
    await floor.record_attempt(uow.session, call, by_id=principal.id, extension=extension,
                               number=call.caller_number, outcome="requested", detail=None,
                               now=now)
    await uow.commit()
    return {**await floor.abandoned_one(uow.session, call_id), "originate": result}


@router.post("/abandoned/{call_id}/done", response_model=AbandonedOut)
async def callback_done(call_id: CallIdPath, data: DoneIn, principal: Manager,
                        uow: UowDep) -> dict[str, Any]:
    """The caller was reached (or needs nothing more): done, by whom, when, with an
    optional ``note``. 404 no such abandoned call; 409 done already."""
    call = await floor.abandoned_call(uow.session, call_id)
    await floor.mark_done(uow.session, call, by_id=principal.id, note=data.note, now=utcnow())
    await uow.commit()
    return await floor.abandoned_one(uow.session, call_id)


@router.get("/wallboard/settings", response_model=SettingsOut)
async def get_settings(_: Manager, session: SessionDep,
                       services: ServicesDep) -> dict[str, Any]:
    """The wallboard's thresholds in force, the defaults, the ``version`` to send back, and
    the site's time zone with today's date there."""
    return _with_site(await floor.get_settings(session), services)


@router.put("/wallboard/settings", response_model=SettingsOut)
async def put_settings(data: ThresholdsPut, principal: Manager, services: ServicesDep,
                       uow: UowDep) -> dict[str, Any]:
    """Change thresholds (any subset; the rest keep their value). 422 naming
    ``thresholds.<name>`` for an unknown name, a value out of range or an amber past its
    red; 409 for a stale ``version``."""
    result = await floor.put_settings(uow.session, data.thresholds, by_id=principal.id,
                                      version=data.version, now=utcnow())
    await uow.commit()
    return _with_site(result, services)


@router.get("/sla/at-risk", response_model=list[AtRiskOut])
async def tickets_at_risk(
    _: Manager, session: SessionDep,
    within_minutes: Annotated[int | None, Query(
        ge=1, le=10_080, description="default: the wallboard's sla_risk_minutes")] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> list[dict[str, Any]]:
    """Open tickets whose first response or resolution falls due within ``within_minutes``
    (overdue ones included), soonest first, with the target, due time and seconds left."""
    if within_minutes is None:
        within_minutes = (await floor.get_settings(session))["thresholds"].sla_risk_minutes
    return await floor.tickets_at_risk(session, utcnow(), timedelta(minutes=within_minutes),
                                       limit)
