"""The ticket-database adapters of other domains' ports (web/adapters.py), without I/O."""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime

from telephony.ports import CallRecord
from tickets.calls import CALL_FIELDS
from web.adapters import _call_values


def test_call_values_are_the_columns_and_the_rest_in_extra() -> None:
    """Read field by field (not dataclasses.asdict, which deep-copied every value): the
    same columns and ``extra`` as asdict gave, empty extras left out, nothing shared."""
    t = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
    record = CallRecord(
        call_id="pbx1:1.1", pbx="pbx1", linkedid="1.1", direction="inbound",
        caller_number="+8613800138000", caller_name="李秀英", queue="support",
        agent_extension="6002", agents=("6001", "6002"), state="ended", started_at=t,
        answered_at=t, ended_at=t, wait_s=1.5, talk_s=30.0, hangup_cause="16",
        recording_path=None, dtmf="478#", order_number="478", transferred_to="6002",
        asr_uuid=None, variables={"HOTLINE_LANG": "zh"}, callee_number="4008001234",
        rung=("6001",))
    values = _call_values(record)
    expected = asdict(record)
    extra = {k: expected.pop(k) for k in ("caller_name", "agents", "rung", "dtmf",
                                          "order_number", "transferred_to", "asr_uuid",
                                          "variables")}
    assert {k: v for k, v in values.items() if k != "extra"} == expected
    assert set(expected) - {"call_id"} == set(CALL_FIELDS)
    assert values["extra"] == {
        "caller_name": "李秀英", "agents": ["6001", "6002"], "rung": ["6001"], "dtmf": "478#",
        "order_number": "478", "transferred_to": "6002", "variables": {"HOTLINE_LANG": "zh"}}
    assert extra["asr_uuid"] is None and "asr_uuid" not in values["extra"]
    assert values["extra"]["variables"] is not record.variables
    bare = _call_values(CallRecord(
        call_id="pbx1:2.1", pbx="pbx1", linkedid="2.1", direction="inbound",
        caller_number="", caller_name="", queue=None, agent_extension=None, agents=(),
        state="ringing", started_at=t, answered_at=None, ended_at=None, wait_s=None,
        talk_s=None, hangup_cause=None, recording_path=None, dtmf="", order_number=None,
        transferred_to=None, asr_uuid=None))
    assert bare["extra"] == {}
