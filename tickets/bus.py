"""The event bus interface every domain publishes to, and the in-process implementation.

Events are plain JSON-able dicts with a ``type`` key, published on a topic; their shapes and
builders are the catalogue in :mod:`tickets.messages`. The web layer
fans them out to websockets; with Redis configured (``web.bus.RedisBus``) the same events
cross processes. Domains depend only on :class:`Bus`, never on a concrete transport.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Mapping
from typing import Any, Protocol, cast, runtime_checkable

log = logging.getLogger(__name__)

#: An event as subscribers receive it. Publishers pass a catalogue message (a TypedDict,
#: i.e. a ``Mapping``); at runtime both are the same plain dict.
Event = dict[str, Any]
OutEvent = Mapping[str, Any]

#: Topics in use. Publishers may add more; subscribers name the ones they want.
TOPIC_CALLS = "calls"  # screen_pop, call_update, call_log
TOPIC_ASR = "asr"  # asr, ticket_prefill
TOPIC_QUEUES = "queues"  # queue_stats, agent_state
TOPIC_TICKETS = "tickets"  # ticket_created, ticket_updated, ticket_transfer
TOPIC_WORK_ORDERS = "work_orders"  # work_order
TOPIC_PBX = "pbx"  # pbx_status
TOPIC_SESSIONS = "sessions"  # session_revoked (consoles of a logged-out token close)


class Subscription(Protocol):
    """An async iterator of ``(topic, event)`` pairs; ``close()`` ends it."""

    def __aiter__(self) -> AsyncIterator[tuple[str, Event]]: ...

    async def close(self) -> None: ...


class Bus(Protocol):
    async def publish(self, topic: str, event: OutEvent) -> None:
        """Hand ``event`` to the subscribers of ``topic``. Must not wait for I/O or for a
        subscriber (requests publish after their commit, the AMI reader on every event):
        a transport that can stall queues the event and sends it from its own task."""
        ...

    def subscribe(self, *topics: str) -> Subscription: ...

    async def close(self) -> None: ...


@runtime_checkable
class NowaitBus(Bus, Protocol):
    """A bus whose publish never suspends, offered as a plain call as well: a publisher in
    a hurry (the AMI bridge's screen pop) hands the event over in the same loop step
    instead of awaiting a coroutine from a task of its own (a hop costs a loop iteration,
    milliseconds under load)."""

    def publish_nowait(self, topic: str, event: OutEvent) -> None:
        """:meth:`Bus.publish`, without the coroutine."""
        ...


class _LocalSubscription:
    def __init__(self, bus: InProcessBus, topics: frozenset[str], maxsize: int) -> None:
        self._bus = bus
        self.topics = topics
        self.queue: asyncio.Queue[tuple[str, Event] | None] = asyncio.Queue(maxsize)
        self.dropped = 0

    def offer(self, topic: str, event: Event) -> None:
        try:
            self.queue.put_nowait((topic, event))
        except asyncio.QueueFull:
            # A subscriber that cannot keep up loses events rather than stalling publishers.
            self.dropped += 1
            if self.dropped in (1, 100) or self.dropped % 10_000 == 0:
                log.warning("bus subscriber on %s is behind: %d events dropped",
                            sorted(self.topics), self.dropped)

    async def __aiter__(self) -> AsyncIterator[tuple[str, Event]]:
        while True:
            item = await self.queue.get()
            if item is None:
                return
            yield item

    async def close(self) -> None:
        self._bus._subs.discard(self)
        try:
            self.queue.put_nowait(None)
        except asyncio.QueueFull:
            pass


class InProcessBus:
    """One-machine bus: publish hands the event to every matching subscriber's queue.

    Publishing never awaits a subscriber, so a slow consumer cannot slow the AMI reader.
    """

    def __init__(self, queue_size: int = 10_000) -> None:
        self._subs: set[_LocalSubscription] = set()
        self._queue_size = queue_size

    async def publish(self, topic: str, event: OutEvent) -> None:
        self.publish_nowait(topic, event)

    def publish_nowait(self, topic: str, event: OutEvent) -> None:
        received = cast(Event, event)  # the same dict: no copy per subscriber
        for sub in list(self._subs):
            if topic in sub.topics:
                sub.offer(topic, received)

    def subscribe(self, *topics: str) -> _LocalSubscription:
        sub = _LocalSubscription(self, frozenset(topics), self._queue_size)
        self._subs.add(sub)
        return sub

    async def close(self) -> None:
        for sub in list(self._subs):
            await sub.close()

    def state(self) -> dict[str, Any]:
        return {"kind": "in-process", "ok": True, "subscribers": len(self._subs)}
