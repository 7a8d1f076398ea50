"""The Redis bus (several processes or machines) and the factory that picks a bus.

Redis pub/sub carries the same JSON events as the in-process bus, between processes.
Three rules shape this module (issue #9: a frozen Redis held every ticket write 5.1 s):

* **Publishing never waits for Redis.** :meth:`RedisBus.publish` delivers the event to this
  process's own subscribers at once and appends it to a bounded *outbox*; one background
  task drains the outbox to Redis in order (so the order per topic is kept). A request
  that commits and publishes (``web.uow``) therefore spends microseconds on the bus, also
  while Redis is frozen, slow or gone.
* **Redis down degrades.** This process's consoles keep getting every event (they never
  depended on Redis); other processes miss what could not be sent. The outbox holds up to
  ``outbox_size`` events for at most ``outbox_max_age`` seconds: when full, the *oldest*
  is dropped (counted as ``dropped``), and an event older than the age limit is dropped
  when its turn comes (``expired``) rather than reaching another process's console
  minutes late. Drops are logged at most once per 10 s, with a count. The subscriber and
  the publisher reconnect with backoff (at most ~3 s apart); ``state()`` (``/readyz``,
  ``/metrics``) says ``degraded`` meanwhile. When Redis answers again the backlog goes out
  :data:`RESUME_GRACE_S` after this process has resubscribed, giving the other processes
  time to resubscribe too: pub/sub keeps no history, so a process still disconnected then
  misses those events (its consoles catch up on their next fetch, as after any reconnect).
* **Delivered once.** Each message travels in an envelope ``{"o": origin, "s": seq,
  "e": event}``: a process ignores its own messages coming back from Redis (it delivered
  them already) and, per origin, any sequence number it has seen (a publish whose reply
  timed out may still have reached Redis; the retry is then a duplicate). A bare event
  without envelope (an older publisher) is delivered as it is.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
import uuid
from collections import OrderedDict, deque
from collections.abc import AsyncIterator
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from tickets.bus import Bus, InProcessBus, OutEvent
from tickets.ratelog import RateLimitedLog

log = logging.getLogger(__name__)
#: Channel names: ``hotline:<db>:<topic>``. Pub/sub ignores the database number of the
#: URL, so the number goes into the name: installs sharing one Redis on different
#: databases (staging on /1, production on /0) never see each other's pops.
PREFIX = "hotline:"
#: Idle publisher: ping Redis this often so ``state()`` notices a frozen server.
HEARTBEAT_S = 5.0
#: After an outage: once Redis answers again, wait this long after this process has
#: resubscribed before sending the backlog, so that the other processes (reconnecting on
#: the same backoff) are likely subscribed again; pub/sub keeps no history for latecomers.
RESUME_GRACE_S = 2.0
#: Longest pause between reconnection attempts (seconds, before jitter).
MAX_BACKOFF_S = 2.0
#: Origins remembered for de-duplication (one per publishing process).
MAX_ORIGINS = 1024


def _default(obj: Any) -> Any:
    if hasattr(obj, "isoformat"):
        return obj.isoformat()
    raise TypeError(f"not JSON-serializable: {type(obj).__name__}")


class RedisBus:
    """Publishes to Redis channels ``hotline:<db>:<topic>`` (``<db>`` the URL's database
    number, 0 by default) through an outbox; one pattern
    subscriber per process feeds a local in-process bus with other processes' events.

    ``outbox_size`` (events) and ``outbox_max_age`` (seconds) bound what waits for Redis;
    ``publish_timeout`` (seconds) bounds one PUBLISH before Redis counts as down.
    """

    def __init__(self, url: str, *, outbox_size: int = 10_000, outbox_max_age: float = 60.0,
                 publish_timeout: float = 2.0) -> None:
        self._redis = aioredis.from_url(url, socket_connect_timeout=2, socket_timeout=5,
                                        health_check_interval=10)
        self._pub = aioredis.from_url(url, socket_connect_timeout=publish_timeout,
                                      socket_timeout=publish_timeout)
        db = self._redis.connection_pool.connection_kwargs.get("db", 0)
        self.prefix = f"{PREFIX}{db}:"
        self._local = InProcessBus()
        self._task: asyncio.Task[None] | None = None
        self._drainer: asyncio.Task[None] | None = None
        self._outbox: deque[tuple[str, str, float]] = deque()
        self._wake = asyncio.Event()
        self._sent_all = asyncio.Event()
        self._sent_all.set()
        self.outbox_size = outbox_size
        self.outbox_max_age = outbox_max_age
        self.publish_timeout = publish_timeout
        self.origin = uuid.uuid4().hex
        self._seq = 0
        self._seen: OrderedDict[str, int] = OrderedDict()
        self._sub_ok = False
        self._pub_ok = True
        self.last_error: str | None = None
        self._limited = RateLimitedLog(log, 10.0)
        self.counters = {"published": 0, "sent": 0, "dropped": 0, "expired": 0,
                         "received": 0, "duplicates": 0, "publish_failures": 0}

    @property
    def connected(self) -> bool:
        """Both directions work: subscribed, and the last PUBLISH (or ping) succeeded."""
        return self._sub_ok and self._pub_ok

    async def start(self) -> None:
        self._task = asyncio.create_task(self._pump(), name="redis-bus")
        self._ensure_drainer()

    async def publish(self, topic: str, event: OutEvent) -> None:
        """Deliver locally now and queue for Redis; never waits for I/O.

        Raises TypeError for an event that is not JSON-serializable (a programming error).
        """
        self.publish_nowait(topic, event)

    def publish_nowait(self, topic: str, event: OutEvent) -> None:
        """:meth:`publish` as a plain call (it never suspends)."""
        data = json.dumps(event, default=_default, ensure_ascii=False)
        self._seq += 1
        self.counters["published"] += 1
        # Local consoles get the event as other processes will: decoded from the JSON.
        self._local.publish_nowait(topic, json.loads(data))
        envelope = f'{{"o":"{self.origin}","s":{self._seq},"e":{data}}}'
        self._outbox.append((topic, envelope, time.monotonic()))
        if len(self._outbox) > self.outbox_size:
            self._outbox.popleft()
            self._count_drop("dropped", "outbox full")
        self._sent_all.clear()
        self._wake.set()
        self._ensure_drainer()

    def subscribe(self, *topics: str) -> Any:
        return self._local.subscribe(*topics)

    # -- the outbox ----------------------------------------------------------------------

    def _ensure_drainer(self) -> None:
        if self._drainer is not None and self._drainer.done():
            if not self._drainer.cancelled() and self._drainer.exception() is not None:
                log.error("redis bus outbox task failed; restarting it",
                          exc_info=self._drainer.exception())
            self._drainer = None
        if self._drainer is None:
            self._drainer = asyncio.create_task(self._drain(), name="redis-bus-outbox")

    def _count_drop(self, counter: str, why: str) -> None:
        self.counters[counter] += 1
        self._limited.warning(counter, "redis bus: an event for other processes was %s (%s); "
                              "%d dropped, %d expired so far", counter, why,
                              self.counters["dropped"], self.counters["expired"])

    async def _drain(self) -> None:
        delay = 0.5
        while True:
            if not self._outbox:
                self._sent_all.set()
                self._wake.clear()
                try:
                    await asyncio.wait_for(self._wake.wait(), HEARTBEAT_S)
                except TimeoutError:
                    delay = await self._heartbeat(delay)
                continue
            if not self._pub_ok:
                delay = await self._resume(delay)
                continue
            topic, data, queued_at = self._outbox.popleft()
            if time.monotonic() - queued_at > self.outbox_max_age:
                self._count_drop("expired", f"older than {self.outbox_max_age:g} s")
                continue
            try:
                async with asyncio.timeout(self.publish_timeout + 0.5):
                    await self._pub.publish(self.prefix + topic, data)
            except (RedisError, OSError, TimeoutError) as exc:
                # Put it back at the head (order kept); it may have reached Redis anyway,
                # receivers drop the duplicate by its sequence number.
                if len(self._outbox) < self.outbox_size:
                    self._outbox.appendleft((topic, data, queued_at))
                else:  # it is the oldest, and the outbox filled meanwhile
                    self._count_drop("dropped", "outbox full")
                self.counters["publish_failures"] += 1
                self._pub_ok = False
                self._mark_down(exc)
                continue
            self.counters["sent"] += 1

    async def _ping(self) -> bool:
        try:
            async with asyncio.timeout(self.publish_timeout + 0.5):
                await self._pub.ping()
        except (RedisError, OSError, TimeoutError) as exc:
            self._pub_ok = False
            self._mark_down(exc)
            return False
        return True

    async def _heartbeat(self, delay: float) -> float:
        """Idle publisher: one PING so a frozen Redis shows as degraded; the next delay."""
        if self._pub_ok:
            self._pub_ok = await self._ping()
            return delay
        return await self._resume(delay)

    async def _resume(self, delay: float) -> float:
        """Publisher down: back off, PING; when Redis answers, wait for this process's
        subscription and :data:`RESUME_GRACE_S`, then mark publishing up. The next delay."""
        await asyncio.sleep(delay * (0.5 + random.random()))
        if not await self._ping():
            return min(delay * 2, MAX_BACKOFF_S)
        deadline = time.monotonic() + 10 * MAX_BACKOFF_S
        while self._task is not None and not self._sub_ok and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        await asyncio.sleep(RESUME_GRACE_S)
        self._pub_ok = True
        log.info("redis bus: publishing again; %d events wait", len(self._outbox))
        return 0.5

    # -- the subscriber ------------------------------------------------------------------

    def _mark_down(self, exc: BaseException) -> None:
        why = str(exc) or type(exc).__name__
        if self.last_error is None:
            log.warning("redis bus unavailable (%s); this process's consoles still get its "
                        "own events, other processes' events wait for Redis", why)
        self.last_error = why

    def _accept(self, raw: bytes) -> Any:
        """The event to deliver locally from one Redis message, or None to skip it."""
        try:
            message = json.loads(raw)
        except ValueError:
            return None
        if not (isinstance(message, dict) and {"o", "s", "e"} <= message.keys()):
            return message  # a bare event (an older publisher)
        origin, seq = str(message["o"]), message["s"]
        if origin == self.origin:
            return None  # ours: delivered locally when published
        last = self._seen.get(origin)
        if isinstance(seq, int) and last is not None and seq <= last:
            self.counters["duplicates"] += 1
            return None
        if isinstance(seq, int):
            self._seen[origin] = seq
            self._seen.move_to_end(origin)
            while len(self._seen) > MAX_ORIGINS:
                self._seen.popitem(last=False)
        return message["e"]

    async def _pump(self) -> None:
        delay = 0.5
        while True:
            pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.psubscribe(self.prefix + "*")
                if not self._sub_ok:
                    log.info("redis bus subscribed on %s", self._redis_location())
                self._sub_ok, delay = True, 0.5
                if self._pub_ok:
                    self.last_error = None
                async for message in self._messages(pubsub):
                    topic = message["channel"].decode()[len(self.prefix):]
                    event = self._accept(message["data"])
                    if event is None:
                        continue
                    self.counters["received"] += 1
                    await self._local.publish(topic, event)
            except asyncio.CancelledError:
                await pubsub.aclose()
                raise
            except (RedisError, OSError) as exc:
                self._sub_ok = False
                self._mark_down(exc)
            finally:
                try:
                    await pubsub.aclose()
                except (RedisError, OSError):
                    pass
            await asyncio.sleep(delay * (0.5 + random.random()))
            delay = min(delay * 2, MAX_BACKOFF_S)

    @staticmethod
    async def _messages(pubsub: Any) -> AsyncIterator[dict[str, Any]]:
        while True:
            message = await pubsub.get_message(timeout=5.0)
            if message is not None and message.get("type") == "pmessage":
                yield message

    def _redis_location(self) -> str:
        kw = self._redis.connection_pool.connection_kwargs
        return f"{kw.get('host')}:{kw.get('port')}"

    def state(self) -> dict[str, Any]:
        """For /readyz and /metrics. ``ok``: Redis works both ways; ``degraded``: not, so
        only this process's consoles get its events; ``outbox``: events waiting."""
        return {"kind": "redis", "ok": self.connected, "degraded": not self.connected,
                "url": self._redis_location(), "last_error": self.last_error,
                "outbox": len(self._outbox), "outbox_size": self.outbox_size,
                **self.counters}

    async def close(self, flush_timeout: float = 1.0) -> None:
        """Stop; events still in the outbox get ``flush_timeout`` seconds to go out."""
        if self._outbox and self._pub_ok and self._drainer is not None:
            try:
                await asyncio.wait_for(self._sent_all.wait(), flush_timeout)
            except TimeoutError:
                log.warning("redis bus closed with %d events unsent", len(self._outbox))
        for task in (self._task, self._drainer):
            if task is not None:
                task.cancel()
                try:
                    await task
                except (asyncio.CancelledError, RedisError, OSError):
                    pass
        await self._local.close()
        await self._redis.aclose()
        await self._pub.aclose()


def make_bus(redis_url: str | None) -> Bus:
    return RedisBus(redis_url) if redis_url else InProcessBus()
