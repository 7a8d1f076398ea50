"""Flow paths: forward, back one step, jumps that may not skip a required step."""

from __future__ import annotations

import pytest

from tickets.routing.flow import (
    FlowError,
    Step,
    back,
    forward,
    move,
    parse_steps,
    step_of_group,
    steps_of_type,
)

AFTER_SALES = steps_of_type(["after_sales", "quality", "production", "after_sales"], [1])


def test_a_type_flow_and_a_ticket_copy() -> None:
    assert AFTER_SALES[1] == Step("quality", required=True)
    assert AFTER_SALES[0] == Step("after_sales")
    assert parse_steps([s.as_json() for s in AFTER_SALES]) == AFTER_SALES
    with pytest.raises(FlowError, match=r"flow_path\[1\]"):
        parse_steps([{"group": "a"}, {"group": 3}])
    with pytest.raises(FlowError, match="at most 20"):
        steps_of_type(["a"] * 21)
    with pytest.raises(FlowError, match="required_steps: 4 is not a step"):
        steps_of_type(["a", "b"], [4])


def test_a_ticket_walks_the_whole_flow_and_back_one_step() -> None:
    at = 0
    walked = [AFTER_SALES[at].group]
    while at < len(AFTER_SALES) - 1:
        at = forward(AFTER_SALES, at)
        walked.append(AFTER_SALES[at].group)
    assert walked == ["after_sales", "quality", "production", "after_sales"]
    with pytest.raises(FlowError, match="last step"):
        forward(AFTER_SALES, at)
    assert back(AFTER_SALES, at) == 2
    with pytest.raises(FlowError, match="first step"):
        back(AFTER_SALES, 0)


def test_a_required_step_cannot_be_skipped() -> None:
    with pytest.raises(FlowError, match=r"step 2 \(quality\) must not be skipped"):
        move(AFTER_SALES, 0, 2)
    assert move(AFTER_SALES, 1, 3) == 3  # production is optional
    with pytest.raises(FlowError, match="one step at a time"):
        move(AFTER_SALES, 3, 1)
    with pytest.raises(FlowError, match="not on the flow"):
        move(AFTER_SALES, 0, 9)
    with pytest.raises(FlowError, match="no flow"):
        forward((), 0)


def test_the_step_of_a_group() -> None:
    path = [s.as_json() for s in AFTER_SALES]
    assert step_of_group(path, "production") == 2
    assert step_of_group(path, "after_sales") == 0  # the first step of that group
    assert step_of_group(path, "finance") == 0 and step_of_group(path, None) == 0
