"""The check that gives back the tickets of agents paused too long (issue #10).

Runs only where the PBX bridges run (``web.wiring.start_components``): presence lives in
this process's bridges and nowhere else. It is not a scheduler of durable timers: every
``interval_s`` it asks the bridges who is paused and since when (Asterisk's ``LastPause``),
and :func:`tickets.routing.pauses.due` decides from that alone, so a restart, a reconnect
or a second worker loses nothing: the next check sees the same pauses. What it keeps is
which pauses it already released (so each is released once), in memory.

Each agent's release is one transaction (commit, then the consoles are told with
``ticket_updated``, through :class:`web.uow.UnitOfWork`); one agent's failure is logged
and tried again at the next check, the others go on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from telephony.service import Telephony
from tickets import messages
from tickets.bus import TOPIC_TICKETS, Bus
from tickets.messages import QueueMember
from tickets.notify.events import Notify
from tickets.routing import moves
from tickets.routing.pauses import PauseKey, Release, due, forget, paused_agents
from tickets.routing.service import Router
from tickets.schemas import TicketOut
from tickets.service import ticket_dict
from web.uow import UnitOfWork

log = logging.getLogger(__name__)

#: Seconds between two checks.
INTERVAL_S = 30.0


def live_members(telephony: Telephony | None) -> list[QueueMember]:
    """Every queue member of the PBXs whose picture is current: connected and resynced
    since (a link that is down, or up but not yet resynced, may show a pause that has
    ended; its agents wait for the snapshot rather than lose tickets on stale news)."""
    if telephony is None:
        return []
    current = {s["name"] for s in telephony.state() if s["connected"] and s["resynced"]}
    return [m for q in telephony.queues() if q["pbx"] in current for m in q["agents"]]


class PauseWatch:
    """Every ``interval_s``: release the tickets of agents paused ``limit_s`` or longer.

    ``members`` returns the queue members the PBX bridges know now (``QueueMember``
    dicts); ``clock`` the wall time in Unix seconds (the clock ``paused_since`` is on)."""

    def __init__(self, members: Callable[[], Iterable[Mapping[str, Any]]],
                 db: async_sessionmaker[AsyncSession], bus: Bus, router: Router,
                 limit_s: float, *, interval_s: float = INTERVAL_S,
                 clock: Callable[[], float] = time.time,
                 notify: Notify | None = None) -> None:
        self.members = members
        self.notify = notify  # the new assignees are told (tickets.notify)
        self.db = db
        self.bus = bus
        self.router = router
        self.limit_s = limit_s
        self.interval_s = interval_s
        self.clock = clock
        self.released: frozenset[PauseKey] = frozenset()
        self._task: asyncio.Task[None] | None = None

    async def check(self) -> list[tuple[Release, list[int]]]:
        """One check: the releases carried out, each with the ids of the tickets it moved."""
        releases, self.released = due(paused_agents(self.members()), self.clock(),
                                      self.limit_s, self.released)
        done: list[tuple[Release, list[int]]] = []
        failed: list[Release] = []
        for release in releases:
            try:
                done.append((release, await self._release(release)))
            except (SQLAlchemyError, OSError) as exc:  # the database is away: next time
                log.warning("could not release the tickets of paused agent %s (retried in "
                            "%.0f s): %s", release.pause.extension, self.interval_s, exc)
                failed.append(release)
            except Exception:  # a bug: the other agents still go on, this one is retried
                log.exception("could not release the tickets of paused agent %s",
                              release.pause.extension)
                failed.append(release)
        self.released = forget(self.released, failed)
        return done

    async def _release(self, release: Release) -> list[int]:
        async with self.db() as session:
            uow = UnitOfWork(session, self.bus)
            tickets = await moves.release_paused(session, self.router, release, self.notify)
            for ticket in tickets:
                out = TicketOut.model_validate(ticket_dict(ticket))
                uow.publish(TOPIC_TICKETS, messages.ticket_changed(
                    "ticket_updated", out.model_dump(mode="json")))
            ids = [t.id for t in tickets]
            await uow.commit()
        if ids:
            log.info("paused agent %s: %d ticket(s) back to their groups (%s)",
                     release.pause.extension, len(ids), release.why)
        return ids

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            try:
                await self.check()
            except Exception:  # never let one bad check end the watch
                log.exception("paused-agent check failed")

    def start(self) -> None:
        """Start checking (nothing when the limit is 0: the feature is off)."""
        if self.limit_s > 0 and self._task is None:
            self._task = asyncio.create_task(self._run(), name="pause-watch")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
