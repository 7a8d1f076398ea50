"""Received mail → a ticket, a comment, a reopen, or a recorded refusal (in the caller's UoW).

:func:`ingest` runs inside the caller's transaction and never commits: the SMTP receiver
(``web/mailin.py``) commits and only then answers ``250``, so a crash or a database error
before the commit makes the sending MTA retry and nothing is lost or half-written.

Order of work, and why:

1. :func:`tickets.mail.parse.parse_mail` decodes the bytes (pure).
2. The ``mail_messages`` row is inserted *first*, ``ON CONFLICT (message_id) DO NOTHING``:
   only the delivery that inserts goes on, so one Message-ID never makes two tickets, even
   when two deliveries race (``tickets/mail/models.py``).
3. Rejected mail and mail sent by a machine (auto-replies, bounces, bulk, our own address)
   stop here with their reason: answering them is how mail loops start.
4. A reply (:func:`tickets.mail.threading.referenced_ticket`) goes to its ticket (through
   merges to the live one) as a public comment authored as the customer; a ticket waiting
   for the customer (``pending_customer``) goes back to ``in_progress``; a ticket resolved
   within ``reopen_days`` is reopened (``in_progress``). A closed or cancelled ticket, one
   resolved longer ago, or one with nobody to reopen it to starts a new ticket linked to
   it (a child of the old one, ``tickets.relations``). A status move brings the SLA clock
   up to date (``refresh_clock``) exactly as a staff status change does.
5. **Forged or foreign senders**: a reply whose From address is not the address of the
   ticket's customer never speaks as that customer. It becomes an *internal* note on the
   ticket, flagged "unverified sender" with the address, its attachments internal too, no
   status change, no customer record made for the address; staff decide. (From is
   trivially forged; an internal note gives a forger neither a voice on someone's ticket nor
   a way to reopen it, and loses no genuine mail from a colleague of the customer writing
   from another address.) A reply found only by the subject tag, which anyone can type, whose
   SMTP envelope sender is known and is not its From address is unverified too: only our
   Message-ID in the headers shows the writer received our mail.
6. Anything else is a new conversation: the sender's customer (matched by address,
   case-insensitively; created with the display name when unknown) gets a ticket with
   channel ``email`` through :func:`tickets.service.create_ticket`, so routing rules and the
   history apply as for any ticket.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from tickets import lifecycle, relations, service
from tickets.db import Base, utcnow
from tickets.errors import Conflict, DomainError, NotFound
from tickets.mail.models import MailMessage
from tickets.mail.parse import InboundMail, parse_mail, title_from_subject
from tickets.mail.threading import referenced_ticket, threaded_ticket
from tickets.models import Customer, Ticket, TicketEvent, User
from tickets.notify.events import Notify
from tickets.routing.service import Routed, Router
from tickets.schemas import CommentIn, TicketIn
from tickets.sla.service import refresh_clock

#: Longest description or comment body stored (the API's limit for the same fields).
MAX_TEXT = 20_000
_CJK = re.compile(r"[\u3400-\u9fff]")
_TABLE = Base.metadata.tables["mail_messages"]


@dataclass(frozen=True)
class MailConfig:
    """What ingestion needs from the settings.

    ``domain``: HOTLINE_MAIL_DOMAIN; ``own_addresses``: our receiving addresses (mail *from*
    them is a loop); ``reopen_days``: HOTLINE_MAIL_REOPEN_DAYS; attachment limits and store
    as for uploads; ``region``: for ticket creation."""

    domain: str
    store: Path
    attachment_max_bytes: int
    attachment_types: tuple[str, ...]
    own_addresses: tuple[str, ...] = ()
    reopen_days: int = 14
    region: str = "CN"


@dataclass
class IngestResult:
    """What became of one message: ``outcome`` (``tickets.mail.models.OUTCOMES``, or
    ``duplicate`` when its Message-ID was seen before: then ``ticket_id`` is the first
    delivery's), ``reason``, the ticket touched (``ticket``, None for a duplicate or a
    refusal), whether it was ``created``, and what routing did (``routed``: the caller
    announces rule notices after the commit)."""

    outcome: str
    message_id: str
    reason: str | None = None
    ticket_id: int | None = None
    ticket: Ticket | None = None
    created: bool = False
    comment_id: int | None = None
    routed: list[Routed] = field(default_factory=list)


# -- pure decisions --------------------------------------------------------------------------
def reply_action(ticket: Ticket, *, verified: bool, now: datetime,
                 reopen_days: int) -> tuple[str, str | None]:
    """What a reply to ``ticket`` does (pure): ``(action, new_status)`` with action
    ``comment`` / ``reopen`` / ``new_linked`` / ``unverified`` and the status to move to
    (None: unchanged)."""
    if not verified:
        return "unverified", None
    status = ticket.status
    if status == "pending_customer":
        return "comment", "in_progress"
    if status in lifecycle.OPEN_STATUSES:
        return "comment", None
    if status == "resolved" and ticket.assignee_id is not None:
        resolved = ticket.resolved_at or ticket.updated_at
        if resolved is not None and now - resolved <= timedelta(days=reopen_days):
            return "reopen", "in_progress"
    return "new_linked", None


def language_of(mail: InboundMail) -> str:
    """``zh`` when the subject or body has Chinese characters, else ``en``."""
    return "zh" if _CJK.search(mail.subject + mail.body[:2000]) else "en"


def _clip(text: str, limit: int = MAX_TEXT) -> str:
    if len(text) <= limit:
        return text
    note = "\n[… truncated]"
    return text[:limit - len(note)] + note


# -- the service -----------------------------------------------------------------------------
async def _claim(session: AsyncSession, mail: InboundMail, size: int) -> int | None:
    """Insert the message's row unless its Message-ID is there already; its id, or None."""
    conn = await session.connection()
    values = {"message_id": mail.message_id, "received_at": utcnow(),
              "sender": mail.sender[:255], "subject": mail.subject[:255], "size": size,
              "outcome": "pending"}
    table = _TABLE
    stmt = (pg_insert(table) if conn.dialect.name == "postgresql" else sqlite_insert(table))
    row = (await conn.execute(stmt.values(**values).on_conflict_do_nothing(
        index_elements=["message_id"]).returning(table.c.id))).first()
    return int(row[0]) if row else None


async def _finish(session: AsyncSession, row_id: int, result: IngestResult,
                  customer_id: int | None, mail: InboundMail | None = None) -> IngestResult:
    """Record ``result`` on the message's row; ``mail``'s ``sender_note`` (the sender came
    from the envelope) is added to the reason."""
    if mail is not None and mail.sender_note:
        result = replace(result, reason="; ".join(
            r for r in (mail.sender_note, result.reason) if r))
    table = _TABLE
    await (await session.connection()).execute(
        update(table).where(table.c.id == row_id).values(
            outcome=result.outcome, reason=(result.reason or None) and result.reason[:500],
            ticket_id=result.ticket_id, customer_id=customer_id,
            comment_id=result.comment_id))
    return result


async def find_customer(session: AsyncSession, address: str) -> Customer | None:
    """The customer with this address (case-insensitive; the oldest, if several), or None."""
    found: Customer | None = await session.scalar(select(Customer).where(
        func.lower(Customer.email) == address.lower()).order_by(Customer.id).limit(1))
    return found


async def customer_for(session: AsyncSession, mail: InboundMail) -> Customer:
    """The sender's customer (:func:`find_customer`), else a new one named by the display
    name (or the address), in the mail's language."""
    found = await find_customer(session, mail.sender)
    if found is not None:
        return found
    customer = Customer(name=(mail.sender_name or mail.sender)[:200], email=mail.sender,
                        language=language_of(mail), tier="standard")
    session.add(customer)
    await session.flush()
    return customer


async def _customer_actor(session: AsyncSession, customer_id: int) -> service.Actor:
    """The customer as an actor: their login's id when they have one (their comments are
    then "you" in their portal), else no id."""
    user_id = await session.scalar(select(User.id).where(
        User.customer_id == customer_id, User.role == "customer").order_by(User.id).limit(1))
    return service.Actor(id=user_id, role="customer", customer_id=customer_id)


async def _live_ticket(session: AsyncSession, ticket_id: int) -> Ticket | None:
    """The ticket, or the ticket it was merged into (followed, at most a few hops), locked
    for the change (what is decided from its status stays true until the commit)."""
    for _ in range(relations.MAX_FOLLOW):
        try:
            ticket = await service.get_ticket(session, ticket_id, service.SYSTEM,
                                              for_update=True)
        except NotFound:
            return None
        if ticket.merged_into_id is None:
            return ticket
        ticket_id = ticket.merged_into_id
    return None


async def _attach(session: AsyncSession, ticket_id: int, mail: InboundMail,
                  actor: service.Actor, cfg: MailConfig, *, public: bool | None) -> list[str]:
    """Store the mail's attachments on the ticket as an upload would; the ones refused."""
    refused: list[str] = []
    for item in mail.attachments:
        try:
            await service.add_attachment(
                session, ticket_id, actor, filename=item.filename,
                content_type=item.content_type, content=item.content, store=cfg.store,
                max_bytes=cfg.attachment_max_bytes,
                allowed_types=list(cfg.attachment_types), public=public)
        except DomainError as exc:
            refused.append(f"{item.filename}: {exc.message}")
    return refused


def _event(session: AsyncSession, ticket_id: int, actor: service.Actor, kind: str,
           **data: Any) -> None:
    session.add(TicketEvent(ticket_id=ticket_id, actor_id=actor.id, kind=kind, data=data))


async def ingest(session: AsyncSession, raw: bytes, cfg: MailConfig, *,
                 envelope_from: str | None = None, router: Router | None = None,
                 now: datetime | None = None, notify: Notify | None = None) -> IngestResult:
    """Turn one received message into what it means (module docstring), in the caller's
    transaction. Never raises for bad mail (that is a ``rejected`` outcome); database
    errors propagate, and the caller rolls back so the sender retries. ``notify``: the
    new ticket and the customer's reply are told as ticket services tell them (same
    transaction)."""
    mail = parse_mail(raw, max_attachment_bytes=cfg.attachment_max_bytes,
                      allowed_types=cfg.attachment_types, envelope_from=envelope_from)
    row_id = await _claim(session, mail, len(raw))
    if row_id is None:
        first = await session.scalar(select(MailMessage.ticket_id).where(
            MailMessage.message_id == mail.message_id))
        return IngestResult("duplicate", mail.message_id, "Message-ID seen before", first)
    if mail.rejected:
        return await _finish(session, row_id, IngestResult("rejected", mail.message_id,
                                                           mail.rejected), None)
    if mail.is_auto or mail.sender in cfg.own_addresses:
        why = mail.auto_reason or f"sent from Hotline's own address {mail.sender}"
        return await _finish(session, row_id, IngestResult("ignored_auto", mail.message_id,
                                                           why), None)
    number = referenced_ticket(cfg.domain, in_reply_to=mail.in_reply_to,
                               references=mail.references, subject=mail.subject)
    old = None
    if number is not None:
        old_id = service.parse_ticket_number(number)
        old = await _live_ticket(session, old_id) if old_id is not None else None
    if old is None:  # a new conversation: only now is an unknown sender made a customer
        customer = await customer_for(session, mail)
        result = await _new_ticket(session, mail, customer, cfg, router, notify,
                                   note=f"reply to unknown ticket {number}" if number else None)
        return await _finish(session, row_id, result, customer.id, mail)
    owner = await session.get(Customer, old.customer_id) if old.customer_id is not None \
        else None
    verified = owner is not None and (owner.email or "").strip().lower() == mail.sender
    doubt = "" if verified else f"{mail.sender} is not the address of this ticket's customer"
    envelope = (envelope_from or "").strip().strip("<>").strip().lower()
    if verified and envelope and envelope != mail.sender and threaded_ticket(
            cfg.domain, in_reply_to=mail.in_reply_to, references=mail.references) is None:
        # found by the subject tag alone (anyone can type it) and sent by another envelope
        # sender: From alone is no proof, so it is not taken as the customer's word
        verified = False
        doubt = (f"found by the subject tag only, and the envelope sender {envelope} is not "
                 f"the From address {mail.sender}")
    now = now or utcnow()
    action, new_status = reply_action(old, verified=verified, now=now,
                                      reopen_days=cfg.reopen_days)
    if owner is not None and verified:
        if action == "new_linked":
            result = await _new_ticket(session, mail, owner, cfg, router, notify, follows=old)
        else:
            result = await _reply(session, old, mail, cfg, new_status,
                                  reopen=action == "reopen", notify=notify, now=now)
        return await _finish(session, row_id, result, owner.id, mail)
    # not the ticket's customer: no customer is made for the address (a forger's included)
    known = await find_customer(session, mail.sender)
    result = await _unverified_note(session, old, mail, cfg, doubt)
    return await _finish(session, row_id, result, known.id if known else None, mail)


async def _new_ticket(session: AsyncSession, mail: InboundMail, customer: Customer,
                      cfg: MailConfig, router: Router | None, notify: Notify | None = None,
                      *, follows: Ticket | None = None, note: str | None = None) -> IngestResult:
    """A ticket for a new conversation (or a follow-up of ``follows``, linked as its child)."""
    routed: list[Routed] = []
    data = TicketIn(title=title_from_subject(mail.subject, mail.body),
                    description=_clip(mail.body), channel="email", customer_id=customer.id)
    ticket = await service.create_ticket(session, data, service.SYSTEM, cfg.region, router,
                                         routed, notify=notify)
    session.add(ticket)
    reason = note
    if follows is not None:
        reason = (f"follow-up of {service.ticket_number(follows.id)} "
                  f"({follows.status}): a new ticket linked to it")
        try:
            await relations.link_child(session, follows.id, ticket.id, service.SYSTEM)
        except (Conflict, DomainError) as exc:  # e.g. the old ticket is itself a child
            reason += f"; not linked: {exc.message}"
    actor = await _customer_actor(session, customer.id)
    refused = await _attach(session, ticket.id, mail, actor, cfg, public=True)
    _event(session, ticket.id, service.SYSTEM, "email_received", message_id=mail.message_id,
           sender=mail.sender, sender_name=mail.sender_name, sender_note=mail.sender_note,
           outcome="new_ticket",
           dropped=[*mail.dropped, *refused],
           follows=service.ticket_number(follows.id) if follows else None)
    await session.flush()
    return IngestResult("new_ticket", mail.message_id, reason, ticket.id, ticket, True,
                        routed=routed)


async def _reply(session: AsyncSession, ticket: Ticket, mail: InboundMail, cfg: MailConfig,
                 new_status: str | None, *, reopen: bool,
                 notify: Notify | None = None, now: datetime | None = None) -> IngestResult:
    """The customer's reply: a public comment as the customer; the status moved if asked,
    and the SLA clock brought up to date as for a staff status change (a ``pending_customer``
    ticket's clock resumes, the paused business time added; ``now``: the time of the move)."""
    assert ticket.customer_id is not None  # verified replies come from the ticket's customer
    actor = await _customer_actor(session, ticket.customer_id)
    body = _clip(mail.reply_text or mail.body or "(empty message)")
    comment = await service.add_comment(session, ticket.id, CommentIn(body=body), actor,
                                        notify=notify)
    reason = None
    if new_status is not None:
        diff: dict[str, Any] = {}
        await service.move_status(ticket, new_status, diff)
        ticket.updated_at = utcnow()
        kind = "reopened" if reopen else "status_changed"
        reason = f"{diff['status']['from']} → {new_status}"
        _event(session, ticket.id, service.SYSTEM, kind, status=diff["status"],
               reason="the customer replied by email")
        # as update_ticket does after a status change: resume a paused clock, close or
        # reschedule the supervision steps (no rematch: priority and type are unchanged)
        await refresh_clock(session, ticket, now=now, actor_id=actor.id)
    refused = await _attach(session, ticket.id, mail, actor, cfg, public=True)
    _event(session, ticket.id, service.SYSTEM, "email_received", message_id=mail.message_id,
           sender=mail.sender, sender_name=mail.sender_name, sender_note=mail.sender_note,
           outcome="reopened" if reopen else "comment", comment_id=comment.id,
           dropped=[*mail.dropped, *refused])
    await session.flush()
    return IngestResult("reopened" if reopen else "comment", mail.message_id, reason,
                        ticket.id, ticket, comment_id=comment.id)


UNVERIFIED_NOTE = ("[Unverified sender / 发件人未验证] {sender}: {why}. Received by email, "
                   "kept as an internal note; nothing was sent to or shown to the "
                   "customer.\n\n{body}")


async def _unverified_note(session: AsyncSession, ticket: Ticket, mail: InboundMail,
                           cfg: MailConfig, why: str) -> IngestResult:
    """A reply not proven to come from the ticket's customer (``why``, a sentence without
    its full stop): an internal note, flagged."""
    sender = f"{mail.sender_name} <{mail.sender}>" if mail.sender_name else mail.sender
    body = _clip(UNVERIFIED_NOTE.format(sender=sender, why=why,
                                        body=mail.reply_text or mail.body))
    comment = await service.add_comment(session, ticket.id, CommentIn(body=body, public=False),
                                        service.SYSTEM)
    refused = await _attach(session, ticket.id, mail, service.SYSTEM, cfg, public=False)
    _event(session, ticket.id, service.SYSTEM, "email_received", message_id=mail.message_id,
           sender=mail.sender, sender_name=mail.sender_name, sender_note=mail.sender_note,
           outcome="unverified",
           comment_id=comment.id, dropped=[*mail.dropped, *refused])
    await session.flush()
    return IngestResult("unverified", mail.message_id,
                        f"unverified sender: {why}: internal note",
                        ticket.id, ticket, comment_id=comment.id)


async def comments_by_mail(session: AsyncSession, ticket_id: int) -> dict[int, str]:
    """Comment id → sender address, for the ticket's comments that came by mail."""
    rows = await session.execute(select(MailMessage.comment_id, MailMessage.sender).where(
        MailMessage.ticket_id == ticket_id, MailMessage.comment_id.is_not(None)))
    return {int(cid): str(sender) for cid, sender in rows.all() if cid is not None}


__all__ = ["IngestResult", "MailConfig", "comments_by_mail", "ingest",
           "reply_action"]


async def received(session: AsyncSession, *, outcome: str | None = None,
                   ticket_id: int | None = None, limit: int = 50,
                   offset: int = 0) -> tuple[list[MailMessage], int]:
    """The log of received messages, newest first, and how many match (filters optional)."""
    query = select(MailMessage)
    if outcome:
        query = query.where(MailMessage.outcome == outcome)
    if ticket_id is not None:
        query = query.where(MailMessage.ticket_id == ticket_id)
    total = await session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = await session.scalars(query.order_by(MailMessage.id.desc()).limit(limit)
                                 .offset(offset))
    return list(rows.all()), int(total)
