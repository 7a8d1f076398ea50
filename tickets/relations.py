"""Merge and link: duplicates merged into one ticket, child tickets under a parent incident.

Its own module because it is its own subdomain (issue #10, "Merge and link"): the rules of
what may be merged or linked are pure functions at the top (:func:`merge_refusal`,
:func:`link_refusal`, :func:`bulk_targets`, :func:`merge_notice`), tested without a
database; the services below load, lock and write. Like every service they run in the
caller's transaction and never commit (``web/uow.py`` commits, then announces); every change
writes its history rows in that same transaction.

**Merge** (:func:`merge`): the merged ticket's comments and attachments are copied to the
target (``merged_from_id`` names where they came from; an attachment copy shares the stored
file), its linked calls are linked from the target too; both histories say what happened
(``merged`` on the merged ticket, ``merged_in`` on the target); the merged ticket is closed
with ``merged_into_id`` set and is read-only from then on
(``tickets.service.ensure_writable``: every change is a 409 naming the target); its customer
gets a public comment naming the ticket to follow, in their language. A customer never sees
another customer's material: across customers (``force``) the copies are internal.
Chains: a target that was itself merged is followed to the ticket it was merged into (so a
pointer is never more than one hop from a live ticket at the time of the merge); the answer
lists the tickets followed.

**Parent incident** (:func:`link_child`, :func:`unlink_child`, :func:`bulk`): one level
only — a parent is never a child and a child never a parent, which rules out cycles. A bulk
action (public reply, status change, close) applies to the open children; a child the
lifecycle does not let move is reported with the reason, not failed; each child's history
row carries the parent's number.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import false, func, insert, literal, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from tickets import lifecycle
from tickets.db import Base, utcnow
from tickets.errors import Conflict, Forbidden, Invalid, NotFound
from tickets.models import Attachment, Comment, Customer, Ticket, TicketCall, TicketEvent
from tickets.service import (
    Actor,
    can_see,
    ensure_writable,
    move_status,
    parse_ticket_number,
    take_write_turn,
    ticket_number,
    visible,
)
from tickets.sla.service import refresh_clock

#: How many merged tickets a target's pointer is followed through before giving up.
MAX_FOLLOW = 20

_TABLES = Base.metadata.tables
BulkAction = Literal["reply", "status", "close"]

#: What the merged ticket's customer is told (a public comment on it), by language.
MERGE_NOTICE = {
    "zh": "您的请求 {source} 已与工单 {target} 合并处理。我们将在 {target} 中继续跟进，"
          "如需联系我们，请提供工单号 {target}。",
    "en": "Your request {source} has been merged into ticket {target}. We will continue "
          "there: please follow {target} and quote it when you contact us.",
}


# -- pure rules ------------------------------------------------------------------------------
def merge_notice(language: str | None, source: str, target: str) -> str:
    """The notice for a customer whose ticket ``source`` was merged into ``target``:
    Chinese for a ``zh…`` language, English otherwise."""
    lang = "zh" if (language or "").lower().startswith("zh") else "en"
    return MERGE_NOTICE[lang].format(source=source, target=target)


def ticket_key(value: int | str) -> int:
    """A ticket's id from what a client wrote: ``42``, ``"42"``, ``"T-000042"``, ``"t42"``.
    Raises Invalid naming ``into`` for anything else."""
    if isinstance(value, int):
        return value
    text = value.strip()
    found = int(text) if text.isdigit() and len(text) <= 10 else parse_ticket_number(text)
    if found is None or not 1 <= found <= 2_147_483_647:
        raise Invalid(f"into: {value!r} is not a ticket id or number (e.g. T-000042)")
    return found


def merge_refusal(source: Ticket, target: Ticket, *, force: bool,
                  source_children: int) -> str | None:
    """Why ``source`` may not be merged into ``target`` (already followed to a ticket that
    is not merged itself), or None. Pure: the caller loaded both and counted the source's
    children."""
    src, dst = ticket_number(source.id), ticket_number(target.id)
    if source.merged_into_id is not None:
        return (f"ticket {src} was merged into {ticket_number(source.merged_into_id)} already "
                "and is read-only")
    if target.id == source.id:
        return f"cannot merge ticket {src} into itself"
    if source.status == "cancelled":
        return f"ticket {src} is cancelled: a cancelled ticket cannot be merged"
    if target.status == "cancelled":
        return f"cannot merge into {dst}: it is cancelled"
    if target.merged_into_id is not None:  # only if the caller did not follow the pointer
        return f"cannot merge into {dst}: it was merged into {ticket_number(target.merged_into_id)}"
    if source_children:
        return (f"ticket {src} is the parent of {source_children} ticket(s): unlink its "
                f"children first, or merge into {src} instead")
    if (not force and source.customer_id is not None and target.customer_id is not None
            and source.customer_id != target.customer_id):
        return (f"tickets {src} (customer #{source.customer_id}) and {dst} (customer "
                f"#{target.customer_id}) belong to different customers: send "
                '"force": true to merge them anyway')
    return None


def link_refusal(parent: Ticket, child: Ticket, *, child_children: int) -> str | None:
    """Why ``child`` may not become a child of ``parent``, or None (also when it already
    is one: linking again changes nothing). Depth one: a parent is never a child and a child
    never a parent, so no cycle can form."""
    par, chi = ticket_number(parent.id), ticket_number(child.id)
    if parent.id == child.id:
        return f"ticket {par} cannot be its own child"
    for ticket in (parent, child):
        if ticket.merged_into_id is not None:
            return (f"ticket {ticket_number(ticket.id)} was merged into "
                    f"{ticket_number(ticket.merged_into_id)} and is read-only")
    if child.parent_id == parent.id:
        return None
    if parent.parent_id is not None:
        return (f"ticket {par} is a child of {ticket_number(parent.parent_id)}: a child cannot "
                "be a parent (one level only)")
    if child_children:
        return (f"ticket {chi} is the parent of {child_children} ticket(s): a parent cannot be "
                "a child (one level only)")
    if child.parent_id is not None:
        return (f"ticket {chi} is already a child of {ticket_number(child.parent_id)}: unlink "
                "it there first")
    return None


def bulk_targets(action: BulkAction) -> frozenset[str]:
    """The child statuses an action applies to: the open ones; ``close`` also closes the
    resolved ones (done but not yet closed)."""
    if action == "close":
        return lifecycle.OPEN_STATUSES | {"resolved"}
    return lifecycle.OPEN_STATUSES


# -- loading ---------------------------------------------------------------------------------
async def _lock(session: AsyncSession, ids: Sequence[int], actor: Actor) -> dict[int, Ticket]:
    """The tickets ``ids``, row-locked in id order (two merges or links of the same pair
    in opposite directions cannot deadlock); NotFound naming the first one that does not
    exist or that ``actor`` may not see."""
    wanted = sorted(set(ids))
    await take_write_turn(session, wanted)
    rows = (await session.scalars(select(Ticket).where(Ticket.id.in_(wanted))
                                  .order_by(Ticket.id).with_for_update(of=Ticket))).all()
    found = {t.id: t for t in rows if can_see(actor, t)}
    for ticket_id in ids:
        if ticket_id not in found:
            raise NotFound(f"ticket {ticket_id} not found")
    return found


async def _count_children(session: AsyncSession, ticket_id: int) -> int:
    return await session.scalar(select(func.count()).select_from(Ticket)
                                .where(Ticket.parent_id == ticket_id)) or 0


def _event(session: AsyncSession, ticket: Ticket, actor: Actor, kind: str,
           **data: Any) -> None:
    session.add(TicketEvent(ticket_id=ticket.id, actor_id=actor.id, kind=kind, data=data))


def _staff_only(actor: Actor, what: str) -> None:
    if not actor.is_staff:
        raise Forbidden(f"only staff can {what}")


# -- merge -----------------------------------------------------------------------------------
@dataclass
class MergeResult:
    """What :func:`merge` did: the merged ticket (closed), the ticket it went into, counts
    of what was carried over, the numbers of merged tickets followed, the notice comment."""

    ticket: Ticket
    into: Ticket
    comments: int = 0
    attachments: int = 0
    calls: int = 0
    followed: list[str] = field(default_factory=list)
    notice: Comment | None = None


async def _follow(session: AsyncSession, target: Ticket, actor: Actor,
                  locked: dict[int, Ticket]) -> tuple[Ticket, list[str]]:
    """Follow a merged target's pointer to the ticket it was merged into (locking each);
    the numbers passed on the way. Conflict for a loop or more than :data:`MAX_FOLLOW`."""
    followed: list[str] = []
    while target.merged_into_id is not None:
        followed.append(ticket_number(target.id))
        if len(followed) > MAX_FOLLOW:  # never made by merge(); a safety net for bad data
            raise Conflict(f"cannot merge into {followed[0]}: its merge pointers do not lead "
                           "to a live ticket")
        nxt = target.merged_into_id
        if nxt not in locked:
            locked.update(await _lock(session, [nxt], actor))
        target = locked[nxt]
    return target, followed


async def _carry(session: AsyncSession, source: Ticket, target: Ticket,
                 keep_public: bool) -> tuple[int, int, int]:
    """Copy the source's comments and attachments to the target (one INSERT … SELECT
    each, in their order) and link its calls from the target; how many of each."""
    conn = await session.connection()  # Core: the result's rowcount is the copies made
    public_c = Comment.public if keep_public else false()
    comments = await conn.execute(insert(_TABLES["comments"]).from_select(
        ["ticket_id", "author_id", "body", "public", "created_at", "merged_from_id"],
        select(literal(target.id), Comment.author_id, Comment.body, public_c,
               Comment.created_at, literal(source.id))
        .where(Comment.ticket_id == source.id).order_by(Comment.id)))
    public_a = Attachment.public if keep_public else false()
    attachments = await conn.execute(insert(_TABLES["attachments"]).from_select(
        ["ticket_id", "filename", "content_type", "size", "sha256", "storage_key",
         "uploaded_by_id", "created_at", "public", "merged_from_id"],
        select(literal(target.id), Attachment.filename, Attachment.content_type,
               Attachment.size, Attachment.sha256, Attachment.storage_key,
               Attachment.uploaded_by_id, Attachment.created_at, public_a, literal(source.id))
        .where(Attachment.ticket_id == source.id).order_by(Attachment.id)))
    theirs = set((await session.scalars(select(TicketCall.call_id)
                                        .where(TicketCall.ticket_id == source.id))).all())
    if source.call_id:
        theirs.add(source.call_id)
    ours = set((await session.scalars(select(TicketCall.call_id)
                                      .where(TicketCall.ticket_id == target.id))).all())
    new_calls = sorted(theirs - ours - {target.call_id})
    for call_id in new_calls:
        session.add(TicketCall(ticket_id=target.id, call_id=call_id))
    return max(comments.rowcount, 0), max(attachments.rowcount, 0), len(new_calls)


async def merge(session: AsyncSession, ticket_id: int, into: int | str, actor: Actor, *,
                note: str | None = None, force: bool = False) -> MergeResult:
    """Merge ticket ``ticket_id`` (the duplicate) into ``into`` (an id or a number such as
    ``T-000042``), in the caller's transaction (module docstring for what is carried over).

    Raises Forbidden (not staff), NotFound (either ticket unknown or not visible), Invalid
    (``into`` is no ticket id or number), Conflict (:func:`merge_refusal`: itself, already
    merged, cancelled, a parent, different customers without ``force``; or pointers that
    lead nowhere).
    """
    _staff_only(actor, "merge tickets")
    target_id = ticket_key(into)
    locked = await _lock(session, [ticket_id, target_id], actor)
    source = locked[ticket_id]
    ensure_writable(source)
    target, followed = await _follow(session, locked[target_id], actor, locked)
    refusal = merge_refusal(source, target, force=force,
                            source_children=await _count_children(session, source.id))
    src, dst = ticket_number(source.id), ticket_number(target.id)
    if refusal:
        via = f" (followed {' → '.join([*followed, dst])})" if followed else ""
        raise Conflict(refusal + via)
    result = MergeResult(ticket=source, into=target, followed=followed)
    result.comments, result.attachments, result.calls = await _carry(
        session, source, target, keep_public=source.customer_id == target.customer_id)
    now = utcnow()
    if source.customer_id is not None:
        language = await session.scalar(select(Customer.language)
                                        .where(Customer.id == source.customer_id))
        result.notice = Comment(ticket_id=source.id, author_id=actor.id, public=True,
                                body=merge_notice(language, src, dst), created_at=now)
        session.add(result.notice)
        await session.flush()
        _event(session, source, actor, "commented", comment_id=result.notice.id, public=True)
    diff: dict[str, Any] = {}
    if source.status != "closed":
        diff["status"] = {"from": source.status, "to": "closed"}
        source.status = "closed"
        source.closed_at = now
    source.merged_into_id = target.id
    source.updated_at = target.updated_at = now
    carried = {"comments": result.comments, "attachments": result.attachments,
               "calls": result.calls}
    await refresh_clock(session, source, now=now, actor_id=actor.id)  # closed: no timers
    _event(session, source, actor, "merged", into_id=target.id, into=dst, note=note,
           followed=followed, force=force, **carried, **diff)
    _event(session, target, actor, "merged_in", from_id=source.id, note=note, force=force,
           **{"from": src}, **carried)
    await session.flush()
    return result


# -- parent incident and its children --------------------------------------------------------
async def link_child(session: AsyncSession, parent_id: int, child_id: int,
                     actor: Actor) -> tuple[Ticket, Ticket | None]:
    """Make ``child_id`` a child of the incident ``parent_id``; the parent and the child
    (None when it was a child of it already: linking again changes nothing).

    Raises Forbidden (not staff), NotFound (either ticket), Conflict (:func:`link_refusal`:
    itself, merged, a child as parent, a parent as child, a child of another parent)."""
    _staff_only(actor, "link tickets")
    locked = await _lock(session, [parent_id, child_id], actor)
    parent, child = locked[parent_id], locked[child_id]
    refusal = link_refusal(parent, child, child_children=await _count_children(session, child.id))
    if refusal:
        raise Conflict(refusal)
    if child.parent_id == parent.id:
        return parent, None
    now = utcnow()
    child.parent_id = parent.id
    child.updated_at = parent.updated_at = now
    _event(session, parent, actor, "child_linked", child_id=child.id,
           child=ticket_number(child.id))
    _event(session, child, actor, "parent_linked", parent_id=parent.id,
           parent=ticket_number(parent.id))
    await session.flush()
    return parent, child


async def unlink_child(session: AsyncSession, parent_id: int, child_id: int,
                       actor: Actor) -> tuple[Ticket, Ticket | None]:
    """Take ``child_id`` out of the incident ``parent_id``; the parent and the child (None
    when it was not a child of it: unlinking is idempotent).

    Raises Forbidden, NotFound (either ticket), Conflict (a child of another parent, or a
    merged child: read-only)."""
    _staff_only(actor, "unlink tickets")
    locked = await _lock(session, [parent_id, child_id], actor)
    parent, child = locked[parent_id], locked[child_id]
    if child.parent_id is None:
        return parent, None
    if child.parent_id != parent.id:
        raise Conflict(f"ticket {ticket_number(child.id)} is a child of "
                       f"{ticket_number(child.parent_id)}, not of {ticket_number(parent.id)}")
    ensure_writable(child)
    now = utcnow()
    child.parent_id = None
    child.updated_at = parent.updated_at = now
    _event(session, parent, actor, "child_unlinked", child_id=child.id,
           child=ticket_number(child.id))
    _event(session, child, actor, "parent_unlinked", parent_id=parent.id,
           parent=ticket_number(parent.id))
    await session.flush()
    return parent, child


@dataclass
class BulkResult:
    """What :func:`bulk` did: the parent, the children changed, and those skipped with the
    reason (``(ticket, reason)``)."""

    action: BulkAction
    parent: Ticket
    applied: list[Ticket] = field(default_factory=list)
    skipped: list[tuple[Ticket, str]] = field(default_factory=list)


def _reply(session: AsyncSession, ticket: Ticket, actor: Actor, body: str,
           now: datetime) -> Comment:
    comment = Comment(ticket_id=ticket.id, author_id=actor.id, body=body, public=True,
                      created_at=now)
    session.add(comment)
    if ticket.first_responded_at is None:
        ticket.first_responded_at = now
    return comment


async def _move_child(session: AsyncSession, child: Ticket, actor: Actor, steps: list[str],
                      parent: str, reason: str | None) -> str | None:
    """Move ``child`` through ``steps`` (each a legal move), one history row per move with
    the parent's number; the reason the first impossible step gives, or None."""
    moves: list[dict[str, Any]] = []
    for status in steps:
        if status == child.status:
            continue
        diff: dict[str, Any] = {}
        try:
            await move_status(child, status, diff)
        except Conflict as exc:
            if moves:  # a first move happened: keep it, report why the rest did not
                break
            return exc.message
        moves.append(diff["status"])
    for move in moves:
        kind = "reopened" if lifecycle.is_reopen(move["from"], move["to"]) else "status_changed"
        _event(session, child, actor, kind, status=move, parent=parent, reason=reason)
    if not moves:
        return f"ticket is already {child.status}"
    await refresh_clock(session, child, actor_id=actor.id)
    return None


async def bulk(session: AsyncSession, parent_id: int, actor: Actor, action: BulkAction, *,
               body: str | None = None, status: str | None = None,
               reason: str | None = None) -> BulkResult:
    """Apply ``action`` to every child of the incident ``parent_id`` it applies to
    (:func:`bulk_targets`), each child locked and changed in the caller's transaction:

    * ``reply``: the public comment ``body`` on each open child (its customer sees it) and on
      the parent;
    * ``status``: each open child moves to ``status`` if the lifecycle allows it;
    * ``close``: each open or resolved child is resolved (if not yet) and closed.

    A child that cannot move is in ``skipped`` with the lifecycle's reason. Each child's
    history row carries ``parent`` (the parent's number); the parent's ``bulk_applied`` row
    lists what was applied and skipped.

    Raises Forbidden (not staff), NotFound (the parent), Invalid (``reply`` without
    ``body``, ``status`` without ``status``), Conflict (a merged parent)."""
    _staff_only(actor, "act on child tickets")
    if action == "reply" and not body:
        raise Invalid("body: a reply needs the text to send")
    if action == "status" and not status:
        raise Invalid("status: a status change needs the status to move to")
    parent = (await _lock(session, [parent_id], actor))[parent_id]
    ensure_writable(parent)
    number = ticket_number(parent.id)
    wanted = bulk_targets(action)
    children = (await session.scalars(
        visible(select(Ticket), actor).where(Ticket.parent_id == parent.id,
                                             Ticket.status.in_(sorted(wanted)),
                                             Ticket.merged_into_id.is_(None))
        .order_by(Ticket.id).with_for_update(of=Ticket))).all()
    result = BulkResult(action=action, parent=parent)
    now = utcnow()
    comments: list[tuple[Ticket, Comment]] = []
    for child in children:
        if action == "reply":
            assert body is not None
            comments.append((child, _reply(session, child, actor, body, now)))
            result.applied.append(child)
            continue
        steps = [status or ""] if action == "status" else ["resolved", "closed"]
        why = await _move_child(session, child, actor, steps, number, reason)
        if why:
            result.skipped.append((child, why))
        else:
            result.applied.append(child)
    if action == "reply":
        assert body is not None
        comments.append((parent, _reply(session, parent, actor, body, now)))
        await session.flush()
        for ticket, comment in comments:
            extra = {"parent": number} if ticket is not parent else {}
            _event(session, ticket, actor, "commented", comment_id=comment.id, public=True,
                   **extra)
    for child in result.applied:
        child.updated_at = now
    parent.updated_at = now
    _event(session, parent, actor, "bulk_applied", action=action, status=status,
           reason=reason, applied=[ticket_number(t.id) for t in result.applied],
           skipped=[{"ticket": ticket_number(t.id), "reason": why}
                    for t, why in result.skipped])
    await session.flush()
    return result


# -- reading ---------------------------------------------------------------------------------
def ticket_ref(row: Any, actor: Actor | None = None) -> dict[str, Any]:
    """A related ticket as ``TicketRef`` (from a ticket or a row with its columns); a
    customer ``actor`` reads no staff id (``assignee_id`` null)."""
    return {"id": row.id, "number": ticket_number(row.id), "title": row.title,
            "status": row.status, "customer_id": row.customer_id,
            "assignee_id": None if actor is not None and actor.role == "customer"
            else row.assignee_id}


_REF_COLUMNS = (Ticket.id, Ticket.title, Ticket.status, Ticket.customer_id,
                Ticket.assignee_id, Ticket.parent_id, Ticket.merged_into_id)


async def relations(session: AsyncSession, ticket: Ticket, actor: Actor) -> dict[str, Any]:
    """``parent_ticket``, ``children`` and ``merged`` of ``ticket`` (TicketDetailOut's
    extra keys), each a :func:`ticket_ref`, only those ``actor`` may see; one query."""
    clauses = [Ticket.parent_id == ticket.id, Ticket.merged_into_id == ticket.id]
    if ticket.parent_id is not None:
        clauses.append(Ticket.id == ticket.parent_id)
    query = visible(select(Ticket), actor).with_only_columns(*_REF_COLUMNS)
    rows = (await session.execute(query.where(or_(*clauses)).order_by(Ticket.id))).all()
    out: dict[str, Any] = {"parent_ticket": None, "children": [], "merged": []}
    for row in rows:
        if row.id == ticket.parent_id:
            out["parent_ticket"] = ticket_ref(row, actor)
        if row.parent_id == ticket.id:
            out["children"].append(ticket_ref(row, actor))
        if row.merged_into_id == ticket.id:
            out["merged"].append(ticket_ref(row, actor))
    return out
