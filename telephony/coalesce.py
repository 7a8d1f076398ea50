"""Rate-limiting bursty status events (queue stats, agent states) per key.

A queue emits a QueueMemberStatus for every member on every call; each used to become an
``agent_state`` plus a ``queue_stats`` for every supervisor console (~2,500 frames/s at
20 calls/s in tests/bench/bench_pop.py), competing with screen pops. Here the first event
for a key goes out at once; later ones within ``window`` collapse into one trailing event
carrying the latest state, so a wallboard is never more than ``window`` behind.

:meth:`Coalescer.poke` takes a *maker* instead of an event: the live statistics
(``telephony.stats``) change on nearly every event, and building their messages only when
one goes out (at most one per key per window) keeps a burst of events cheap.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Coroutine, Hashable
from typing import Any, cast

from tickets.bus import OutEvent

Publish = Callable[[str, OutEvent], Coroutine[Any, Any, None]]
#: Builds the event when it goes out (:meth:`Coalescer.poke`).
Maker = Callable[[], OutEvent]


class Coalescer:
    def __init__(self, publish: Publish, window: float = 0.25) -> None:
        self._publish = publish
        self.window = window
        self._last: dict[Hashable, float] = {}
        self._pending: dict[Hashable, tuple[str, OutEvent | Maker]] = {}
        self._timers: dict[Hashable, asyncio.TimerHandle] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self.merged = 0  # events replaced by a later one before going out

    @property
    def pending(self) -> int:
        return len(self._pending) + len(self._tasks)

    async def offer(self, key: Hashable, topic: str, event: OutEvent) -> None:
        loop = asyncio.get_running_loop()
        now = loop.time()
        if key not in self._pending and now - self._last.get(key, float("-inf")) >= self.window:
            self._last[key] = now
            await self._publish(topic, event)
            return
        if key in self._pending:
            self.merged += 1
        self._pending[key] = (topic, event)
        if key not in self._timers:
            delay = max(0.0, self._last.get(key, now) + self.window - now)
            self._timers[key] = loop.call_later(delay, self._fire, key)

    def poke(self, key: Hashable, topic: str, make: Maker) -> None:
        """:meth:`offer` without waiting, of an event built by ``make`` when it goes out
        (now if the key's window has passed, else once at the window's end)."""
        loop = asyncio.get_running_loop()
        now = loop.time()
        if key not in self._pending and now - self._last.get(key, float("-inf")) >= self.window:
            self._last[key] = now
            self._spawn(topic, make())
            return
        if key in self._pending:
            self.merged += 1
        self._pending[key] = (topic, make)
        if key not in self._timers:
            delay = max(0.0, self._last.get(key, now) + self.window - now)
            self._timers[key] = loop.call_later(delay, self._fire, key)

    def _fire(self, key: Hashable) -> None:
        self._timers.pop(key, None)
        item = self._pending.pop(key, None)
        if item is None:
            return
        self._last[key] = asyncio.get_running_loop().time()
        topic, event = item
        self._spawn(topic, cast(Maker, event)() if callable(event) else event)

    def _spawn(self, topic: str, event: OutEvent) -> None:
        task = asyncio.create_task(self._publish(topic, event))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def flush(self) -> None:
        """Send everything pending now (drain, shutdown)."""
        for key in list(self._timers):
            self._timers.pop(key).cancel()
            self._fire(key)
        while self._tasks:
            with contextlib.suppress(Exception):
                await asyncio.gather(*list(self._tasks))


def status_key(event: OutEvent) -> Hashable | None:
    """The coalescing key of an event, or None for events that must all go out."""
    kind = event.get("type")
    if kind == "queue_stats":
        return (kind, event.get("pbx"), event.get("queue"))
    if kind == "agent_state":
        return (kind, event.get("pbx"), event.get("queue"), event.get("interface"))
    if kind == "agent_stats":
        return (kind, event.get("pbx"), event.get("extension"))
    return None
