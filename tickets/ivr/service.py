"""What the IVR asks of the tickets: async functions over the caller's session.

Shapes: plain frozen dataclasses of this module (:class:`IvrCaller`, :class:`IvrTicket`),
not ``softphone_bridge.ivr.ports``' types: the ticket core imports no other domain (asr and
the phone side import it). ``web/ivr_backend.py`` converts them to the port's types and runs
these functions on the application's loop. Nothing here commits: the caller's unit of work
does, so a message ticket, its recording and its history are one transaction.

Why the PIN rule looks the way it does: a caller can hear a ticket by typing its number.
Their own tickets (their number is a customer's phone) need nothing more; any other ticket
needs its PIN, compared in constant time. A wrong PIN and a ticket that does not exist give
the same ``None``, and :func:`needs_pin` says "yes" for a number that does not exist, so the
keypad cannot be used to find out which ticket numbers exist. Old tickets have no PIN
(``NULL``): only their own customer can hear them.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import exists, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from tickets.csat.models import TicketRating
from tickets.customers import customer_id_by_e164
from tickets.db import utcnow
from tickets.errors import Invalid
from tickets.ivr.models import OUTCOMES, IvrJourney
from tickets.messages import PopIvr, PopIvrStep
from tickets.models import Customer, Group, Order, Ticket, TicketCall, TicketType
from tickets.notify.events import Notify
from tickets.phones import try_normalize
from tickets.routing.service import Router
from tickets.schemas import MAX_ID, TicketIn
from tickets.service import SYSTEM, add_attachment, create_ticket, ticket_number
from tickets.templates import validate_fields

Lang = Literal["zh", "en"]
LANGS: tuple[Lang, ...] = ("zh", "en")
#: A ticket number as typed on the keypad: digits only, at most 10.
_KEYPAD_NUMBER = re.compile(r"[0-9]{1,10}")
#: How far back the caller's last resolved ticket may be to be offered for rating.
RATABLE_DAYS = 14
#: Statuses a caller hears about (everything but closed, cancelled tickets).
_HIDDEN_STATUSES = ("closed", "cancelled")
_SOLVED = ("resolved", "closed")
_DONE = (*_SOLVED, "cancelled")
#: Titles of the IVR's tickets when nothing better is known.
MESSAGE_TITLE = "语音留言 / Voice message"
CALLBACK_TITLE = "回电请求 / Call-back request"
TITLE_CHARS = 40


@dataclass(frozen=True)
class IvrCaller:
    """The customer a caller's number belongs to; ``language`` is ``zh`` or ``en`` (a
    customer with another language gets the IVR's default)."""

    customer_id: int
    name: str
    language: Lang


@dataclass(frozen=True)
class IvrTicket:
    """What the IVR reads out about a ticket. ``group``: its group's name per language
    (``{"zh": …, "en": …}``) or ``None``; ``promised_at``: the resolution due time
    (``None`` once the ticket is resolved, closed or cancelled)."""

    ticket_id: int
    number: str
    status: str
    title: str
    group: Mapping[str, str] | None = None
    promised_at: datetime | None = None


def language_of(value: str | None, default: Lang) -> Lang:
    """``value`` when the IVR speaks it, else ``default``."""
    if value == "zh":
        return "zh"
    return "en" if value == "en" else default


def keypad_ticket_id(number: str) -> int | None:
    """``"123"`` → 123; anything but 1–10 digits (or 0, or beyond an id) → ``None``."""
    if not _KEYPAD_NUMBER.fullmatch(number):
        return None
    value = int(number)
    return value if 0 < value <= MAX_ID else None


# --- who is calling --------------------------------------------------------------------

async def identify(session: AsyncSession, caller: str, region: str = "CN",
                   default_language: Lang = "zh") -> IvrCaller | None:
    """The customer having ``caller``'s number (as the screen pop matches it: E.164, the
    oldest customer with that number); ``None`` for an unknown or unreadable number
    (``anonymous``)."""
    e164 = try_normalize(caller, region)
    if e164 is None:
        return None
    customer_id = await customer_id_by_e164(session, e164)
    if customer_id is None:
        return None
    row = (await session.execute(select(Customer.name, Customer.language)
                                 .where(Customer.id == customer_id))).one()
    return IvrCaller(customer_id, row.name, language_of(row.language, default_language))


# --- reading tickets --------------------------------------------------------------------

_STATUS_QUERY = (select(Ticket.id, Ticket.status, Ticket.title, Ticket.due_at,
                        Group.name, Group.name_zh)
                 .outerjoin(Group, Group.id == Ticket.group_id))


def _status(row: Any) -> IvrTicket:
    group = None if row.name is None else {"zh": row.name_zh or row.name, "en": row.name}
    # a done ticket's due time is no promise any more ("resolved, expected by …" misleads)
    due = None if row.status in _DONE else row.due_at
    return IvrTicket(row.id, ticket_number(row.id), row.status, row.title, group, due)


async def open_tickets(session: AsyncSession, customer_id: int,
                       limit: int = 5) -> list[IvrTicket]:
    """The customer's tickets not closed or cancelled (resolved ones included), newest
    first, at most ``limit``."""
    rows = await session.execute(
        _STATUS_QUERY.where(Ticket.customer_id == customer_id,
                            Ticket.status.not_in(_HIDDEN_STATUSES))
        .order_by(Ticket.created_at.desc(), Ticket.id.desc()).limit(limit))
    return [_status(r) for r in rows]


async def _owner_and_pin(session: AsyncSession,
                         ticket_id: int) -> tuple[int | None, str | None] | None:
    row = (await session.execute(select(Ticket.customer_id, Ticket.pin)
                                 .where(Ticket.id == ticket_id))).first()
    return None if row is None else (row.customer_id, row.pin)


def pin_matches(given: str | None, stored: str | None) -> bool:
    """Whether ``given`` is the ticket's PIN (constant time; no PIN stored: never)."""
    if given is None or stored is None:
        return False
    return hmac.compare_digest(given.encode(), stored.encode())


async def needs_pin(session: AsyncSession, number: str, *, customer_id: int | None) -> bool:
    """``False`` only for the caller's own existing ticket; ``True`` otherwise — also for a
    number that does not exist, so the answer does not tell whether it does."""
    ticket_id = keypad_ticket_id(number)
    found = None if ticket_id is None else await _owner_and_pin(session, ticket_id)
    return not (found is not None and customer_id is not None and found[0] == customer_id)


async def ticket_by_number(session: AsyncSession, number: str, *, customer_id: int | None,
                           pin: str | None) -> IvrTicket | None:
    """The ticket typed on the keypad (``"123"`` = T-000123) when it is the caller's own
    or ``pin`` is its PIN; ``None`` otherwise, the same for "no such ticket"."""
    ticket_id = keypad_ticket_id(number)
    if ticket_id is None:
        return None
    found = await _owner_and_pin(session, ticket_id)
    if found is None:
        return None
    owner, stored = found
    own = customer_id is not None and owner == customer_id
    if not own and not pin_matches(pin, stored):
        return None
    row = (await session.execute(_STATUS_QUERY.where(Ticket.id == ticket_id))).one()
    return _status(row)


# --- creating tickets -------------------------------------------------------------------

@dataclass(frozen=True)
class PrefillFacts:
    """What speech extraction needs from the database (``asr.context.CallContext``'s
    inputs): active types' phrases, the caller's order numbers (newest first), language."""

    ticket_types: dict[str, dict[str, list[str]]]
    known_orders: tuple[str, ...]
    language: str


async def prefill_facts(session: AsyncSession, customer_id: int | None) -> PrefillFacts:
    """The facts the console's extraction uses for a call (as ``DbPrefillContext``)."""
    types = (await session.execute(select(TicketType.key, TicketType.keywords)
                                   .where(TicketType.active.is_(True)))).all()
    orders: tuple[str, ...] = ()
    language = "zh"
    if customer_id is not None:
        orders = tuple((await session.scalars(
            select(Order.number).where(Order.customer_id == customer_id)
            .order_by(Order.purchased_at.desc()).limit(50))).all())
        language = await session.scalar(select(Customer.language)
                                        .where(Customer.id == customer_id)) or language
    return PrefillFacts({k: dict(w) for k, w in types if w}, orders, language)


async def _usable_type(session: AsyncSession, key: str | None) -> str | None:
    """``key`` when it is an active type a ticket can have without filling its fields (the
    IVR cannot ask for them), else ``None``."""
    if not key:
        return None
    fields = await session.scalar(select(TicketType.fields).where(
        TicketType.key == key, TicketType.active.is_(True)))
    if fields is None:
        return None
    try:
        validate_fields(fields, {})
    except Invalid:
        return None
    return key


async def _usable_order(session: AsyncSession, numbers: Sequence[str],
                        customer_id: int | None) -> str | None:
    """The first heard order number the ticket may carry: the caller's own order, or a
    number that is no one's order (kept as text). Another customer's order is skipped: a
    number someone reads out must not attach the ticket to that customer."""
    for number in numbers:
        number = number.strip()[:64]
        if not number:
            continue
        owner = await session.scalar(select(Order.customer_id).where(Order.number == number))
        if owner is None or (customer_id is not None and owner == customer_id):
            return number
    return None


def message_title(transcript: str) -> str:
    """The transcript's first 40 characters (one line), or the voice-message title."""
    text = " ".join(transcript.split())
    return text[:TITLE_CHARS] if text else MESSAGE_TITLE


async def create_message_ticket(
        session: AsyncSession, *, customer_id: int | None, caller: str, call_id: str | None,
        transcript: str, wav: bytes, store: Path, max_bytes: int, allowed_types: list[str],
        ticket_type: str | None = None, order_numbers: Sequence[str] = (),
        router: Router | None = None, notify: Notify | None = None,
        region: str = "CN") -> IvrTicket:
    """A ticket from a voice message: channel ``ivr``, the transcript as description, the
    recording attached as ``message.wav`` (internal), type and order number from the
    extraction's ``ticket_type`` / ``order_numbers`` when usable (see :func:`_usable_type`
    and :func:`_usable_order`). The customer: ``customer_id``, else nobody (the caller's
    number is in the description). Raises Invalid / TooLarge from the attachment checks.
    """
    description = transcript.strip()
    if customer_id is None:
        description = f"{description}\n\n[caller {caller[:64]}]".strip()
    data = TicketIn(title=message_title(transcript), description=description[:20000],
                    type=await _usable_type(session, ticket_type), channel="ivr",
                    customer_id=customer_id,
                    order_number=await _usable_order(session, order_numbers, customer_id),
                    call_id=call_id, tags=["voicemail"], transcript=transcript[:20000])
    ticket = await create_ticket(session, data, SYSTEM, region, router, notify=notify)
    await add_attachment(session, ticket.id, SYSTEM, filename="message.wav",
                         content_type="audio/wav", content=wav, store=store,
                         max_bytes=max_bytes, allowed_types=allowed_types, public=False)
    return await _reread(session, ticket.id)


async def _reread(session: AsyncSession, ticket_id: int) -> IvrTicket:
    return _status((await session.execute(_STATUS_QUERY.where(Ticket.id == ticket_id))).one())


async def request_callback(
        session: AsyncSession, *, customer_id: int | None, caller: str, call_id: str | None,
        hour: int | None, support_queue: str | None = None, router: Router | None = None,
        notify: Notify | None = None, region: str = "CN") -> IvrTicket:
    """A call-back request: channel ``ivr``, type ``callback`` if that type exists (and
    needs no fields), title "回电请求 / Call-back request <number>", ``fields``
    ``{callback_number, callback_hour}`` (``hour`` 0–23 local, ``None``: as soon as
    possible), tag ``callback``, the group whose queue is ``support_queue`` (none: the
    ticket waits unassigned). Invalid for an hour outside 0–23."""
    if hour is not None and not 0 <= hour <= 23:
        raise Invalid(f"callback hour must be 0–23, not {hour}")
    number = try_normalize(caller, region) or caller[:40]
    group_key = None
    if support_queue:
        group_key = await session.scalar(select(Group.key).where(Group.queue == support_queue)
                                          .order_by(Group.id).limit(1))
    when = "尽快 / as soon as possible" if hour is None else f"{hour:02d}:00"
    data = TicketIn(title=f"{CALLBACK_TITLE} {number}"[:200],
                    description=f"{number} · {when}",
                    type=await _usable_type(session, "callback"), channel="ivr",
                    customer_id=customer_id, call_id=call_id, group=group_key,
                    tags=["callback"])
    ticket = await create_ticket(session, data, SYSTEM, region, router, notify=notify)
    # The call-back facts are the IVR's own fields, whatever the type's template says:
    # written after the template check, in the same transaction.
    await session.execute(update(Ticket).where(Ticket.id == ticket.id).values(
        fields={**(ticket.fields or {}), "callback_number": number, "callback_hour": hour}))
    return await _reread(session, ticket.id)


# --- rating -----------------------------------------------------------------------------

async def ratable_ticket(session: AsyncSession, *, call_id: str | None,
                         customer_id: int | None,
                         now: datetime | None = None) -> IvrTicket | None:
    """The ticket to rate: the newest resolved (or closed) ticket linked to ``call_id``
    (its own call or a linked one: the survey after an agent's call), else the customer's
    most recently resolved ticket not yet rated, resolved within :data:`RATABLE_DAYS`."""
    if call_id:
        linked = select(TicketCall.ticket_id).where(TicketCall.call_id == call_id)
        row = (await session.execute(
            _STATUS_QUERY.where(or_(Ticket.call_id == call_id, Ticket.id.in_(linked)),
                                Ticket.status.in_(_SOLVED))
            .order_by(Ticket.resolved_at.desc(), Ticket.id.desc()).limit(1))).first()
        if row is not None:
            return _status(row)
    if customer_id is None:
        return None
    since = (now or utcnow()) - timedelta(days=RATABLE_DAYS)
    rated = exists().where(TicketRating.ticket_id == Ticket.id)
    row = (await session.execute(
        _STATUS_QUERY.where(Ticket.customer_id == customer_id, Ticket.status.in_(_SOLVED),
                            Ticket.resolved_at >= since, ~rated)
        .order_by(Ticket.resolved_at.desc(), Ticket.id.desc()).limit(1))).first()
    return None if row is None else _status(row)


# --- journeys ---------------------------------------------------------------------------

def journey_language(start: Lang, steps: Sequence[Mapping[str, Any]]) -> Lang:
    """The language a leg ended in: ``start`` switched by each main-menu key 9."""
    lang = start
    for step in steps:
        if step.get("kind") == "menu" and step.get("detail") == "9":
            lang = "en" if lang == "zh" else "zh"
    return lang


def _step(raw: Mapping[str, Any]) -> PopIvrStep:
    return {"at_s": round(float(raw.get("at_s") or 0.0), 1), "kind": str(raw.get("kind", "")),
            "detail": str(raw.get("detail") or "")[:100]}


async def record_journey(session: AsyncSession, *, call_id: str | None, call_ref: str,
                         caller: str, started_at: datetime, ended_at: datetime, outcome: str,
                         steps: Sequence[Mapping[str, Any]], language: Lang) -> int:
    """Keep one IVR leg (``steps``: ``{at_s, kind, detail}``); its row id. Invalid for an
    unknown ``outcome``."""
    if outcome not in OUTCOMES:
        raise Invalid(f"unknown IVR outcome {outcome!r}; one of {list(OUTCOMES)}")
    row = IvrJourney(call_id=call_id, call_ref=call_ref[:255], caller=caller[:64],
                     started_at=started_at, ended_at=ended_at, outcome=outcome,
                     steps=[dict(_step(s)) for s in steps], language=language)
    session.add(row)
    await session.flush()
    return row.id


_SUMMARY_VERBS = {"status": "checked", "message": "left message", "callback": "call-back",
                  "rating": "rated"}


def journey_summary(outcome: str, steps: Sequence[PopIvrStep]) -> str:
    """One line for the pop, in English keys (the console renders its own words from the
    steps): ``"checked T-000123 · pressed 0 after 40 s"``."""
    parts: list[str] = []
    for step in steps:
        verb = _SUMMARY_VERBS.get(step["kind"])
        if verb is not None:
            parts.append(f"{verb} {step['detail']}".strip())
    strikes = sum(1 for s in steps if s["kind"] in ("invalid", "timeout"))
    if strikes:
        parts.append(f"{strikes} invalid/timeout")
    agent = next((s for s in steps if s["kind"] == "agent"), None)
    if agent is not None:
        key = agent["detail"] or "0"
        how = f"pressed {key}" if len(key) == 1 else f"agent ({key})"  # a key, or why
        parts.append(f"{how} after {agent['at_s']:.0f} s")
    elif outcome != "agent":
        parts.append(outcome)
    return " · ".join(parts) or outcome


async def journey_for_call(session: AsyncSession, call_id: str) -> PopIvr | None:
    """The pop's ``ivr`` field for a call: its latest IVR leg, or ``None`` when the call
    never went through the IVR."""
    row = (await session.execute(
        select(IvrJourney.outcome, IvrJourney.steps).where(IvrJourney.call_id == call_id)
        .order_by(IvrJourney.id.desc()).limit(1))).first()
    if row is None:
        return None
    steps = [_step(s) for s in row.steps or []]
    return {"outcome": row.outcome, "steps": steps,
            "summary": journey_summary(row.outcome, steps)}
