"""The websocket hub: fans bus events out to the consoles that should see them.

Why it is shaped this way:

* One bus subscription feeds the whole hub, so it works the same with the in-process bus and
  with Redis (it only uses the :class:`tickets.bus.Bus` interface).
* Who gets an event is decided by pure code that knows nothing of sockets, so it is
  unit-tested without any I/O: :data:`ROUTES`, a table of (topic, type) → audience rules
  (small functions: the rung agent, the call's agents and watchers, supervisors, …), and
  :class:`CallIndex` (which agents are on which call).
* Being *addressed* by a route is not enough: every recipient must also be *allowed* the
  message, by :data:`PERMITS` (message type → a rule that reads the event once and then
  answers for each addressed console).
  Routes say who wants an event; permits say who may see it, with the same rules as the REST
  API: a message carrying a ticket passes :func:`tickets.service.may_see_ticket` (the one
  function ``GET /api/v1/tickets/{id}`` uses), call and speech material goes to the roles
  that may read calls over REST, floor material to supervisors. A group member who is not
  allowed the ticket (an engineer it is not assigned to) never gets it. :data:`PERMITS`
  names every type of :data:`tickets.messages.CATALOGUE`, so a new message type cannot be
  delivered before someone decides who may see it (``tests/web/test_ws_visibility.py``).
* The hub indexes its consoles by extension, user, group, floor role and watched call, so an
  event addressed to one agent looks at that agent's consoles, not at all of them (the
  transcript lines of every live call each scanned every console before; issue #19). The
  index only narrows the search: :func:`select_recipients` still decides, on those consoles.
* Consoles that routing cannot tell apart (same user, role, extension, groups, customer
  record and watched calls: one user's several tabs, or a wall of floor screens logged in as
  one supervisor) share one *kind*, and the index and :func:`select_recipients` work on
  kinds: a route and a permit are decided once per kind and event, not once per console.
  The consoles of a chosen kind are then written in one tight loop (issue #19: with 1,000
  consoles, Python between the kernel's writes was about a fifth of the fan-out's time).
* The event is serialized once, and where the server allows it (uvicorn, ``web/wsdirect.py``)
  the one websocket frame is written straight to each idle console's transport: no task
  wake-up and no ASGI send per console, which was most of the fan-out's cost (issue #19).
* Every connection also owns a bounded queue and its own sender task, for what cannot be
  written at once: a console whose transport is paused by flow control, one with messages
  already queued (order is kept), a server without direct writes. So one slow browser never
  delays the others. A
  client that falls behind loses its oldest messages; one that stays behind (a whole outbox
  dropped without a send completing), or whose socket does not take a message within
  ``send_timeout_s`` (a watchdog, not a timer per message), is disconnected with a log line
  naming it.
* Heartbeats: the hub pings every console at an interval and closes those it has not heard
  from for too long (a laptop lid closed mid-call leaves a half-open TCP connection).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import time
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from tickets import messages
from tickets.bus import (
    TOPIC_ASR,
    TOPIC_CALLS,
    TOPIC_PBX,
    TOPIC_QUEUES,
    TOPIC_SESSIONS,
    TOPIC_TICKETS,
    TOPIC_WORK_ORDERS,
    Bus,
    Event,
    Subscription,
)
from tickets.service import STAFF_ROLES, Actor, may_see_ticket
from web.wsdirect import text_frame

log = logging.getLogger(__name__)

#: Roles that see the whole floor (queue stats, agent states, PBX status).
SUPERVISOR_ROLES = frozenset({"supervisor", "admin"})
#: Roles that may see call material at all (``GET /api/v1/calls`` is theirs): pops, call
#: updates, transcripts. An agent follows only calls on their own extension; supervisors
#: and admins any call (``web/callaccess.py``).
CALL_ROLES = STAFF_ROLES
#: The topics the hub listens to.
HUB_TOPICS = (TOPIC_CALLS, TOPIC_ASR, TOPIC_QUEUES, TOPIC_TICKETS, TOPIC_WORK_ORDERS, TOPIC_PBX,
              TOPIC_SESSIONS)

#: Bus events the hub routes in one go before it lets the sender tasks run (at most half
#: a console's outbox).
PUMP_SLICE = 32

#: Websocket close codes used by the hub.
CLOSE_GOING_AWAY = 1001
CLOSE_POLICY = 1008
CLOSE_TRY_AGAIN = 1013
#: Application code (4000-4999): the user already has ``HOTLINE_WS_MAX_PER_USER`` consoles.
CLOSE_TOO_MANY = 4429


def normalize_extension(value: Any) -> str | None:
    """``"PJSIP/6001"``, ``"SIP/6001-0000001"``, ``"6001"`` → ``"6001"``; junk → None.

    Publishers may name the rung device or the bare extension; consoles know the bare one.
    """
    if value is None:
        return None
    text = str(value).strip()
    if "/" in text:
        text = text.split("/", 1)[1]
    # A channel name carries a unique suffix after the last '-' (PJSIP/6001-00000012).
    if "-" in text:
        head, _, tail = text.rpartition("-")
        if head and len(tail) == 8 and all(c in "0123456789abcdefABCDEF" for c in tail):
            text = head
    return text or None


@dataclass(frozen=True)
class ConsoleView:
    """What routing needs to know about one connected console."""

    conn_id: int
    user_id: int
    role: str
    extension: str | None
    group_ids: tuple[int, ...] = ()
    watched_calls: frozenset[str] = frozenset()
    customer_id: int | None = None

    @cached_property
    def actor(self) -> Actor:
        """The console's user as the ticket rules see them (the REST API's ``Actor``);
        made once per view, since every ticket event asks it of every addressed console."""
        return Actor(id=self.user_id, role=self.role, customer_id=self.customer_id)


class CallIndex:
    """Which extensions are on which call, learned from ``screen_pop`` and ``call_update``.

    ``asr`` and ``ticket_prefill`` only carry a ``call_id``; this index lets the hub send them
    to the agents on that call. Bounded (LRU) so it cannot grow without limit; an ended call
    stays a while because the last transcript can arrive after the hang-up.
    """

    def __init__(self, max_calls: int = 10_000) -> None:
        self._calls: OrderedDict[str, set[str]] = OrderedDict()
        self._handed: OrderedDict[str, set[str]] = OrderedDict()
        self._max = max_calls

    def observe(self, topic: str, event: Event) -> None:
        """Update the index from a bus event (call events and ``ticket_transfer``)."""
        if topic == TOPIC_TICKETS and event.get("type") == "ticket_transfer":
            self._hand_over(event)
            return
        if topic != TOPIC_CALLS:
            return
        call_id = event.get("call_id")
        if not isinstance(call_id, str) or not call_id:
            return
        kind = event.get("type")
        found: list[str] = []
        if kind == "screen_pop":
            ext = normalize_extension(event.get("extension"))
            if ext:
                found.append(ext)
        elif kind == "call_update":
            exts = event.get("extensions")
            if isinstance(exts, list):
                found.extend(e for e in map(normalize_extension, exts) if e)
        else:
            return
        entry = self._calls.get(call_id)
        if entry is None:
            entry = self._calls[call_id] = set()
        else:
            self._calls.move_to_end(call_id)
        entry.update(found)
        while len(self._calls) > self._max:
            self._calls.popitem(last=False)

    def _hand_over(self, event: Event) -> None:
        call_id, ext = event.get("call_id"), normalize_extension(event.get("to_extension"))
        if not isinstance(call_id, str) or not call_id or not ext:
            return
        self._handed.setdefault(call_id, set()).add(ext)
        self._handed.move_to_end(call_id)
        while len(self._handed) > self._max:
            self._handed.popitem(last=False)

    def extensions(self, call_id: str) -> frozenset[str]:
        return frozenset(self._calls.get(call_id, ()))

    def handed_to(self, call_id: str) -> frozenset[str]:
        """The extensions a call was transferred to with a ticket (``ticket_transfer``, which
        only the transfer API publishes, after checking the transferer's right to the call):
        they may follow it at once, before the PBX's own events show their leg."""
        return frozenset(self._handed.get(call_id, ()))

    def __len__(self) -> int:
        return len(self._calls)


def _ints(value: Any) -> set[int]:
    """An id or list of ids from an event, as ints; anything else is ignored."""
    values = value if isinstance(value, list | tuple) else [value]
    out: set[int] = set()
    for v in values:
        if isinstance(v, bool):
            continue
        if isinstance(v, int):
            out.add(v)
        elif isinstance(v, str) and v.isdigit():
            out.add(int(v))
    return out


@dataclass(frozen=True, slots=True)
class Audience:
    """Who an event is for, as rules on :class:`ConsoleView` fields (pure data).

    A console is in the audience when its extension is in ``extensions``, its user in
    ``users``, one of its groups in ``groups``, it is a supervisor and ``supervisors`` is set,
    or it watches call ``watchers_of``.
    """

    extensions: frozenset[str] = frozenset()
    users: frozenset[int] = frozenset()
    groups: frozenset[int] = frozenset()
    supervisors: bool = False
    watchers_of: str | None = None


NOBODY = Audience()
#: An audience rule: the part of an event's audience one rule names (pure).
Rule = Callable[[Event, CallIndex], Audience]


def _call_id(event: Event) -> str | None:
    call_id = event.get("call_id")
    return call_id if isinstance(call_id, str) and call_id else None


def _exts(*values: object) -> frozenset[str]:
    return frozenset(e for e in map(normalize_extension, values) if e)


def rung_agent(event: Event, calls: CallIndex) -> Audience:
    """The consoles of the extension being rung (``extension``)."""
    return Audience(extensions=_exts(event.get("extension")))


def agents_on_call(event: Event, calls: CallIndex) -> Audience:
    """Every agent the call involved: named in the event (``extensions``) or seen before."""
    raw = event.get("extensions")
    named = _exts(*raw) if isinstance(raw, list) else frozenset()
    call_id = _call_id(event)
    return Audience(extensions=named | calls.extensions(call_id) if call_id else named)


def agents_known_on_call(event: Event, calls: CallIndex) -> Audience:
    """The agents :class:`CallIndex` saw on the call (events that carry only ``call_id``)."""
    call_id = _call_id(event)
    return Audience(extensions=calls.extensions(call_id)) if call_id else NOBODY


def watchers_of_call(event: Event, calls: CallIndex) -> Audience:
    """The consoles that chose to follow the call (``watch_call``)."""
    return Audience(watchers_of=_call_id(event))


def supervisors(event: Event, calls: CallIndex) -> Audience:
    """Everyone who sees the whole floor (:data:`SUPERVISOR_ROLES`)."""
    return Audience(supervisors=True)


def own_consoles(event: Event, calls: CallIndex) -> Audience:
    """The agent's own consoles (``user_id``, ``extension``): a change made elsewhere."""
    return Audience(users=frozenset(_ints(event.get("user_id"))),
                    extensions=_exts(event.get("extension")))


def transfer_target(event: Event, calls: CallIndex) -> Audience:
    """The colleague a call was transferred to (``to_extension``)."""
    return Audience(extensions=_exts(event.get("to_extension")))


def ticket_visible(event: Event, calls: CallIndex) -> Audience:
    """Who works the ticket: its assignee and its group's members."""
    nested = event.get("ticket")
    ticket: Event = nested if isinstance(nested, dict) else event
    return Audience(users=frozenset(_ints(ticket.get("assignee_id"))),
                    groups=frozenset(_ints(ticket.get("group_id"))))


def notified_users(event: Event, calls: CallIndex) -> Audience:
    """The users a routing rule's ``notify`` named (``user_ids``)."""
    return Audience(users=frozenset(_ints(event.get("user_ids"))))


def work_order_engineer(event: Event, calls: CallIndex) -> Audience:
    """The field engineer the work order is assigned to (``engineer_id``)."""
    return Audience(users=frozenset(_ints(event.get("engineer_id"))))


#: The routing table: (topic, type) → the rules whose union is the event's audience.
#: Anything not listed goes to nobody (``session_revoked`` closes sockets instead).
ROUTES: dict[tuple[str, str], tuple[Rule, ...]] = {
    (TOPIC_CALLS, "screen_pop"): (rung_agent,),
    # The floor follows every live call (issue #13's wallboard), the agents their own.
    (TOPIC_CALLS, "call_update"): (agents_on_call, watchers_of_call, supervisors),
    (TOPIC_ASR, "asr"): (agents_known_on_call, watchers_of_call),
    (TOPIC_ASR, "ticket_prefill"): (agents_known_on_call, watchers_of_call),
    (TOPIC_QUEUES, "queue_stats"): (supervisors,),
    # The floor sees it, and the agent's own consoles follow a change made elsewhere.
    (TOPIC_QUEUES, "agent_state"): (supervisors, own_consoles),
    (TOPIC_QUEUES, "agent_stats"): (supervisors,),
    (TOPIC_PBX, "pbx_status"): (supervisors,),
    (TOPIC_TICKETS, "ticket_transfer"): (transfer_target,),
    (TOPIC_TICKETS, "ticket_created"): (ticket_visible,),
    (TOPIC_TICKETS, "ticket_updated"): (ticket_visible,),
    (TOPIC_TICKETS, "ticket_notice"): (notified_users,),
    (TOPIC_TICKETS, "notification"): (notified_users,),
    # the engineer's phone, and the floor (the dispatcher board reloads on it)
    (TOPIC_WORK_ORDERS, "work_order"): (work_order_engineer, supervisors),
}


#: Whether one console may receive the event a :data:`Permit` was bound to (pure).
Check = Callable[["ConsoleView"], bool]
#: A permit: bound to one event (read once), it answers for each addressed console whether
#: that user may receive it (pure; the REST API's rules). Two stages because fan-out asks
#: it of up to every console for every event: the event is parsed once, not per console.
Permit = Callable[[Event], Check]


def _id_or_none(value: Any) -> int | None:
    found = _ints(value)
    return next(iter(found)) if len(found) == 1 else None


def _nobody(console: ConsoleView) -> bool:
    return False


def may_see_ticket_message(event: Event) -> Check:
    """The ticket the event carries passes :func:`tickets.service.may_see_ticket` for the
    console's user: exactly what ``GET /api/v1/tickets/{id}`` would answer (no ticket: no)."""
    ticket = event.get("ticket")
    if not isinstance(ticket, dict):
        return _nobody
    customer_id = _id_or_none(ticket.get("customer_id"))
    assignee_id = _id_or_none(ticket.get("assignee_id"))
    return lambda c: may_see_ticket(c.actor, customer_id=customer_id, assignee_id=assignee_id)


def may_get_notification(event: Event) -> Check:
    """A notification: only the staff member (or engineer) it names (``user_ids``); the
    outbox wrote it for them, after the ticket rules chose its audience."""
    named = frozenset(_ints(event.get("user_ids")))
    return lambda c: c.user_id in named and c.role != "customer"


def _is_call_role(console: ConsoleView) -> bool:
    return console.role in CALL_ROLES


def _is_floor(console: ConsoleView) -> bool:
    return console.role in SUPERVISOR_ROLES


def may_see_calls(event: Event) -> Check:
    """Call and speech material: the roles that may read calls over REST (:data:`CALL_ROLES`)."""
    return _is_call_role


def may_see_floor(event: Event) -> Check:
    """Queue statistics and PBX state: supervisors and admins (:data:`SUPERVISOR_ROLES`)."""
    return _is_floor


def may_see_agent_state(event: Event) -> Check:
    """An agent's state: the floor, or the agent's own consoles (by user or extension;
    staff only)."""
    users = _ints(event.get("user_id"))
    ext = normalize_extension(event.get("extension"))

    def check(c: ConsoleView) -> bool:
        if c.role in SUPERVISOR_ROLES:
            return True
        return c.role in CALL_ROLES and (
            c.user_id in users or (c.extension is not None and c.extension == ext))
    return check


def may_see_transfer(event: Event) -> Check:
    """A ticket handed over with a call: call material *and* the ticket's own rule."""
    ticket_rule = may_see_ticket_message(event)
    return lambda c: c.role in CALL_ROLES and ticket_rule(c)


def may_see_work_order(event: Event) -> Check:
    """A work order: its engineer (never a customer login), or the floor."""
    engineers = _ints(event.get("engineer_id"))
    return lambda c: c.role in SUPERVISOR_ROLES or (
        c.role != "customer" and c.user_id in engineers)


def never(event: Event) -> Check:
    """Not a console message: bus-only (``call_log``, ``asr_link``), a control message
    (``session_revoked`` closes sockets), or a direct reply to one socket (``hello``,
    ``ping``, ``pong``, ``watching``, ``error``), which never goes through :meth:`Hub.deliver`."""
    return _nobody


def permitted(console: ConsoleView, event: Event) -> bool:
    """May ``console`` receive ``event``? (:data:`PERMITS`; an unknown type: no.)"""
    kind = event.get("type")
    permit = PERMITS.get(kind, never) if isinstance(kind, str) else never
    return permit(event)(console)


#: Every message type of :data:`tickets.messages.CATALOGUE` → who may receive it from the
#: bus. A type missing here is delivered to nobody (and fails the visibility matrix test).
PERMITS: dict[str, Permit] = {
    "screen_pop": may_see_calls,
    "call_update": may_see_calls,
    "call_log": never,
    "asr": may_see_calls,
    "ticket_prefill": may_see_calls,
    "asr_link": never,
    "queue_stats": may_see_floor,
    "agent_state": may_see_agent_state,
    "agent_stats": may_see_floor,
    "pbx_status": may_see_floor,
    "ticket_created": may_see_ticket_message,
    "ticket_updated": may_see_ticket_message,
    "ticket_transfer": may_see_transfer,
    "ticket_notice": may_see_ticket_message,
    "notification": may_get_notification,
    "work_order": may_see_work_order,
    "session_revoked": never,
    "hello": never,
    "ping": never,
    "pong": never,
    "watching": never,
    "error": never,
}


def audience(topic: str, event: Event, calls: CallIndex) -> Audience:
    """The union of the audiences :data:`ROUTES` names for this event (pure)."""
    kind = event.get("type")
    rules = ROUTES.get((topic, kind)) if isinstance(kind, str) else None
    if not rules:
        return NOBODY
    parts = [rule(event, calls) for rule in rules]
    if len(parts) == 1:
        return parts[0]
    return Audience(
        extensions=frozenset().union(*(p.extensions for p in parts)),
        users=frozenset().union(*(p.users for p in parts)),
        groups=frozenset().union(*(p.groups for p in parts)),
        supervisors=any(p.supervisors for p in parts),
        watchers_of=next((p.watchers_of for p in parts if p.watchers_of), None))


def select_recipients(
    topic: str, event: Event, consoles: Iterable[ConsoleView], calls: CallIndex
) -> set[int]:
    """The ``conn_id`` of each view that should receive ``event`` (pure): addressed by
    :data:`ROUTES` *and* allowed by :data:`PERMITS`. (The hub passes one view per kind of
    console, its ``conn_id`` the kind's id: every member of a kind gets the same answer.)

    Call ``calls.observe(topic, event)`` first so an event that names new extensions reaches
    them too.
    """
    who = audience(topic, event, calls)
    if who == NOBODY:
        return set()
    kind = event.get("type")
    permit = (PERMITS.get(kind, never) if isinstance(kind, str) else never)(event)
    # Locals and one plain loop: this runs for every console on every event (bench_ws).
    exts, users, groups = who.extensions, who.users, who.groups
    sup, watched, roles = who.supervisors, who.watchers_of, SUPERVISOR_ROLES
    out: set[int] = set()
    for c in consoles:
        if (
            (c.extension is not None and c.extension in exts)
            or c.user_id in users
            or (groups and not groups.isdisjoint(c.group_ids))
            or (sup and c.role in roles)
            or (watched is not None and watched in c.watched_calls)
        ) and permit(c):
            out.add(c.conn_id)
    return out


_NONE: frozenset[int] = frozenset()


def _add(index: dict[Any, set[int]], key: Any, conn_id: int) -> None:
    index.setdefault(key, set()).add(conn_id)


def _discard(index: dict[Any, set[int]], key: Any, conn_id: int) -> None:
    ids = index.get(key)
    if ids is not None:
        ids.discard(conn_id)
        if not ids:
            del index[key]


SendText = Callable[[str], Awaitable[None]]
CloseFn = Callable[[int, str], Awaitable[None]]
#: Writes one ready-made frame (:func:`web.wsdirect.text_frame`) now; False when it cannot
#: (socket closing, or paused by flow control): the message then goes through the outbox.
WriteFrame = Callable[[bytes], bool]


@dataclass(eq=False)
class _Kind:
    """The consoles routing cannot tell apart (one routing key, see :meth:`Hub._key`).
    ``view``: what routing reads, with the kind's id as ``conn_id``; ``conns``: the members
    by conn id; ``members``: a snapshot of them, for a fan-out loop that may drop some."""

    view: ConsoleView
    conns: dict[int, Connection] = field(default_factory=dict)
    _members: tuple[Connection, ...] | None = None

    @property
    def members(self) -> tuple[Connection, ...]:
        if self._members is None:
            self._members = tuple(self.conns.values())
        return self._members


#: A kind's routing key: user id, role, extension, group ids, customer id, watched calls.
KindKey = tuple[int, str, str | None, tuple[int, ...], int | None, frozenset[str]]


@dataclass(eq=False)
class Connection:
    """One console: its identity, its bounded outbox and its sender task."""

    conn_id: int
    user_id: int
    username: str
    role: str
    extension: str | None
    group_ids: tuple[int, ...]
    send_text: SendText
    close_fn: CloseFn
    queue_size: int
    #: The direct path (``web/wsdirect.py``), when the server offers one.
    write_frame: WriteFrame | None = None
    watched_calls: set[str] = field(default_factory=set)
    outbox: deque[str] = field(default_factory=deque)
    wakeup: asyncio.Event = field(default_factory=asyncio.Event)
    dropped: int = 0
    dropped_since_send: int = 0
    sent: int = 0
    last_seen: float = field(default_factory=time.monotonic)
    #: monotonic time the send in progress started (None: idle); the watchdog reads it.
    sending_since: float | None = None
    closed: bool = False
    task: asyncio.Task[None] | None = None
    #: The login behind the socket (JWT ``jti``, issue time): a logout closes the socket.
    token_id: str | None = None
    issued_ms: int | None = None
    #: A customer's own customer record (the ticket rule needs it); None for staff.
    customer_id: int | None = None
    _view: ConsoleView | None = None
    #: The hub's kind this console is in (None once forgotten).
    kind: _Kind | None = None

    def view(self) -> ConsoleView:
        """This console's own routing view (cached). The hub routes on its kind's view;
        this one is for callers that look at single consoles (tests, diagnosis)."""
        if self._view is None:
            self._view = ConsoleView(self.conn_id, self.user_id, self.role, self.extension,
                                     self.group_ids, frozenset(self.watched_calls),
                                     self.customer_id)
        return self._view

    def label(self) -> str:
        return f"console #{self.conn_id} of {self.username} (ext {self.extension or '-'})"

    def offer(self, text: str) -> bool:
        """Queue ``text``; when full, drop the oldest. False once the client is hopeless."""
        if self.closed:
            return False
        if len(self.outbox) >= self.queue_size:
            self.outbox.popleft()
            self.dropped += 1
            self.dropped_since_send += 1
            if self.dropped_since_send == 1:
                log.warning("%s is behind: outbox full (%d), dropping oldest messages",
                            self.label(), self.queue_size)
        self.outbox.append(text)
        self.wakeup.set()
        # A whole outbox dropped without a single send completing: it is not reading.
        return self.dropped_since_send < self.queue_size


class Hub:
    """Registry of consoles and the router between the bus and them.

    Lifecycle: ``await hub.start()`` subscribes to the bus and starts the heartbeat;
    ``await hub.stop()`` closes every console. ``connect``/``disconnect`` are called by the
    websocket endpoint; ``deliver`` can also be called directly (tests, local events).
    """

    def __init__(
        self,
        bus: Bus,
        *,
        queue_size: int = 256,
        heartbeat_s: float = 20.0,
        dead_after_s: float = 60.0,
        send_timeout_s: float = 10.0,
    ) -> None:
        self.bus = bus
        self.queue_size = queue_size
        self.heartbeat_s = heartbeat_s
        self.dead_after_s = dead_after_s
        self.send_timeout_s = send_timeout_s
        self.calls = CallIndex()
        self._conns: dict[int, Connection] = {}
        # Consoles routing cannot tell apart share a kind (:class:`_Kind`).
        self._kinds: dict[KindKey, _Kind] = {}
        self._kind_ids: dict[int, _Kind] = {}
        # Who is where, for :meth:`recipients` (kind ids; a key goes when its set empties).
        self._by_user: dict[int, set[int]] = {}
        self._by_ext: dict[str, set[int]] = {}
        self._by_group: dict[int, set[int]] = {}
        self._floor: set[int] = set()
        self._watchers: dict[str, set[int]] = {}
        self._ids = itertools.count(1)
        self._sub: Subscription | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._bg: set[asyncio.Task[None]] = set()
        self.delivered = 0
        self.written_direct = 0
        self.disconnected_slow = 0

    def _spawn(self, coro: Awaitable[None]) -> None:
        """Run a fire-and-forget close, keeping a reference so it is not collected."""
        task = asyncio.ensure_future(coro)
        self._bg.add(task)
        task.add_done_callback(self._bg.discard)

    # -- lifecycle ---------------------------------------------------------------------
    async def start(self) -> None:
        if self._sub is not None:
            return
        self._sub = self.bus.subscribe(*HUB_TOPICS)
        self._tasks = [
            asyncio.create_task(self._pump(self._sub), name="hub-pump"),
            asyncio.create_task(self._heartbeat(), name="hub-heartbeat"),
            asyncio.create_task(self._watchdog(), name="hub-watchdog"),
        ]

    async def stop(self) -> None:
        sub, self._sub = self._sub, None
        if sub is not None:
            await sub.close()
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await t
        self._tasks = []
        await asyncio.gather(
            *(self._close(c, CLOSE_GOING_AWAY, "server shutting down")
              for c in list(self._conns.values())),
            return_exceptions=True,
        )

    async def _pump(self, sub: Subscription) -> None:
        """Bus → consoles. A bad event is logged and skipped; the pump never dies of one.

        Events already queued are routed together, up to :data:`PUMP_SLICE` of them, before
        the pump yields: the sender tasks then run between slices, so a burst is spread
        over the consoles' queues instead of piling into them. (Yielding after every event
        made the pump route one event per loop iteration: with a busy loop a backlog grew
        behind it, and a screen pop waited behind every status event queued before it.)"""
        # A console's outbox must never fill within one slice (a console that reads would
        # lose messages, and be disconnected once a whole outbox went unsent).
        slice_ = max(1, min(PUMP_SLICE, self.queue_size // 2))
        while True:
            try:
                routed = 0
                async for topic, event in sub:
                    try:
                        self.deliver(topic, event)
                    except Exception:
                        log.exception("hub could not route %r event on %s",
                                      event.get("type") if isinstance(event, dict) else event,
                                      topic)
                    routed += 1
                    if routed >= slice_:  # (an empty queue suspends the pump anyway)
                        routed = 0
                        await asyncio.sleep(0)
                return  # subscription closed
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("hub bus subscription failed; resubscribing in 1 s")
                await asyncio.sleep(1.0)
                with contextlib.suppress(Exception):
                    await sub.close()
                if self._sub is not sub:
                    return
                sub = self._sub = self.bus.subscribe(*HUB_TOPICS)

    async def _heartbeat(self) -> None:
        ping = json.dumps(messages.ping())
        ping_frame = text_frame(ping.encode())
        while True:
            await asyncio.sleep(self.heartbeat_s)
            now = time.monotonic()
            for conn in list(self._conns.values()):
                if now - conn.last_seen > self.dead_after_s:
                    log.info("%s silent for %.0f s: closing", conn.label(),
                             now - conn.last_seen)
                    self._spawn(self._close(conn, CLOSE_GOING_AWAY, "heartbeat timeout"))
                else:
                    self._push(conn, ping, ping_frame)

    async def _watchdog(self) -> None:
        """Disconnect consoles whose socket has not taken a message for send_timeout_s."""
        period = max(0.01, min(1.0, self.send_timeout_s / 4))
        while True:
            await asyncio.sleep(period)
            now = time.monotonic()
            for conn in list(self._conns.values()):
                since = conn.sending_since
                if since is not None and now - since > self.send_timeout_s:
                    log.warning("%s did not take a message in %.0f s: disconnecting it",
                                conn.label(), now - since)
                    self.disconnected_slow += 1
                    self._forget(conn)
                    self._spawn(self._close_socket(conn, CLOSE_TRY_AGAIN, "too slow"))

    # -- registry ----------------------------------------------------------------------
    def connect(
        self,
        *,
        user_id: int,
        username: str,
        role: str,
        extension: str | None,
        group_ids: Iterable[int] = (),
        send_text: SendText,
        close: CloseFn,
        write_frame: WriteFrame | None = None,
        token_id: str | None = None,
        issued_ms: int | None = None,
        customer_id: int | None = None,
    ) -> Connection:
        """Register a console and start its sender task. ``write_frame``: the socket's
        direct path (``web/wsdirect.py``); None: every message goes through ``send_text``."""
        conn = Connection(
            conn_id=next(self._ids), user_id=user_id, username=username, role=role,
            extension=normalize_extension(extension), group_ids=tuple(group_ids),
            send_text=send_text, close_fn=close, queue_size=self.queue_size,
            write_frame=write_frame,
            token_id=token_id, issued_ms=issued_ms, customer_id=customer_id,
        )
        self._conns[conn.conn_id] = conn
        self._join(conn)
        conn.task = asyncio.create_task(self._sender(conn), name=f"hub-send-{conn.conn_id}")
        return conn

    async def disconnect(self, conn: Connection) -> None:
        """Forget a console (its socket is already gone or being closed by the caller)."""
        self._forget(conn)
        task = conn.task
        if task is not None and task is not asyncio.current_task():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    def _forget(self, conn: Connection) -> None:
        conn.closed = True
        conn.wakeup.set()
        self._conns.pop(conn.conn_id, None)
        self._leave(conn)

    @staticmethod
    def _key(conn: Connection) -> KindKey:
        """Everything routing and permits read of a console (:class:`ConsoleView` but its id)."""
        return (conn.user_id, conn.role, conn.extension, conn.group_ids, conn.customer_id,
                frozenset(conn.watched_calls))

    def _join(self, conn: Connection) -> None:
        """Put ``conn`` in the kind of its routing key (made, and indexed, if new)."""
        key = self._key(conn)
        kind = self._kinds.get(key)
        if kind is None:
            kid = next(self._ids)
            kind = self._kinds[key] = self._kind_ids[kid] = _Kind(ConsoleView(
                kid, conn.user_id, conn.role, conn.extension, conn.group_ids,
                key[5], conn.customer_id))
            _add(self._by_user, conn.user_id, kid)
            if conn.extension is not None:
                _add(self._by_ext, conn.extension, kid)
            for group in conn.group_ids:
                _add(self._by_group, group, kid)
            if conn.role in SUPERVISOR_ROLES:
                self._floor.add(kid)
            for call_id in key[5]:
                _add(self._watchers, call_id, kid)
        kind.conns[conn.conn_id] = conn
        kind._members = None
        conn.kind = kind

    def _leave(self, conn: Connection) -> None:
        """Take ``conn`` out of its kind (the kind and its index entries go with its last)."""
        kind, conn.kind = conn.kind, None
        if kind is None:
            return
        kind.conns.pop(conn.conn_id, None)
        kind._members = None
        if kind.conns:
            return
        view = kind.view
        kid = view.conn_id
        del self._kind_ids[kid]
        del self._kinds[(view.user_id, view.role, view.extension, view.group_ids,
                         view.customer_id, view.watched_calls)]
        _discard(self._by_user, view.user_id, kid)
        if view.extension is not None:
            _discard(self._by_ext, view.extension, kid)
        for group in view.group_ids:
            _discard(self._by_group, group, kid)
        self._floor.discard(kid)
        for call_id in view.watched_calls:
            _discard(self._watchers, call_id, kid)

    async def _close(self, conn: Connection, code: int, reason: str) -> None:
        """Forget the console and close its socket (bounded in time: the peer may be stuck)."""
        if conn.closed:
            return
        self._forget(conn)
        await self._close_socket(conn, code, reason)

    async def _close_socket(self, conn: Connection, code: int, reason: str) -> None:
        if conn.task is not None and conn.task is not asyncio.current_task():
            conn.task.cancel()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(conn.close_fn(code, reason), timeout=self.send_timeout_s)

    async def close(self, conn: Connection, code: int, reason: str) -> None:
        """Close one console from outside the hub (e.g. its login expired)."""
        await self._close(conn, code, reason)

    def touch(self, conn: Connection) -> None:
        """The client said something: it is alive."""
        conn.last_seen = time.monotonic()

    def watch_call(self, conn: Connection, call_id: str) -> bool:
        """Let a console follow a call it was not rung for (e.g. after a transfer)."""
        if conn.role not in CALL_ROLES or conn.closed:
            return False
        if call_id in conn.watched_calls:
            return True
        self._leave(conn)  # another routing key: another kind
        if len(conn.watched_calls) >= 32:  # bounded: a console follows a handful of calls
            conn.watched_calls.pop()
        conn.watched_calls.add(call_id)
        conn._view = None
        self._join(conn)
        return True

    def unwatch_call(self, conn: Connection, call_id: str) -> None:
        if call_id not in conn.watched_calls:
            return
        if conn.closed:
            conn.watched_calls.discard(call_id)
            return
        self._leave(conn)
        conn.watched_calls.discard(call_id)
        conn._view = None
        self._join(conn)

    def user_connections(self, user_id: int) -> int:
        """How many consoles ``user_id`` has open on this hub."""
        kinds = self._kind_ids
        return sum(len(kinds[k].conns) for k in self._by_user.get(user_id, ()))

    def stats(self) -> dict[str, Any]:
        return {
            "connections": len(self._conns),
            "users": len(self._by_user),
            "calls_tracked": len(self.calls),
            "delivered": self.delivered,
            "written_direct": self.written_direct,
            "disconnected_slow": self.disconnected_slow,
        }

    # -- delivery ----------------------------------------------------------------------
    def deliver(self, topic: str, event: Event) -> int:
        """Route one bus event to its consoles; returns how many it was queued for."""
        if not isinstance(event, dict):
            return 0
        if topic == TOPIC_SESSIONS:
            return self._end_sessions(event)
        self.calls.observe(topic, event)
        kinds = self._recipient_kinds(topic, event)
        if not kinds:
            return 0
        # Serialized once and framed once, for all consoles.
        text = json.dumps(event, ensure_ascii=False, default=str)
        frame = text_frame(text.encode())
        n = direct = 0
        offer = self._offer
        # One tight loop per kind (no call per console but the write): with 1,000 consoles
        # this is the server's whole fan-out (bench_ws). A console written directly has
        # nothing queued or being sent (so its messages keep their order); the others, and
        # any whose socket declines the frame (paused by flow control), go through the
        # outbox. ``members`` is a snapshot: ``offer`` may drop a hopeless console.
        for kind in kinds:
            for conn in kind.members:
                write = conn.write_frame
                if (write is not None and not conn.outbox and conn.sending_since is None
                        and not conn.closed and write(frame)):
                    conn.sent += 1
                    if conn.dropped_since_send:
                        conn.dropped_since_send = 0
                    direct += 1
                elif offer(conn, text):
                    n += 1
        n += direct
        self.written_direct += direct
        self.delivered += n
        return n

    def _push(self, conn: Connection, text: str, frame: bytes) -> bool:
        """``text`` to one console: written now as ``frame`` (its direct path) if nothing of
        this console's is queued or being sent (so its messages keep their order) and the
        socket takes it; queued in its outbox otherwise. False once the console is dropped.
        (:meth:`deliver` inlines this for its fan-out.)"""
        if (conn.write_frame is not None and not conn.outbox and conn.sending_since is None
                and not conn.closed and conn.write_frame(frame)):
            conn.sent += 1
            conn.dropped_since_send = 0
            self.written_direct += 1
            return True
        return self._offer(conn, text)

    def recipients(self, topic: str, event: Event) -> set[int]:
        """The connection ids :meth:`deliver` would send ``event`` to: the same answer as
        :func:`select_recipients` over every console. Call ``calls.observe`` first, as for
        :func:`select_recipients`."""
        return {cid for kind in self._recipient_kinds(topic, event) for cid in kind.conns}

    def _recipient_kinds(self, topic: str, event: Event) -> list[_Kind]:
        """:func:`select_recipients` over the kinds the index says the event's audience can
        include (a superset of those it picks), one view per kind."""
        who = audience(topic, event, self.calls)
        if who == NOBODY:
            return []
        found: set[int] = set()
        if who.supervisors:
            found |= self._floor
        for ext in who.extensions:
            found |= self._by_ext.get(ext, _NONE)
        for user in who.users:
            found |= self._by_user.get(user, _NONE)
        for group in who.groups:
            found |= self._by_group.get(group, _NONE)
        if who.watchers_of is not None:
            found |= self._watchers.get(who.watchers_of, _NONE)
        kinds = self._kind_ids
        chosen = select_recipients(topic, event,
                                   (kinds[k].view for k in found if k in kinds), self.calls)
        return [kinds[k] for k in sorted(chosen)]

    def _end_sessions(self, event: Event) -> int:
        """``session_revoked``: close the user's consoles opened with the logged-out token
        (``token_id``) or with any token issued before ``before_ms``."""
        if event.get("type") != "session_revoked":  # messages.SessionRevoked
            return 0
        token_id, before = event.get("token_id"), event.get("before_ms")
        n = 0
        kinds = self._kind_ids
        conns = [conn for uid in _ints(event.get("user_id"))
                 for k in self._by_user.get(uid, ()) for conn in kinds[k].members]
        for conn in conns:
            if conn.closed:
                continue
            if (token_id and conn.token_id == token_id) or (
                    isinstance(before, int) and (conn.issued_ms or 0) < before):
                log.info("%s: logged out, closing", conn.label())
                self._spawn(self._close(conn, CLOSE_POLICY, "logged out"))
                n += 1
        return n

    def send_to(self, conn: Connection, message: messages.DirectReply) -> None:
        """Queue a direct reply (pong, error, hello) for one console."""
        self._offer(conn, json.dumps(message, ensure_ascii=False, default=str))

    def _offer(self, conn: Connection, text: str) -> bool:
        if conn.offer(text):
            return True
        if not conn.closed:
            self.disconnected_slow += 1
            log.warning("%s dropped %d messages without reading: disconnecting it",
                        conn.label(), conn.dropped_since_send)
            self._forget(conn)  # at once, so later events skip it and log nothing more
            self._spawn(self._close_socket(conn, CLOSE_TRY_AGAIN, "too slow"))
        return False

    async def _sender(self, conn: Connection) -> None:
        """Drain one console's outbox. Its own task: a stuck socket blocks only itself."""
        try:
            while not conn.closed:
                if not conn.outbox:
                    conn.wakeup.clear()
                    await conn.wakeup.wait()
                    continue
                text = conn.outbox.popleft()
                # No per-message timer (it costs more than the send): the watchdog task
                # cancels a send stuck longer than send_timeout_s.
                conn.sending_since = time.monotonic()
                try:
                    await conn.send_text(text)
                except Exception as exc:  # the socket is gone
                    log.info("%s send failed (%s): dropping it", conn.label(),
                             type(exc).__name__)
                    self._forget(conn)
                    return
                conn.sending_since = None
                conn.sent += 1
                conn.dropped_since_send = 0
        except asyncio.CancelledError:
            pass
