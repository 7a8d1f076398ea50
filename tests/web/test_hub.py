"""Hub routing (pure) and delivery (real asyncio tasks, fake sockets as plain callables)."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest

from tickets.bus import (
    TOPIC_ASR,
    TOPIC_CALLS,
    TOPIC_PBX,
    TOPIC_QUEUES,
    TOPIC_TICKETS,
    TOPIC_WORK_ORDERS,
    InProcessBus,
)
from web.hub import CallIndex, ConsoleView, Hub, normalize_extension, select_recipients

ALICE = ConsoleView(1, user_id=10, role="agent", extension="6001", group_ids=(1,))
ALICE2 = ConsoleView(2, user_id=10, role="agent", extension="6001", group_ids=(1,))
BOB = ConsoleView(3, user_id=11, role="agent", extension="6002", group_ids=(2,))
SUE = ConsoleView(4, user_id=12, role="supervisor", extension=None)
ERIC = ConsoleView(5, user_id=13, role="engineer", extension=None)
CAROL = ConsoleView(6, user_id=14, role="customer", extension=None)
ALL = [ALICE, ALICE2, BOB, SUE, ERIC, CAROL]


def route(topic: str, event: dict, consoles=ALL, calls: CallIndex | None = None) -> set[int]:
    calls = calls if calls is not None else CallIndex()
    calls.observe(topic, event)
    return select_recipients(topic, event, consoles, calls)


@pytest.mark.parametrize(("raw", "want"), [
    ("6001", "6001"), ("PJSIP/6001", "6001"), ("PJSIP/6001-0000001a", "6001"),
    ("SIP/sales-desk", "sales-desk"), (" 6002 ", "6002"), ("", None), (None, None),
])
def test_normalize_extension(raw, want):
    assert normalize_extension(raw) == want


def test_screen_pop_goes_to_every_console_of_the_rung_extension_only():
    ev = {"type": "screen_pop", "call_id": "pbx1:1.1", "extension": "PJSIP/6001"}
    assert route(TOPIC_CALLS, ev) == {1, 2}


def test_screen_pop_without_extension_goes_nowhere():
    assert route(TOPIC_CALLS, {"type": "screen_pop", "call_id": "pbx1:1.1"}) == set()


def test_asr_follows_the_extensions_learned_from_the_call():
    calls = CallIndex()
    route(TOPIC_CALLS, {"type": "screen_pop", "call_id": "c1", "extension": "6001"}, calls=calls)
    asr = {"type": "asr", "call_id": "c1", "final": True, "text": "订单 123"}
    assert route(TOPIC_ASR, asr, calls=calls) == {1, 2}
    # After a transfer the call_update names bob too: he gets the rest of the transcript
    # (and the floor, sue, sees every call change: issue #13).
    upd = {"type": "call_update", "call_id": "c1", "state": "transferred",
           "extensions": ["6001", "PJSIP/6002"]}
    assert route(TOPIC_CALLS, upd, calls=calls) == {1, 2, 3, 4}
    assert route(TOPIC_ASR, {**asr, "type": "ticket_prefill"}, calls=calls) == {1, 2, 3}
    # Another call's transcript reaches nobody.
    assert route(TOPIC_ASR, {**asr, "call_id": "c2"}, calls=calls) == set()


def test_call_update_reaches_watchers_and_tracked_extensions():
    calls = CallIndex()
    route(TOPIC_CALLS, {"type": "screen_pop", "call_id": "c1", "extension": "6001"}, calls=calls)
    watcher = ConsoleView(9, user_id=12, role="supervisor", extension=None,
                          watched_calls=frozenset({"c1"}))
    upd = {"type": "call_update", "call_id": "c1", "state": "answered"}
    # sue (4): supervisors see every call change (issue #13)
    assert route(TOPIC_CALLS, upd, consoles=[*ALL, watcher], calls=calls) == {1, 2, 4, 9}


def test_floor_events_go_to_supervisors_and_admins():
    admin = ConsoleView(7, user_id=1, role="admin", extension=None)
    cons = [*ALL, admin]
    assert route(TOPIC_QUEUES, {"type": "queue_stats", "queue": "support"}, cons) == {4, 7}
    assert route(TOPIC_PBX, {"type": "pbx_status", "pbx": "pbx1"}, cons) == {4, 7}
    # agent_state also reaches the agent's own consoles.
    st = {"type": "agent_state", "user_id": 11, "state": "paused"}
    assert route(TOPIC_QUEUES, st, cons) == {3, 4, 7}
    st2 = {"type": "agent_state", "extension": "PJSIP/6001", "state": "available"}
    assert route(TOPIC_QUEUES, st2, cons) == {1, 2, 4, 7}


def test_work_order_goes_to_its_engineer_and_the_floor():
    """Its engineer (5) and the supervisors' dispatch board (4); never agents, customers or
    another engineer."""
    assert route(TOPIC_WORK_ORDERS, {"type": "work_order", "engineer_id": 13}) == {4, 5}
    assert route(TOPIC_WORK_ORDERS, {"type": "work_order", "engineer_id": "13"}) == {4, 5}
    assert route(TOPIC_WORK_ORDERS, {"type": "work_order", "engineer_id": True}) == {4}


def test_ticket_events():
    tr = {"type": "ticket_transfer", "ticket": {"id": 5}, "call_id": "c1",
          "to_extension": "6002", "from_user": "alice"}
    assert route(TOPIC_TICKETS, tr) == {3}
    upd = {"type": "ticket_updated", "ticket": {"id": 5, "assignee_id": 10, "group_id": 2}}
    assert route(TOPIC_TICKETS, upd) == {1, 2, 3}


@pytest.mark.parametrize(("topic", "event"), [
    (TOPIC_CALLS, {"type": "call_log", "call_id": "c1"}),
    (TOPIC_ASR, {"type": "asr"}),  # no call id
    ("nonsense", {"type": "screen_pop", "extension": "6001"}),
    (TOPIC_QUEUES, {"type": "whatever"}),
    (TOPIC_CALLS, {"extension": "6001"}),
])
def test_unknown_or_incomplete_events_go_nowhere(topic, event):
    assert route(topic, event) == set()


def test_call_index_is_bounded():
    calls = CallIndex(max_calls=3)
    for i in range(5):
        calls.observe(TOPIC_CALLS, {"type": "screen_pop", "call_id": f"c{i}", "extension": "1"})
    assert len(calls) == 3
    assert calls.extensions("c0") == frozenset()
    assert calls.extensions("c4") == {"1"}


# -- delivery with real tasks -----------------------------------------------------------

class FakeSocket:
    """A console end: records what it got; can be made slow or stuck."""

    def __init__(self, delay: float = 0.0, stuck: bool = False) -> None:
        self.got: list[dict] = []
        self.delay = delay
        self.stuck = stuck
        self.closed: tuple[int, str] | None = None
        self.arrived = asyncio.Event()

    async def send(self, text: str) -> None:
        if self.stuck:
            await asyncio.sleep(3600)
        if self.delay:
            await asyncio.sleep(self.delay)
        self.got.append(json.loads(text))
        self.arrived.set()

    async def close(self, code: int, reason: str) -> None:
        self.closed = (code, reason)


def attach(hub: Hub, sock: FakeSocket, user_id: int, ext: str | None, role: str = "agent"):
    return hub.connect(user_id=user_id, username=f"u{user_id}", role=role, extension=ext,
                       send_text=sock.send, close=sock.close)


async def wait_for(pred, limit: float = 2.0) -> None:
    """Poll a condition the hub's tasks will make true (they expose no event to await)."""
    async with asyncio.timeout(limit):
        while not pred():
            await asyncio.sleep(0.005)


async def test_bus_to_consoles_end_to_end_several_consoles_per_user():
    bus = InProcessBus()
    hub = Hub(bus)
    await hub.start()
    a1, a2, b = FakeSocket(), FakeSocket(), FakeSocket()
    attach(hub, a1, 10, "6001")
    attach(hub, a2, 10, "6001")
    attach(hub, b, 11, "6002")
    await bus.publish(TOPIC_CALLS, {"type": "screen_pop", "call_id": "c1", "extension": "6001",
                                    "customer": {"name": "<b>王</b>"}})
    await wait_for(lambda: a1.got and a2.got)
    assert a1.got[0]["customer"]["name"] == "<b>王</b>"
    assert b.got == []
    assert hub.stats()["connections"] == 3
    await hub.stop()
    assert a1.closed == (1001, "server shutting down")
    assert hub.stats()["connections"] == 0


async def test_a_stuck_console_does_not_delay_others_and_is_disconnected(caplog):
    bus = InProcessBus()
    hub = Hub(bus, queue_size=8)
    await hub.start()
    fast, stuck = FakeSocket(), FakeSocket(stuck=True)
    attach(hub, fast, 10, "6001")
    s = attach(hub, stuck, 11, "6001")
    caplog.set_level(logging.WARNING, logger="web.hub")
    for i in range(40):
        await bus.publish(TOPIC_CALLS, {"type": "screen_pop", "call_id": f"c{i}",
                                        "extension": "6001"})
    await wait_for(lambda: len(fast.got) == 40)
    assert [m["call_id"] for m in fast.got] == [f"c{i}" for i in range(40)]
    await wait_for(lambda: stuck.closed is not None)
    assert stuck.closed == (1013, "too slow")
    assert s.closed and hub.stats()["disconnected_slow"] == 1
    text = caplog.text
    assert "console #" in text and "u11" in text and "disconnecting" in text
    await hub.stop()


async def test_a_slow_console_loses_oldest_messages_but_stays():
    hub = Hub(InProcessBus(), queue_size=4)
    slow = FakeSocket(delay=0.05)
    conn = attach(hub, slow, 10, "6001")
    for i in range(6):
        hub.deliver(TOPIC_CALLS, {"type": "screen_pop", "call_id": f"c{i}", "extension": "6001"})
    await wait_for(lambda: len(slow.got) >= 4)
    await asyncio.sleep(0.1)
    got = [m["call_id"] for m in slow.got]
    # Six events queued before the sender ran: the two oldest were dropped.
    assert got == ["c2", "c3", "c4", "c5"]
    assert conn.dropped == 2 and not conn.closed
    await hub.stop()


async def test_send_timeout_disconnects():
    hub = Hub(InProcessBus(), send_timeout_s=0.1)
    await hub.start()  # the watchdog runs with the hub
    stuck = FakeSocket(stuck=True)
    attach(hub, stuck, 10, "6001")
    hub.deliver(TOPIC_CALLS, {"type": "screen_pop", "call_id": "c", "extension": "6001"})
    await wait_for(lambda: stuck.closed is not None)
    assert stuck.closed[0] == 1013
    assert hub.stats()["connections"] == 0
    await hub.stop()


async def test_heartbeat_pings_and_closes_silent_consoles():
    hub = Hub(InProcessBus(), heartbeat_s=0.05, dead_after_s=0.3)
    await hub.start()
    alive, silent = FakeSocket(), FakeSocket()
    ca = attach(hub, alive, 10, "6001")
    attach(hub, silent, 11, "6002")
    for _ in range(10):
        await asyncio.sleep(0.05)
        hub.touch(ca)
    await wait_for(lambda: silent.closed is not None)
    assert silent.closed == (1001, "heartbeat timeout")
    assert alive.closed is None
    assert {"type": "ping"} in alive.got
    await hub.stop()


async def test_watch_call_is_for_call_roles_only():
    hub = Hub(InProcessBus())
    sup, eng = FakeSocket(), FakeSocket()
    cs = attach(hub, sup, 12, None, role="supervisor")
    ce = attach(hub, eng, 13, None, role="engineer")
    assert hub.watch_call(cs, "c9") and not hub.watch_call(ce, "c9")
    hub.deliver(TOPIC_ASR, {"type": "asr", "call_id": "c9", "final": False, "text": "hi"})
    await wait_for(lambda: bool(sup.got))
    await asyncio.sleep(0.02)
    assert eng.got == []
    hub.unwatch_call(cs, "c9")
    assert hub.deliver(TOPIC_ASR, {"type": "asr", "call_id": "c9", "text": "x"}) == 0
    await hub.stop()


async def test_a_closed_socket_is_forgotten():
    hub = Hub(InProcessBus())

    async def broken(_text: str) -> None:
        raise ConnectionResetError

    async def close(_c: int, _r: str) -> None:
        return None

    hub.connect(user_id=1, username="x", role="agent", extension="1", send_text=broken,
                close=close)
    hub.deliver(TOPIC_CALLS, {"type": "screen_pop", "call_id": "c", "extension": "1"})
    await wait_for(lambda: hub.stats()["connections"] == 0)


async def test_bad_events_do_not_kill_the_pump():
    bus = InProcessBus()
    hub = Hub(bus)
    await hub.start()
    sock = FakeSocket()
    attach(hub, sock, 10, "6001")
    await bus.publish(TOPIC_CALLS, {"type": "screen_pop", "call_id": ["not", "str"],
                                    "extension": {"x": 1}})
    await bus.publish(TOPIC_CALLS, "not a dict")  # type: ignore[arg-type]
    await bus.publish(TOPIC_CALLS, {"type": "screen_pop", "call_id": "ok", "extension": "6001",
                                    "weird": object()})
    await wait_for(lambda: bool(sock.got))
    assert sock.got[0]["call_id"] == "ok"
    await hub.stop()


async def test_the_index_forgets_consoles_and_calls_no_longer_watched():
    hub = Hub(InProcessBus())
    sup = attach(hub, FakeSocket(), 12, None, role="supervisor")
    agent = hub.connect(user_id=10, username="u10", role="agent", extension="PJSIP/6001",
                        group_ids=(1, 2), send_text=FakeSocket().send, close=FakeSocket().close)
    for n in range(40):  # a console follows at most 32 calls: the index too
        hub.watch_call(sup, f"c{n}")
    assert sup.kind is not None
    assert len(hub._watchers) == 32 and all(ids == {sup.kind.view.conn_id}
                                             for ids in hub._watchers.values())
    hub.unwatch_call(sup, next(iter(sup.watched_calls)))
    assert len(hub._watchers) == 31
    assert hub.recipients(TOPIC_CALLS, {"type": "screen_pop", "call_id": "x",
                                        "extension": "6001"}) == {agent.conn_id}
    await hub.disconnect(agent)
    await hub.disconnect(sup)
    assert not (hub._by_user or hub._by_ext or hub._by_group or hub._floor or hub._watchers
                or hub._kinds or hub._kind_ids)
    assert not hub.watch_call(sup, "late")  # a forgotten console cannot come back in
    assert not hub._watchers


# -- kinds: consoles routing cannot tell apart -------------------------------------------

async def test_a_permit_is_decided_once_per_kind_not_once_per_console(monkeypatch):
    """50 tabs of one supervisor and 50 of another: the floor permit is asked twice (once
    per kind), and every tab still gets the event exactly once (issue #19, bench_ws)."""
    import web.hub as hub_module

    asked: list[int] = []

    def counting(event: dict):
        def check(console: ConsoleView) -> bool:
            asked.append(console.user_id)
            return console.role == "supervisor"
        return check

    monkeypatch.setitem(hub_module.PERMITS, "queue_stats", counting)
    hub = Hub(InProcessBus())
    socks = [FakeSocket() for _ in range(100)]
    for i, sock in enumerate(socks):
        attach(hub, sock, 12 + i % 2, None, role="supervisor")
    assert hub.deliver(TOPIC_QUEUES, {"type": "queue_stats", "queue": "q"}) == 100
    assert sorted(asked) == [12, 13]
    await wait_for(lambda: all(len(s.got) == 1 for s in socks))
    await hub.stop()


async def test_watching_a_call_moves_one_tab_out_of_its_kind():
    """Two tabs of one supervisor share a kind until one watches a call: then only that tab
    gets the call's speech, and both still get floor events; unwatching joins them again."""
    hub = Hub(InProcessBus())
    a, b = FakeSocket(), FakeSocket()
    ca = attach(hub, a, 12, None, role="supervisor")
    cb = attach(hub, b, 12, None, role="supervisor")
    assert ca.kind is cb.kind
    assert hub.watch_call(ca, "c1")
    assert ca.kind is not cb.kind
    assert hub.recipients(TOPIC_ASR, {"type": "asr", "call_id": "c1", "text": "hi"}) == {
        ca.conn_id}
    assert hub.recipients(TOPIC_QUEUES, {"type": "queue_stats"}) == {ca.conn_id, cb.conn_id}
    hub.unwatch_call(ca, "c1")
    assert ca.kind is cb.kind and len(hub._kinds) == 1
    assert hub.user_connections(12) == 2
    await hub.disconnect(ca)
    assert hub.user_connections(12) == 1
    await hub.stop()


async def test_a_console_dropped_mid_fan_out_does_not_stop_its_kind(caplog):
    """A kind's consoles are written in one loop; one of them dropped on the way (its
    outbox was full: hopeless) is forgotten, the ones after it still get the event."""
    hub = Hub(InProcessBus(), queue_size=2)
    socks = [FakeSocket(), FakeSocket(stuck=True), FakeSocket()]
    conns = [attach(hub, s, 10, "6001") for s in socks]
    stuck = conns[1]
    stuck.outbox.extend(["x", "y"])
    stuck.dropped_since_send = 1  # one more drop and it is hopeless
    caplog.set_level(logging.WARNING, logger="web.hub")
    n = hub.deliver(TOPIC_CALLS, {"type": "screen_pop", "call_id": "c", "extension": "6001"})
    assert n == 2 and stuck.closed and not conns[0].closed and not conns[2].closed
    assert hub.user_connections(10) == 2
    await wait_for(lambda: socks[0].got and socks[2].got)
    await hub.stop()
