"""Routing against the database: rules as stored, facts of a ticket, the choice of a person.

The decisions are the pure modules' (:mod:`.rules`, :mod:`.assignment`, :mod:`.flow`); this
module reads what they need, in as few statements as the decision allows, and writes what
they decided, with history, in the caller's transaction (it never commits).

* :class:`RuleBook` keeps the compiled rules per process: reloaded when older than ``ttl``
  seconds, and at once in the process that saved a change (another process sees a change
  within ``ttl``; creating a ticket does not pay a query for the rules).
* :class:`Router` is what ticket creation and updates call: ``route`` evaluates the rules
  on a :class:`Draft` (the values a ticket is about to get), then ``assign`` picks the
  person in the group the ticket lands in, by the group's method.
* Who is available comes from a :data:`Presence` port (queue name → extension → state, as
  the PBX bridge knows it; ``None`` where this process has no PBX: then every active member
  counts as available). Wired in ``web/wiring.py``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Integer, bindparam, case, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from tickets import lifecycle
from tickets.db import utcnow
from tickets.errors import Conflict, Invalid, NotFound
from tickets.models import CallLog, Customer, Group, Ticket, TicketType, User, group_members
from tickets.routing.assignment import WEIGHTS, Candidate, Choice, choose
from tickets.routing.conditions import ConditionError, Facts, compile_condition, fields_used
from tickets.routing.flow import FlowError, Step, parse_steps, steps_of_type
from tickets.routing.models import RoutingRule
from tickets.routing.rules import Action, Outcome, Routing, Rule, compile_actions, evaluate

TRIGGERS = ("created", "updated")
_GROUP = select(Group.id, Group.key, Group.assignment, Group.vip_to_senior, Group.queue)
#: changes when a rule is added, removed, saved (disabling one saves it) or moved
_RULES_STAMP = select(func.count(RoutingRule.id), func.max(RoutingRule.updated_at),
                      func.max(RoutingRule.id), func.sum(RoutingRule.position * RoutingRule.id))
#: Presence port: the members of an Asterisk queue by extension with their state
#: (``available``, ``paused``, ``in_call``, ``ringing``, ``unavailable``), or None when
#: this process does not know the queue.
Presence = Callable[[str], Mapping[str, str] | None]
_AWAY = frozenset({"paused", "unavailable"})


@dataclass(frozen=True)
class LoadedRule:
    rule: Rule
    triggers: frozenset[str]
    fields: frozenset[str]


@dataclass(frozen=True)
class GroupRow:
    """What routing needs of a group."""

    id: int
    key: str
    assignment: str
    vip_to_senior: bool
    queue: str | None


class RuleBook:
    """The compiled enabled rules and the groups' routing rows, cached per process (see the
    module docstring): a routed create reads neither from the database."""

    def __init__(self, ttl: float = 2.0) -> None:
        self.ttl = ttl
        self._groups: dict[str, GroupRow] = {}
        #: per trigger: the rules in order, and every fact field they test
        self._by_trigger: dict[str, tuple[tuple[LoadedRule, ...], frozenset[str]]] = {}
        self._stamp: tuple[Any, ...] | None = None  # the rules' count and latest change
        self._loaded_at = -1e9

    def invalidate(self) -> None:
        self._loaded_at = -1e9
        self._stamp = None

    async def _load(self, session: AsyncSession) -> None:
        if time.monotonic() - self._loaded_at <= self.ttl:
            return
        # the rules are compiled again only when they changed (another process saved one)
        stamp = tuple((await session.execute(_RULES_STAMP)).one())
        if stamp != self._stamp:
            rows = (await session.scalars(select(RoutingRule).where(
                RoutingRule.enabled.is_(True)).order_by(RoutingRule.position,
                                                        RoutingRule.id))).all()
            loaded = tuple(load_rule(r) for r in rows)
            self._by_trigger = {}
            for trigger in TRIGGERS:
                mine = tuple(r for r in loaded if trigger in r.triggers)
                self._by_trigger[trigger] = (
                    mine, frozenset().union(*(r.fields for r in mine)) if mine else frozenset())
            self._stamp = stamp
        self._groups = {g.key: GroupRow(*g) for g in (await session.execute(_GROUP)).all()}
        self._loaded_at = time.monotonic()

    async def rules(self, session: AsyncSession, trigger: str) -> tuple[LoadedRule, ...]:
        await self._load(session)
        return self._by_trigger.get(trigger, ((), frozenset()))[0]

    async def fields(self, session: AsyncSession, trigger: str) -> frozenset[str]:
        """Every fact field the rules of ``trigger`` test (what :meth:`Router.facts` reads)."""
        await self._load(session)
        return self._by_trigger.get(trigger, ((), frozenset()))[1]

    async def group(self, session: AsyncSession, key: str) -> GroupRow | None:
        """The group ``key`` (read from the database if it is newer than the cache)."""
        await self._load(session)
        found = self._groups.get(key)
        if found is None:
            row = (await session.execute(_GROUP.where(Group.key == key))).one_or_none()
            found = GroupRow(*row) if row is not None else None
        return found


def load_rule(row: RoutingRule) -> LoadedRule:
    """A stored rule compiled (it was checked when saved, so this does not fail)."""
    rule = Rule(row.id, row.name, compile_condition(row.conditions),
                compile_actions(row.actions), stop=row.stop, enabled=row.enabled,
                position=row.position)
    return LoadedRule(rule, frozenset(row.triggers), frozenset(fields_used(row.conditions)))


@dataclass
class Draft:
    """A ticket's routing-relevant values before they are written (creation) or as they
    are about to change (update). Keys, not ids, where rules speak in keys."""

    priority: str
    channel: str
    status: str = "new"
    type_key: str | None = None
    customer_id: int | None = None
    order_number: str | None = None
    product: str | None = None
    tags: tuple[str, ...] = ()
    title: str = ""
    description: str = ""
    transcript: str = ""
    call_id: str | None = None
    queue: str | None = None
    group: str | None = None
    assignee: str | None = None
    locked: frozenset[str] = frozenset()
    #: what the caller already knows (None: read when needed)
    required_skills: frozenset[str] | None = None
    customer_tier: str | None = None
    customer_address: str | None = None
    #: the customer's tier and address above are read (creation reads them with the type)
    customer_read: bool = False


@dataclass
class Routed:
    """What routing decided for a draft: the rules' outcome, the ids it resolved, the
    assignment (if one was tried), and the flow copy (if a rule chose one)."""

    outcome: Outcome
    group_id: int | None = None
    assignee_id: int | None = None
    choice: Choice | None = None
    flow_path: list[dict[str, Any]] | None = None
    notify_user_ids: list[int] = field(default_factory=list)
    #: the group row read while resolving (id, assignment, vip_to_senior, queue)
    group_row: GroupRow | None = None
    #: a round-robin turn the caller writes (``route(..., defer_turn=True)``): this user
    #: was given a ticket at ``now``; creation writes it in the ticket's INSERT
    turn_user_id: int | None = None

    def events(self) -> list[tuple[str, dict[str, Any]]]:
        """History rows (kind, data): one per rule that fired, one for the assignment."""
        out: list[tuple[str, dict[str, Any]]] = []
        for fired in self.outcome.fired:
            out.append(("rule_applied", {
                "rule": fired.rule_name, "rule_id": fired.rule_id, "stopped": fired.stopped,
                "changes": [{"field": c.field, "from": _plain(c.old), "to": _plain(c.new),
                             **({"skipped": c.skipped} if c.skipped else {})}
                            for c in fired.changes]}))
        if self.choice is not None:
            out.append(("auto_assigned" if self.choice.user_id else "assignment_waiting",
                        {"assignee": self.choice.username, "reason": self.choice.reason,
                         "group": self.outcome.routing.group}))
        return out


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


class Router:
    """Routing for ticket creation and updates; one per process (``web/wiring.py``)."""

    def __init__(self, book: RuleBook, timezone: str = "Asia/Shanghai",
                 presence: Presence | None = None) -> None:
        self.book = book
        self.zone = ZoneInfo(timezone)
        self.presence = presence

    async def route(self, session: AsyncSession, draft: Draft, *, trigger: str = "created",
                    assign: bool = True, now: datetime | None = None,
                    rules: Sequence[LoadedRule] | None = None, dry: bool = False,
                    defer_turn: bool = False) -> Routed:
        """Evaluate the rules of ``trigger`` on ``draft`` (``rules``: these instead of the
        saved ones, for a dry run); then, if the ticket lands in a group with nobody
        assigned (and nobody set by hand), pick the person. Reads only what the rules look
        at. ``dry``: write nothing (the round-robin turn is not taken). A target that has
        disappeared since the rule was saved resolves to nothing (the group's queue).
        ``defer_turn``: a round-robin turn is left in ``turn_user_id`` for the caller."""
        loaded = await self.book.rules(session, trigger) if rules is None else tuple(rules)
        used = await self.book.fields(session, trigger) if rules is None else None
        now = now or utcnow()
        facts = await self.facts(session, draft, loaded, now, used)
        start = Routing(group=draft.group, assignee=draft.assignee, priority=draft.priority,
                        tags=draft.tags, locked=draft.locked)
        outcome = evaluate([r.rule for r in loaded], facts, start)
        routed = Routed(outcome)
        await self._resolve(session, routed)
        if assign and routed.group_id is not None and routed.assignee_id is None \
                and "assignee" not in draft.locked:
            await self.assign(session, routed, draft, now, dry=dry, defer_turn=defer_turn)
        return routed

    async def facts(self, session: AsyncSession, draft: Draft,
                    loaded: Sequence[LoadedRule], now: datetime,
                    used: frozenset[str] | None = None) -> Facts:
        """What the rules see of ``draft``: the customer and the call's queue are read only
        when some rule tests them (``used``: the fields ``loaded`` test, if known)."""
        if used is None:
            used = frozenset().union(*(r.fields for r in loaded)) if loaded else frozenset()
        tier, address = draft.customer_tier, draft.customer_address
        if draft.customer_id is not None and not draft.customer_read \
                and used & {"customer.tier", "customer.address"}:
            conn = await session.connection()
            row = (await conn.execute(_CUSTOMER, {"customer_id": draft.customer_id})
                   ).one_or_none()
            if row is not None:
                tier, address = row
                draft.customer_tier = tier  # assignment's VIP check needs it too
        queue = draft.queue
        if queue is None and draft.call_id and "queue" in used:  # the call log knows it
            queue = await session.scalar(select(CallLog.queue).where(
                CallLog.call_id == draft.call_id))
        return Facts(now=now.astimezone(self.zone), type=draft.type_key,
                     priority=draft.priority, channel=draft.channel, status=draft.status,
                     customer_tier=tier, customer_address=address or "",
                     product=draft.product, order_number=draft.order_number,
                     tags=frozenset(draft.tags), title=draft.title,
                     description=draft.description, transcript=draft.transcript,
                     queue=queue, group=draft.group, assignee=draft.assignee)

    async def _resolve(self, session: AsyncSession, routed: Routed) -> None:
        """Keys the rules chose → ids (one statement each, only for what is set)."""
        r = routed.outcome.routing
        if r.group is not None:
            routed.group_row = await self.book.group(session, r.group)
            routed.group_id = routed.group_row.id if routed.group_row is not None else None
        if r.assignee is not None:
            routed.assignee_id = await session.scalar(select(User.id).where(
                User.username == r.assignee, User.is_active.is_(True),
                User.role.in_(("agent", "supervisor", "admin", "engineer"))))
        if r.flow is not None:
            row = (await session.execute(select(TicketType.flow, TicketType.required_steps)
                                         .where(TicketType.key == r.flow))).one_or_none()
            if row is not None and row.flow:
                steps = steps_of_type(row.flow, row.required_steps or [])
                routed.flow_path = [s.as_json() for s in steps]
                rule_set_group = any(c.field == "group" and c.skipped is None
                                     for f in routed.outcome.fired for c in f.changes)
                if "group" not in r.locked and not rule_set_group:
                    routed.group_id = await session.scalar(
                        select(Group.id).where(Group.key == steps[0].group))
        if r.notify:
            names = [n for n in r.notify if not n.startswith("group:")]
            groups = [n[6:] for n in r.notify if n.startswith("group:")]
            ids: set[int] = set()
            if names:
                ids |= set((await session.scalars(select(User.id).where(
                    User.username.in_(names), User.is_active.is_(True)))).all())
            if groups:
                ids |= set((await session.scalars(
                    select(group_members.c.user_id)
                    .join(Group, Group.id == group_members.c.group_id)
                    .where(Group.key.in_(groups)))).all())
            routed.notify_user_ids = sorted(ids)

    async def assign(self, session: AsyncSession, routed: Routed, draft: Draft,
                     now: datetime, *, dry: bool = False, defer_turn: bool = False,
                     exclude: frozenset[int] = frozenset()) -> None:
        """Pick the person in ``routed``'s group by the group's method (see
        :mod:`.assignment`) and mark them as just given a ticket (round robin). The group's
        row is locked first for round robin, so two tickets routed at once take turns
        (least-loaded needs no lock: it counts the open tickets, and evens out by itself).
        ``exclude``: user ids that cannot take it whatever presence says (the agent whose
        tickets are being released: their group may have no queue to say they are away)."""
        group = routed.group_row
        if group is None or group.id != routed.group_id:
            group = GroupRow(*(await session.execute(_GROUP.where(
                Group.id == routed.group_id))).one())
        if group.assignment == "manual":
            return
        if group.assignment == "round_robin" and not dry:
            await (await session.connection()).execute(_LOCK_GROUP, {"group_id": group.id})
        members = await candidates(session, group.id, self._away(group.queue))
        if exclude:
            members = [replace(m, available=False) if m.user_id in exclude else m
                       for m in members]
        skills = draft.required_skills
        if skills is None:
            skills = frozenset()
            if draft.type_key:
                skills = frozenset(await session.scalar(select(
                    TicketType.required_skills).where(TicketType.key == draft.type_key)) or [])
        vip = False
        if group.vip_to_senior and draft.customer_id is not None:
            if draft.customer_tier is None and not draft.customer_read:
                draft.customer_tier = await session.scalar(select(Customer.tier).where(
                    Customer.id == draft.customer_id))
            vip = draft.customer_tier == "vip"
        routed.choice = choose(group.assignment, members, required_skills=skills, vip=vip,
                               vip_to_senior=group.vip_to_senior)
        if routed.choice.user_id is not None:
            routed.assignee_id = routed.choice.user_id
            if not dry and group.assignment == "round_robin":
                # the turn; least-loaded needs none (the new ticket is the load), and writing
                # it made concurrent creates queue on the chosen agent's row lock
                if defer_turn:
                    routed.turn_user_id = routed.choice.user_id
                else:
                    await (await session.connection()).execute(
                        TAKE_TURN, {"user_id": routed.choice.user_id, "at": now})

    def _away(self, queue: str | None) -> Callable[[str | None], bool] | None:
        """Whether an extension cannot take work now, from the group's Asterisk queue; None
        when nothing is known (no queue, no PBX in this process, queue not seen)."""
        if not queue or self.presence is None:
            return None
        states = self.presence(queue)
        if states is None:
            return None
        return lambda ext: ext is None or states.get(ext, "unavailable") in _AWAY


def _members_statement() -> Any:
    """Built once (a bind parameter for the group): building and cache-keying this
    statement per call cost more CPU than PostgreSQL's work on it."""
    group_id = bindparam("group_id", type_=Integer)
    weight = case(*((Ticket.priority == p, w) for p, w in WEIGHTS.items()),
                  else_=WEIGHTS["normal"])
    load = (select(Ticket.assignee_id.label("uid"), func.count().label("n"),
                   func.sum(weight).label("load"))
            .where(Ticket.status.in_(lifecycle.OPEN_STATUSES), Ticket.assignee_id.in_(
                select(group_members.c.user_id).where(group_members.c.group_id == group_id)))
            .group_by(Ticket.assignee_id).subquery())
    users = User.__table__
    return (select(users.c.id, users.c.username, users.c.extension, users.c.is_active,
                   users.c.role, users.c.skills, users.c.seniority, users.c.max_open_tickets,
                   users.c.last_assigned_at, func.coalesce(load.c.n, 0),
                   func.coalesce(load.c.load, 0))
            .join(group_members, group_members.c.user_id == users.c.id)
            .outerjoin(load, load.c.uid == users.c.id)
            .where(group_members.c.group_id == group_id))


_MEMBERS = _members_statement()
# Core statements built once: building ORM statements per routed create cost more CPU than
# the database's work on them.
_LOCK_GROUP = select(Group.__table__.c.id).where(
    Group.__table__.c.id == bindparam("group_id", type_=Integer)).with_for_update()
_USERS = User.metadata.tables["users"]
#: the round-robin turn (``tickets.service`` writes it in the ticket's INSERT on PostgreSQL)
TAKE_TURN = update(_USERS).where(_USERS.c.id == bindparam("user_id", type_=Integer)).values(
    last_assigned_at=bindparam("at"))
_CUSTOMER = select(Customer.__table__.c.tier, Customer.__table__.c.address).where(
    Customer.__table__.c.id == bindparam("customer_id", type_=Integer))


async def candidates(session: AsyncSession, group_id: int,
                     away: Callable[[str | None], bool] | None = None) -> list[Candidate]:
    """The group's members as assignment sees them: one statement (members with their
    open tickets' count and priority-weighted load), on the session's connection (Core)."""
    conn = await session.connection()
    rows = (await conn.execute(_MEMBERS, {"group_id": group_id})).all()
    out = []
    for (uid, name, ext, active, role, skills, seniority, cap, last, n, weighted) in rows:
        out.append(Candidate(
            uid, name, active=bool(active) and role != "customer",
            available=away is None or not away(ext), load=int(weighted), open_count=int(n),
            cap=cap, skills=frozenset(skills or ()), seniority=seniority or 0,
            last_assigned=int(last.timestamp() * 1_000_000) if last else 0))
    return out


# --- rules: save, check, dry run -------------------------------------------------------------

async def check_rule(session: AsyncSession, conditions: Any, actions: Any,
                     triggers: Sequence[str]) -> tuple[Rule, tuple[Action, ...]]:
    """Compile and check a rule as submitted; :class:`Invalid` naming the part that is
    wrong (an unknown field, operator, action, or a target that does not exist)."""
    try:
        condition = compile_condition(conditions)
        typed = compile_actions(actions)
    except ConditionError as exc:
        raise Invalid(str(exc)) from None
    for t in triggers:
        if t not in TRIGGERS:
            raise Invalid(f"triggers: unknown trigger {t!r} (use one of: {', '.join(TRIGGERS)})")
    for i, action in enumerate(typed):
        await _check_target(session, action, f"actions[{i}].value")
    return Rule(0, "", condition, typed), typed


async def _check_target(session: AsyncSession, action: Action, at: str) -> None:
    value = action.value
    if action.kind == "set_group":
        if await session.scalar(select(Group.id).where(Group.key == value)) is None:
            raise Invalid(f"{at}: unknown group {value!r}")
    elif action.kind == "set_assignee":
        role = await session.scalar(select(User.role).where(User.username == value))
        if role is None or role == "customer":
            raise Invalid(f"{at}: unknown staff user {value!r}")
    elif action.kind == "set_flow":
        flow = await session.scalar(select(TicketType.flow).where(TicketType.key == value))
        if not flow:
            raise Invalid(f"{at}: ticket type {value!r} does not exist or has no flow")
    elif action.kind == "notify":
        assert isinstance(value, tuple)
        for name in value:
            if name.startswith("group:"):
                if await session.scalar(select(Group.id).where(Group.key == name[6:])) is None:
                    raise Invalid(f"{at}: unknown group {name[6:]!r}")
            elif await session.scalar(select(User.role).where(
                    User.username == name)) in (None, "customer"):
                raise Invalid(f"{at}: unknown staff user {name!r}")


async def groups_in_use(session: AsyncSession, key: str) -> list[str]:
    """What refers to group ``key`` (rules and type flows), for a 409 on deleting it."""
    users = []
    for rule in (await session.scalars(select(RoutingRule))).all():
        for action in rule.actions:
            value = action.get("value")
            if (action.get("kind") == "set_group" and value == key) or (
                    action.get("kind") == "notify" and f"group:{key}" in (value or [])):
                users.append(f"rule {rule.name!r}")
                break
    for type_key, flow in (await session.execute(select(TicketType.key, TicketType.flow))).all():
        if key in (flow or []):
            users.append(f"the flow of ticket type {type_key!r}")
    return users


# --- flows ------------------------------------------------------------------------------------

def ticket_steps(ticket: Ticket) -> tuple[Step, ...]:
    """The flow the ticket walks: its own copy, or its type's (tickets from before copies)."""
    try:
        if ticket.flow_path is not None:
            return parse_steps(ticket.flow_path)
        if ticket.type is not None:
            return steps_of_type(ticket.type.flow or [], ticket.type.required_steps or [])
    except FlowError as exc:
        raise Conflict(f"the ticket's flow cannot be read: {exc}") from None
    return ()


async def reorder(session: AsyncSession, ids: Sequence[int]) -> list[RoutingRule]:
    """Put the rules in the order of ``ids`` (every rule exactly once)."""
    rules = {r.id: r for r in (await session.scalars(select(RoutingRule))).all()}
    if sorted(ids) != sorted(rules):
        missing = sorted(set(rules) - set(ids))
        unknown = sorted(set(ids) - set(rules))
        raise Invalid(f"order: must list every rule once (missing {missing}, unknown "
                      f"{unknown})" if missing or unknown else "order: a rule is listed twice")
    for position, rid in enumerate(ids, start=1):
        rules[rid].position = position
    await session.flush()
    return [rules[i] for i in ids]


async def get_rule(session: AsyncSession, rule_id: int) -> RoutingRule:
    rule = await session.get(RoutingRule, rule_id)
    if rule is None:
        raise NotFound(f"no routing rule {rule_id}")
    return rule


def routing_of(routed: Routed) -> dict[str, Any]:
    """The ticket columns routing decided (for the insert or the update)."""
    r = routed.outcome.routing
    out: dict[str, Any] = {"priority": r.priority, "tags": sorted(set(r.tags)),
                           "group_id": routed.group_id, "assignee_id": routed.assignee_id}
    if routed.flow_path is not None:
        out["flow_path"], out["flow_step"] = routed.flow_path, 0
    return out

