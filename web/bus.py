"""The Redis bus (several processes or machines) and the factory that picks a bus.

Redis pub/sub carries the same JSON events as the in-process bus. If Redis goes away,
publishing degrades to local delivery only (logged) and the subscriber loop reconnects
with backoff; nothing crashes.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections.abc import AsyncIterator
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from tickets.bus import Bus, InProcessBus, OutEvent

log = logging.getLogger(__name__)
PREFIX = "hotline:"


def _default(obj: Any) -> Any:
    if hasattr(obj, "isoformat"):
        return obj.isoformat()
    raise TypeError(f"not JSON-serializable: {type(obj).__name__}")


class RedisBus:
    """Publishes to Redis channels ``hotline:<topic>``; one pattern subscriber per process
    feeds a local in-process bus, so each local subscriber gets each event once."""

    def __init__(self, url: str) -> None:
        self._redis = aioredis.from_url(url, socket_connect_timeout=2, socket_timeout=5,
                                        health_check_interval=10)
        self._local = InProcessBus()
        self._task: asyncio.Task[None] | None = None
        self.connected = False
        self.last_error: str | None = None
        self.published_local_only = 0

    async def start(self) -> None:
        self._task = asyncio.create_task(self._pump(), name="redis-bus")

    async def publish(self, topic: str, event: OutEvent) -> None:
        data = json.dumps(event, default=_default, ensure_ascii=False)
        try:
            await self._redis.publish(PREFIX + topic, data)
        except (RedisError, OSError) as exc:
            # Degrade: this process's own subscribers still get it.
            self.published_local_only += 1
            self._mark_down(exc)
            await self._local.publish(topic, json.loads(data))

    def subscribe(self, *topics: str) -> Any:
        return self._local.subscribe(*topics)

    def _mark_down(self, exc: BaseException) -> None:
        if self.connected or self.last_error is None:
            log.warning("redis bus unavailable (%s); delivering locally only", exc)
        self.connected = False
        self.last_error = str(exc)

    async def _pump(self) -> None:
        delay = 0.5
        while True:
            pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.psubscribe(PREFIX + "*")
                if not self.connected:
                    log.info("redis bus connected to %s", self._redis_location())
                self.connected, self.last_error, delay = True, None, 0.5
                async for message in self._messages(pubsub):
                    topic = message["channel"].decode()[len(PREFIX):]
                    try:
                        event = json.loads(message["data"])
                    except ValueError:
                        log.warning("dropping a non-JSON bus message on %s", topic)
                        continue
                    await self._local.publish(topic, event)
            except asyncio.CancelledError:
                await pubsub.aclose()
                raise
            except (RedisError, OSError) as exc:
                self._mark_down(exc)
            finally:
                try:
                    await pubsub.aclose()
                except (RedisError, OSError):
                    pass
            await asyncio.sleep(delay * (0.5 + random.random()))
            delay = min(delay * 2, 10.0)

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
        return {"kind": "redis", "ok": self.connected, "url": self._redis_location(),
                "last_error": self.last_error}

    async def close(self) -> None:
        if self._task:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, RedisError, OSError):
                pass
        await self._local.close()
        await self._redis.aclose()


def make_bus(redis_url: str | None) -> Bus:
    return RedisBus(redis_url) if redis_url else InProcessBus()
