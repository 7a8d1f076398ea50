"""The websocket visibility matrix: every catalogue message type × every role.

Each row addresses the message at one console of each role in the worst case (its extension
is the rung one or on the call, it is in the ticket's group, it watches the call, its user
id is the one named) and asserts exactly which roles receive it: being addressed by a route
is never enough, the recipient must be allowed the message as the REST API would allow it
(``web/hub.py`` ``PERMITS``; tickets by ``tickets.service.may_see_ticket``). Anonymous sockets
cannot connect at all (``tests/web/test_ws.py``).

A message type added to ``tickets.messages.CATALOGUE`` without a row here fails
:func:`test_matrix_has_a_row_for_every_catalogue_type`, and one without a permit in the hub
fails :func:`test_hub_has_a_permit_for_every_catalogue_type`.

The last tests reproduce the finding through a real ``/ws`` connection: an engineer in a
ticket's group used to get ``ticket_created`` for a ticket ``GET /api/v1/tickets/{id}`` hides.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import websockets

from tests.support.live import LiveServer
from tickets import service
from tickets.bus import TOPIC_TICKETS, InProcessBus
from tickets.messages import CATALOGUE
from web.hub import PERMITS, CallIndex, ConsoleView, Hub, permitted, select_recipients

ROLES = ("customer", "agent", "engineer", "supervisor", "admin")
GROUP = 7
CALL = "pbx1:1700000000.1"
CUSTOMER_ID = 500
# One console per role, each as exposed as it can be: an extension (even the customer and
# the engineer, as if set by mistake), a member of the ticket's group, watching the call.
CONSOLES = {
    role: ConsoleView(i, user_id=100 + i, role=role, extension=f"60{i:02d}", group_ids=(GROUP,),
                      watched_calls=frozenset({CALL}),
                      customer_id=CUSTOMER_ID if role == "customer" else None)
    for i, role in enumerate(ROLES, start=1)
}
ENGINEER_ID = CONSOLES["engineer"].user_id

Event = dict[str, Any]
Make = Callable[[ConsoleView], Event]


def _ticket(*, customer_id: int | None = 900, assignee_id: int | None = None) -> Event:
    return {"id": 41, "number": "T-000041", "title": "door code 4711",
            "description": "address and door code", "customer_id": customer_id,
            "assignee_id": assignee_id, "group_id": GROUP, "status": "new"}


def _pop(c: ConsoleView) -> Event:
    return {"type": "screen_pop", "call_id": CALL, "pbx": "pbx1", "extension": c.extension,
            "caller_number": "+8613800138000", "customer": None}


def _update(c: ConsoleView) -> Event:
    return {"type": "call_update", "call_id": CALL, "pbx": "pbx1", "state": "answered",
            "extensions": [c.extension], "changed": []}


def _asr(c: ConsoleView) -> Event:
    return {"type": "asr", "call_id": CALL, "final": True, "text": "我家门锁密码 4711"}


def _prefill(c: ConsoleView) -> Event:
    return {"type": "ticket_prefill", "call_id": CALL, "ticket_type": "repair",
            "confidence": 0.9, "order_numbers": [], "phone_numbers": [], "known_orders": []}


def _changed(kind: str, **ticket: Any) -> Make:
    return lambda c: {"type": kind, "ticket": _ticket(**ticket)}


def _transfer(**ticket: Any) -> Make:
    return lambda c: {"type": "ticket_transfer", "call_id": CALL, "to_extension": c.extension,
                      "from_user": "Bob", "ticket": _ticket(**ticket)}


def _simple(kind: str, **fields: Any) -> Make:
    return lambda c: {"type": kind, **fields}


STAFF = {"agent", "supervisor", "admin"}
FLOOR = {"supervisor", "admin"}
NOBODY: set[str] = set()

#: type → [(scenario, make event addressed at a console, roles that receive it)].
MATRIX: dict[str, list[tuple[str, Make, set[str]]]] = {
    "screen_pop": [("rung on its extension", _pop, STAFF)],
    "call_update": [("on the call", _update, STAFF),
                    ("nobody's extension: the floor follows it",
                     _simple("call_update", call_id="pbx1:1700000000.9", pbx="pbx1",
                             state="ringing", extensions=[]), FLOOR)],
    "call_log": [("bus only", _simple("call_log", call_id=CALL, extensions=["6001"]), NOBODY)],
    "asr": [("on or watching the call", _asr, STAFF)],
    "ticket_prefill": [("on or watching the call", _prefill, STAFF)],
    "asr_link": [("bus only", _simple("asr_link", uuid="u", call_id=CALL, pbx="pbx1"), NOBODY)],
    "queue_stats": [("floor", _simple("queue_stats", pbx="pbx1", queue="support"), FLOOR)],
    "agent_state": [("own state", lambda c: {"type": "agent_state", "extension": c.extension,
                                             "user_id": c.user_id, "state": "paused",
                                             "reason": None}, STAFF),
                    ("someone else's", _simple("agent_state", extension="6999", user_id=9999,
                                               state="paused", reason=None), FLOOR)],
    "agent_stats": [("floor", _simple("agent_stats", pbx="pbx1", extension="6001",
                                      state="on_call"), FLOOR),
                    ("about the agent's own extension", lambda c: {
                        "type": "agent_stats", "pbx": "pbx1", "extension": c.extension,
                        "state": "paused"}, FLOOR)],
    "pbx_status": [("floor", _simple("pbx_status", name="pbx1", host="10.0.0.5", port=5038,
                                     connected=True), FLOOR)],
    "ticket_created": [
        ("group ticket, not the engineer's", _changed("ticket_created"), STAFF),
        ("assigned to the engineer", _changed("ticket_created", assignee_id=ENGINEER_ID),
         STAFF | {"engineer"}),
        ("the customer's own", _changed("ticket_created", customer_id=CUSTOMER_ID),
         STAFF | {"customer"}),
        ("no customer, no assignee", _changed("ticket_created", customer_id=None), STAFF)],
    "ticket_updated": [
        ("group ticket, not the engineer's", _changed("ticket_updated"), STAFF),
        ("assigned to the engineer", _changed("ticket_updated", assignee_id=ENGINEER_ID),
         STAFF | {"engineer"}),
        ("the customer's own", _changed("ticket_updated", customer_id=CUSTOMER_ID),
         STAFF | {"customer"})],
    "ticket_transfer": [
        ("to its extension", _transfer(), STAFF),
        ("engineer's own ticket, still call material", _transfer(assignee_id=ENGINEER_ID), STAFF),
        ("customer's own ticket, still call material", _transfer(customer_id=CUSTOMER_ID),
         STAFF)],
    "ticket_notice": [
        ("a routing rule named them", lambda c: {"type": "ticket_notice",
                                                 "user_ids": [c.user_id], "rules": ["r"],
                                                 "ticket": _ticket()}, STAFF),
        ("named, but the engineer's own ticket", lambda c: {
            "type": "ticket_notice", "user_ids": [c.user_id], "rules": ["r"],
            "ticket": _ticket(assignee_id=ENGINEER_ID)}, STAFF | {"engineer"}),
        ("someone else named", _simple("ticket_notice", user_ids=[9999], rules=["r"],
                                       ticket=_ticket()), NOBODY)],
    "notification": [
        ("the outbox named them", lambda c: {
            "type": "notification", "user_ids": [c.user_id], "kind": "ticket_assigned",
            "ticket_id": 1, "number": "T-000001", "subject": "s", "body": "b"},
         STAFF | {"engineer"}),
        ("someone else named", lambda c: {
            "type": "notification", "user_ids": [9999], "kind": "sla_breach",
            "ticket_id": 1, "number": "T-000001", "subject": "s", "body": "b"}, NOBODY)],
    "work_order": [("to its engineer", lambda c: {"type": "work_order",
                                                  "engineer_id": c.user_id, "work_order": {}},
                    STAFF | {"engineer"}),
                   # the floor follows every order (the dispatcher board)
                   ("another engineer's", _simple("work_order", engineer_id=9999,
                                                  work_order={}), FLOOR)],
    "session_revoked": [("closes sockets", _simple("session_revoked", user_id=101,
                                                   token_id=None, before_ms=None), NOBODY)],
    # Direct replies go to the one socket that asked; never through the bus.
    "hello": [("direct reply", _simple("hello", user={}, heartbeat_s=20), NOBODY)],
    "ping": [("direct reply", _simple("ping"), NOBODY)],
    "pong": [("direct reply", _simple("pong"), NOBODY)],
    "watching": [("direct reply", _simple("watching", call_id=CALL), NOBODY)],
    "error": [("direct reply", _simple("error", error="x", detail="y"), NOBODY)],
}


def test_matrix_has_a_row_for_every_catalogue_type() -> None:
    assert set(MATRIX) == set(CATALOGUE), "decide (and test) who may receive each message"


def test_hub_has_a_permit_for_every_catalogue_type() -> None:
    assert set(PERMITS) == set(CATALOGUE)


def _receivers(kind: str, make: Make) -> set[str]:
    """The roles whose console receives the event when it is addressed at that console."""
    topic = CATALOGUE[kind].topic or "direct"
    got: set[str] = set()
    for role, console in CONSOLES.items():
        calls = CallIndex()
        # The call's agents as the hub learns them: this console's extension is on the call.
        calls.observe("calls", {"type": "call_update", "call_id": CALL,
                                "extensions": [console.extension]})
        event = make(console)
        calls.observe(topic, event)
        if console.conn_id in select_recipients(topic, event, CONSOLES.values(), calls):
            got.add(role)
    return got


CASES = [(kind, scenario, make, expected) for kind, rows in MATRIX.items()
         for scenario, make, expected in rows]


@pytest.mark.parametrize(("kind", "scenario", "make", "expected"), CASES,
                         ids=[f"{k}-{s}" for k, s, _, _ in CASES])
def test_visibility_matrix(kind: str, scenario: str, make: Make, expected: set[str]) -> None:
    assert _receivers(kind, make) == expected


async def _nothing(*args: object) -> None:
    return None


@pytest.mark.parametrize(("kind", "scenario", "make", "expected"), CASES,
                         ids=[f"{k}-{s}" for k, s, _, _ in CASES])
async def test_the_hubs_index_picks_what_a_scan_of_every_console_picks(
        kind: str, scenario: str, make: Make, expected: set[str]) -> None:
    """:meth:`Hub.recipients` looks only at the consoles its index names: the same answer
    as :func:`select_recipients` over all of them, so the same roles as the matrix."""
    topic = CATALOGUE[kind].topic or "direct"
    got: set[str] = set()
    for console in CONSOLES.values():
        hub = Hub(InProcessBus())
        conns = {}
        for c in CONSOLES.values():
            conn = hub.connect(user_id=c.user_id, username=c.role, role=c.role,
                               extension=c.extension, group_ids=c.group_ids,
                               send_text=_nothing, close=_nothing, customer_id=c.customer_id)
            hub.watch_call(conn, CALL)  # call roles only: the hub refuses the others
            conns[conn.conn_id] = c.role
        hub.calls.observe("calls", {"type": "call_update", "call_id": CALL,
                                    "extensions": [console.extension]})
        event = make(console)
        hub.calls.observe(topic, event)
        indexed = hub.recipients(topic, event)
        views = [conn.view() for conn in hub._conns.values()]
        assert indexed == select_recipients(topic, event, views, hub.calls)
        if console.role in {conns[i] for i in indexed}:
            got.add(console.role)
        await hub.stop()
    assert got == expected


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(("customer_id", "assignee_id"),
                         [(None, None), (CUSTOMER_ID, None), (900, ENGINEER_ID),
                          (CUSTOMER_ID, ENGINEER_ID), (900, 104)])
def test_hub_and_rest_decide_tickets_with_one_function(role: str, customer_id: int | None,
                                                       assignee_id: int | None) -> None:
    """The hub's ticket permit is :func:`tickets.service.may_see_ticket`, which the REST API
    (``can_see``) applies to a loaded ticket: same answer for every role and ticket."""
    console = CONSOLES[role]
    event = {"type": "ticket_updated",
             "ticket": _ticket(customer_id=customer_id, assignee_id=assignee_id)}
    expected = service.may_see_ticket(console.actor, customer_id=customer_id,
                                      assignee_id=assignee_id)
    assert permitted(console, event) is expected
    row = service.Ticket(customer_id=customer_id, assignee_id=assignee_id)
    assert service.can_see(console.actor, row) is expected


def test_a_ticket_message_without_a_ticket_goes_to_nobody() -> None:
    assert not any(permitted(c, {"type": "ticket_created"}) for c in CONSOLES.values())
    assert not any(permitted(c, {"type": "no_such_type", "ticket": _ticket()})
                   for c in CONSOLES.values())


# -- the finding, through a real /ws connection --------------------------------------------
async def _recv(ws: Any, kind: str, limit: float = 5.0) -> dict[str, Any]:
    async with asyncio.timeout(limit):
        while True:
            msg = json.loads(await ws.recv())
            if msg.get("type") == kind:
                return dict(msg)


async def _nothing_but_pong(ws: Any) -> list[dict[str, Any]]:
    """Everything the socket got before the pong of a ping sent now (heartbeats skipped)."""
    await ws.send(json.dumps({"type": "ping"}))
    got: list[dict[str, Any]] = []
    async with asyncio.timeout(5):
        while True:
            msg = json.loads(await ws.recv())
            if msg.get("type") == "pong":
                return got
            if msg.get("type") != "ping":
                got.append(msg)


async def test_engineer_in_the_group_does_not_get_a_ticket_he_cannot_get(
        live_server: LiveServer) -> None:
    """eric (engineer, member of "repair") used to receive ``ticket_created`` with the full
    ticket for every repair ticket; REST gives him 404 until it is assigned to him."""
    alice, eric = await live_server.login("alice"), await live_server.login("eric")
    url = live_server.ws_url + "?token="
    async with httpx.AsyncClient(base_url=live_server.url) as http, \
            websockets.connect(url + eric) as e_ws, websockets.connect(url + alice) as a_ws:
        eric_id = (await _recv(e_ws, "hello"))["user"]["id"]
        await _recv(a_ws, "hello")
        r = await http.post("/api/v1/tickets", headers={"Authorization": f"Bearer {alice}"},
                            json={"title": "漏水", "description": "地址 + 门锁密码 4711",
                                  "group": "repair"})
        assert r.status_code == 201, r.text
        ticket = r.json()
        # alice (agent, not in repair) is not addressed; the ticket reaches repair's members
        # who may see it: nobody else there but eric, who may not.
        got = await _nothing_but_pong(e_ws)
        assert [m for m in got if m.get("type", "").startswith("ticket_")] == []
        eric_h = {"Authorization": f"Bearer {eric}"}
        assert (await http.get(f"/api/v1/tickets/{ticket['id']}", headers=eric_h)
                ).status_code == 404
        # Assigned to him, he may GET it and his socket gets the update.
        r = await http.patch(f"/api/v1/tickets/{ticket['id']}",
                             headers={"Authorization": f"Bearer {alice}"},
                             json={"assignee": "eric", "version": ticket["version"]})
        assert r.status_code == 200, r.text
        upd = await _recv(e_ws, "ticket_updated")
        assert upd["ticket"]["id"] == ticket["id"] and upd["ticket"]["assignee_id"] == eric_id
        assert (await http.get(f"/api/v1/tickets/{ticket['id']}", headers=eric_h)
                ).status_code == 200


async def test_a_published_ticket_event_reaches_only_who_may_get_it(
        live_server: LiveServer) -> None:
    """Straight from the bus (as any publisher would): the repair group's engineer is
    addressed but refused; bob (agent, in after_sales) gets the after_sales ticket."""
    bob, eric = await live_server.login("bob"), await live_server.login("eric")
    url = live_server.ws_url + "?token="
    async with websockets.connect(url + eric) as e_ws, websockets.connect(url + bob) as b_ws:
        await _recv(e_ws, "hello")
        await _recv(b_ws, "hello")
        # The group ids as the hub holds them for each socket (hello does not say them).
        conns = list(live_server.services.hub._conns.values())
        repair = next(c.group_ids for c in conns if c.username == "eric")
        bobs = next(c.group_ids for c in conns if c.username == "bob")
        ev = {"type": "ticket_created",
              "ticket": {**_ticket(), "group_id": repair[0], "assignee_id": None}}
        await live_server.publish(TOPIC_TICKETS, ev)
        ev2 = {"type": "ticket_created", "ticket": {**_ticket(), "id": 42, "group_id": bobs[0]}}
        await live_server.publish(TOPIC_TICKETS, ev2)
        assert (await _recv(b_ws, "ticket_created"))["ticket"]["id"] == 42
        assert [m for m in await _nothing_but_pong(e_ws)
                if m.get("type", "").startswith("ticket_")] == []
