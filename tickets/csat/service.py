"""CSAT: store a ticket's 1–5 score, read it, and sum a period's scores for the reports.

One row per ticket (``ticket_ratings.ticket_id`` unique): a second rating replaces the
score, so a report counts each ticket once with the customer's latest word, while the
ticket's history keeps every rating (a ``rated`` event with the previous score, in the same
transaction). Only a solved ticket (``resolved`` / ``closed``) is rated: a score is about
how the problem was handled. Functions take the caller's session and never commit.

The summary is over ratings *given* in the period (``updated_at``, indexed), the tickets
narrowed by the report filters: a ticket created last month and rated today counts today.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from tickets.csat.models import RATING_CHANNELS, TicketRating
from tickets.db import utcnow
from tickets.errors import Conflict, Invalid
from tickets.models import Ticket, TicketEvent
from tickets.service import SYSTEM, Actor, get_ticket, take_write_turn

#: The statuses a ticket may be rated in.
RATABLE_STATUSES = frozenset({"resolved", "closed"})
MIN_SCORE, MAX_SCORE = 1, 5
#: Scores that count as "satisfied" in the summary's share.
SATISFIED = 4


@dataclass(frozen=True)
class CsatSummary:
    """A period's ratings: how many, their mean score (``None`` without ratings) and the
    share scoring 4 or 5 (0–1, ``None`` without ratings)."""

    count: int
    average: float | None
    satisfied_share: float | None


def check_score(score: object) -> int:
    """``score`` as an int 1–5; :class:`Invalid` otherwise (``True`` is not a score)."""
    if isinstance(score, bool) or not isinstance(score, int) \
            or not MIN_SCORE <= score <= MAX_SCORE:
        raise Invalid(f"score must be a whole number {MIN_SCORE}–{MAX_SCORE}, not {score!r}")
    return score


async def rate(session: AsyncSession, ticket_id: int, score: int, channel: str,
               call_id: str | None = None, comment: str | None = None,
               actor: Actor | None = None) -> TicketRating:
    """Store ``score`` (1–5) for the ticket, replacing an earlier one; history ``rated``
    (``{score, channel, previous}``; ``call_id`` too when given) in this transaction.

    ``actor``: who rates (``None``: the system, e.g. the IVR); a customer may only rate
    their own ticket (others: NotFound, as if it did not exist). Raises Invalid (score,
    channel, comment over 1000 characters), NotFound, Conflict (the ticket is not solved).
    """
    check_score(score)
    if channel not in RATING_CHANNELS:
        raise Invalid(f"unknown rating channel {channel!r}; one of {list(RATING_CHANNELS)}")
    if comment is not None and len(comment) > 1000:
        raise Invalid("comment is longer than 1000 characters")
    who = actor or SYSTEM
    await take_write_turn(session, [ticket_id])  # two ratings at once: one replaces the other
    ticket = await get_ticket(session, ticket_id, who)
    if ticket.status not in RATABLE_STATUSES:
        raise Conflict(f"ticket {ticket_id} is {ticket.status}: only a resolved or closed "
                       "ticket can be rated")
    row = await session.scalar(select(TicketRating).where(TicketRating.ticket_id == ticket_id)
                               .with_for_update())
    now = utcnow()
    previous = row.score if row is not None else None
    if row is None:
        row = TicketRating(ticket_id=ticket_id, score=score, channel=channel, call_id=call_id,
                           comment=comment, created_at=now, updated_at=now)
        session.add(row)
    else:
        row.score, row.channel, row.call_id = score, channel, call_id
        row.comment, row.updated_at = comment, now
    data: dict[str, object] = {"score": score, "channel": channel, "previous": previous}
    if call_id is not None:
        data["call_id"] = call_id
    session.add(TicketEvent(ticket_id=ticket_id, actor_id=who.id, kind="rated", at=now,
                            data=data))
    await session.flush()
    return row


async def get(session: AsyncSession, ticket_id: int,
              actor: Actor | None = None) -> TicketRating | None:
    """The ticket's rating, or ``None`` when unrated. With ``actor``: NotFound when they
    may not see the ticket."""
    if actor is not None:
        await get_ticket(session, ticket_id, actor)
    return await session.scalar(select(TicketRating)
                                .where(TicketRating.ticket_id == ticket_id))


async def summary(session: AsyncSession, start: datetime, end: datetime,
                  ticket_where: list[ColumnElement[bool]] | None = None) -> CsatSummary:
    """Ratings given in ``[start, end)`` (aware datetimes); ``ticket_where`` narrows the
    rated tickets (clauses on ``tickets``, e.g. the report filters). One statement."""
    r = TicketRating.__table__.c
    query = select(func.count(), func.sum(r.score),
                   func.count().filter(r.score >= SATISFIED)) \
        .where(r.updated_at >= start, r.updated_at < end)
    if ticket_where:
        query = query.join_from(TicketRating.__table__, Ticket.__table__,
                                Ticket.__table__.c.id == r.ticket_id).where(*ticket_where)
    count, total, satisfied = (await session.execute(query)).one()
    if not count:
        return CsatSummary(0, None, None)
    return CsatSummary(int(count), float(total) / count, int(satisfied) / count)

