"""Who hears of what, over which channel, and when a failed message is tried again (pure).

Everything here is a function of its arguments (the clock and randomness are passed in),
so the rules are unit-tested without a database: :func:`staff_audience` and
:func:`tell_customer` decide the recipients of an event, :func:`staff_channels` and
:func:`customer_channels` the channels, :func:`idempotency_key` the message's key,
:func:`backoff_s` the wait before the next attempt.
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from tickets.notify.events import EVENT_KINDS, EventKind, NotificationEvent

CHANNELS = ("email", "sms", "ws", "webhook")
#: Channels a staff member can mute per kind (webhooks are the integrators', not theirs).
STAFF_CHANNELS = ("email", "ws")
#: Kinds a staff member gets by email unless muted (the rest: only on the console).
STAFF_EMAIL_KINDS: frozenset[str] = frozenset({
    "ticket_assigned", "sla_reminder", "sla_breach", "supervision_order", "work_order"})
#: Kinds a customer also gets by SMS when they have a mobile number (short, important ones).
CUSTOMER_SMS_KINDS: frozenset[str] = frozenset({"ticket_created", "status_changed",
                                                "work_order"})
#: Statuses a customer is told of without being asked to (the ticket is done, or back).
CUSTOMER_STATUSES = frozenset({"resolved", "reopened"})


@dataclass(frozen=True)
class TicketFacts:
    """What the audience rules read of a ticket."""

    id: int
    number: str
    title: str
    status: str
    priority: str
    assignee_id: int | None
    group_id: int | None
    customer_id: int | None


def staff_audience(event: NotificationEvent, ticket: TicketFacts | None,
                   group_members: Callable[[int], Collection[int]]) -> list[int]:
    """The staff user ids to tell, in a stable order, the actor left out.

    Default audience per kind: created / assigned → the assignee, or the group's members
    while nobody owns it; status changed, reminders, 督办 → the assignee; a public comment →
    the assignee (or group) when the customer wrote (``data["by_customer"]``), nobody on the
    staff side otherwise; breach, work order → only ``user_ids``. ``user_ids`` are always
    added."""
    ids: list[int] = []
    kind = event.kind
    owner: list[int] = []
    if ticket is not None:
        if ticket.assignee_id is not None:
            owner = [ticket.assignee_id]
        elif ticket.group_id is not None:
            owner = sorted(group_members(ticket.group_id))
    if kind in ("ticket_created", "ticket_assigned"):
        ids += owner
    elif kind in ("status_changed", "sla_reminder", "supervision_order"):
        ids += owner[:1] if ticket is not None and ticket.assignee_id is not None else []
    elif kind == "public_comment" and event.data.get("by_customer"):
        ids += owner
    ids += list(event.user_ids)
    seen: set[int] = set()
    out = []
    for uid in ids:
        if uid not in seen and uid != event.actor_id:
            seen.add(uid)
            out.append(uid)
    return out


def tell_customer(event: NotificationEvent, ticket: TicketFacts | None) -> bool:
    """Whether the ticket's customer hears of ``event``: when asked (``notify_customer``), a
    staff member's public comment, the ticket resolved or reopened."""
    if ticket is None or ticket.customer_id is None:
        return False
    if event.notify_customer:
        return True
    if event.kind == "public_comment":
        return not event.data.get("by_customer")
    if event.kind == "status_changed":
        return str(event.data.get("status") or ticket.status) in CUSTOMER_STATUSES
    return False


def staff_channels(kind: str, *, has_email: bool,
                   prefs: Mapping[tuple[str, str], bool]) -> list[str]:
    """A staff member's channels for ``kind``: the console (``ws``) always, email for
    :data:`STAFF_EMAIL_KINDS` when they have an address; ``prefs[(kind, channel)]``
    overrides either (mute or opt in)."""
    out = []
    for channel in STAFF_CHANNELS:
        default = channel == "ws" or kind in STAFF_EMAIL_KINDS
        if prefs.get((kind, channel), default) and (channel != "email" or has_email):
            out.append(channel)
    return out


def customer_channels(kind: str, *, has_email: bool, has_mobile: bool) -> list[str]:
    """Email when they have an address; SMS too for :data:`CUSTOMER_SMS_KINDS` when they
    have a mobile number."""
    out = []
    if has_email:
        out.append("email")
    if has_mobile and kind in CUSTOMER_SMS_KINDS:
        out.append("sms")
    return out


def idempotency_key(kind: str, event_key: str, recipient: str, channel: str) -> str:
    """The message's unique key: ``kind`` + a digest of (event key, recipient, channel).
    Letters, digits, ``-`` and ``_`` only (it goes into a Message-ID); at most 64 chars."""
    digest = hashlib.sha256(f"{kind}\0{event_key}\0{recipient}\0{channel}".encode())
    return f"{kind}-{digest.hexdigest()[:40]}"


def backoff_s(attempt: int, rand: Callable[[], float], *, base_s: float = 5.0,
              cap_s: float = 3600.0) -> float:
    """Seconds to wait after failed attempt number ``attempt`` (1-based): exponential
    (``base_s``·2^(attempt-1), at most ``cap_s``) with "equal jitter" — half fixed, half
    ``rand()`` (uniform in [0, 1)) — so a gateway coming back is not hit by every message
    at once, and no wait is shorter than half the nominal one."""
    if attempt < 1:
        raise ValueError("attempt counts from 1")
    nominal = min(cap_s, base_s * 2 ** min(attempt - 1, 30))
    return nominal / 2 + nominal / 2 * rand()


def check_kinds(kinds: Collection[str]) -> list[EventKind]:
    """``kinds`` as known event kinds (ValueError naming an unknown one)."""
    out: list[EventKind] = []
    for kind in kinds:
        if kind not in EVENT_KINDS:
            raise ValueError(f"unknown event kind {kind!r}; known: {', '.join(EVENT_KINDS)}")
        out.append(kind)
    return out


# -- webhook endpoints -------------------------------------------------------------------
#: Link-local networks: 169.254.169.254 is the cloud metadata endpoint (credentials of the
#: machine). Loopback and private LAN addresses stay allowed: integrators' CRMs live there.
LINK_LOCAL = (ipaddress.ip_network("169.254.0.0/16"), ipaddress.ip_network("fe80::/10"))


def check_webhook_url(scheme: str, username: str | None, password: str | None,
                      host: str | None) -> None:
    """May a webhook POST to this (parsed) URL (pure)? http/https only, no credentials in
    it (they would show in every listing; the HMAC signature authenticates us), not a
    link-local address by literal IP (hostnames are not resolved here). ValueError naming
    ``url``."""
    if scheme not in ("http", "https"):
        raise ValueError("url: http or https only")
    if username or password:
        raise ValueError("url: no user name or password in it (the X-Hotline-Signature "
                         "authenticates the sender)")
    try:
        ip = ipaddress.ip_address((host or "").strip("[]"))
    except ValueError:
        return  # a name, not a literal IP
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if any(ip in net for net in LINK_LOCAL):
        raise ValueError(f"url: {ip} is a link-local address (cloud metadata); loopback "
                         "and private LAN addresses are allowed")


def safe_url(url: str) -> str:
    """``url`` as logs and ``last_error`` may show it: scheme://host[:port]/path, without
    credentials, query string or fragment (they may carry an integrator's secrets)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        port = ""
    return f"{parts.scheme}://{host}{port}{parts.path}"
