"""The message catalogue: every type the hub routes is in it, round-trips through JSON, and
no module outside it builds a ``{"type": …}`` message literal."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from tickets import messages
from tickets.messages import CATALOGUE, UnknownMessage, check
from web.hub import ROUTES

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("tickets", "telephony", "asr", "web", "dispatch", "softphone_bridge")

CUSTOMER: messages.PopCustomer = {
    "id": 7, "name": "王经理", "tier": "vip", "vip": True, "language": "zh", "email": None,
    "company": "上海电子", "notes": None, "phones": ["+8613800138000"]}
CONTEXT: messages.CallerContext = {
    "customer": CUSTOMER,
    "tickets": [{"id": 1, "number": "T-000001", "title": "空调不制冷", "status": "new",
                 "created_at": "2026-11-30T08:00:00+00:00", "priority": "high", "open": True}],
    "calls": [{"call_id": "pbx1:1.1", "pbx": "pbx1", "direction": "inbound",
               "caller_number": "+8613800138000", "queue": "support", "agent_extension": "6001",
               "state": "ended", "started_at": "2026-11-29T08:00:00+00:00", "talk_s": 30.5,
               "wait_s": 4.0}],
    "orders": [{"number": "SO-1", "product_name": "AC-200", "purchased_at": "2026-01-01",
                "warranty_end": None, "in_warranty": None, "status": "delivered"}]}
MEMBER: messages.QueueMember = {
    "pbx": "pbx1", "queue": "support", "interface": "PJSIP/6001", "extension": "6001",
    "name": "alice", "state": "paused", "reason": "lunch", "paused": True,
    "paused_reason": "lunch", "paused_since": "2026-11-30T08:00:00+00:00",
    "status": "not_in_use", "in_call": False}
WINDOW: messages.WindowStats = {
    "offered": 10, "answered": 8, "abandoned": 2, "short_abandoned": 1,
    "answered_within_sl": 7, "service_level": 0.7778, "abandon_rate": 0.1111, "asa_s": 6.5,
    "aht_s": 181.25}
LIVE: messages.QueueLive = {
    "at": "2026-11-30T08:00:05+00:00", "sl_threshold_s": 20.0, "short_abandon_s": 5.0,
    "windows": {"15m": WINDOW, "60m": WINDOW, "today": {**WINDOW, "service_level": None}}}
PBX: messages.PbxState = {
    "name": "pbx1", "host": "127.0.0.1", "port": 5038, "connected": True, "state": "connected",
    "last_error": None, "since": "2026-11-30T08:00:00+00:00", "connects": 1,
    "login_failures": 0, "events": 10, "live_calls": 0, "resynced": True}

#: One message of every type, each made by its builder.
SAMPLES: list[messages.Message] = [
    messages.screen_pop(call_id="pbx1:1.2", pbx="pbx1", extension="6001",
                        caller_number="+8613800138000", caller_name="Wang", queue="support",
                        order_number=None, dtmf="", context=CONTEXT),
    messages.screen_pop(call_id="pbx1:1.3", pbx="pbx1", extension="6002", caller_number="",
                        caller_name=None, queue=None, order_number="SO-1", dtmf="12",
                        context=messages.no_caller(), lookup_error="lookup failed: Timeout"),
    messages.screen_pop(call_id="pbx1:1.4", pbx="pbx1", extension="6001",
                        caller_number="+8613800138000", caller_name=None, queue="support",
                        order_number=None, dtmf="10", context=CONTEXT, ivr={
                            "outcome": "agent",
                            "summary": "checked T-000123 · pressed 0 after 40 s",
                            "steps": [{"at_s": 5.2, "kind": "status", "detail": "T-000123"},
                                      {"at_s": 40.0, "kind": "agent", "detail": "0"}]}),
    messages.call_update(call_id="pbx1:1.2", pbx="pbx1", state="answered",
                         extensions=["6001", "6002"], answered_by="6001", closed_for=["6002"],
                         reason="answered_elsewhere"),
    messages.call_update(call_id="pbx1:1.2", pbx="pbx1", state="ringing", extensions=[],
                         caller_number="+8613911112222", customer=CUSTOMER),
    messages.call_log("pbx1:1.2", {"pbx": "pbx1", "state": "ended", "agents": ["6001"]},
                      ["6001"]),
    messages.asr(call_id="pbx1:1.2", final=True, text="订单号 SO-1"),
    messages.ticket_prefill(call_id="pbx1:1.2", ticket_type="repair", confidence=0.8,
                            order_numbers=["SO-1"], phone_numbers=[], known_orders=["SO-1"]),
    messages.asr_link(uuid="0f0e", call_id="pbx1:1.2", pbx="pbx1"),
    messages.queue_stats(pbx="pbx1", queue="support", waiting=1, longest_wait_s=3.5,
                         service_level=0.9, abandon_rate=0.1, completed=9, abandoned=1,
                         agents=[MEMBER], live=LIVE),
    messages.agent_stats(pbx="pbx1", extension="6001", name="alice",
                         at="2026-11-30T08:00:05+00:00", state="paused", reason="lunch",
                         state_since="2026-11-30T08:00:00+00:00", queues=["support"],
                         call_id=None, ticket_id=None,
                         today={"offered": 3, "answered": 2, "missed": 1, "talk_s": 310.5,
                                "hold_s": 12.0, "idle_s": 900.25}),
    messages.member_state(MEMBER),
    messages.member_state(MEMBER, removed=True),
    messages.agent_state(extension="6001", user_id=2, state="paused", reason="lunch"),
    messages.pbx_status(PBX),
    messages.ticket_changed("ticket_created", {"id": 1, "assignee_id": 2, "group_id": None}),
    messages.ticket_changed("ticket_updated", {"id": 1, "assignee_id": None, "group_id": 3}),
    messages.ticket_transfer(call_id="pbx1:1.2", to_extension="6002", from_user="Alice",
                             ticket={"id": 1}),
    messages.ticket_notice(user_ids=[4], rules=["tell sue"], ticket={"id": 1}),
    messages.notification(user_id=4, kind="ticket_assigned", ticket_id=1, number="T-000001",
                          subject="Ticket assigned to you", body="Hello"),
    messages.work_order(engineer_id=5, order={"id": 9, "status": "assigned"}),
    messages.session_revoked(user_id=2, token_id="jti"),
    messages.hello({"id": 2, "username": "alice", "role": "agent", "extension": "6001",
                    "display_name": "Alice"}, 20.0),
    messages.ping(), messages.pong(), messages.watching("pbx1:1.2"),
    messages.error("forbidden", "your role cannot follow calls"),
]


def test_every_catalogue_type_has_a_sample() -> None:
    assert {m["type"] for m in SAMPLES} == set(CATALOGUE)


@pytest.mark.parametrize("message", SAMPLES, ids=lambda m: m["type"])
def test_message_round_trips_through_json(message: messages.Message) -> None:
    back = json.loads(json.dumps(message, ensure_ascii=False))
    assert back == message
    assert check(back) == message


def test_every_routed_type_is_in_the_catalogue_on_its_topic() -> None:
    for topic, kind in ROUTES:
        assert kind in CATALOGUE, kind
        assert CATALOGUE[kind].topic == topic, kind


def test_call_update_lists_what_changed() -> None:
    msg = messages.call_update(call_id="c", pbx="p", state="held", extensions=["6001"],
                               held=True)
    assert msg["changed"] == ["held"] and msg["held"] is True


@pytest.mark.parametrize("bad", [
    {"type": "screen_pup", "call_id": "x"},
    {"call_id": "x"},
    {"type": "asr", "call_id": "x", "final": True},  # text missing
    {"type": "pong", "extra": 1},  # unexpected key
    # the drift this catalogue ends: an order's product under another name
    {**messages.screen_pop(call_id="c", pbx="p", extension="6001", caller_number="1",
                           caller_name=None, queue=None, order_number=None, dtmf="",
                           context=messages.no_caller()), "caller": "1"},
])
def test_check_refuses_what_the_catalogue_does_not_describe(bad: dict[str, object]) -> None:
    with pytest.raises(UnknownMessage):
        check(bad)


def _type_values(node: ast.AST) -> list[ast.expr]:
    """The values ``node`` gives a ``"type"`` key: in a dict display, a ``dict(type=…)``
    call, or an assignment to ``x["type"]``."""
    if isinstance(node, ast.Dict):
        return [v for k, v in zip(node.keys, node.values, strict=True)
                if isinstance(k, ast.Constant) and k.value == "type"]
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "dict":
        return [kw.value for kw in node.keywords if kw.arg == "type"]
    if isinstance(node, ast.Assign):
        return [node.value for t in node.targets if isinstance(t, ast.Subscript)
                and isinstance(t.slice, ast.Constant) and t.slice.value == "type"]
    return []


def _message_literals(tree: ast.AST, computed_ok: bool = False) -> list[int]:
    """Lines where a ``"type"`` is set to a catalogue type, or to a computed value (unless
    ``computed_ok``): a hand-built message."""
    found = []
    for node in ast.walk(tree):
        for value in _type_values(node):
            if isinstance(value, ast.Constant):
                if value.value in CATALOGUE:
                    found.append(value.lineno)
            elif not computed_ok:
                found.append(value.lineno)
    return sorted(found)


#: Modules where a computed "type" is not a message: a validation error's type
#: (web/app.py), a ticket's type (tickets/service.py, and the routing rules' field of that
#: name in tickets/routing/conditions.py).
COMPUTED_TYPE_OK = {"web/app.py", "tickets/service.py", "tickets/routing/conditions.py"}


def test_no_message_literal_outside_the_catalogue() -> None:
    found = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            if rel == "tickets/messages.py":
                continue
            tree = ast.parse(path.read_text())
            found += [f"{rel}:{n}" for n in _message_literals(tree, rel in COMPUTED_TYPE_OK)]
    assert found == [], f"build these with tickets.messages: {found}"


def test_the_scan_finds_a_message_literal() -> None:
    tree = ast.parse('x = {"type": "call_update", "call_id": c}\ny = {"kind": 1}\n'
                     'z = {"type": kind, "ticket": t}\nf = {"key": "k", "type": "number"}\n'
                     'p = dict(type="screen_pop", call_id=c)\ne["type"] = "pbx_status"\n'
                     'g = dict(type="number")\nh["type"] = "number"\ni = e["type"]')
    assert _message_literals(tree) == [1, 3, 5, 6]
    assert _message_literals(tree, computed_ok=True) == [1, 5, 6]
