"""The edges of telephony: what it needs from the rest of Hotline, and its settings.

``web/`` (the composition root) implements :class:`CallDirectory` over the ticket database;
``telephony`` never imports ``web`` or the database. :class:`InMemoryCallDirectory` is a
real, small implementation used by our tests and the benchmark.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Protocol
from urllib.parse import parse_qs, unquote, urlsplit

from tickets.messages import CallerContext, PopCall, PopCustomer, PopIvr, PopTicket


class TelephonyError(Exception):
    """Base of every error an action can raise."""


class PbxUnavailable(TelephonyError):
    """The PBX is unknown, not connected or not logged in: the action was not sent."""


class ActionFailed(TelephonyError):
    """Asterisk answered ``Response: Error`` (or a failed OriginateResponse).

    ``message`` is Asterisk's own text, e.g. ``No such channel``.
    """

    def __init__(self, action: str, message: str) -> None:
        super().__init__(f"{action} failed: {message}")
        self.action = action
        self.message = message


class CallNotFound(ActionFailed):
    """The call id names no live call (a 404 for the web layer, not a refusal)."""


class ActionTimeout(TelephonyError):
    """No reply from Asterisk within the timeout (the link may be dying)."""


@dataclass(frozen=True, slots=True)
class CallRecord:
    """One row of the call log, written (upserted by ``call_id``) at start, answer and end.

    ``caller_number`` is who called: the customer on inbound calls, the agent's extension on
    calls an agent placed (click-to-call, internal), whose dialled number is
    ``callee_number``; numbers are E.164 when they parse, else the raw text Asterisk sent.
    Times are timezone-aware UTC. ``state`` is the call's state when written; the final
    write has ``ended`` or ``abandoned`` and ``ended_at`` set.
    """

    call_id: str
    pbx: str
    linkedid: str
    direction: str  # inbound | outbound | internal
    caller_number: str
    caller_name: str
    queue: str | None
    agent_extension: str | None  # the agent handling the call last (after transfers)
    agents: tuple[str, ...]  # every agent who answered, in order
    state: str
    started_at: datetime
    answered_at: datetime | None
    ended_at: datetime | None
    wait_s: float | None  # queue join (or call start) -> answer / abandon
    talk_s: float | None  # answer -> end
    hangup_cause: str | None  # e.g. "16 Normal Clearing"
    recording_path: str | None
    dtmf: str  # digits the caller keyed (DTMFEnd, direction Received)
    order_number: str | None  # ORDER / HOTLINE_ORDER variable set by the IVR dialplan
    transferred_to: str | None
    asr_uuid: str | None
    variables: dict[str, str] = field(default_factory=dict)  # other HOTLINE_* variables
    callee_number: str | None = None  # inbound: the DID/extension dialled; outbound: the number
    rung: tuple[str, ...] = ()  # every agent whose phone rang for the call, in order


class CallDirectory(Protocol):
    """What telephony needs from the ticket side (implemented in ``web/``)."""

    async def lookup_caller(self, caller_e164: str | None, raw_number: str) -> CallerContext:
        """The customer (or None), their tickets, recent calls and orders."""
        ...

    async def record_call(self, record: CallRecord) -> None:
        """Idempotent upsert keyed by ``record.call_id``."""
        ...

    async def ivr_journey(self, call_id: str) -> PopIvr | None:
        """The call's way through Hotline's IVR for the pop (``None``: it never went
        through it)."""
        ...

    async def record_calls(self, records: Sequence[CallRecord]) -> None:
        """:meth:`record_call` for each record, in order, in one transaction: all of them
        are written or (an exception) none (the call-log writer retries the batch)."""
        ...


class CallHistory(Protocol):
    """The call log read back (implemented in ``web/``): today's calls of one PBX, so the
    live statistics survive a process restart (``telephony.stats``)."""

    async def calls_since(self, pbx: str, since: datetime) -> Sequence[CallRecord]:
        """Every call of ``pbx`` that started, was answered or ended at or after ``since``
        (timezone-aware), any state, in no particular order."""
        ...


class InMemoryCallDirectory:
    """A dict-backed :class:`CallDirectory` (tests, benchmark, running without a database).

    ``customers`` maps E.164 numbers to customer dicts and ``tickets`` customer ids to
    ticket lists. ``delay`` simulates a slow database for latency tests.
    """

    def __init__(self, customers: dict[str, PopCustomer] | None = None,
                 tickets: dict[int, list[PopTicket]] | None = None,
                 delay: float = 0.0) -> None:
        self.customers = customers or {}
        self.tickets = tickets or {}
        self.delay = delay
        self.calls: dict[str, CallRecord] = {}
        self.journeys: dict[str, PopIvr] = {}  # call id -> its IVR journey
        self.writes: list[CallRecord] = []
        self.batches: list[int] = []  # size of each record_calls batch
        self.lookups = 0

    async def lookup_caller(self, caller_e164: str | None, raw_number: str) -> CallerContext:
        self.lookups += 1
        if self.delay:
            await asyncio.sleep(self.delay)
        customer = self.customers.get(caller_e164 or raw_number)
        tickets = list(self.tickets.get(customer["id"], [])) if customer else []
        # The caller's last 5 finished calls, newest first while searching (a long-lived
        # directory holds every call: a scan of all of them per lookup grew without end).
        numbers = {caller_e164, raw_number}
        calls: list[PopCall] = []
        for r in reversed(self.calls.values()):
            if r.ended_at is not None and (r.caller_number in numbers
                                           or r.callee_number in numbers):
                calls.append(PopCall(
                    call_id=r.call_id, pbx=r.pbx, direction=r.direction,
                    caller_number=r.caller_number, callee_number=r.callee_number,
                    queue=r.queue, agent_extension=r.agent_extension, state=r.state,
                    started_at=r.started_at.isoformat(), talk_s=r.talk_s, wait_s=r.wait_s))
                if len(calls) == 5:
                    break
        calls.reverse()
        return {"customer": customer, "tickets": tickets, "calls": calls, "orders": []}

    async def ivr_journey(self, call_id: str) -> PopIvr | None:
        return self.journeys.get(call_id)

    async def record_call(self, record: CallRecord) -> None:
        self.writes.append(record)
        self.calls[record.call_id] = replace(record)

    async def record_calls(self, records: Sequence[CallRecord]) -> None:
        self.batches.append(len(records))
        for record in records:
            await self.record_call(record)

    async def calls_since(self, pbx: str, since: datetime) -> list[CallRecord]:
        """:class:`CallHistory`: the stored records of ``pbx`` touching ``since`` or later."""
        return [r for r in self.calls.values() if r.pbx == pbx and any(
            t is not None and t >= since for t in (r.started_at, r.answered_at, r.ended_at))]


@dataclass(frozen=True, slots=True)
class PbxConfig:
    """One AMI connection from ``HOTLINE_AMI_URL``."""

    name: str
    host: str
    port: int
    username: str
    secret: str = field(repr=False)  # never logged

    def __str__(self) -> str:
        return f"{self.name} (ami://{self.username}@{self.host}:{self.port})"


def parse_ami_urls(value: str) -> list[PbxConfig]:
    """Parse ``ami://user:secret@host:port?name=pbx1,ami://...``.

    Unnamed entries are ``pbx1``, ``pbx2``, … by position. Port defaults to 5038. Secrets
    may be percent-encoded. Raises ``ValueError`` naming the entry (without its secret).
    """
    out: list[PbxConfig] = []
    names: set[str] = set()
    parts = [p.strip() for p in value.split(",")] if value and value.strip() else []
    for i, part in enumerate(parts, start=1):
        if not part:
            raise ValueError(f"HOTLINE_AMI_URL entry {i} is empty")
        shown = part.split("@")[-1]
        try:
            url = urlsplit(part)
            port = url.port or 5038
        except ValueError as exc:
            raise ValueError(f"HOTLINE_AMI_URL entry {i} (…@{shown}): {exc}") from None
        if url.scheme != "ami":
            raise ValueError(f"HOTLINE_AMI_URL entry {i} (…@{shown}): scheme must be ami://")
        if not url.hostname:
            raise ValueError(f"HOTLINE_AMI_URL entry {i} (…@{shown}): missing host")
        if not url.username or url.password is None:
            raise ValueError(
                f"HOTLINE_AMI_URL entry {i} (…@{shown}): needs user:secret@ before the host")
        query = parse_qs(url.query)
        name = (query.get("name") or [f"pbx{i}"])[0].strip()
        if not name or ":" in name:
            raise ValueError(f"HOTLINE_AMI_URL entry {i}: invalid name {name!r}")
        if name in names:
            raise ValueError(f"HOTLINE_AMI_URL: duplicate PBX name {name!r}")
        names.add(name)
        out.append(PbxConfig(name=name, host=url.hostname, port=port,
                             username=unquote(url.username), secret=unquote(url.password)))
    return out
