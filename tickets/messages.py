"""The catalogue of bus and websocket messages: every ``{"type": …}`` Hotline sends.

The contract (DESIGN.md, README "Contract extensions") names these messages and their fields;
this module is the one place that builds them. Publishers (telephony, asr, web) call the
builders below; the hub routes what they build; tests check that every type the hub can
deliver is here and survives a JSON round trip.

Why TypedDicts and builder functions rather than pydantic models or dataclasses:

* A message *is* a JSON object at runtime: it crosses Redis as JSON and the hub serializes it
  once per event for every console. A TypedDict costs nothing at runtime (it is a plain
  ``dict``), so the per-call hot path (``screen_pop``, ``call_update``, fanned out to every
  console, measured by ``tests/bench/bench_ws.py``) builds and dumps exactly what it did
  before; a model would add a validation pass and a ``model_dump`` per event.
* mypy still checks every field of every publisher: the builders take keyword-only typed
  parameters and return the message's TypedDict, so a renamed or forgotten field is a type
  error, not a console that silently shows nothing (how ``lookup_caller``'s keys drifted).
* :func:`check` validates a received message's keys against its TypedDict (tests, tools).

:data:`CATALOGUE` maps each type to its bus topic (``None``: a direct reply to one socket,
never on the bus) and its TypedDict.
"""

# No ``from __future__ import annotations``: TypedDict reads NotRequired from evaluated
# annotations (``__required_keys__``, used by :func:`check`).
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, NotRequired, TypedDict, Unpack

from tickets.bus import (
    TOPIC_ASR,
    TOPIC_CALLS,
    TOPIC_PBX,
    TOPIC_QUEUES,
    TOPIC_SESSIONS,
    TOPIC_TICKETS,
    TOPIC_WORK_ORDERS,
)

#: The JSON form of a ticket (``tickets.schemas.TicketOut`` dumped in JSON mode).
TicketJson = dict[str, Any]
#: The JSON form of a work order (``dispatch/``, not built yet).
WorkOrderJson = dict[str, Any]


# -- what a screen pop shows about the caller (the CallDirectory port's answer) ---------------
class PopCustomer(TypedDict):
    id: int
    name: str
    tier: str
    vip: bool
    language: str
    email: str | None
    company: str | None
    notes: str | None
    phones: list[str]  # E.164
    other_matches: NotRequired[list[int]]  # ids of other customers sharing the number


class PopTicket(TypedDict):
    """DESIGN.md's ticket fields, plus ``priority`` and ``open``."""

    id: int
    number: str
    title: str
    status: str
    created_at: str  # ISO 8601
    priority: str
    open: bool


class PopCall(TypedDict):
    call_id: str
    pbx: str
    direction: str
    caller_number: str | None
    callee_number: str | None  # the dialled side (a DID, or the number an agent called)
    queue: str | None
    agent_extension: str | None
    state: str
    started_at: str | None  # ISO 8601
    talk_s: float | None
    wait_s: float | None


class PopOrder(TypedDict):
    """The same names as ``OrderOut`` (the customer API), so the console reads one shape."""

    number: str
    product_name: str
    purchased_at: str  # ISO 8601
    warranty_end: str | None
    in_warranty: bool | None
    status: str


class CallerContext(TypedDict):
    """What ``CallDirectory.lookup_caller`` answers; the screen pop carries each key."""

    customer: PopCustomer | None
    tickets: list[PopTicket]
    calls: list[PopCall]
    orders: list[PopOrder]


class PopIvrStep(TypedDict):
    """One thing the caller did in the IVR (``softphone_bridge.ivr.ports.JourneyStep``)."""

    at_s: float  # seconds since the IVR answered
    kind: str  # menu, status, message, callback, rating, invalid, timeout, agent, busy
    detail: str  # a key, a ticket number; never a PIN


class PopIvr(TypedDict):
    """The caller's way through the IVR before the agent's phone rang (``tickets.ivr``).

    ``summary`` is one English line for logs and tools; the console words it in the
    agent's language from ``steps``."""

    outcome: str  # agent, hangup, done, busy
    steps: list[PopIvrStep]
    summary: str


def no_caller() -> CallerContext:
    """The context of an unknown (or not yet looked up) caller."""
    return {"customer": None, "tickets": [], "calls": [], "orders": []}


# -- calls --------------------------------------------------------------------------------
class ScreenPop(TypedDict):
    type: Literal["screen_pop"]
    call_id: str
    pbx: str
    extension: str | None  # the rung agent's extension
    caller_number: str  # E.164 when it parses, else as the PBX sent it
    caller_name: str | None
    queue: str | None
    order_number: str | None  # from the IVR
    dtmf: str
    customer: PopCustomer | None
    tickets: list[PopTicket]
    calls: list[PopCall]
    orders: list[PopOrder]
    lookup_error: NotRequired[str]
    ivr: NotRequired[PopIvr]  # present when the call came through Hotline's IVR


class CallChanges(TypedDict, total=False):
    """What a ``call_update`` may say changed (each key present only when it did)."""

    direction: str
    caller_number: str
    caller_name: str | None
    customer: PopCustomer | None
    ringing: str | None
    answered_by: str | None
    closed_for: list[str]  # extensions whose pop is now closed
    reason: str | None
    cause: str | None
    talk_s: float | None
    wait_s: float | None
    queue: str | None
    transfer_to: str | None
    transferer: str | None
    attended: bool
    held: bool
    dtmf: str
    order_number: str | None
    recording_path: str | None


class CallUpdate(CallChanges):
    type: Literal["call_update"]
    call_id: str
    pbx: str
    state: str  # ringing, answered, held, transferred, ended, abandoned
    extensions: list[str]  # every agent the call involved
    changed: list[str]  # the keys of CallChanges present, sorted


class CallLogEntry(TypedDict):
    """A call log row was written (``CallRecord`` in JSON form); the hub does not route it."""

    type: Literal["call_log"]
    call_id: str
    extensions: list[str]


# -- speech -------------------------------------------------------------------------------
class Asr(TypedDict):
    type: Literal["asr"]
    call_id: str
    final: bool
    text: str


class TicketPrefill(TypedDict):
    type: Literal["ticket_prefill"]
    call_id: str
    ticket_type: str | None
    confidence: float
    order_numbers: list[str]  # the caller's known orders first
    phone_numbers: list[str]
    known_orders: list[str]


class AsrLink(TypedDict):
    """The dialplan set ``HOTLINE_ASR_UUID``: AudioSocket stream ``uuid`` is call ``call_id``."""

    type: Literal["asr_link"]
    uuid: str
    call_id: str
    pbx: str


# -- queues and the PBX -------------------------------------------------------------------
class QueueMember(TypedDict):
    pbx: str
    queue: str
    interface: str
    extension: str | None
    name: str
    state: str
    reason: str | None
    paused: bool
    paused_reason: str
    paused_since: str | None  # ISO 8601: when the current pause began (null: not paused)
    status: str
    in_call: bool


class WindowStats(TypedDict):
    """A queue's outcomes over one window (``queue_stats.windows``). ``service_level`` =
    answered_within_sl / (offered - short_abandoned); ``abandon_rate`` = (abandoned -
    short_abandoned) / (offered - short_abandoned); ``asa_s`` average wait of answered
    calls; ``aht_s`` average talk + hold + wrap-up of handled calls; null: no calls."""

    offered: int
    answered: int
    abandoned: int
    short_abandoned: int
    answered_within_sl: int
    service_level: float | None
    abandon_rate: float | None
    asa_s: float | None
    aht_s: float | None


#: ``{"15m": …, "60m": …, "today": …}`` ("today": since the site's midnight).
QueueWindows = TypedDict("QueueWindows", {"15m": WindowStats, "60m": WindowStats,
                                          "today": WindowStats})


class QueueLive(TypedDict):
    """The live-statistics part of ``queue_stats`` (``telephony.stats``)."""

    at: str  # ISO 8601 UTC: when computed
    sl_threshold_s: float  # the queue's T (Asterisk's ServiceLevel, else the setting)
    short_abandon_s: float
    windows: QueueWindows


class QueueStats(QueueLive):
    type: Literal["queue_stats"]
    pbx: str
    queue: str
    waiting: int
    longest_wait_s: float
    service_level: float  # 0..1 (since Asterisk's counters were reset: see windows)
    abandon_rate: float  # 0..1
    completed: int
    abandoned: int
    agents: list[QueueMember]


class AgentToday(TypedDict):
    """An agent's figures since the site's midnight (seconds for times)."""

    offered: int
    answered: int
    missed: int  # rang for a call, did not answer it
    talk_s: float
    hold_s: float
    idle_s: float  # time available (logged in, not paused, no call, no wrap-up)


class AgentStats(TypedDict):
    """One agent's live state and day (supervisors; ``telephony.stats``)."""

    type: Literal["agent_stats"]
    pbx: str
    extension: str
    name: str
    at: str
    state: Literal["available", "ringing", "on_call", "on_hold", "wrapup", "paused",
                   "logged_out"]
    reason: str | None  # the pause reason (paused, wrapup)
    state_since: str | None
    queues: list[str]
    call_id: str | None
    ticket_id: int | None
    today: AgentToday


class AgentState(TypedDict):
    """An agent's state changed: from the PBX (a queue member) or from the agent's console."""

    type: Literal["agent_state"]
    extension: str | None
    state: str
    reason: str | None
    user_id: NotRequired[int]  # set by the console's own change
    pbx: NotRequired[str]
    queue: NotRequired[str]
    interface: NotRequired[str]
    name: NotRequired[str]
    paused: NotRequired[bool]
    paused_reason: NotRequired[str]
    paused_since: NotRequired[str | None]
    status: NotRequired[str]
    in_call: NotRequired[bool]
    removed: NotRequired[bool]  # the member left the queue


class PbxState(TypedDict):
    """One AMI connection's state (``/readyz`` shows the same object)."""

    name: str
    host: str
    port: int
    connected: bool
    state: str
    last_error: str | None
    since: str  # ISO 8601
    connects: int
    login_failures: int
    events: int
    live_calls: int
    resynced: bool


class PbxStatus(PbxState):
    type: Literal["pbx_status"]


# -- tickets, work orders, sessions -------------------------------------------------------
class TicketChanged(TypedDict):
    type: Literal["ticket_created", "ticket_updated"]
    ticket: TicketJson


class TicketTransfer(TypedDict):
    type: Literal["ticket_transfer"]
    call_id: str
    to_extension: str
    from_user: str
    ticket: TicketJson


class TicketNotice(TypedDict):
    """A routing rule's ``notify``: the named staff hear of the ticket (``rule`` fired)."""

    type: Literal["ticket_notice"]
    user_ids: list[int]
    rules: list[str]
    ticket: TicketJson


class Notification(TypedDict):
    """A notification for the named staff member's console (the outbox's ``ws`` channel,
    ``tickets.notify``): the event ``kind``, the ticket (id, number) and the rendered text in
    the recipient's language."""

    type: Literal["notification"]
    user_ids: list[int]
    kind: str
    ticket_id: int | None
    number: str | None
    subject: str
    body: str


class WorkOrder(TypedDict):
    type: Literal["work_order"]
    engineer_id: int
    work_order: WorkOrderJson


class SessionRevoked(TypedDict):
    """Close the user's consoles of token ``token_id``, or of every token before ``before_ms``."""

    type: Literal["session_revoked"]
    user_id: int
    token_id: str | None
    before_ms: int | None


# -- direct replies on one socket (never on the bus) --------------------------------------
class HelloUser(TypedDict):
    id: int
    username: str
    role: str
    extension: str | None
    display_name: str


class Hello(TypedDict):
    type: Literal["hello"]
    user: HelloUser
    heartbeat_s: float


class Ping(TypedDict):
    type: Literal["ping"]


class Pong(TypedDict):
    type: Literal["pong"]


class Watching(TypedDict):
    type: Literal["watching"]
    call_id: str


class Error(TypedDict):
    type: Literal["error"]
    error: str  # a code: bad_json, unknown_type, forbidden, …
    detail: str


Message = (ScreenPop | CallUpdate | CallLogEntry | Asr | TicketPrefill | AsrLink | QueueStats
           | AgentState | AgentStats | PbxStatus | TicketChanged | TicketTransfer | TicketNotice
           | WorkOrder | SessionRevoked | Hello | Ping | Pong | Watching | Error)


#: What the hub sends to one socket directly (never through the bus).
DirectReply = Hello | Ping | Pong | Watching | Error


@dataclass(frozen=True, slots=True)
class Spec:
    """One catalogue entry: the bus topic (None: direct reply) and the message's shape."""

    topic: str | None
    shape: type[Mapping[str, object]]


CATALOGUE: dict[str, Spec] = {
    "screen_pop": Spec(TOPIC_CALLS, ScreenPop),
    "call_update": Spec(TOPIC_CALLS, CallUpdate),
    "call_log": Spec(TOPIC_CALLS, CallLogEntry),
    "asr": Spec(TOPIC_ASR, Asr),
    "ticket_prefill": Spec(TOPIC_ASR, TicketPrefill),
    "asr_link": Spec(TOPIC_ASR, AsrLink),
    "queue_stats": Spec(TOPIC_QUEUES, QueueStats),
    "agent_state": Spec(TOPIC_QUEUES, AgentState),
    "agent_stats": Spec(TOPIC_QUEUES, AgentStats),
    "pbx_status": Spec(TOPIC_PBX, PbxStatus),
    "ticket_created": Spec(TOPIC_TICKETS, TicketChanged),
    "ticket_updated": Spec(TOPIC_TICKETS, TicketChanged),
    "ticket_transfer": Spec(TOPIC_TICKETS, TicketTransfer),
    "ticket_notice": Spec(TOPIC_TICKETS, TicketNotice),
    "notification": Spec(TOPIC_TICKETS, Notification),
    "work_order": Spec(TOPIC_WORK_ORDERS, WorkOrder),
    "session_revoked": Spec(TOPIC_SESSIONS, SessionRevoked),
    "hello": Spec(None, Hello),
    "ping": Spec(None, Ping),
    "pong": Spec(None, Pong),
    "watching": Spec(None, Watching),
    "error": Spec(None, Error),
}


class UnknownMessage(ValueError):
    """A message whose type is not in the catalogue, or whose keys do not match it."""


def check(message: Mapping[str, object]) -> Mapping[str, object]:
    """Validate ``message``'s type and keys against the catalogue; returns it unchanged.

    Raises :class:`UnknownMessage` naming the type and the missing or unexpected keys.
    ``call_log`` carries the whole call record, so only its required keys are checked.
    """
    kind = message.get("type")
    spec = CATALOGUE.get(kind) if isinstance(kind, str) else None
    if spec is None:
        raise UnknownMessage(f"unknown message type {kind!r}")
    required: frozenset[str] = spec.shape.__required_keys__  # type: ignore[attr-defined]
    optional: frozenset[str] = spec.shape.__optional_keys__  # type: ignore[attr-defined]
    keys = set(message)
    missing = required - keys
    unexpected = set() if kind == "call_log" else keys - required - optional
    if missing or unexpected:
        raise UnknownMessage(f"{kind}: missing {sorted(missing)}, unexpected {sorted(unexpected)}")
    return message


# -- builders: the one place messages are made --------------------------------------------
def screen_pop(*, call_id: str, pbx: str, extension: str | None, caller_number: str,
               caller_name: str | None, queue: str | None, order_number: str | None,
               dtmf: str, context: CallerContext, lookup_error: str | None = None,
               ivr: PopIvr | None = None) -> ScreenPop:
    """The pop for one rung agent; ``context`` is the caller lookup's answer, ``ivr`` the
    call's IVR journey (left out when ``None``)."""
    msg: ScreenPop = {
        "type": "screen_pop", "call_id": call_id, "pbx": pbx, "extension": extension,
        "caller_number": caller_number, "caller_name": caller_name, "queue": queue,
        "order_number": order_number, "dtmf": dtmf, "customer": context["customer"],
        "tickets": context["tickets"], "calls": context["calls"], "orders": context["orders"]}
    if lookup_error:
        msg["lookup_error"] = lookup_error
    if ivr is not None:
        msg["ivr"] = ivr
    return msg


def call_update(*, call_id: str, pbx: str, state: str, extensions: list[str],
                **changed: Unpack[CallChanges]) -> CallUpdate:
    """A call's state and what changed (``changed`` lists the keys given)."""
    msg: CallUpdate = {"type": "call_update", "call_id": call_id, "pbx": pbx, "state": state,
                       "extensions": extensions, "changed": sorted(changed)}
    msg.update(changed)
    return msg


def call_log(call_id: str, record: Mapping[str, object], extensions: list[str]) -> CallLogEntry:
    """A finished call's record (already JSON-ready) as a bus message."""
    msg: dict[str, object] = {"type": "call_log", **record, "call_id": call_id,
                              "extensions": extensions}
    return msg  # type: ignore[return-value]  # the record's keys ride along


def asr(*, call_id: str, final: bool, text: str) -> Asr:
    return {"type": "asr", "call_id": call_id, "final": final, "text": text}


def ticket_prefill(*, call_id: str, ticket_type: str | None, confidence: float,
                   order_numbers: list[str], phone_numbers: list[str],
                   known_orders: list[str]) -> TicketPrefill:
    return {"type": "ticket_prefill", "call_id": call_id, "ticket_type": ticket_type,
            "confidence": confidence, "order_numbers": order_numbers,
            "phone_numbers": phone_numbers, "known_orders": known_orders}


def asr_link(*, uuid: str, call_id: str, pbx: str) -> AsrLink:
    return {"type": "asr_link", "uuid": uuid, "call_id": call_id, "pbx": pbx}


def queue_stats(*, pbx: str, queue: str, waiting: int, longest_wait_s: float,
                service_level: float, abandon_rate: float, completed: int, abandoned: int,
                agents: list[QueueMember], live: QueueLive) -> QueueStats:
    return {"type": "queue_stats", "pbx": pbx, "queue": queue, "waiting": waiting,
            "longest_wait_s": longest_wait_s, "service_level": service_level,
            "abandon_rate": abandon_rate, "completed": completed, "abandoned": abandoned,
            "agents": agents, "at": live["at"], "sl_threshold_s": live["sl_threshold_s"],
            "short_abandon_s": live["short_abandon_s"], "windows": live["windows"]}


def agent_stats(*, pbx: str, extension: str, name: str, at: str, state: str,
                reason: str | None, state_since: str | None, queues: list[str],
                call_id: str | None, ticket_id: int | None, today: AgentToday) -> AgentStats:
    return {"type": "agent_stats", "pbx": pbx, "extension": extension, "name": name,
            "at": at, "state": state, "reason": reason,  # type: ignore[typeddict-item]
            "state_since": state_since, "queues": queues, "call_id": call_id,
            "ticket_id": ticket_id, "today": today}


def member_state(member: QueueMember, *, removed: bool = False) -> AgentState:
    """A queue member's state as seen by the PBX (``removed``: it left the queue)."""
    msg: AgentState = {"type": "agent_state", **member}
    if removed:
        msg["removed"] = True
    return msg


def agent_state(*, extension: str | None, user_id: int, state: str,
                reason: str | None) -> AgentState:
    """The agent changed their own state from a console."""
    return {"type": "agent_state", "extension": extension, "user_id": user_id,
            "state": state, "reason": reason}


def pbx_status(state: PbxState) -> PbxStatus:
    return {"type": "pbx_status", **state}


def ticket_changed(kind: Literal["ticket_created", "ticket_updated"],
                   ticket: TicketJson) -> TicketChanged:
    return {"type": kind, "ticket": ticket}


def ticket_transfer(*, call_id: str, to_extension: str, from_user: str,
                    ticket: TicketJson) -> TicketTransfer:
    return {"type": "ticket_transfer", "call_id": call_id, "to_extension": to_extension,
            "from_user": from_user, "ticket": ticket}


def ticket_notice(*, user_ids: list[int], rules: list[str],
                  ticket: TicketJson) -> TicketNotice:
    return {"type": "ticket_notice", "user_ids": user_ids, "rules": rules, "ticket": ticket}


def notification(*, user_id: int, kind: str, ticket_id: int | None, number: str | None,
                 subject: str, body: str) -> Notification:
    return {"type": "notification", "user_ids": [user_id], "kind": kind,
            "ticket_id": ticket_id, "number": number, "subject": subject, "body": body}


def work_order(*, engineer_id: int, order: WorkOrderJson) -> WorkOrder:
    return {"type": "work_order", "engineer_id": engineer_id, "work_order": order}


def session_revoked(*, user_id: int, token_id: str | None = None,
                    before_ms: int | None = None) -> SessionRevoked:
    return {"type": "session_revoked", "user_id": user_id, "token_id": token_id,
            "before_ms": before_ms}


def hello(user: HelloUser, heartbeat_s: float) -> Hello:
    return {"type": "hello", "user": user, "heartbeat_s": heartbeat_s}


def ping() -> Ping:
    return {"type": "ping"}


def pong() -> Pong:
    return {"type": "pong"}


def watching(call_id: str) -> Watching:
    return {"type": "watching", "call_id": call_id}


def error(code: str, detail: str) -> Error:
    return {"type": "error", "error": code, "detail": detail}
