"""Shapes of the floor API: supervisor actions, abandoned calls and their call-backs, the
wallboard's thresholds (with their checks), tickets at risk of missing their SLA."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints, model_validator

from tickets.schemas import Flag, In, Out, Version

Extension = Annotated[str, StringConstraints(strip_whitespace=True,
                                             pattern=r"^[0-9]{2,10}$")]
#: No control characters: these go into AMI headers, where a line break starts a new action.
_PRINTABLE = r"^[^\x00-\x1f\x7f]*$"
QueueName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1,
                                             max_length=64, pattern=_PRINTABLE)]
PauseReason = Annotated[str, StringConstraints(strip_whitespace=True, max_length=64,
                                               pattern=_PRINTABLE)]
Note = Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)]


class PauseIn(In):
    """Pause (or unpause) an agent in every queue, or in ``queue``."""

    paused: Flag
    reason: PauseReason | None = None
    queue: QueueName | None = None


class LogoutIn(In):
    """Take an agent out of ``queue`` (every queue when null)."""

    queue: QueueName | None = None


class CallbackIn(In):
    """Whose phone rings first (an agent's extension; null: the supervisor's own)."""

    extension: Extension | None = None


class DoneIn(In):
    note: Note | None = None


class AttemptOut(Out):
    at: datetime
    by: str | None  # the user's display name (or username)
    extension: str
    outcome: Literal["requested", "failed"]
    detail: str | None


class AbandonedOut(Out):
    """An abandoned call (``call_log`` state ``abandoned``) and what was done about it.

    ``returned_at``: the caller called again later and was answered then (a call-back may
    not be needed). ``callback_status``: ``open`` until someone marks it ``done``."""

    call_id: str
    pbx: str
    queue: str | None
    caller_number: str | None
    caller_name: str
    customer_id: int | None
    customer_name: str | None
    started_at: datetime
    ended_at: datetime | None
    wait_s: float | None
    returned_at: datetime | None
    callback_status: Literal["open", "done"]
    attempts: list[AttemptOut]
    done_at: datetime | None
    done_by: str | None
    note: str | None


# --- thresholds ---------------------------------------------------------------------------

Count = Annotated[int, Field(ge=0, le=10_000, strict=True)]
Seconds = Annotated[int, Field(ge=0, le=86_400, strict=True)]
Share = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False, strict=True)]  # no "0.5", true
Minutes = Annotated[int, Field(ge=1, le=10_080, strict=True)]

#: (amber, red) pairs where a *higher* figure is worse: amber must not exceed red.
HIGHER_IS_WORSE = (("waiting_amber", "waiting_red"),
                   ("longest_wait_amber_s", "longest_wait_red_s"),
                   ("abandon_amber", "abandon_red"),
                   ("asa_amber_s", "asa_red_s"),
                   ("aht_amber_s", "aht_red_s"))
#: (amber, red) pairs where a *lower* figure is worse (service level): red ≤ amber.
LOWER_IS_WORSE = (("sl_amber", "sl_red"),)


class Thresholds(In):
    """When a wallboard figure turns amber or red (a figure at or past the threshold).

    Counts of calls, seconds, and shares 0..1 (service level, abandon rate).
    ``sla_risk_minutes``: a ticket is "at risk" when a target falls due within this many
    minutes. Checked as a whole: each amber is on the good side of its red (422 naming it).
    """

    waiting_amber: Count = 3
    waiting_red: Count = 5
    longest_wait_amber_s: Seconds = 30
    longest_wait_red_s: Seconds = 60
    sl_amber: Share = 0.8
    sl_red: Share = 0.6
    abandon_amber: Share = 0.05
    abandon_red: Share = 0.1
    asa_amber_s: Seconds = 20
    asa_red_s: Seconds = 40
    aht_amber_s: Seconds = 300
    aht_red_s: Seconds = 600
    sla_risk_minutes: Minutes = 60

    @model_validator(mode="after")
    def _ordered(self) -> Thresholds:
        for amber, red in HIGHER_IS_WORSE:
            if getattr(self, amber) > getattr(self, red):
                raise ValueError(f"{amber}: must not be above {red} "
                                 f"({getattr(self, amber)} > {getattr(self, red)})")
        for amber, red in LOWER_IS_WORSE:
            if getattr(self, amber) < getattr(self, red):
                raise ValueError(f"{amber}: must not be below {red} "
                                 f"({getattr(self, amber)} < {getattr(self, red)})")
        return self


class ThresholdsPut(In):
    """PUT body: any thresholds to change (the others keep their value); ``version`` (the
    one read) makes a stale edit a 409."""

    thresholds: dict[str, Any] = Field(max_length=50)
    version: Version | None = None


class SettingsOut(Out):
    """The thresholds in force and their defaults; the site's time zone and today's date
    there (the wallboard asks the reports for "today" and "the same weekday last week")."""

    thresholds: Thresholds
    defaults: Thresholds
    version: int
    updated_at: datetime | None
    updated_by: str | None
    timezone: str
    today: date


class AtRiskOut(Out):
    """An open ticket whose first response or resolution falls due soon (or is overdue):
    ``target`` says which, ``due_at`` when, ``seconds_left`` (negative: overdue by)."""

    id: int
    number: str
    title: str
    priority: str
    status: str
    assignee_id: int | None
    assignee: str | None
    group_id: int | None
    target: Literal["first_response", "resolution"]
    due_at: datetime
    seconds_left: float
