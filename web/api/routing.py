"""Routing rules (admins edit, supervisors read and try them) and flow moves of a ticket."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from sqlalchemy import select

from tickets import messages
from tickets import service as tickets
from tickets.bus import TOPIC_TICKETS
from tickets.db import utcnow
from tickets.errors import Conflict
from tickets.routing import moves
from tickets.routing import service as routing
from tickets.routing.models import RoutingRule
from tickets.routing.schemas import (
    DryRunIn,
    DryRunOut,
    FlowMoveIn,
    RuleIn,
    RuleOrderIn,
    RuleOut,
    RulePatch,
)
from tickets.schemas import TicketOut
from web.deps import Admin, IdPath, Manager, ServicesDep, SessionDep, Staff, UowDep

router = APIRouter(prefix="/api/v1", tags=["routing"])


@router.get("/routing/rules", response_model=list[RuleOut])
async def list_rules(_: Manager, session: SessionDep) -> list[RoutingRule]:
    """Every rule (enabled or not) in the order they run."""
    return list((await session.scalars(select(RoutingRule).order_by(
        RoutingRule.position, RoutingRule.id))).all())


@router.post("/routing/rules", status_code=201, response_model=RuleOut)
async def create_rule(data: RuleIn, principal: Admin, services: ServicesDep,
                      uow: UowDep) -> RoutingRule:
    """A new rule; 422 naming the part of ``conditions``/``actions`` that is wrong, 409 a
    name that exists."""
    session = uow.session
    await routing.check_rule(session, data.conditions, data.actions, data.triggers)
    if await session.scalar(select(RoutingRule.id).where(RoutingRule.name == data.name)):
        raise Conflict(f"a rule named {data.name!r} exists")
    rules = list((await session.scalars(select(RoutingRule).order_by(
        RoutingRule.position, RoutingRule.id))).all())
    now = utcnow()
    rule = RoutingRule(name=data.name, enabled=data.enabled, stop=data.stop,
                       triggers=list(dict.fromkeys(data.triggers)), conditions=data.conditions,
                       actions=data.actions, position=0, version=1,
                       created_by_id=principal.id, created_at=now, updated_at=now)
    session.add(rule)
    await session.flush()
    at = len(rules) if data.position is None else min(data.position - 1, len(rules))
    rules.insert(max(at, 0), rule)
    await routing.reorder(session, [r.id for r in rules])
    await uow.commit()
    services.router.book.invalidate()
    return rule


@router.get("/routing/rules/{rule_id}", response_model=RuleOut)
async def get_rule(rule_id: IdPath, _: Manager, session: SessionDep) -> RoutingRule:
    return await routing.get_rule(session, rule_id)


@router.patch("/routing/rules/{rule_id}", response_model=RuleOut)
async def patch_rule(rule_id: IdPath, data: RulePatch, _: Admin, services: ServicesDep,
                     uow: UowDep) -> RoutingRule:
    """Change a rule; ``version`` (optional) refuses a stale edit with a 409."""
    session = uow.session
    rule = await routing.get_rule(session, rule_id)
    if data.version is not None and data.version != rule.version:
        raise Conflict(f"rule changed since version {data.version} (now {rule.version}); "
                       "reload and retry")
    changes = data.model_dump(exclude_unset=True, exclude={"version"})
    changes = {k: v for k, v in changes.items() if v is not None}
    await routing.check_rule(session, changes.get("conditions", rule.conditions),
                             changes.get("actions", rule.actions),
                             changes.get("triggers", rule.triggers))
    if "name" in changes and changes["name"] != rule.name and await session.scalar(
            select(RoutingRule.id).where(RoutingRule.name == changes["name"])):
        raise Conflict(f"a rule named {changes['name']!r} exists")
    for key, value in changes.items():
        setattr(rule, key, value)
    rule.version += 1
    rule.updated_at = utcnow()
    await uow.commit()
    services.router.book.invalidate()
    return rule


@router.delete("/routing/rules/{rule_id}", status_code=204)
async def delete_rule(rule_id: IdPath, _: Admin, services: ServicesDep,
                      uow: UowDep) -> Response:
    rule = await routing.get_rule(uow.session, rule_id)
    await uow.session.delete(rule)
    await uow.commit()
    services.router.book.invalidate()
    return Response(status_code=204)


@router.put("/routing/rules-order", response_model=list[RuleOut])
async def order_rules(data: RuleOrderIn, _: Admin, services: ServicesDep,
                      uow: UowDep) -> list[RoutingRule]:
    """Put every rule in the order of ``ids`` (422 unless each rule is listed once)."""
    rules = await routing.reorder(uow.session, data.ids)
    await uow.commit()
    services.router.book.invalidate()
    return rules


@router.post("/routing/dry-run", response_model=DryRunOut)
async def dry_run(data: DryRunIn, principal: Manager, services: ServicesDep,
                  session: SessionDep) -> dict[str, Any]:
    """Which rules would fire on a ticket or a sample (with ``rule``, unsaved, among them),
    what they would change and who assignment would pick. Writes nothing."""
    result = await moves.dry_run(session, services.router, data, principal.actor)
    await session.rollback()
    return result


@router.post("/tickets/{ticket_id}/flow", response_model=TicketOut)
async def move_on_flow(ticket_id: IdPath, data: FlowMoveIn, principal: Staff,
                       services: ServicesDep, uow: UowDep) -> Response:
    """Move a ticket along its flow: forward, back (with a reason) or to a later step; the
    step's group's assignment method picks the person. 409 for a move the flow forbids."""
    ticket = await moves.move_on_flow(uow.session, services.router, ticket_id,
                                      principal.actor, data.move, data.step, data.note,
                                      notify=services.notify)
    out = TicketOut.model_validate(tickets.ticket_dict(ticket))
    uow.publish(TOPIC_TICKETS, messages.ticket_changed("ticket_updated",
                                                       out.model_dump(mode="json")))
    await uow.commit()
    return Response(out.model_dump_json(), media_type="application/json")
