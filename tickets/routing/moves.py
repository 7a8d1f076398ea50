"""Routing acting on existing tickets: flow moves, rules on update, giving tickets back to
the pool, and the dry run.

Separate from :mod:`.service` because these read tickets through :mod:`tickets.service`
(which itself calls the router on creation): this module sits above both, so neither
imports the other in a circle. Nothing here commits; history rows go into the caller's
transaction.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tickets import lifecycle
from tickets.db import utcnow
from tickets.errors import Conflict, Forbidden, Invalid
from tickets.models import Group, Order, Ticket, TicketEvent, User
from tickets.notify.events import Notify
from tickets.routing.conditions import ConditionError, compile_condition, fields_used
from tickets.routing.flow import FlowError, back, forward, move
from tickets.routing.models import RoutingRule
from tickets.routing.pauses import Release
from tickets.routing.rules import Outcome, Routing, Rule, compile_actions
from tickets.routing.schemas import DryRunIn, SampleTicket
from tickets.routing.service import Draft, LoadedRule, Routed, Router, load_rule, ticket_steps
from tickets.service import SYSTEM, Actor, get_ticket, get_writable_ticket, notify_changes
from tickets.sla.service import refresh_clock

_HAND_SET = ("group", "assignee", "priority", "tags")


async def draft_of(session: AsyncSession, ticket: Ticket, *,
                   locked: frozenset[str] = frozenset()) -> Draft:
    """The routing view of a stored ticket (keys for its group and assignee)."""
    group = assignee = product = None
    if ticket.group_id is not None:
        group = await session.scalar(select(Group.key).where(Group.id == ticket.group_id))
    if ticket.assignee_id is not None:
        assignee = await session.scalar(select(User.username).where(
            User.id == ticket.assignee_id))
    if ticket.order_id is not None:
        product = await session.scalar(select(Order.product_name).where(
            Order.id == ticket.order_id))
    return Draft(priority=ticket.priority, channel=ticket.channel, status=ticket.status,
                 type_key=ticket.type.key if ticket.type else None,
                 customer_id=ticket.customer_id, order_number=ticket.order_number,
                 product=product, tags=tuple(ticket.tags or ()), title=ticket.title,
                 description=ticket.description, call_id=ticket.call_id, group=group,
                 assignee=assignee, locked=locked)


def _add_events(session: AsyncSession, ticket_id: int, routed: Routed, at: datetime) -> None:
    for kind, data in routed.events():
        session.add(TicketEvent(ticket_id=ticket_id, actor_id=None, kind=kind, data=data, at=at))


async def apply_update_rules(session: AsyncSession, router: Router, ticket: Ticket,
                             patched: set[str]) -> Routed | None:
    """Run the rules whose trigger is ``updated`` on a ticket just changed by a patch of
    the fields ``patched`` (those stay as the person set them). Changes what the rules
    decided on ``ticket``, with history; assignment runs only if a rule moved the group."""
    if not await router.book.rules(session, "updated"):
        return None
    draft = await draft_of(session, ticket, locked=frozenset(patched) & set(_HAND_SET))
    routed = await router.route(session, draft, trigger="updated", assign=False)
    if not routed.outcome.fired:
        return None
    r = routed.outcome.routing
    now = utcnow()
    rematch = r.priority != ticket.priority or routed.flow_path is not None
    if r.priority != ticket.priority:  # the due times follow, as for a person's change
        ticket.priority = r.priority
    ticket.tags = sorted(set(r.tags))
    if routed.flow_path is not None:
        ticket.flow_path, ticket.flow_step = routed.flow_path, 0
    if r.assignee != draft.assignee and routed.assignee_id is not None:
        ticket.assignee_id = routed.assignee_id
    elif r.group != draft.group and routed.group_id is not None:
        # another group, nobody named: that group's method picks the person
        ticket.group_id = routed.group_id
        if "assignee" not in draft.locked:
            routed.assignee_id = ticket.assignee_id = None
            await router.assign(session, routed, draft, now)
            ticket.assignee_id = routed.assignee_id
    if routed.group_id is not None:
        ticket.group_id = routed.group_id
    ticket.status = lifecycle.status_after_assignment(ticket.status, ticket.assignee_id)
    ticket.updated_at = now
    _add_events(session, ticket.id, routed, now)
    await refresh_clock(session, ticket, now=now, rematch=rematch)
    return routed


async def move_on_flow(session: AsyncSession, router: Router, ticket_id: int, actor: Actor,
                       how: str, step: int | None = None, note: str | None = None,
                       notify: Notify | None = None) -> Ticket:
    """Move a ticket along its flow: ``forward``, ``back`` (``note`` required: the reason)
    or ``to`` step ``step`` (1-based). The new step's group gets it with nobody assigned,
    then its assignment method picks the person.

    Raises Forbidden (not staff), NotFound, Conflict (done ticket, no flow, an illegal
    move: past the end, back more than one, over a required step), Invalid (no reason to
    go back, a step or group that does not exist). ``notify``: told ``ticket_assigned``
    when the new group's method picked someone (same transaction)."""
    if not actor.is_staff:
        raise Forbidden("only staff can move tickets along a flow")
    ticket = await get_writable_ticket(session, ticket_id, actor)  # a merged one: 409
    if ticket.status in lifecycle.DONE_STATUSES:
        raise Conflict(f"a {ticket.status} ticket cannot move along its flow")
    steps = ticket_steps(ticket)
    if how == "back" and not (note and note.strip()):
        raise Invalid("note: say why the ticket goes back a step")
    try:
        if how == "forward":
            target = forward(steps, ticket.flow_step)
        elif how == "back":
            target = back(steps, ticket.flow_step)
        else:
            if step is None:
                raise Invalid("step: which step to move to (1-based)")
            target = move(steps, ticket.flow_step, step - 1)
    except FlowError as exc:
        raise Conflict(str(exc)) from None
    group = await session.scalar(select(Group).where(Group.key == steps[target].group))
    if group is None:
        raise Invalid(f"step {target + 1} names group {steps[target].group!r}, which does "
                      "not exist")
    now = utcnow()
    diff: dict[str, Any] = {"group_id": {"from": ticket.group_id, "to": group.id},
                            "assignee_id": {"from": ticket.assignee_id, "to": None},
                            "flow_step": {"from": ticket.flow_step, "to": target}}
    if ticket.flow_path is None:
        ticket.flow_path = [s.as_json() for s in steps]
    ticket.group_id, ticket.assignee_id, ticket.flow_step = group.id, None, target
    status = lifecycle.status_when_queued(ticket.status)
    if status != ticket.status:
        diff["status"] = {"from": ticket.status, "to": status}
        ticket.status = status
    kind = {"forward": "forwarded", "back": "returned"}.get(how, "flow_moved")
    session.add(TicketEvent(ticket_id=ticket.id, actor_id=actor.id, kind=kind, at=now,
                            data={"note": note, "group": group.key, **diff}))
    await _assign_in_group(session, router, ticket, group.id, now)
    ticket.updated_at = now
    # a new flow step may have its own policy; leaving pending_customer resumes the clock
    await refresh_clock(session, ticket, now=now, rematch=True, actor_id=actor.id)
    await session.flush()
    await _tell_assigned(session, notify, ticket, actor)
    return ticket


async def _tell_assigned(session: AsyncSession, notify: Notify | None, ticket: Ticket,
                         actor: Actor) -> None:
    if notify is not None and ticket.assignee_id is not None:
        await notify_changes(session, notify, ticket, actor,
                             {"assignee_id": {"from": None, "to": ticket.assignee_id}})


async def _assign_in_group(session: AsyncSession, router: Router, ticket: Ticket,
                           group_id: int, now: datetime,
                           exclude: frozenset[int] = frozenset()) -> None:
    """The group's method picks the person for ``ticket`` (no rules run), never one of
    ``exclude``; history says so."""
    draft = await draft_of(session, ticket)
    routed = Routed(_no_rules(draft), group_id=group_id)
    await router.assign(session, routed, draft, now, exclude=exclude)
    if routed.assignee_id is not None:
        ticket.assignee_id = routed.assignee_id
        ticket.status = lifecycle.status_after_assignment(ticket.status, ticket.assignee_id)
    _add_events(session, ticket.id, routed, now)


def _no_rules(draft: Draft) -> Outcome:
    """The outcome of no rules: routing as the draft has it (for an assignment alone)."""
    return Outcome(Routing(group=draft.group, priority=draft.priority, tags=draft.tags))


async def release_tickets(session: AsyncSession, router: Router, user_id: int,
                          reason: str, *,
                          statuses: Collection[str] = lifecycle.OPEN_STATUSES,
                          notify: Notify | None = None) -> list[Ticket]:
    """Give the tickets of ``user_id`` in ``statuses`` (default: every open one; a disabled
    user) back to their groups: each loses its assignee, says why in its history
    (``returned_to_pool`` with ``reason``), and is assigned again by its group's method,
    which never picks ``user_id`` again here. Returns the tickets changed, in id order.
    ``notify``: each new assignee is told ``ticket_assigned`` (same transaction)."""
    rows = (await session.scalars(select(Ticket).where(
        Ticket.assignee_id == user_id, Ticket.status.in_(list(statuses)))
        .order_by(Ticket.id).with_for_update(of=Ticket))).all()
    now = utcnow()
    for ticket in rows:
        ticket.assignee_id = None
        ticket.status = lifecycle.status_when_queued(ticket.status)
        session.add(TicketEvent(ticket_id=ticket.id, actor_id=None, kind="returned_to_pool",
                                at=now, data={"assignee_id": {"from": user_id, "to": None},
                                              "reason": reason}))
        if ticket.group_id is not None:
            await _assign_in_group(session, router, ticket, ticket.group_id, now,
                                   frozenset({user_id}))
        await refresh_clock(session, ticket, now=now)
        ticket.updated_at = now
    await session.flush()
    for ticket in rows:
        await _tell_assigned(session, notify, ticket, SYSTEM)
    return list(rows)


#: The tickets a long pause gives back: those nobody has started. ``in_progress`` and
#: ``pending_customer`` stay with the agent: work is under way (a call-back promised, a
#: customer answering them), and handing it to someone cold would cost more than the pause.
RELEASED_ON_PAUSE = ("new", "assigned")


async def release_paused(session: AsyncSession, router: Router,
                         release: Release, notify: Notify | None = None) -> list[Ticket]:
    """Give back the unstarted tickets (:data:`RELEASED_ON_PAUSE`) of the user whose phone
    is ``release.pause.extension``, each with ``release.why`` in its history; their groups
    assign them again, never to that user. No user has that extension: nothing (``[]``).
    ``notify``: each new assignee is told (:func:`release_tickets`)."""
    user_id = await session.scalar(select(User.id).where(
        User.extension == release.pause.extension))
    if user_id is None:
        return []
    return await release_tickets(session, router, user_id, release.why,
                                 statuses=RELEASED_ON_PAUSE, notify=notify)


async def dry_run(session: AsyncSession, router: Router, data: DryRunIn,
                  actor: Actor) -> dict[str, Any]:
    """Which rules would fire on a ticket or a sample, what they would change, and who
    assignment would pick; nothing is written. Raises Invalid (neither or both of
    ``ticket_id``/``sample``; a rule that does not compile), NotFound (ticket)."""
    if (data.ticket_id is None) == (data.sample is None):
        raise Invalid("give ticket_id or sample (one of them)")
    rows = list((await session.scalars(select(RoutingRule).where(
        RoutingRule.enabled.is_(True)))).all())
    loaded = [load_rule(r) for r in rows if r.id != data.rule_id]
    if data.rule is not None:
        try:
            candidate = Rule(data.rule_id or 0, data.rule.name,
                             compile_condition(data.rule.conditions),
                             compile_actions(data.rule.actions), stop=data.rule.stop,
                             enabled=True, position=_position(rows, data))
        except ConditionError as exc:
            raise Invalid(str(exc)) from None
        loaded.append(LoadedRule(candidate, frozenset(data.rule.triggers),
                                 frozenset(fields_used(data.rule.conditions))))
    loaded = [r for r in loaded if data.trigger in r.triggers]
    if data.ticket_id is not None:
        ticket = await get_ticket(session, data.ticket_id, actor)
        draft = await draft_of(session, ticket)
    else:
        assert data.sample is not None
        draft = _sample_draft(data.sample)
    routed = await router.route(session, draft, trigger=data.trigger, rules=loaded,
                                now=data.at, dry=True)
    r = routed.outcome.routing
    return {
        "fired": [{"rule_id": f.rule_id, "rule_name": f.rule_name, "stopped": f.stopped,
                   "changes": [{"field": c.field, "from": _plain(c.old), "to": _plain(c.new),
                                "skipped": c.skipped} for c in f.changes]}
                  for f in routed.outcome.fired],
        "result": {"group": r.group, "assignee": r.assignee, "priority": r.priority,
                   "tags": list(r.tags), "flow": r.flow, "notify": list(r.notify)},
        "assignment": None if routed.choice is None else {
            "assignee": routed.choice.username, "reason": routed.choice.reason},
    }


def _position(rows: list[RoutingRule], data: DryRunIn) -> int:
    if data.rule is not None and data.rule.position is not None:
        # before the rule now at that place (positions are 1-based, ties go by id)
        return data.rule.position
    return max((r.position for r in rows), default=0) + 1


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def _sample_draft(sample: SampleTicket) -> Draft:
    return Draft(priority=sample.priority, channel=sample.channel, status=sample.status,
                 type_key=sample.type, customer_id=sample.customer_id,
                 order_number=sample.order_number, product=sample.product,
                 tags=tuple(sample.tags), title=sample.title, description=sample.description,
                 transcript=sample.transcript, queue=sample.queue, group=sample.group,
                 assignee=sample.assignee)
