"""Flow paths: the departments a ticket of a type walks through, and the legal moves (pure).

A type's flow is an ordered list of steps, each naming a group (e.g. after-sales → quality
inspection → production → after-sales). A ticket stands on one step (``flow_step``, an
index). ``forward`` moves one step on (with a note), ``back`` one step back (with a reason),
``jump`` to any later step, but never over a step marked ``required``. The new step's group
then assigns by its own method.

A type stores its flow as group keys plus the indices of its required steps
(:func:`steps_of_type`); a ticket keeps a copy as ``[{"group", "required"}]`` from the moment
it starts walking (:func:`parse_steps`), so editing the type does not move it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

MAX_STEPS = 20


class FlowError(ValueError):
    """An illegal move or an ill-formed flow; ``str()`` says why."""


@dataclass(frozen=True)
class Step:
    group: str
    required: bool = False

    def as_json(self) -> dict[str, Any]:
        return {"group": self.group, "required": self.required}


def steps_of_type(flow: Sequence[str], required: Sequence[int] = ()) -> tuple[Step, ...]:
    """A type's flow as steps; :class:`FlowError` for a required index off the flow."""
    if len(flow) > MAX_STEPS:
        raise FlowError(f"flow: at most {MAX_STEPS} steps")
    for i in required:
        if not 0 <= i < len(flow):
            raise FlowError(f"required_steps: {i} is not a step of the flow (0 to "
                            f"{len(flow) - 1})")
    return tuple(Step(key, i in required) for i, key in enumerate(flow))


def parse_steps(data: Any, where: str = "flow_path") -> tuple[Step, ...]:
    """A ticket's stored copy of its flow; :class:`FlowError` naming the position."""
    if not isinstance(data, list) or len(data) > MAX_STEPS:
        raise FlowError(f"{where}: a list of at most {MAX_STEPS} steps")
    steps = []
    for i, item in enumerate(data):
        if not (isinstance(item, dict) and isinstance(item.get("group"), str)
                and isinstance(item.get("required", False), bool)):
            raise FlowError(f'{where}[{i}]: {{"group": key, "required": true|false}}')
        steps.append(Step(item["group"], bool(item.get("required", False))))
    return tuple(steps)


def step_of_group(path: Sequence[dict[str, Any]], group: str | None) -> int:
    """Where on a stored flow a ticket in ``group`` stands: the first step of that group, or
    the first step when the group is not on the flow (or there is none)."""
    return next((i for i, step in enumerate(path) if step.get("group") == group), 0)


def move(steps: Sequence[Step], current: int, target: int) -> int:
    """The step index after moving from ``current`` to ``target``; :class:`FlowError` when
    the move is not allowed (off the path, back more than one step, over a required step)."""
    if not steps:
        raise FlowError("this ticket's type has no flow")
    if not 0 <= target < len(steps):
        raise FlowError(f"step {target + 1} is not on the flow (it has {len(steps)} steps)")
    if target == current:
        raise FlowError(f"the ticket is already at step {current + 1} ({steps[current].group})")
    if target < current - 1:
        raise FlowError("a ticket goes back one step at a time")
    skipped = [i for i in range(current + 1, target) if steps[i].required]
    if skipped:
        raise FlowError(f"step {skipped[0] + 1} ({steps[skipped[0]].group}) must not be "
                        "skipped")
    return target


def forward(steps: Sequence[Step], current: int) -> int:
    """One step on; :class:`FlowError` at the last step."""
    if steps and current >= len(steps) - 1:
        raise FlowError(f"the ticket is at the last step ({steps[-1].group})")
    return move(steps, current, current + 1)


def back(steps: Sequence[Step], current: int) -> int:
    """One step back; :class:`FlowError` at the first step."""
    if steps and current <= 0:
        raise FlowError("the ticket is at the first step")
    return move(steps, current, current - 1)
