"""Flow paths: forward, back one step, jumps that may not skip a required step."""

from __future__ import annotations

import pytest

from tickets.routing.flow import FlowError, Step, back, forward, move, parse_flow

AFTER_SALES = parse_flow(["after_sales", {"group": "quality", "required": True},
                          "production", "after_sales"])


def test_parse_reads_both_forms() -> None:
    assert AFTER_SALES[1] == Step("quality", required=True)
    assert AFTER_SALES[0] == Step("after_sales")
    with pytest.raises(FlowError, match=r"flow\[1\]: a group key"):
        parse_flow(["a", {"group": "b", "must": True}])
    with pytest.raises(FlowError, match="at most 20"):
        parse_flow(["a"] * 21)


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
