"""Commit, then publish: the one path by which a request's changes reach the consoles.

A handler changes data through the services (which never commit) and *queues* the messages
that announce the change (:meth:`UnitOfWork.publish`); :meth:`UnitOfWork.commit` commits and
only then publishes them. So a console never hears of a change that was rolled back, and a
failed commit is an error response with nothing announced.

Publishing after a successful commit is best effort: the data is saved, so a bus outage is
logged (consoles catch up on their next fetch) rather than turning a saved change into a 500.
It is also quick: :meth:`tickets.bus.Bus.publish` never waits for I/O (the Redis bus queues
to an outbox), so a frozen Redis cannot hold a request.
"""

from __future__ import annotations

import logging

from sqlalchemy.ext.asyncio import AsyncSession

from tickets.bus import Bus, OutEvent

log = logging.getLogger(__name__)


class UnitOfWork:
    """One request's transaction (``session``) and the messages waiting for its commit."""

    def __init__(self, session: AsyncSession, bus: Bus) -> None:
        self.session = session
        self.bus = bus
        self._pending: list[tuple[str, OutEvent]] = []

    def publish(self, topic: str, message: OutEvent) -> None:
        """Queue ``message`` (a :mod:`tickets.messages` message) for after the commit."""
        self._pending.append((topic, message))

    @property
    def pending(self) -> int:
        """How many messages wait for the commit."""
        return len(self._pending)

    async def commit(self) -> None:
        """Commit the transaction, then publish what was queued, in order.

        Raises what the commit raises (nothing is published then, and the queue is kept
        empty for a retry to refill). A publish failure is logged, never raised.
        """
        pending, self._pending = self._pending, []
        await self.session.commit()
        for topic, message in pending:
            try:
                await self.bus.publish(topic, message)
            except Exception as exc:
                log.warning("committed, but could not publish %s on %s: %s",
                            message.get("type"), topic, exc)
