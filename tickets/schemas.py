"""Pydantic shapes of what comes in and goes out; unknown fields are refused (422)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
    model_validator,
)

from tickets.passwords import password_problem
from tickets.phones import display as display_phone
from tickets.timeinput import Moment

Priority = Literal["urgent", "high", "normal", "low"]
Channel = Literal["phone", "email", "web", "ivr", "api"]
Role = Literal["agent", "supervisor", "admin", "engineer", "customer"]
Status = Literal["new", "assigned", "in_progress", "pending_customer", "resolved", "closed",
                 "cancelled"]

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
ShortText = Annotated[str, StringConstraints(max_length=200)]
Label = Annotated[str, StringConstraints(max_length=128)]  # names stored as VARCHAR(128)
Key = Annotated[str, StringConstraints(max_length=64)]
RequiredLabel = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1,
                                                 max_length=128)]
LongText = Annotated[str, StringConstraints(max_length=20_000)]
PhoneText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40)]
OrderNumber = Annotated[str, StringConstraints(strip_whitespace=True, max_length=64)]
#: Ids fit PostgreSQL's INTEGER; a bigger one is a 422, not a database error.
MAX_ID = 2_147_483_647
#: Numbers and flags in bodies are strict: ``"5"`` is no integer and ``0`` no boolean (a
#: 422 naming the field), as the API description says.
DbId = Annotated[int, Field(ge=1, le=MAX_ID, strict=True)]
Flag = Annotated[bool, Field(strict=True)]
#: Every integer a client sends has both bounds (tests/web/test_input_bounds.py checks the
#: whole API description): unbounded, a huge one overflows the database's integer (a 500).
MAX_OFFSET = 1_000_000
#: A record's version counter (optimistic locking), stored as INTEGER.
Version = Annotated[int, Field(ge=1, le=MAX_ID, strict=True)]
#: Money: finite, not negative, at most a trillion (no inf/NaN: JSON and the database
#: cannot hold them).
Amount = Annotated[float, Field(ge=0, le=1e12, allow_inf_nan=False, strict=True)]
Tag = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40)]
Assignment = Literal["manual", "round_robin", "least_loaded"]
Seniority = Annotated[int, Field(ge=0, le=100, strict=True)]
OpenCap = Annotated[int, Field(ge=1, le=10_000, strict=True)]
StepIndex = Annotated[int, Field(ge=0, le=19, strict=True)]


def _reject_nul(value: Any) -> None:
    if isinstance(value, str):
        if "\x00" in value:
            raise ValueError("text must not contain NUL characters")
    elif isinstance(value, dict):
        for key, item in value.items():
            _reject_nul(key)
            _reject_nul(item)
    elif isinstance(value, list | tuple):
        for item in value:
            _reject_nul(item)


class In(BaseModel):
    """Input: unknown fields refused, and no NUL characters anywhere (PostgreSQL cannot
    store them in text or JSON, SQLite would; refusing them keeps both backends alike)."""

    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="before")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        # per field, not per model: the 422's ``loc`` then names the field (["body", "title"])
        _reject_nul(value)
        return value


class Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


# --- users & groups -------------------------------------------------------------------------

class LoginIn(In):
    username: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    password: Annotated[str, StringConstraints(min_length=1, max_length=256)]


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "bearer"


#: Validation context under which the password policy is skipped: the demo seeding's
#: well-known ``demo`` password only (``web/demo.py``); no HTTP route or CLI command sets it.
DEMO_SEED = "demo_seed"
Password = Annotated[str, StringConstraints(min_length=1, max_length=256)]


def _check_password(password: str | None, info: ValidationInfo) -> str | None:
    """The password policy (:func:`tickets.passwords.password_problem`) as a field error:
    a 422 whose ``loc`` ends in ``password`` and whose message names the rule."""
    if password is None or (info.context or {}).get(DEMO_SEED):
        return password
    username = info.data.get("username")
    problem = password_problem(password, [username] if isinstance(username, str) else [])
    if problem:
        raise ValueError(f"password {problem}")
    return password


class UserIn(In):
    username: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.-]{2,64}$")]
    password: Password
    role: Role
    display_name: Label = ""
    extension: Annotated[str, StringConstraints(pattern=r"^[0-9A-Za-z_-]{1,32}$")] | None = None
    email: ShortText | None = None
    phone: Annotated[str, StringConstraints(max_length=32)] | None = None
    locale: Literal["zh", "en"] = "zh"
    skills: list[Tag] = Field(default_factory=list, max_length=50)
    group_ids: list[DbId] = Field(default_factory=list, max_length=50)
    #: The customer record a ``customer`` login speaks for (required for that role only).
    customer_id: DbId | None = None
    seniority: Seniority = 0
    max_open_tickets: OpenCap | None = None

    _password_policy = field_validator("password")(_check_password)


class UserPatch(In):
    display_name: Label | None = None
    extension: Annotated[str, StringConstraints(pattern=r"^[0-9A-Za-z_-]{1,32}$")] | None = None
    password: Password | None = None
    role: Role | None = None
    locale: Literal["zh", "en"] | None = None
    skills: list[Tag] | None = Field(default=None, max_length=50)
    group_ids: list[DbId] | None = Field(default=None, max_length=50)
    is_active: Flag | None = None
    customer_id: DbId | None = None
    seniority: Seniority | None = None
    #: null clears the cap (unlike the other fields, where null leaves the value alone)
    max_open_tickets: OpenCap | None = None

    _password_policy = field_validator("password")(_check_password)


class MeIn(In):
    """What a user changes of their own account (``PATCH /api/v1/me``): the language
    notifications are written in; the console stores the language the user picks."""

    locale: Literal["zh", "en"]


class UserOut(Out):
    id: int
    username: str
    display_name: str
    role: str
    extension: str | None
    email: str | None
    locale: str
    skills: list[str]
    is_active: bool
    group_ids: list[DbId] = Field(default_factory=list)
    customer_id: int | None = None
    seniority: int = 0
    max_open_tickets: int | None = None


class GroupIn(In):
    key: Annotated[str, StringConstraints(pattern=r"^[a-z0-9_-]{1,64}$")]
    name: RequiredLabel
    name_zh: Label | None = None
    skills: list[Tag] = Field(default_factory=list, max_length=50)
    queue: Key | None = None
    member_ids: list[DbId] = Field(default_factory=list, max_length=500)
    #: how a ticket routed here finds its person (tickets.routing.assignment)
    assignment: Assignment = "manual"
    vip_to_senior: Flag = False


class GroupPatch(In):
    name: RequiredLabel | None = None
    name_zh: Label | None = None
    skills: list[Tag] | None = Field(default=None, max_length=50)
    queue: Key | None = None
    member_ids: list[DbId] | None = Field(default=None, max_length=500)
    assignment: Assignment | None = None
    vip_to_senior: Flag | None = None


class GroupOut(Out):
    id: int
    key: str
    name: str
    name_zh: str | None
    skills: list[str]
    queue: str | None
    member_ids: list[DbId] = Field(default_factory=list)
    assignment: str = "manual"
    vip_to_senior: bool = False


# --- customers & orders ---------------------------------------------------------------------

class PhoneIn(In):
    number: PhoneText
    label: ShortText | None = None


class CustomerIn(In):
    name: Name
    phones: list[PhoneText | PhoneIn] = Field(default_factory=list, max_length=20)
    email: ShortText | None = None
    company: ShortText | None = None
    tier: Literal["standard", "vip"] = "standard"
    language: Literal["zh", "en", "ko"] = "zh"
    address: LongText | None = None
    notes: LongText | None = None


class CustomerPatch(In):
    name: Name | None = None
    phones: list[PhoneText | PhoneIn] | None = Field(default=None, max_length=20)
    email: ShortText | None = None
    company: ShortText | None = None
    tier: Literal["standard", "vip"] | None = None
    language: Literal["zh", "en", "ko"] | None = None
    address: LongText | None = None
    notes: LongText | None = None


class PhoneOut(Out):
    e164: str
    label: str | None
    extension: str | None = None
    written: str | None = None
    display: str = ""
    #: Why a number stored before validation existed is not valid (``None``: it is).
    invalid_reason: str | None = None

    @model_validator(mode="after")
    def _display(self) -> PhoneOut:
        if not self.display:
            self.display = display_phone(self.e164, self.extension)
        return self


class CustomerOut(Out):
    id: int
    name: str
    email: str | None
    company: str | None
    tier: str
    language: str
    address: str | None
    notes: str | None
    phones: list[PhoneOut]
    created_at: datetime


class OrderIn(In):
    number: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
    customer_id: DbId
    product_name: Name
    product_sku: Key | None = None
    quantity: int = Field(default=1, ge=1, le=100_000, strict=True)
    amount: Amount | None = None
    purchased_at: Moment
    warranty_end: Moment | None = None
    status: Annotated[str, StringConstraints(max_length=32)] = "delivered"


class OrderOut(Out):
    id: int
    number: str
    customer_id: int
    product_name: str
    quantity: int
    amount: float | None
    purchased_at: datetime
    warranty_end: datetime | None
    status: str
    in_warranty: bool | None = None


# --- ticket types ---------------------------------------------------------------------------

class FieldSpec(In):
    key: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,40}$")]
    label: ShortText
    label_zh: ShortText | None = None
    type: Literal["text", "number", "date", "choice", "bool"] = "text"
    required: Flag = False
    options: list[ShortText] = Field(default_factory=list, max_length=100)


class TicketTypeIn(In):
    key: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,40}$")]
    name: RequiredLabel
    name_zh: Label | None = None
    default_priority: Priority = "normal"
    fields: list[FieldSpec] = Field(default_factory=list, max_length=50)
    flow: list[Annotated[str, StringConstraints(max_length=64)]] = Field(default_factory=list,
                                                                          max_length=20)
    #: steps of ``flow`` (0-based) a ticket must not skip
    required_steps: list[StepIndex] = Field(default_factory=list, max_length=20)
    #: skills an agent needs to be given a ticket of this type automatically
    required_skills: list[Tag] = Field(default_factory=list, max_length=20)
    keywords: dict[Literal["zh", "en", "ko"], list[ShortText]] = Field(default_factory=dict)


class TicketTypePatch(In):
    name: RequiredLabel | None = None
    name_zh: Label | None = None
    default_priority: Priority | None = None
    fields: list[FieldSpec] | None = Field(default=None, max_length=50)
    flow: list[Annotated[str, StringConstraints(max_length=64)]] | None = Field(
        default=None, max_length=20)
    required_steps: list[StepIndex] | None = Field(default=None, max_length=20)
    required_skills: list[Tag] | None = Field(default=None, max_length=20)
    keywords: dict[Literal["zh", "en", "ko"], list[ShortText]] | None = None
    active: Flag | None = None


class TicketTypeOut(Out):
    id: int
    key: str
    name: str
    name_zh: str | None
    default_priority: str
    fields: list[dict[str, Any]]
    flow: list[str]
    required_steps: list[int] = Field(default_factory=list)
    required_skills: list[str] = Field(default_factory=list)
    keywords: dict[str, list[str]]


# --- tickets --------------------------------------------------------------------------------

class TicketIn(In):
    title: Name
    description: LongText = ""
    type: Annotated[str, StringConstraints(max_length=64)] | None = None
    priority: Priority | None = None
    channel: Channel = "phone"
    customer_id: DbId | None = None
    customer_phone: PhoneText | None = None
    order_number: OrderNumber | None = None
    call_id: Annotated[str, StringConstraints(max_length=96)] | None = None
    assignee: DbId | Annotated[str, StringConstraints(max_length=64)] | None = None
    group: DbId | Annotated[str, StringConstraints(max_length=64)] | None = None
    fields: dict[Annotated[str, StringConstraints(max_length=41)], Any] = Field(
        default_factory=dict, max_length=50)
    tags: list[Tag] = Field(default_factory=list, max_length=30)
    #: What the caller said (the console's live transcript): routing rules may test it; it
    #: is not stored.
    transcript: LongText | None = None


class TicketPatch(In):
    title: Name | None = None
    description: LongText | None = None
    type: Annotated[str, StringConstraints(max_length=64)] | None = None
    priority: Priority | None = None
    status: Status | None = None
    assignee: DbId | Annotated[str, StringConstraints(max_length=64)] | None = None
    group: DbId | Annotated[str, StringConstraints(max_length=64)] | None = None
    order_number: OrderNumber | None = None
    fields: dict[Annotated[str, StringConstraints(max_length=41)], Any] | None = Field(
        default=None, max_length=50)
    tags: list[Tag] | None = Field(default=None, max_length=30)
    reason: ShortText | None = None
    version: Version | None = None


class TicketOut(Out):
    id: int
    number: str
    title: str
    description: str
    type: str | None
    priority: str
    status: str
    channel: str
    customer_id: int | None
    order_number: str | None
    call_id: str | None
    assignee_id: int | None
    group_id: int | None
    fields: dict[str, Any]
    tags: list[str]
    flow_step: int
    #: the flow the ticket walks, ``[{"group", "required"}]``; ``flow_step`` indexes it
    flow: list[dict[str, Any]] = Field(default_factory=list)
    first_response_due_at: datetime | None
    due_at: datetime | None
    resolved_at: datetime | None
    closed_at: datetime | None
    reopen_count: int
    created_at: datetime
    updated_at: datetime
    version: int
    allowed_status: list[str] = Field(default_factory=list)
    #: Merged into that ticket (closed and read-only since): its id and number.
    merged_into_id: int | None = None
    merged_into: str | None = None
    #: SLA: when a target was first missed (None: never), and whether the clock is paused
    #: (waiting for the customer). Details: GET /api/v1/tickets/{id}/sla.
    sla_breached_at: datetime | None = None
    sla_paused: bool = False
    #: The parent incident this ticket is a child of: its id and number.
    parent_id: int | None = None
    parent: str | None = None


class TicketRef(Out):
    """Another ticket as a relation names it (parent, child, merged duplicate)."""

    id: int
    number: str
    title: str
    status: str
    customer_id: int | None
    assignee_id: int | None


class TicketDetailOut(TicketOut):
    """``GET /api/v1/tickets/{id}``: the ticket and its relations, as far as the reader may
    see them (a customer only their own tickets)."""

    #: The parent incident (when this is a child and the reader may see it).
    parent_ticket: TicketRef | None = None
    #: The child tickets of this parent incident, by number.
    children: list[TicketRef] = Field(default_factory=list)
    #: The tickets merged into this one, by number.
    merged: list[TicketRef] = Field(default_factory=list)
    #: The ticket's six-digit PIN (the IVR asks it of callers who are not its customer):
    #: staff only; ``null`` for everyone else and for tickets older than PINs.
    pin: str | None = None


#: ``42``, ``"42"``, ``"T-000042"`` or ``"t42"``: a ticket by id or number.
TicketKey = DbId | Annotated[str, StringConstraints(strip_whitespace=True, max_length=20,
                                                    pattern=r"^([Tt]-?)?[0-9]{1,10}$")]


class MergeIn(In):
    """Merge this ticket into ``into`` (``tickets.relations.merge``)."""

    into: TicketKey
    note: Annotated[str, StringConstraints(max_length=500)] | None = None
    #: Merge even though the two tickets belong to different customers.
    force: Flag = False


class MergeCarried(BaseModel):
    comments: int
    attachments: int
    calls: int


class MergeOut(BaseModel):
    #: The merged ticket: closed, read-only, ``merged_into`` set.
    ticket: TicketOut
    #: The ticket it was merged into (where the work goes on).
    into: TicketOut
    #: What was carried over to ``into``.
    carried: MergeCarried
    #: Tickets that had been merged themselves and whose pointers were followed to
    #: ``into`` (empty when ``into`` was named directly).
    followed: list[str]
    #: The public comment telling the merged ticket's customer which ticket to follow
    #: (null when it has no customer).
    notice_comment_id: int | None


class BulkIn(In):
    """One action for every child of a parent incident that it applies to."""

    action: Literal["reply", "status", "close"]
    #: ``reply``: the public comment each child (and the parent) gets.
    body: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1,
                                           max_length=20_000)] | None = None
    #: ``status``: the status each open child moves to (by the lifecycle's legal moves).
    status: Status | None = None
    reason: ShortText | None = None


class BulkSkipped(TicketRef):
    """A child the action could not be applied to, and why (the lifecycle's reason)."""

    reason: str


class BulkOut(BaseModel):
    action: str
    #: The parent incident after the action (its history records it).
    parent: TicketOut
    #: The children the action was applied to, as they are now.
    applied: list[TicketRef]
    #: The children it could not be applied to, each with the reason.
    skipped: list[BulkSkipped]


class TicketPage(BaseModel):
    items: list[TicketOut]
    total: int
    limit: int
    offset: int


class TicketEventOut(Out):
    id: int
    at: datetime
    #: Who acted. In a customer's view only their own id, else null (see ``actor``).
    actor_id: int | None
    kind: str
    data: dict[str, Any]
    #: Only in a customer's view: ``you``, ``staff`` or ``system`` instead of staff ids.
    actor: Literal["you", "staff", "system"] | None = None


class CommentIn(In):
    body: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=20_000)]
    public: Flag = False


class CommentOut(Out):
    id: int
    ticket_id: int
    author_id: int | None
    body: str
    public: bool
    created_at: datetime
    #: A copy a merge carried over: the id of the merged ticket it came from.
    merged_from_id: int | None = None
    #: Came by email (tickets.mail): the sender's address. Staff only; null otherwise.
    email_from: str | None = None


class AttachmentOut(Out):
    id: int
    ticket_id: int
    filename: str
    content_type: str
    size: int
    sha256: str
    created_at: datetime
    #: The customer may see it; internal attachments are staff-only.
    public: bool
    #: A copy a merge carried over: the id of the merged ticket it came from.
    merged_from_id: int | None = None


class AttachmentPatch(In):
    public: Flag


class CallLogOut(Out):
    call_id: str
    pbx: str
    direction: str
    caller_number: str | None
    callee_number: str | None
    customer_id: int | None
    queue: str | None
    agent_extension: str | None
    state: str
    started_at: datetime
    answered_at: datetime | None
    ended_at: datetime | None
    wait_s: float | None
    talk_s: float | None
    hangup_cause: str | None
    recording_path: str | None
    caller_name: str = ""
    order_number: str | None = None  # keyed in the IVR (ORDER / HOTLINE_ORDER)
    dtmf: str = ""  # every digit the caller keyed
    transferred_to: str | None = None
    agents: list[str] = Field(default_factory=list)  # who answered, in order
    rung: list[str] = Field(default_factory=list)  # whose phone rang, in order


class KbArticleIn(In):
    title: Name
    body: LongText
    language: Literal["zh", "en", "ko"] = "zh"
    tags: list[Tag] = Field(default_factory=list, max_length=30)
    type_key: Key | None = None


class KbArticleOut(Out):
    id: int
    title: str
    body: str
    language: str
    tags: list[str]
    type_key: str | None
