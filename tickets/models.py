"""ORM models of the ticket core: people, customers, orders, tickets, calls, knowledge.

Every table is created by Alembic (``web/migrations``); tests build the schema the same way.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from tickets.db import Base, JSONType, UTCDateTime, utcnow

group_members = Table(
    "group_members",
    Base.metadata,
    Column("group_id", ForeignKey("groups.id", ondelete="CASCADE"), primary_key=True),
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
)


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(128), default="")
    role: Mapped[str] = mapped_column(String(16))
    password_hash: Mapped[str] = mapped_column(String(255))
    extension: Mapped[str | None] = mapped_column(String(32), unique=True)
    email: Mapped[str | None] = mapped_column(String(255))
    phone: Mapped[str | None] = mapped_column(String(32))
    locale: Mapped[str] = mapped_column(String(8), default="zh")
    skills: Mapped[list[str]] = mapped_column(JSONType, default=list)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    #: Routing: VIP tickets go to the most senior (groups that say so); a cap on open tickets
    #: (None: none); when automatic assignment last gave this user a ticket (round robin).
    seniority: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    max_open_tickets: Mapped[int | None] = mapped_column(Integer)
    last_assigned_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: Tokens issued before this are void: set by "log out everywhere" and by an admin
    #: changing the password or role, or disabling the user.
    sessions_valid_after: Mapped[datetime | None] = mapped_column(UTCDateTime)

    groups: Mapped[list[Group]] = relationship(secondary=group_members, back_populates="members")


class RevokedToken(Base):
    """A logged-out token (its JWT ``jti``), kept until it would have expired anyway."""

    __tablename__ = "revoked_tokens"

    jti: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class Group(Base):
    """A team or department; tickets are routed to groups, flows pass between them."""

    __tablename__ = "groups"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(128))
    name_zh: Mapped[str | None] = mapped_column(String(128))
    skills: Mapped[list[str]] = mapped_column(JSONType, default=list)
    queue: Mapped[str | None] = mapped_column(String(64))  # the Asterisk queue it answers
    #: How a ticket routed to the group finds its person (tickets.routing.assignment).
    assignment: Mapped[str] = mapped_column(String(16), default="manual",
                                            server_default="manual")
    vip_to_senior: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")

    members: Mapped[list[User]] = relationship(secondary=group_members, back_populates="groups")


class Customer(Base):
    __tablename__ = "customers"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(255))
    company: Mapped[str | None] = mapped_column(String(200))
    tier: Mapped[str] = mapped_column(String(16), default="standard")  # standard | vip
    language: Mapped[str] = mapped_column(String(8), default="zh")
    address: Mapped[str | None] = mapped_column(Text)
    notes: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    phones: Mapped[list[CustomerPhone]] = relationship(
        back_populates="customer", cascade="all, delete-orphan", lazy="selectin",
        order_by="CustomerPhone.id",
    )


class CustomerPhone(Base):
    __tablename__ = "customer_phones"
    __table_args__ = (UniqueConstraint("customer_id", "e164", name="uq_customer_phones_number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    e164: Mapped[str] = mapped_column(String(20), index=True)
    label: Mapped[str | None] = mapped_column(String(32))
    extension: Mapped[str | None] = mapped_column(String(16))
    # The number as the user wrote it (shown beside the E.164 form); None for old rows.
    written: Mapped[str | None] = mapped_column(String(64))
    # Set by migration 0003 on rows stored before numbers had to be valid: shown, not hidden.
    invalid_reason: Mapped[str | None] = mapped_column(String(200))

    customer: Mapped[Customer] = relationship(back_populates="phones")


class Product(Base):
    __tablename__ = "products"

    id: Mapped[int] = mapped_column(primary_key=True)
    sku: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    warranty_months: Mapped[int] = mapped_column(Integer, default=12)


class Order(Base):
    __tablename__ = "orders"

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(64), unique=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"),
                                             index=True)
    product_id: Mapped[int | None] = mapped_column(ForeignKey("products.id"))
    product_name: Mapped[str] = mapped_column(String(200))
    quantity: Mapped[int] = mapped_column(Integer, default=1)
    amount: Mapped[float | None] = mapped_column(Float)
    purchased_at: Mapped[datetime] = mapped_column(UTCDateTime)
    warranty_end: Mapped[datetime | None] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(32), default="delivered")


class TicketType(Base):
    """A kind of problem: its extra fields, default priority, flow and speech keywords."""

    __tablename__ = "ticket_types"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(128))
    name_zh: Mapped[str | None] = mapped_column(String(128))
    default_priority: Mapped[str] = mapped_column(String(16), default="normal")
    # [{"key", "label", "type": text|number|date|choice|bool, "required", "options"}]
    fields: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    # group keys, in the order a ticket passes through departments
    # group keys, in the order a ticket passes through departments (tickets.routing.flow)
    flow: Mapped[list[str]] = mapped_column(JSONType, default=list)
    #: Steps of ``flow`` (0-based) a ticket must not skip.
    required_steps: Mapped[list[int]] = mapped_column(JSONType, default=list)
    #: Skills an agent needs for this type (automatic assignment matches them).
    required_skills: Mapped[list[str]] = mapped_column(JSONType, default=list)
    # {"zh": [...], "en": [...], "ko": [...]} phrases that suggest this type in speech
    keywords: Mapped[dict[str, list[str]]] = mapped_column(JSONType, default=dict)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class Ticket(Base):
    """A ticket; its human number (``T-000123``) is derived from the id, see
    ``tickets.service.ticket_number``, so creating one costs no second write."""

    __tablename__ = "tickets"
    __table_args__ = (
        Index("ix_tickets_customer_created", "customer_id", "created_at"),
        Index("ix_tickets_assignee_status", "assignee_id", "status"),
        Index("ix_tickets_group_status", "group_id", "status"),
        Index("ix_tickets_status_created", "status", "created_at"),
        # a period's tickets (tickets/reports, migration 0012)
        Index("ix_tickets_created_at", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    type_id: Mapped[int | None] = mapped_column(ForeignKey("ticket_types.id"))
    priority: Mapped[str] = mapped_column(String(16), default="normal")
    status: Mapped[str] = mapped_column(String(24), default="new")
    channel: Mapped[str] = mapped_column(String(16), default="phone")
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"))
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id"))
    order_number: Mapped[str | None] = mapped_column(String(64))
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    group_id: Mapped[int | None] = mapped_column(ForeignKey("groups.id"))
    fields: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    tags: Mapped[list[str]] = mapped_column(JSONType, default=list)
    call_id: Mapped[str | None] = mapped_column(String(96), index=True)
    flow_step: Mapped[int] = mapped_column(Integer, default=0)
    #: The flow this ticket walks, copied from its type (or a rule) when it starts: editing a
    #: type's flow later does not move tickets already on their way. None: no flow.
    flow_path: Mapped[list[dict[str, Any]] | None] = mapped_column(JSONType)
    #: Set when the ticket was merged into another (closed, read-only: tickets.relations).
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"), index=True)
    #: The incident this ticket is a child of (depth one: tickets.relations).
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"), index=True)
    first_response_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    first_responded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: SLA clock (tickets.sla, migration 0009): the policy the due times come from; when the
    #: clock was paused (waiting for the customer) and the business seconds paused so far
    #: (due times are pushed out by them); the next instant the sweep must look at the
    #: ticket (reminder, breach, escalation, a supervision order; NULL: nothing pending),
    #: indexed so the sweep reads due tickets without a scan; when a target was first missed.
    #: (No foreign key: adding one would rebuild ``tickets`` on SQLite; a deleted policy
    #: leaves a stale id, and the clock then matches again.)
    sla_policy_id: Mapped[int | None] = mapped_column(Integer)
    sla_paused_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sla_paused_s: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    sla_next_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    sla_breached_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: Six random digits (``secrets``) set at creation: who is not the ticket's customer
    #: needs it to hear the ticket in the IVR (tickets.ivr). Staff see it, customers get it
    #: in their notifications; never logged. NULL for tickets from before migration 0013.
    pin: Mapped[str | None] = mapped_column(String(6))
    reopen_count: Mapped[int] = mapped_column(Integer, default=0)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012

    type: Mapped[TicketType | None] = relationship(lazy="joined")


class TicketCall(Base):
    """Calls linked to a ticket (the creating call, follow-ups, transfers)."""

    __tablename__ = "ticket_calls"

    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"),
                                           primary_key=True)
    call_id: Mapped[str] = mapped_column(String(96), primary_key=True, index=True)
    #: indexed: the links made since a time (first-contact resolution, tickets/reports)
    linked_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class TicketEvent(Base):
    """Append-only history: rows are inserted, never updated or deleted."""

    __tablename__ = "ticket_events"
    #: call-backs since a time: first-contact resolution counts them (tickets/reports)
    __table_args__ = (Index("ix_ticket_events_called_back", "at", "ticket_id",
                            postgresql_where=text("kind = 'called_back'"),
                            sqlite_where=text("kind = 'called_back'")),)

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"),
                                           index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    kind: Mapped[str] = mapped_column(String(32))
    data: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)


class Comment(Base):
    __tablename__ = "comments"

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"),
                                           index=True)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    body: Mapped[str] = mapped_column(Text)
    public: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: A copy carried over by a merge: the merged ticket it came from (migration 0007).
    merged_from_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"))


class Attachment(Base):
    __tablename__ = "attachments"

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"),
                                           index=True)
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    storage_key: Mapped[str] = mapped_column(String(255))
    uploaded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: The customer may see it (list, download, history). Customer uploads are public;
    #: staff uploads internal unless marked public (migration 0005).
    public: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    #: A copy carried over by a merge (same stored file): the merged ticket it came from.
    merged_from_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"))


class CallLog(Base):
    """One row per call (Asterisk Linkedid), written by the AMI bridge at each milestone."""

    __tablename__ = "call_log"
    __table_args__ = (Index("ix_call_log_caller_started", "caller_number", "started_at"),
                      Index("ix_call_log_callee_started", "callee_number", "started_at"))

    id: Mapped[int] = mapped_column(primary_key=True)
    call_id: Mapped[str] = mapped_column(String(96), unique=True)
    pbx: Mapped[str] = mapped_column(String(32))
    linkedid: Mapped[str] = mapped_column(String(64))
    direction: Mapped[str] = mapped_column(String(16), default="inbound")
    caller_number: Mapped[str | None] = mapped_column(String(40))
    callee_number: Mapped[str | None] = mapped_column(String(40))
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"), index=True)
    queue: Mapped[str | None] = mapped_column(String(64))
    agent_extension: Mapped[str | None] = mapped_column(String(32))
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    state: Mapped[str] = mapped_column(String(16))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    wait_s: Mapped[float | None] = mapped_column(Float)
    talk_s: Mapped[float | None] = mapped_column(Float)
    hangup_cause: Mapped[str | None] = mapped_column(String(64))
    recording_path: Mapped[str | None] = mapped_column(String(512))
    extra: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)

    # What the bridge stores in ``extra`` (telephony.ports.CallRecord), read as attributes
    # so the API schema (CallLogOut) can expose it.
    @property
    def caller_name(self) -> str:
        return str((self.extra or {}).get("caller_name") or "")

    @property
    def order_number(self) -> str | None:
        return (self.extra or {}).get("order_number") or None

    @property
    def dtmf(self) -> str:
        return str((self.extra or {}).get("dtmf") or "")

    @property
    def transferred_to(self) -> str | None:
        return (self.extra or {}).get("transferred_to") or None

    @property
    def agents(self) -> list[str]:
        """Every agent who answered, in order (after transfers: more than one)."""
        return [str(x) for x in (self.extra or {}).get("agents") or []]

    @property
    def rung(self) -> list[str]:
        """Every agent whose phone rang for the call, in order."""
        return [str(x) for x in (self.extra or {}).get("rung") or []]

    @property
    def customer_number(self) -> str | None:
        """The customer's side: the caller of an inbound call, the callee of one we placed."""
        return self.caller_number if self.direction == "inbound" else self.callee_number


class KbArticle(Base):
    __tablename__ = "kb_articles"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    language: Mapped[str] = mapped_column(String(8), default="zh")
    tags: Mapped[list[str]] = mapped_column(JSONType, default=list)
    type_key: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


from tickets.csat.models import TicketRating  # noqa: E402,F401  (registers its table)
from tickets.floor.models import (  # noqa: E402,F401  (registers their tables)
    Callback,
    CallbackAttempt,
    WallboardSettings,
)
from tickets.ivr.models import IvrJourney  # noqa: E402,F401  (registers its table)
from tickets.mail.models import MailMessage  # noqa: E402,F401  (registers its table)
from tickets.notify.models import (  # noqa: E402,F401  (registers its tables)
    NotificationPref,
    OutboxMessage,
    WebhookSubscription,
)
from tickets.routing.models import RoutingRule  # noqa: E402,F401  (registers its table)
from tickets.sla.models import (  # noqa: E402,F401  (registers their tables)
    SlaCalendar,
    SlaFired,
    SlaPolicy,
    SupervisionOrder,
)
