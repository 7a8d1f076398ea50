"""The ``Notify`` implementation: an event becomes outbox rows in the caller's transaction.

:class:`Outbox` resolves the recipients (:mod:`tickets.notify.policy`), their language and
channels, renders each message (:mod:`tickets.notify.render`) and writes one row per
(recipient, channel) with ``INSERT … ON CONFLICT (key) DO NOTHING``: a second enqueue of the
same event writes nothing. It never commits; the caller's commit makes the messages real,
its rollback drops them with the change that caused them.

Ticket creation is the hot path, so the staff side is read from a :class:`Directory` — the
staff's addresses, languages, group members, mutes and the webhook subscriptions, loaded in
four queries at most every ``ttl_s`` seconds (and at once in this process after a change
through the API, :meth:`Directory.invalidate`; other processes see it within ``ttl_s``).
The ticket's facts come with the event (``data["ticket"]``) from the hooks in
``tickets.service``, so an event costs one INSERT and no SELECT unless the customer is told
(their address and phones are read then: one query).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import phonenumbers
from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from tickets import messages
from tickets.db import Base, utcnow
from tickets.mail.threading import subject_tag
from tickets.models import Customer, CustomerPhone, Ticket, User, group_members
from tickets.notify import policy
from tickets.notify.events import NotificationEvent
from tickets.notify.models import NotificationPref, WebhookSubscription
from tickets.notify.policy import TicketFacts
from tickets.notify.render import Rendered, language, render

STAFF_ROLES = frozenset({"agent", "supervisor", "admin", "engineer"})
_OUTBOX = Base.metadata.tables["outbox_messages"]
#: The outbox INSERT per dialect, built once; a key already there is skipped.
_INSERT = {
    "postgresql": postgresql.insert(_OUTBOX).on_conflict_do_nothing(index_elements=["key"]),
    "sqlite": sqlite.insert(_OUTBOX).on_conflict_do_nothing(index_elements=["key"]),
}


@dataclass(frozen=True)
class StaffInfo:
    id: int
    name: str
    email: str | None
    locale: str


@dataclass(frozen=True)
class Hook:
    id: int
    kinds: frozenset[str]


@dataclass
class Snapshot:
    """The staff side of recipient resolution, as of ``loaded_at`` (monotonic seconds)."""

    users: dict[int, StaffInfo] = field(default_factory=dict)
    members: dict[int, tuple[int, ...]] = field(default_factory=dict)
    prefs: dict[int, dict[tuple[str, str], bool]] = field(default_factory=dict)
    hooks: tuple[Hook, ...] = ()
    loaded_at: float = -1e18


class Directory:
    """A process-wide cache of :class:`Snapshot`, reloaded when older than ``ttl_s``."""

    def __init__(self, ttl_s: float = 30.0, monotonic: Callable[[], float] = time.monotonic
                 ) -> None:
        self.ttl_s = ttl_s
        self.monotonic = monotonic
        self._snap = Snapshot()
        self._lock = asyncio.Lock()

    def invalidate(self) -> None:
        """Reload at the next use (after a change to users, groups, mutes or webhooks)."""
        self._snap = Snapshot()

    async def get(self, session: AsyncSession) -> Snapshot:
        if self.monotonic() - self._snap.loaded_at < self.ttl_s:
            return self._snap
        async with self._lock:
            if self.monotonic() - self._snap.loaded_at >= self.ttl_s:
                self._snap = await self._load(session)
        return self._snap

    async def _load(self, session: AsyncSession) -> Snapshot:
        snap = Snapshot(loaded_at=self.monotonic())
        conn = await session.connection()
        users = await conn.execute(select(User.id, User.username, User.display_name, User.email,
                                          User.locale, User.role)
                                   .where(User.is_active.is_(True)))
        for uid, username, display, email, locale, role in users:
            if role in STAFF_ROLES:
                snap.users[uid] = StaffInfo(uid, display or username, email or None, locale)
        members: dict[int, list[int]] = {}
        for gid, uid in await conn.execute(select(group_members.c.group_id,
                                                  group_members.c.user_id)):
            if uid in snap.users:
                members.setdefault(gid, []).append(uid)
        snap.members = {g: tuple(sorted(u)) for g, u in members.items()}
        for uid, kind, channel, enabled in await conn.execute(
                select(NotificationPref.user_id, NotificationPref.kind, NotificationPref.channel,
                       NotificationPref.enabled)):
            snap.prefs.setdefault(uid, {})[(kind, channel)] = bool(enabled)
        snap.hooks = tuple(Hook(hid, frozenset(kinds or ())) for hid, kinds in
                           await conn.execute(select(WebhookSubscription.id,
                                                     WebhookSubscription.kinds)
                                              .where(WebhookSubscription.active.is_(True))))
        return snap


def ticket_facts(data: dict[str, Any]) -> TicketFacts | None:
    """``data["ticket"]`` (as :func:`facts_of` writes it) as :class:`TicketFacts`."""
    t = data.get("ticket")
    if not isinstance(t, dict) or "id" not in t:
        return None
    return TicketFacts(int(t["id"]), str(t.get("number") or f"T-{int(t['id']):06d}"),
                       str(t.get("title") or ""), str(t.get("status") or ""),
                       str(t.get("priority") or ""), t.get("assignee_id"), t.get("group_id"),
                       t.get("customer_id"))


def facts_of(ticket: Ticket) -> dict[str, Any]:
    """What a hook puts in ``data["ticket"]`` so the outbox needs no SELECT of the ticket."""
    return {"id": ticket.id, "number": f"T-{ticket.id:06d}", "title": ticket.title,
            "status": ticket.status, "priority": ticket.priority,
            "assignee_id": ticket.assignee_id, "group_id": ticket.group_id,
            "customer_id": ticket.customer_id}


async def _load_facts(session: AsyncSession, ticket_id: int) -> TicketFacts | None:
    t = Ticket.__table__.c
    row = (await (await session.connection()).execute(
        select(t.id, t.title, t.status, t.priority, t.assignee_id, t.group_id, t.customer_id)
        .where(t.id == ticket_id))).first()
    if row is None:
        return None
    return TicketFacts(row.id, f"T-{row.id:06d}", row.title, row.status, row.priority,
                       row.assignee_id, row.group_id, row.customer_id)


def is_mobile(e164: str) -> bool:
    """Whether an E.164 number can take an SMS (mobile, or fixed-line-or-mobile)."""
    try:
        kind = phonenumbers.number_type(phonenumbers.parse(e164, None))
    except phonenumbers.NumberParseException:
        return False
    return kind in (phonenumbers.PhoneNumberType.MOBILE,
                    phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE)


class Outbox:
    """``Notify``: ``await outbox(session, event)`` writes the event's messages.

    ``channels``: the channels configured in this installation (``email`` only with an
    SMTP host, ``sms`` only with a gateway URL; ``ws`` and ``webhook`` always). ``clock``
    stamps rows (they are due at once)."""

    def __init__(self, *, channels: Iterable[str] = ("email", "sms", "ws", "webhook"),
                 directory: Directory | None = None,
                 clock: Callable[[], datetime] = utcnow) -> None:
        self.channels = frozenset(channels)
        self.directory = directory or Directory()
        self.clock = clock

    async def __call__(self, session: AsyncSession, event: NotificationEvent) -> None:
        rows = await self.messages(session, event)
        if not rows:
            return
        conn = await session.connection()
        insert = _INSERT[conn.dialect.name]
        # One statement either way: a plain execute for one row (asyncpg's executemany
        # path cost more CPU than the rest of the enqueue), multi-VALUES for several.
        if len(rows) == 1:
            await conn.execute(insert, rows[0])
        else:
            await conn.execute(insert.values(rows))

    async def messages(self, session: AsyncSession,
                       event: NotificationEvent) -> list[dict[str, Any]]:
        """The rows ``event`` makes (not written): staff, customer, then webhooks."""
        facts = ticket_facts(event.data)
        if facts is None and event.ticket_id is not None:
            facts = await _load_facts(session, event.ticket_id)
        snap = await self.directory.get(session)
        now = self.clock()
        rows: list[dict[str, Any]] = []
        for uid in policy.staff_audience(event, facts,
                                         lambda g: snap.members.get(g, ())):
            info = snap.users.get(uid)
            if info is None:
                continue
            chans = [c for c in policy.staff_channels(event.kind, has_email=bool(info.email),
                                                      prefs=snap.prefs.get(uid, {}))
                     if c in self.channels]
            if chans:
                text = render(event.kind, info.locale, facts, event.data, info.name,
                              html="email" in chans)
                for channel in chans:
                    to = info.email if channel == "email" else str(uid)
                    rows.append(self._row(event, facts, channel, str(to), text, now,
                                          language(info.locale), user_id=uid))
        if policy.tell_customer(event, facts) and facts is not None and facts.customer_id:
            rows += await self._customer_rows(session, event, facts, facts.customer_id, now)
        if "webhook" in self.channels:
            for hook in snap.hooks:
                if not hook.kinds or event.kind in hook.kinds:
                    rows.append(self._webhook_row(event, facts, hook, now))
        return rows

    async def _customer_rows(self, session: AsyncSession, event: NotificationEvent,
                             facts: TicketFacts, customer_id: int,
                             now: datetime) -> list[dict[str, Any]]:
        conn = await session.connection()
        t = Ticket.__table__.c
        pin = select(t.pin).where(t.id == facts.id).scalar_subquery().label("pin")
        found = (await conn.execute(
            select(Customer.name, Customer.email, Customer.language, CustomerPhone.e164, pin)
            .outerjoin(CustomerPhone, CustomerPhone.customer_id == Customer.id)
            .where(Customer.id == customer_id).order_by(CustomerPhone.id))).all()
        if not found:
            return []
        name, email, lang = found[0].name, found[0].email, found[0].language
        mobile = next((r.e164 for r in found if r.e164 and is_mobile(r.e164)), None)
        chans = [c for c in policy.customer_channels(event.kind, has_email=bool(email),
                                                     has_mobile=mobile is not None)
                 if c in self.channels]
        if not chans:
            return []
        # the PIN (tickets.ivr): in the customer's own copy only, never the staff's
        text = render(event.kind, lang, facts, event.data, name, html="email" in chans,
                      pin=found[0].pin)
        return [self._row(event, facts, c, str(email if c == "email" else mobile), text, now,
                          language(lang), customer_id=customer_id) for c in chans]

    def _row(self, event: NotificationEvent, facts: TicketFacts | None, channel: str,
             recipient: str, text: Rendered, now: datetime, lang: str, *,
             user_id: int | None = None, customer_id: int | None = None) -> dict[str, Any]:
        key = policy.idempotency_key(event.kind, event.key, recipient, channel)
        number = facts.number if facts else None
        subject = f"{subject_tag(number)} {text.subject}" if number else text.subject
        payload: dict[str, Any] | None = None
        body, html = text.body, None
        if channel == "email":
            html = text.html
        elif channel == "sms":
            body = text.sms
        elif channel == "ws":
            payload = dict(messages.notification(
                user_id=user_id or 0, kind=event.kind, ticket_id=facts.id if facts else None,
                number=number, subject=text.subject, body=text.body))
        return self._base(key, event, facts, channel, recipient, now) | {
            "user_id": user_id, "customer_id": customer_id, "language": lang,
            "subject": subject[:300], "body": body, "html": html, "payload": payload}

    def _webhook_row(self, event: NotificationEvent, facts: TicketFacts | None, hook: Hook,
                     now: datetime) -> dict[str, Any]:
        recipient = f"webhook:{hook.id}"
        key = policy.idempotency_key(event.kind, event.key, recipient, "webhook")
        body = {"id": key, "kind": event.kind, "event_key": event.key,
                "occurred_at": now.isoformat(), "actor_id": event.actor_id,
                "ticket": None if facts is None else {
                    "id": facts.id, "number": facts.number, "title": facts.title,
                    "status": facts.status, "priority": facts.priority,
                    "assignee_id": facts.assignee_id, "group_id": facts.group_id,
                    "customer_id": facts.customer_id},
                "data": {k: v for k, v in event.data.items() if k != "ticket"}}
        return self._base(key, event, facts, "webhook", recipient, now) | {
            "user_id": None, "customer_id": None, "language": "en", "subject": event.kind,
            "body": "", "html": None, "payload": body}

    @staticmethod
    def _base(key: str, event: NotificationEvent, facts: TicketFacts | None, channel: str,
              recipient: str, now: datetime) -> dict[str, Any]:
        return {"key": key, "kind": event.kind, "channel": channel,
                "ticket_id": facts.id if facts else event.ticket_id,
                "ticket_number": facts.number if facts else None, "recipient": recipient[:320],
                "status": "pending", "attempts": 0, "next_attempt_at": now,
                "last_error": None, "created_at": now, "sent_at": None}
