"""Load the demo data of ``web/demo_data.py``: users, departments, ticket types, products, KB,
customers with orders, tickets with their history, and a portal login for one customer.

Idempotent and cheap to re-run (``scripts/run.sh`` runs it before every start): reference
rows are added when missing, checked with one query per table; customers, orders and tickets
are loaded once, on a database that has no customers yet.

Tickets go through ``tickets.service`` like an agent's clicks (create, forward, assign,
status moves, comments), so numbers, SLA targets and history are the real ones; afterwards
their times are moved back onto the ticket's demo timeline (opened ``age_h`` hours ago, worked
over the following hours), so lists, ages and SLA badges look like a hotline's last weeks.
A ticket taken on the phone comes with the call it was opened on in the call log (PBX name
``demo``), and some callers with an earlier abandoned attempt, so pops show a call history.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import cast
from zoneinfo import ZoneInfo

from sqlalchemy import Table, bindparam, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from dispatch import service as dispatch
from dispatch.equipment import EquipmentIn, create_equipment
from dispatch.maintenance import ScheduleIn, create_schedule
from dispatch.models import EngineerProfile, Equipment, MaintenanceSchedule, WorkOrder
from dispatch.schemas import WorkOrderIn
from tickets import service, sla
from tickets.customers import create_customer, create_order, customer_id_by_e164
from tickets.db import Base
from tickets.models import (
    CallLog,
    Customer,
    Group,
    KbArticle,
    Order,
    Product,
    Ticket,
    TicketType,
    User,
)
from tickets.phones import normalize
from tickets.routing.moves import move_on_flow
from tickets.routing.service import Router, RuleBook
from tickets.schemas import (
    DEMO_SEED,
    CommentIn,
    CustomerIn,
    GroupIn,
    OrderIn,
    PhoneIn,
    Status,
    TicketIn,
    TicketPatch,
    UserIn,
)
from tickets.sla.service import refresh_clock
from tickets.users import create_group, create_user, hash_password
from web.demo_data import (
    CUSTOMERS,
    DEMO_CALLER_NUMBERS,
    ENGINEERS,
    EQUIPMENT,
    GROUPS,
    KB,
    MAINTENANCE_SCHEDULES,
    ORDERS,
    PORTAL_USER,
    PRODUCTS,
    TICKET_TYPES,
    TICKETS,
    UNKNOWN_CALLER,
    USERS,
    WORK_ORDERS,
    DemoOrder,
    DemoTicket,
    serial_number,
)

__all__ = ["DEMO_CALLER_NUMBERS", "UNKNOWN_CALLER", "load_demo"]

PASSWORD = "demo"
#: The demo hotline's site: tickets older than a day were opened in its working hours.
_SITE_TZ = ZoneInfo("Asia/Shanghai")
_EVENTS, _COMMENTS, _TICKETS, _TICKET_CALLS = (
    Base.metadata.tables[name] for name in ("ticket_events", "comments", "tickets",
                                            "ticket_calls"))
#: The PBX name of the demo's past calls (the call log before the demo PBX's live ones).
_DEMO_PBX = "demo"

# Status moves after creation (and any assignment) that lead to each final status.
_PATHS: dict[str, tuple[str, ...]] = {
    "new": (), "assigned": (), "in_progress": ("in_progress",),
    "pending_customer": ("in_progress", "pending_customer"),
    "resolved": ("in_progress", "resolved"), "closed": ("in_progress", "resolved", "closed"),
    "cancelled": ("cancelled",),
}


async def load_demo(session: AsyncSession, region: str = "CN") -> dict[str, int]:
    """Create what is missing; returns how many rows of each kind were added.

    Raises ``tickets.errors.DomainError`` if the demo data contradicts the domain rules (a
    bug in ``web/demo_data.py``, which the tests load on every backend)."""
    added = {"users": 0, "groups": 0, "types": 0, "customers": 0, "orders": 0, "tickets": 0,
             "kb": 0, "products": 0, "engineers": 0, "work_orders": 0}
    names = [u[0] for u in USERS] + [PORTAL_USER[0]] + [e[0] for e in ENGINEERS]
    users = {u.username: u for u in (await session.scalars(
        select(User).where(User.username.in_(names)))).all()}
    # argon2 costs ~0.1 s a hash: the users made now share one hash of the demo password.
    password_hash = await asyncio.to_thread(hash_password, PASSWORD) \
        if set(names) - set(users) else None
    await _users(session, users, password_hash, added)
    await _reference_rows(session, users, added)
    if not await session.scalar(select(func.count()).select_from(Customer)):
        await _customers_orders_tickets(session, users, region, added)
    if PORTAL_USER[0] not in users:
        await _portal_user(session, region, password_hash, added)
    await _dispatch(session, users, password_hash, added)
    await _equipment(session, added)
    return added


async def _equipment(session: AsyncSession, added: dict[str, int]) -> None:
    """Field dispatch's demo: equipment installed from some demo orders and a maintenance
    schedule; each added once (by serial number, by schedule name)."""
    added.setdefault("equipment", 0)
    added.setdefault("schedules", 0)
    by_number = {o.number: o for o in ORDERS}
    for spec in EQUIPMENT:
        demo_order = by_number[spec.order]
        serial = serial_number(demo_order)
        if await session.scalar(select(Equipment.id).where(Equipment.serial_number == serial)):
            continue
        order = await session.scalar(select(Order).where(Order.number == spec.order))
        if order is None:  # the customers were loaded by an older demo without this order
            continue
        product = await session.scalar(select(Product.id).where(
            Product.sku == demo_order.sku))
        await create_equipment(session, EquipmentIn(
            customer_id=order.customer_id, serial_number=serial, model=demo_order.sku,
            product_id=product, install_date=order.purchased_at.astimezone(_SITE_TZ).date(),
            warranty_end=(order.warranty_end.astimezone(_SITE_TZ).date() if order.warranty_end
                          else None),
            address=spec.address, region=spec.region, lat=spec.lat, lon=spec.lon,
            usage=spec.usage))
        added["equipment"] += 1
    for name, model, months, lead, skills, minutes in MAINTENANCE_SCHEDULES:
        if await session.scalar(select(MaintenanceSchedule.id).where(
                MaintenanceSchedule.name == name)):
            continue
        await create_schedule(session, ScheduleIn(
            name=name, model=model, every_months=months, lead_days=lead,
            required_skills=skills, duration_min=minutes))
        added["schedules"] += 1


def _demo_user(**fields: object) -> UserIn:
    """A demo login with the well-known password ``demo``: the one place the password
    policy is waived (validation context ``DEMO_SEED``), for the demo's users only."""
    return UserIn.model_validate({**fields, "password": PASSWORD}, context={DEMO_SEED: True})


async def _users(session: AsyncSession, users: dict[str, User], password_hash: str | None,
                 added: dict[str, int]) -> None:
    """Create the missing staff users into ``users`` (username → user)."""
    for username, role, display, ext in USERS:
        if username not in users:
            users[username] = await create_user(session, _demo_user(
                username=username, role=role, display_name=display, extension=ext),
                password_hash=password_hash)
            added["users"] += 1


async def _reference_rows(session: AsyncSession, users: dict[str, User],
                          added: dict[str, int]) -> None:
    groups = set((await session.scalars(select(Group.key))).all())
    for key, name, name_zh, skills, queue, members in GROUPS:
        if key not in groups:
            await create_group(session, GroupIn(
                key=key, name=name, name_zh=name_zh, skills=skills, queue=queue,
                member_ids=[users[m].id for m in members]))
            added["groups"] += 1
    types = set((await session.scalars(select(TicketType.key))).all())
    for spec in TICKET_TYPES:
        if spec["key"] not in types:
            session.add(TicketType(**spec))
            added["types"] += 1
    skus = set((await session.scalars(select(Product.sku))).all())
    for sku, (name, months, _prefix) in PRODUCTS.items():
        if sku not in skus:
            session.add(Product(sku=sku, name=name, warranty_months=months))
            added["products"] += 1
    titles = set((await session.scalars(select(KbArticle.title))).all())
    for title, body, kb_lang, type_key in KB:
        if title not in titles:
            session.add(KbArticle(title=title, body=body, language=kb_lang, type_key=type_key,
                                  tags=[type_key] if type_key else ["warranty"]))
            added["kb"] += 1
    await session.flush()


def _product_line(order: DemoOrder) -> str:
    """The order's product as agents see it: the model and the unit's serial number(s)."""
    more = f" (+{order.quantity - 1})" if order.quantity > 1 else ""
    return f"{PRODUCTS[order.sku][0]} · SN {serial_number(order)}{more}"


async def _customers_orders_tickets(session: AsyncSession, users: dict[str, User],
                                    region: str, added: dict[str, int]) -> None:
    now = datetime.now(UTC)
    ids: dict[str, int] = {}
    for c in CUSTOMERS:
        customer = await create_customer(session, CustomerIn(
            name=c.name, phones=[PhoneIn(number=n, label=label) for n, label in c.phones],
            company=c.company, tier=c.tier, language=c.language, email=c.email,
            address=c.address, notes=c.notes), region)
        ids[c.key] = customer.id
        added["customers"] += 1
    for o in ORDERS:
        bought = now - timedelta(days=o.days, hours=o.serial % 9)
        await create_order(session, OrderIn(
            number=o.number, customer_id=ids[o.customer], product_name=_product_line(o),
            product_sku=o.sku, quantity=o.quantity, amount=o.amount * o.quantity,
            purchased_at=bought, status=o.status,
            warranty_end=_add_months(bought, PRODUCTS[o.sku][1])))
        added["orders"] += 1
    timeline = _Timeline(now, users, region)
    opened = sorted(((_opened(now, spec, i), i) for i, spec in enumerate(TICKETS)))
    for at, index in opened:  # oldest first: ticket numbers follow time
        spec = TICKETS[index]
        number = normalize(next(c for c in CUSTOMERS if c.key == spec.customer).phones[0][0],
                           region)
        await timeline.load(session, spec, ids[spec.customer], number, at)
        added["tickets"] += 1
    await timeline.date_rows(session)


async def _portal_user(session: AsyncSession, region: str, password_hash: str | None,
                       added: dict[str, int]) -> None:
    """The customer login of /portal, linked to its customer (found by the phone number, so
    it also attaches to customers an earlier demo run loaded)."""
    username, display, key = PORTAL_USER
    spec = next(c for c in CUSTOMERS if c.key == key)
    customer_id = await customer_id_by_e164(session, normalize(spec.phones[0][0], region))
    if customer_id is None:
        return  # an older demo database without this customer: nobody to log in as
    await create_user(session, _demo_user(username=username, role="customer",
                                          display_name=display, customer_id=customer_id),
                      password_hash=password_hash)
    added["users"] += 1


@dataclass
class _Dating:
    """When one ticket's rows happened on its demo timeline."""

    ticket_id: int
    opened: datetime
    priority: str
    events: list[datetime]  # one per history row after "created", in order
    comments: list[datetime]
    moved: dict[str, datetime]  # status → when it was reached


@dataclass
class _Timeline:
    """Plays demo tickets through the service like an agent's clicks, then dates their rows
    on each ticket's own timeline, in three statements for all tickets (a statement per
    step made the load several times slower)."""

    now: datetime
    users: dict[str, User]
    region: str
    dated: list[_Dating] = field(default_factory=list)

    def actor(self, username: str) -> service.Actor:
        user = self.users[username]
        return service.Actor(id=user.id, role=user.role)

    async def load(self, session: AsyncSession, spec: DemoTicket, customer_id: int,
                   caller: str, opened: datetime) -> None:
        agent = self.actor(spec.agent)
        call_id = self._call(session, spec, customer_id, caller, opened) \
            if spec.channel == "phone" else None
        fields = dict(spec.fields)
        if spec.visit_day is not None:
            fields["visit_date"] = (self.now + timedelta(days=spec.visit_day)).date().isoformat()
        ticket = await service.create_ticket(session, TicketIn(
            title=spec.title, description=spec.description, type=spec.type,
            priority=spec.priority, channel=spec.channel,
            customer_id=customer_id, order_number=spec.order, fields=fields,
            tags=list(spec.tags), call_id=call_id), agent, self.region)
        steps = [*(["forward"] if spec.forward else []),
                 *(["assign"] if spec.assignee else []), *_PATHS[spec.status]]
        # Comments come while the ticket is worked: before the moves that finish it.
        finishing = {"resolved", "closed", "cancelled"}
        cut = next((i for i, step in enumerate(steps) if step in finishing), len(steps))
        actions: list[str | tuple[str, bool]] = [*steps[:cut], *spec.comments, *steps[cut:]]
        times = _spread(opened, self.now, len(actions))
        dating = _Dating(ticket.id, opened, ticket.priority, [], [], {})
        status = ticket.status
        for action, at in zip(actions, times, strict=True):
            if isinstance(action, tuple):
                await service.add_comment(session, ticket.id, CommentIn(
                    body=action[0], public=action[1]), self.actor(spec.assignee or spec.agent))
                dating.comments.append(at)
                dating.events.append(at)
                continue
            before, status = status, (await self._step(session, spec, ticket.id, action,
                                                       agent)).status
            # Assigning a new ticket also moves it to "assigned": two history rows.
            dating.events += [at] * (2 if action == "assign" and before == "new" else 1)
            dating.moved[action] = at
        self.dated.append(dating)

    def _call(self, session: AsyncSession, spec: DemoTicket, customer_id: int, caller: str,
              opened: datetime) -> str:
        """The call the ticket was opened on (answered by the agent, ended just before), and
        for every third one an earlier attempt the caller gave up on: the pop's history."""
        n = len(self.dated)
        wait, talk = 6.0 + (n * 7) % 45, 95.0 + (n * 53) % 420
        started = opened - timedelta(seconds=wait + talk)
        agent = self.users[spec.agent]
        call_id = f"{_DEMO_PBX}:{int(started.timestamp())}.{n}"
        session.add(CallLog(
            call_id=call_id, pbx=_DEMO_PBX, linkedid=call_id.split(":", 1)[1],
            caller_number=caller, customer_id=customer_id, queue="support",
            agent_extension=agent.extension, agent_id=agent.id, state="ended",
            started_at=started, answered_at=started + timedelta(seconds=wait),
            ended_at=opened, wait_s=wait, talk_s=talk, hangup_cause="16 Normal Clearing"))
        if n % 3 == 0:
            earlier = started - timedelta(minutes=25 + n % 50)
            session.add(CallLog(
                call_id=f"{_DEMO_PBX}:{int(earlier.timestamp())}.{n}a", pbx=_DEMO_PBX,
                linkedid=f"{int(earlier.timestamp())}.{n}a", caller_number=caller,
                customer_id=customer_id, queue="support", state="abandoned",
                started_at=earlier, ended_at=earlier + timedelta(seconds=70), wait_s=70.0,
                hangup_cause="16 Normal Clearing"))
        return call_id

    async def _step(self, session: AsyncSession, spec: DemoTicket, ticket_id: int, step: str,
                    agent: service.Actor) -> Ticket:
        if step == "forward":
            return await move_on_flow(session, Router(RuleBook()), ticket_id, agent, "forward")
        if step == "assign":
            return await service.update_ticket(session, ticket_id,
                                               TicketPatch(assignee=spec.assignee), agent)
        worker = self.actor(spec.assignee) if spec.assignee else agent  # whoever owns it now
        return await service.update_ticket(session, ticket_id,
                                           TicketPatch(status=cast(Status, step)), worker)

    async def date_rows(self, session: AsyncSession) -> None:
        """Move the tickets, their history rows and comments onto their timelines.

        Raises ``RuntimeError`` if the service wrote other history than one row per step."""
        by_id = {d.ticket_id: d for d in self.dated}
        events = await _ids_by_ticket(session, _EVENTS, by_id)
        comments = await _ids_by_ticket(session, _COMMENTS, by_id)
        event_rows, comment_rows, ticket_rows = [], [], []
        for d in self.dated:
            when = [d.opened, *d.events]
            if len(events[d.ticket_id]) != len(when) or \
                    len(comments[d.ticket_id]) != len(d.comments):
                raise RuntimeError(f"demo ticket {d.ticket_id}: history does not match its steps")
            event_rows += [{"b_id": i, "b_at": at}
                           for i, at in zip(events[d.ticket_id], when, strict=True)]
            comment_rows += [{"b_id": i, "b_at": at}
                             for i, at in zip(comments[d.ticket_id], d.comments, strict=True)]
            first, due = sla.due_times(d.priority, d.opened)
            ticket_rows.append({
                "b_id": d.ticket_id, "b_created": d.opened, "b_updated": when[-1],
                "b_first_due": first, "b_due": due,
                "b_responded": d.events[0] if d.events else None,
                "b_resolved": d.moved.get("resolved"), "b_closed": d.moved.get("closed")})
        await _update_many(session, _EVENTS, {"at": "b_at"}, event_rows)
        await _update_many(session, _COMMENTS, {"created_at": "b_at"}, comment_rows)
        await session.execute(update(_TICKET_CALLS).where(
            _TICKET_CALLS.c.ticket_id == bindparam("b_id")).values(
            linked_at=bindparam("b_at", type_=_TICKET_CALLS.c.linked_at.type)),
            [{"b_id": d.ticket_id, "b_at": d.opened} for d in self.dated])
        await _update_many(session, _TICKETS, {
            "created_at": "b_created", "updated_at": "b_updated",
            "first_response_due_at": "b_first_due", "due_at": "b_due",
            "first_responded_at": "b_responded", "resolved_at": "b_resolved",
            "closed_at": "b_closed"}, ticket_rows)
        # the SLA clock of the backdated tickets: their policy's due times from their real
        # opening, and when the sweep must next look at them (the overdue ones: at once)
        for ticket in (await session.scalars(
                select(Ticket).where(Ticket.id.in_([d.ticket_id for d in self.dated]))
                .execution_options(populate_existing=True))).all():
            await refresh_clock(session, ticket, rematch=True)
        await session.flush()


async def _ids_by_ticket(session: AsyncSession, table: Table,
                         tickets: dict[int, _Dating]) -> dict[int, list[int]]:
    """Row ids of ``table`` per ticket, in insertion order."""
    out: dict[int, list[int]] = {t: [] for t in tickets}
    rows = await session.execute(select(table.c.id, table.c.ticket_id)
                                 .where(table.c.ticket_id.in_(list(tickets)))
                                 .order_by(table.c.id))
    for row_id, ticket_id in rows:
        out[ticket_id].append(row_id)
    return out


async def _update_many(session: AsyncSession, table: Table, columns: dict[str, str],
                       rows: list[dict[str, object]]) -> None:
    """One executemany UPDATE by id: ``columns`` maps a column to its parameter name."""
    if not rows:
        return
    stmt = update(table).where(table.c.id == bindparam("b_id")).values(
        {col: bindparam(param, type_=table.c[col].type) for col, param in columns.items()})
    await session.execute(stmt, rows)


def _spread(opened: datetime, now: datetime, n: int) -> list[datetime]:
    """``n`` moments after ``opened``: the first after a few minutes (the agent picks it up),
    the last within 60 % of the ticket's age and at most two days in. The age is the real
    one (``now - opened``), not the spec's ``age_h``: moving an older ticket into the
    hotline's day (:func:`_opened`) can make it younger."""
    if n == 0:
        return []
    age_h = (now - opened).total_seconds() / 3600
    first = timedelta(minutes=min(12.0, age_h * 60 * 0.1))
    last = timedelta(hours=max(min(age_h * 0.6, 48.0), first.total_seconds() / 3600))
    step = (last - first) / max(n - 1, 1)
    return [opened + first + step * i for i in range(n)]


def _opened(now: datetime, spec: DemoTicket, index: int) -> datetime:
    """When the ticket was opened: ``age_h`` ago; older than a day, moved into the hotline's
    day (08:30–19:30 Shanghai time) at a time that differs from ticket to ticket."""
    at = now - timedelta(hours=spec.age_h, minutes=(index * 17) % 43)
    if spec.age_h < 24:
        return at
    local = at.astimezone(_SITE_TZ)
    minutes = 8 * 60 + 30 + (index * 97) % (11 * 60)
    return local.replace(hour=minutes // 60, minute=minutes % 60).astimezone(UTC)


def _add_months(day: datetime, months: int) -> datetime:
    """``day`` plus calendar months (the 31st becomes the month's last day)."""
    month0 = day.month - 1 + months
    year, month = day.year + month0 // 12, month0 % 12 + 1
    last = (datetime(year + month // 12, month % 12 + 1, 1, tzinfo=day.tzinfo)
            - timedelta(days=1)).day
    return day.replace(year=year, month=month, day=min(day.day, last))


async def _dispatch(session: AsyncSession, users: dict[str, User], password_hash: str | None,
                    added: dict[str, int]) -> None:
    """Field dispatch: the engineers (``eric`` and the other demo engineers, password
    ``demo``) with their profiles, and — once, on a database without work orders — the
    demo day's orders (today in the site's zone) on open repair tickets: eric's on his own
    tickets (his day planned), the rest waiting on the board."""
    missing = [e for e in ENGINEERS if e[0] not in users]
    if missing:
        password_hash = password_hash or await asyncio.to_thread(hash_password, PASSWORD)
        for username, display, *_ in missing:
            users[username] = await create_user(session, _demo_user(
                username=username, role="engineer", display_name=display),
                password_hash=password_hash)
            added["users"] += 1
    profiles = set((await session.scalars(select(EngineerProfile.user_id))).all())
    for username, _display, region, (lat, lon), skills in ENGINEERS:
        user = users[username]
        if user.id in profiles:
            continue
        user.skills = list(dict.fromkeys([*(user.skills or []), *skills]))
        session.add(EngineerProfile(user_id=user.id, region=region, base_lat=lat, base_lon=lon,
                                    work_start_min=540, work_end_min=1080,
                                    work_days=[1, 2, 3, 4, 5, 6, 7], daily_capacity=6,
                                    on_duty=True))
        added["engineers"] += 1
    await session.flush()
    if await session.scalar(select(func.count()).select_from(WorkOrder)):
        return
    eric = users["eric"].id
    open_repairs = (await session.scalars(select(Ticket).join(
        TicketType, TicketType.id == Ticket.type_id).where(
        TicketType.key == "repair", Ticket.merged_into_id.is_(None),
        Ticket.status.in_(["new", "assigned", "in_progress", "pending_customer"]))
        .order_by(Ticket.id))).all()
    mine = [t for t in open_repairs if t.assignee_id == eric]
    others = [t for t in open_repairs if t.assignee_id != eric]
    day = datetime.now(_SITE_TZ).date()
    actor = service.Actor(id=users["alice"].id, role="agent")
    ctx = dispatch.Ctx(plan_time_limit_s=0.2)
    touched: list[Ticket] = []
    for engineer, start, end, (lat, lon), region, address, priority, parts in WORK_ORDERS:
        pool = mine if engineer == "eric" else others
        if not pool:
            continue
        ticket = pool.pop(0)
        window = [datetime.combine(day, datetime.strptime(t, "%H:%M").time(), _SITE_TZ)
                  for t in (start, end)]
        order = await dispatch.create(session, ticket.id, WorkOrderIn.model_validate({
            "lat": lat, "lon": lon, "region": region, "address": address,
            "priority": priority,
            "window_start": window[0].isoformat(), "window_end": window[1].isoformat(),
            "required_skills": ["field"], "duration_min": 60, "parts_planned": parts}),
            actor, ctx)
        if engineer is not None:
            await dispatch.assign(session, order.id, actor, ctx, engineer_id=users[engineer].id)
        added["work_orders"] += 1
        touched.append(ticket)
    await dispatch.replan(session, eric, day, ctx)
    await session.flush()
    for ticket in touched:  # the ticket changed now (its history ends with the orders)
        ticket.updated_at = datetime.now(UTC)
