"""The ports other domains define, implemented over the ticket database.

``telephony.ports.CallDirectory`` (screen-pop lookups, call log), ``telephony.ports.
CallHistory`` (today's call log read back for the live statistics) and
``asr.context.PrefillContext`` (ticket-type phrases, the caller's real orders).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import fields
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from asr.context import DEFAULT_TICKET_TYPES, CallContext
from telephony.ports import CallRecord
from tickets.calls import caller_context, upsert_calls
from tickets.ivr.service import journey_for_call
from tickets.messages import CallerContext, PopIvr
from tickets.models import CallLog, Customer, Order, TicketType

log = logging.getLogger(__name__)

_EXTRA_FIELDS = ("caller_name", "agents", "rung", "dtmf", "order_number", "transferred_to",
                 "asr_uuid", "variables")
#: The record's fields that are call_log columns (the rest go to ``extra``).
_COLUMN_FIELDS = tuple(f.name for f in fields(CallRecord) if f.name not in _EXTRA_FIELDS)


class DbCallDirectory:
    """Screen-pop context and the call log, for the AMI bridges."""

    def __init__(self, db: async_sessionmaker[AsyncSession],
                 db_read: async_sessionmaker[AsyncSession]) -> None:
        self.db = db
        self.db_read = db_read

    async def lookup_caller(self, caller_e164: str | None, raw_number: str) -> CallerContext:
        async with self.db_read() as session:
            return await caller_context(session, caller_e164)

    async def ivr_journey(self, call_id: str) -> PopIvr | None:
        async with self.db_read() as session:
            return await journey_for_call(session, call_id)

    async def record_call(self, record: CallRecord) -> None:
        await self.record_calls([record])

    async def record_calls(self, records: Sequence[CallRecord]) -> None:
        """Every record in one transaction (the call-log writer's batch)."""
        items = [(record.call_id, _call_values(record)) for record in records]
        async with self.db() as session, session.begin():
            await upsert_calls(session, items)


    async def calls_since(self, pbx: str, since: datetime) -> list[CallRecord]:
        """``CallHistory``: the calls of ``pbx`` that started up to 12 hours before
        ``since`` (a call answered or ended after midnight may have started before it;
        the statistics keep what falls in their day). One indexed range scan
        (``started_at``) at bridge start."""
        stmt = select(CallLog).where(CallLog.pbx == pbx,
                                     CallLog.started_at >= since - timedelta(hours=12))
        async with self.db_read() as session:
            rows = (await session.scalars(stmt)).all()
        return [_record_of(row) for row in rows]


def _record_of(row: CallLog) -> CallRecord:
    """A call_log row as the bridge wrote it (columns, plus what ``extra`` keeps)."""
    extra = row.extra or {}
    return CallRecord(
        call_id=row.call_id, pbx=row.pbx, linkedid=row.linkedid, direction=row.direction,
        caller_number=row.caller_number or "", caller_name=str(extra.get("caller_name") or ""),
        queue=row.queue, agent_extension=row.agent_extension,
        agents=tuple(extra.get("agents") or ()), state=row.state, started_at=row.started_at,
        answered_at=row.answered_at, ended_at=row.ended_at, wait_s=row.wait_s,
        talk_s=row.talk_s, hangup_cause=row.hangup_cause, recording_path=row.recording_path,
        dtmf=str(extra.get("dtmf") or ""), order_number=extra.get("order_number"),
        transferred_to=extra.get("transferred_to"), asr_uuid=extra.get("asr_uuid"),
        variables=dict(extra.get("variables") or {}), callee_number=row.callee_number,
        rung=tuple(extra.get("rung") or ()))


def _call_values(record: CallRecord) -> dict[str, Any]:
    """A record as call_log columns, the rest in ``extra`` (empty values left out)."""
    # Field by field, not dataclasses.asdict: that deep-copies every value (each datetime
    # through copy.deepcopy), a fifth of a call-log write's CPU. The values are strings,
    # numbers, datetimes, tuples of strings and one dict of strings: nothing to copy but
    # the dict.
    values = {name: getattr(record, name) for name in _COLUMN_FIELDS}
    extra = {name: getattr(record, name) for name in _EXTRA_FIELDS}
    extra["agents"] = list(extra["agents"])
    extra["rung"] = list(extra["rung"])
    extra["variables"] = dict(extra["variables"])
    values["extra"] = {k: v for k, v in extra.items() if v not in (None, "", [], {})}
    return values


class DbPrefillContext:
    """Ticket types' phrases from the database, and the caller's orders via the call log."""

    def __init__(self, db: async_sessionmaker[AsyncSession], default_region: str,
                 keyword_grammar: bool = False) -> None:
        self.db = db
        self.region = default_region
        self.keyword_grammar = keyword_grammar

    async def for_call(self, call_id: str) -> CallContext:
        async with self.db() as session:
            types = (await session.scalars(
                select(TicketType).where(TicketType.active.is_(True)))).all()
            phrases = {t.key: t.keywords for t in types if t.keywords} or DEFAULT_TICKET_TYPES
            call = await session.scalar(select(CallLog).where(CallLog.call_id == call_id))
            orders: list[str] = []
            language = "zh"
            if call is not None and call.customer_id is not None:
                orders = list((await session.scalars(
                    select(Order.number).where(Order.customer_id == call.customer_id)
                    .order_by(Order.purchased_at.desc()).limit(50))).all())
                customer = await session.get(Customer, call.customer_id)
                language = customer.language if customer else language
        grammar = None
        if self.keyword_grammar:
            grammar = sorted({p for by_lang in phrases.values() for ps in by_lang.values()
                              for p in ps})
        return CallContext(ticket_types=phrases, known_orders=tuple(orders), language=language,
                           default_region=self.region, grammar=grammar)
