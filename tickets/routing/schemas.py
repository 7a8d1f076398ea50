"""Shapes of the routing API: rules, their order, the dry run, flow moves."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints

from tickets.schemas import (
    Channel,
    DbId,
    Flag,
    In,
    Key,
    LongText,
    OrderNumber,
    Out,
    Priority,
    ShortText,
    Status,
    Tag,
    Version,
)
from tickets.timeinput import Moment

RuleName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=128)]
Trigger = Literal["created", "updated"]
Position = Annotated[int, Field(ge=0, le=100_000, strict=True)]
#: Conditions and actions are checked by tickets.routing (a 422 naming the path inside).
Conditions = dict[Annotated[str, StringConstraints(max_length=16)], Any]
Actions = Annotated[list[dict[Annotated[str, StringConstraints(max_length=16)], Any]],
                    Field(max_length=20)]


def _on_create() -> list[Trigger]:
    return ["created"]


class RuleIn(In):
    name: RuleName
    enabled: Flag = True
    stop: Flag = False
    triggers: list[Trigger] = Field(default_factory=_on_create, min_length=1, max_length=2)
    conditions: Conditions = Field(default_factory=lambda: {"all": []})
    actions: Actions
    #: Where it goes in the order (1 = first); default: after the last rule.
    position: Position | None = None


class RulePatch(In):
    name: RuleName | None = None
    enabled: Flag | None = None
    stop: Flag | None = None
    triggers: list[Trigger] | None = Field(default=None, min_length=1, max_length=2)
    conditions: Conditions | None = None
    actions: Actions | None = None
    version: Version | None = None


class RuleOut(Out):
    id: int
    name: str
    position: int
    enabled: bool
    stop: bool
    triggers: list[str]
    conditions: dict[str, Any]
    actions: list[dict[str, Any]]
    version: int
    updated_at: datetime


class RuleOrderIn(In):
    ids: list[DbId] = Field(min_length=1, max_length=1000)


class SampleTicket(In):
    """A ticket that does not exist, to try the rules on."""

    title: ShortText = ""
    description: LongText = ""
    transcript: LongText = ""
    type: Key | None = None
    priority: Priority = "normal"
    channel: Channel = "phone"
    status: Status = "new"
    customer_id: DbId | None = None
    order_number: OrderNumber | None = None
    product: ShortText | None = None
    tags: list[Tag] = Field(default_factory=list, max_length=30)
    queue: Key | None = None
    group: Key | None = None
    assignee: Key | None = None


class DryRunIn(In):
    """Try the saved rules — plus ``rule``, unsaved, at its position (or replacing the saved
    rule ``rule_id``) — on an existing ticket (``ticket_id``) or a ``sample``, at ``at``
    (default now). Nothing is written."""

    rule: RuleIn | None = None
    rule_id: DbId | None = None
    ticket_id: DbId | None = None
    sample: SampleTicket | None = None
    trigger: Trigger = "created"
    at: Moment | None = None


class ChangeOut(Out):
    field: str
    old: Any = Field(alias="from")
    new: Any = Field(alias="to")
    skipped: str | None = None


class FiredOut(Out):
    rule_id: int
    rule_name: str
    stopped: bool
    changes: list[ChangeOut]


class DryRunOut(Out):
    fired: list[FiredOut]
    #: the routing fields after every rule: group, assignee, priority, tags, flow, notify
    result: dict[str, Any]
    #: who assignment would pick in the resulting group (None: no assignment tried)
    assignment: dict[str, Any] | None = None


class FlowMoveIn(In):
    """``forward`` one step, ``back`` one step (a reason is required), or ``to`` a later
    step (``step``, 1-based; required steps cannot be skipped)."""

    move: Literal["forward", "back", "to"]
    step: Annotated[int, Field(ge=1, le=20, strict=True)] | None = None
    note: ShortText | None = None
