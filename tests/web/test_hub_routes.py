"""The hub's routing table, one test per (topic, type) row, on a floor of typical consoles."""

from __future__ import annotations

from typing import Any

import pytest

from tickets.bus import (
    TOPIC_ASR,
    TOPIC_CALLS,
    TOPIC_PBX,
    TOPIC_QUEUES,
    TOPIC_SESSIONS,
    TOPIC_TICKETS,
    TOPIC_WORK_ORDERS,
)
from tickets.messages import CATALOGUE
from web.hub import NOBODY, ROUTES, CallIndex, ConsoleView, audience, select_recipients

ALICE = ConsoleView(1, user_id=10, role="agent", extension="6001", group_ids=(1,))
ALICE_2 = ConsoleView(2, user_id=10, role="agent", extension="6001", group_ids=(1,))
BOB = ConsoleView(3, user_id=11, role="agent", extension="6002", group_ids=(2,))
CAROL = ConsoleView(4, user_id=12, role="agent", extension="6003", group_ids=(),
                    watched_calls=frozenset({"pbx1:1.1"}))
SUE = ConsoleView(5, user_id=20, role="supervisor", extension="6010")
ADMIN = ConsoleView(6, user_id=1, role="admin", extension=None)
ERIC = ConsoleView(7, user_id=30, role="engineer", extension=None)
FLOOR = (ALICE, ALICE_2, BOB, CAROL, SUE, ADMIN, ERIC)


def route(topic: str, event: dict[str, Any], calls: CallIndex | None = None) -> set[int]:
    calls = calls if calls is not None else CallIndex()
    calls.observe(topic, event)
    return select_recipients(topic, event, FLOOR, calls)


def test_routes_cover_every_routable_catalogue_type() -> None:
    not_routed = {"call_log", "asr_link", "session_revoked"}  # consumed by servers, not consoles
    on_bus = {k for k, spec in CATALOGUE.items() if spec.topic is not None}
    assert {kind for _, kind in ROUTES} == on_bus - not_routed


def test_screen_pop_goes_to_every_console_of_the_rung_extension_only() -> None:
    ev = {"type": "screen_pop", "call_id": "pbx1:1.1", "extension": "PJSIP/6001"}
    assert route(TOPIC_CALLS, ev) == {1, 2}


def test_call_update_goes_to_the_calls_agents_and_its_watchers() -> None:
    calls = CallIndex()
    route(TOPIC_CALLS, {"type": "screen_pop", "call_id": "pbx1:1.1", "extension": "6002"}, calls)
    ev = {"type": "call_update", "call_id": "pbx1:1.1", "state": "answered",
          "extensions": ["6001"]}
    # named, known, watcher; and the floor (supervisor, admin: issue #13)
    assert route(TOPIC_CALLS, ev, calls) == {1, 2, 3, 4, 5, 6}


@pytest.mark.parametrize("kind", ["asr", "ticket_prefill"])
def test_speech_goes_to_the_agents_known_on_the_call_and_its_watchers(kind: str) -> None:
    calls = CallIndex()
    route(TOPIC_CALLS, {"type": "screen_pop", "call_id": "pbx1:1.1", "extension": "6002"}, calls)
    # extensions named on a speech event are not trusted: only what the call index knows
    ev = {"type": kind, "call_id": "pbx1:1.1", "extensions": ["6001"]}
    assert route(TOPIC_ASR, ev, calls) == {3, 4}
    assert route(TOPIC_ASR, {"type": kind}, calls) == set()


def test_queue_stats_and_pbx_status_go_to_supervisors_and_admins() -> None:
    assert route(TOPIC_QUEUES, {"type": "queue_stats", "queue": "q"}) == {5, 6}
    assert route(TOPIC_PBX, {"type": "pbx_status", "name": "pbx1"}) == {5, 6}


def test_agent_state_goes_to_the_floor_and_the_agents_own_consoles() -> None:
    by_user = {"type": "agent_state", "user_id": 11, "extension": None, "state": "paused"}
    assert route(TOPIC_QUEUES, by_user) == {3, 5, 6}
    by_pbx = {"type": "agent_state", "extension": "6001", "state": "available"}
    assert route(TOPIC_QUEUES, by_pbx) == {1, 2, 5, 6}


def test_ticket_transfer_goes_to_the_target_extension() -> None:
    ev = {"type": "ticket_transfer", "call_id": "c", "to_extension": "6003", "ticket": {}}
    assert route(TOPIC_TICKETS, ev) == {4}


@pytest.mark.parametrize("kind", ["ticket_created", "ticket_updated"])
def test_ticket_changes_go_to_the_assignee_and_the_group(kind: str) -> None:
    assert route(TOPIC_TICKETS, {"type": kind,
                                 "ticket": {"assignee_id": 11, "group_id": 1}}) == {1, 2, 3}
    assert route(TOPIC_TICKETS, {"type": kind,
                                 "ticket": {"assignee_id": None, "group_id": None}}) == set()


def test_work_order_goes_to_its_engineer_and_the_floor() -> None:
    # the floor: the dispatcher board (/dispatch) reloads on it
    assert route(TOPIC_WORK_ORDERS, {"type": "work_order", "engineer_id": 30}) == {5, 6, 7}
    assert route(TOPIC_WORK_ORDERS, {"type": "work_order", "engineer_id": 31}) == {5, 6}


@pytest.mark.parametrize(("topic", "kind"), [
    (TOPIC_CALLS, "call_log"), (TOPIC_ASR, "asr_link"), (TOPIC_SESSIONS, "session_revoked"),
    (TOPIC_CALLS, "asr"),  # a known type on the wrong topic
    (TOPIC_QUEUES, "screen_pop"), ("nope", "screen_pop"), (TOPIC_CALLS, "bogus"),
])
def test_anything_else_goes_to_nobody(topic: str, kind: str) -> None:
    ev = {"type": kind, "call_id": "pbx1:1.1", "extension": "6001", "user_id": 10,
          "engineer_id": 30, "ticket": {"assignee_id": 10}}
    assert audience(topic, ev, CallIndex()) == NOBODY
    assert route(topic, ev) == set()
