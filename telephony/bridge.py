"""The AMI bridge: one panoramisk connection per PBX, made trustworthy.

panoramisk 1.4 gives us the action/response correlation (``Action`` futures keyed by
ActionID, list actions, ``Response: Error``); this module wraps what it does not do:

* **Framing**: :class:`HotlineAMIProtocol` replaces its text re-splitting (unbounded buffer,
  quadratic on big messages) with :class:`telephony.ami.FrameParser` (size limit, garbage and
  half frames survive) and classifies messages by ``Event`` first.
* **Order and back-pressure**: events do not go through ``Manager.dispatch`` (callbacks run
  unordered as separate tasks); they are appended to one ordered queue per PBX, consumed by a
  single task that feeds the :class:`~telephony.tracker.CallTracker`. Every stage is
  bounded: more than ``queue_high`` events queued pauses reading the socket (TCP pushes back
  on Asterisk instead of memory growing); more than ``effects_high`` effects not yet
  executed makes the consumer wait (so the event queue fills, so reading pauses); the call
  log's :class:`~telephony.calllog.CallLogWriter` makes its callers wait when its queue is
  full. A burst of calls therefore slows the PBX link down, never the process (issue #9).
* **Work that can wait is shed**: caller lookups run at most ``lookup_slots`` at a time (the
  database connections the HTTP handlers need are not theirs); a prefetch finding every
  slot busy and as many prefetches waiting is skipped (the pop looks up itself), and a
  lookup that had to wait for a slot for a call that ended meanwhile is skipped (its pop
  goes out without customer data, with ``lookup_error`` saying why). Queue stats and
  agent states are coalesced (:mod:`telephony.coalesce`).
* **Liveness**: a watchdog Pings when the link is quiet and declares it dead when no reply
  comes (panoramisk sends Pings and never looks at the answers).
* **Reconnect**: exponential backoff with jitter (panoramisk: a fixed 2 s forever), failed
  logins surfaced in :meth:`PbxBridge.status` and logged without the secret, and actions left
  unanswered by a dead link fail with :class:`PbxUnavailable` (panoramisk would silently
  re-send them after reconnect: a re-sent Originate would ring a phone twice).
* **Resync**: after every login, CoreShowChannels and QueueStatus snapshots are applied *in
  stream order* (a marker in the same queue), so calls that changed while we were away are
  right, none duplicated, no pop sent twice. The same snapshots repeat every
  ``resync_interval`` (5 min) on a live link, so a lost event cannot leave a call open forever.

Effects from the tracker run in per-call lanes: a slow caller lookup delays that call's pop,
never another call's events, and a call's pop always precedes the update that closes it.
Call-log writes are queued to the batched writer from the call's lane (so in order with its
pop), and the ``call_log`` message goes out once the row is committed.

Likewise the event queue is for events that must wait: a read of a few events (one slice)
arriving while the consumer idles on an empty queue goes through the tracker in the reading
step itself.
The lanes are for effects that must wait. An effect that needs no waiting (a publish, a pop
whose prefetched lookup is done, a call-log record the writer has room for) runs in the
consumer's own step when its call has nothing queued or running: that is the common case, and
it spares a pop the hop through a lane task (a loop iteration: milliseconds when the loop is
busy with call-log writes, wallboard queries or fan-out; issue #19). Order per call is the
same either way: an effect runs at once only behind nothing of its own call.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import fields as dataclass_fields
from datetime import UTC, datetime
from functools import partial
from typing import Any

from panoramisk import Manager
from panoramisk.ami_protocol import AMIProtocol
from panoramisk.message import Message

from tickets import messages
from tickets.bus import TOPIC_CALLS, TOPIC_PBX, TOPIC_QUEUES, Bus, NowaitBus, OutEvent
from tickets.messages import CallerContext, PopCustomer, PopIvr

from .agents import AgentInterfaces
from .ami import DEFAULT_MAX_MESSAGE, AmiMessage, FrameParser, encode_action, first
from .calllog import CallLogWriter
from .coalesce import Coalescer, status_key
from .ports import (
    ActionFailed,
    ActionTimeout,
    CallDirectory,
    CallHistory,
    CallRecord,
    PbxConfig,
    PbxUnavailable,
    TelephonyError,
)
from .stats import StatsConfig, StatsEngine
from .stats.windows import midnight_before
from .tracker import (
    CallerUpdate,
    CallTracker,
    Effect,
    JourneyPrefetch,
    Persist,
    Prefetch,
    Publish,
    ReadVariables,
    ScreenPop,
)

log = logging.getLogger(__name__)

_RESYNC_IDS = itertools.count(1)
#: How long a pop waits for its call's IVR journey beyond the caller lookup (seconds).
JOURNEY_WAIT_S = 1.0
#: Snapshot kind (as queued for the consumer) -> the AMI list action that takes it.
_RESYNC_ACTIONS = {"resync_channels": "CoreShowChannels", "resync_queues": "QueueStatus"}
Sink = Callable[[tuple[str, float, Any]], None]
#: Events fed to the tracker between two checks of the effects bound.
_FEED_SLICE = 16
#: The fields of a call-log record, in declaration order (the ``call_log`` event's keys).
_RECORD_FIELDS = tuple(f.name for f in dataclass_fields(CallRecord))


def call_log_event(record: CallRecord) -> messages.CallLogEntry:
    """The ``call_log`` bus event for a finished call (the record, JSON-ready)."""
    fields: dict[str, Any] = {}
    # Field by field, not dataclasses.asdict: that deep-copies every value (a datetime
    # through copy.deepcopy), the costliest step of a finished call. The record's values
    # are strings, numbers, datetimes, tuples of strings and one dict of strings.
    for key in _RECORD_FIELDS:
        value = getattr(record, key)
        if isinstance(value, datetime):
            value = value.isoformat()
        elif isinstance(value, tuple):
            value = list(value)
        elif isinstance(value, dict):
            value = dict(value)
        fields[key] = value
    return messages.call_log(record.call_id, fields, list(record.agents))


class LookupShed(Exception):
    """A caller lookup skipped under load (the call it was for had ended)."""


class HotlineAMIProtocol(AMIProtocol):
    """panoramisk's protocol with our framing, ordering and resync interception."""

    def __init__(self, sink: Sink, max_message: int = DEFAULT_MAX_MESSAGE) -> None:
        super().__init__()
        self.sink = sink
        self.parser = FrameParser(max_message)
        self.resync: dict[str, tuple[str, list[AmiMessage]]] = {}
        self.last_rx = time.monotonic()
        self._batch: list[AmiMessage] = []
        self.lost: asyncio.Future[Exception | None] = \
            asyncio.get_running_loop().create_future()

    version: str | None
    closed: bool

    def data_received(self, data: bytes) -> None:
        now = time.time()
        self.last_rx = time.monotonic()
        try:
            messages = self.parser.feed(data)
        except Exception:  # never let one read kill the connection handler
            log.exception("AMI framing failed; dropping %d bytes", len(data))
            return
        if self.version is None and self.parser.banner is not None:
            self.version = self.parser.banner
        # Events of one read go to the queue as one batch (one queue operation per TCP
        # read, not per event); anything that must stay in order with them (a resync
        # snapshot) flushes the batch first.
        self._batch = []
        for msg in messages:
            try:
                self._route(msg, now)
            except Exception:
                log.exception("AMI message handling failed: %.200r", msg)
        if self._batch:
            self.sink(("events", now, self._batch))
        self._batch = []

    def _flush(self, now: float) -> None:
        if self._batch:
            self.sink(("events", now, self._batch))
            self._batch = []

    def _route(self, msg: AmiMessage, now: float) -> None:
        aid = msg.get("ActionID")
        if aid is not None and isinstance(aid, str) and aid in self.resync:
            kind, items = self.resync[aid]
            if "Event" in msg:
                if msg.get("EventList") == "Complete" or msg["Event"].endswith("Complete"):
                    del self.resync[aid]
                    self._flush(now)
                    self.sink((kind, now, (self, items)))
                else:
                    items.append(msg)
            elif msg.get("Response") == "Error":
                del self.resync[aid]
                self._flush(now)
                self.sink(("resync_error", now,
                           (self, f"{kind}: {msg.get('Message', '')}", kind)))
            return
        if "Event" in msg:
            if aid is not None and (aid in self.responses):
                self.handle_message(Message(msg))
                if msg["Event"] != "OriginateResponse":
                    return
            self._batch.append(msg)
            if msg["Event"] == "Shutdown" and self.transport is not None:
                self.transport.close()
        else:
            self.handle_message(Message(msg))

    def send_resync(self, action: str, kind: str) -> str:
        aid = f"hotline-resync-{next(_RESYNC_IDS)}"
        self.resync[aid] = (kind, [])
        self.transport.write(encode_action({"Action": action, "ActionID": aid}))
        return aid

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.lost.done():
            self.lost.set_result(exc)
        # Fail pending actions now instead of letting panoramisk re-send them later.
        for action in list(self.responses.values()):
            if not action.future.done():
                action.future.set_exception(PbxUnavailable("AMI link lost before the reply"))
                action.future.exception()  # mark retrieved: waiters still get it
        self.responses.clear()
        if not self.closed:
            self.closed = True
            with contextlib.suppress(Exception):
                self.transport.close()


class PbxBridge:
    """One PBX: connection loop, ordered event queue, tracker and effect lanes."""

    def __init__(self, config: PbxConfig, bus: Bus, directory: CallDirectory, *,
                 region: str = "CN", ping_interval: float = 5.0, ping_timeout: float = 5.0,
                 connect_timeout: float = 5.0, login_timeout: float = 5.0,
                 resync_timeout: float = 10.0, backoff_min: float = 0.5,
                 backoff_max: float = 30.0, action_timeout: float = 10.0,
                 max_message: int = DEFAULT_MAX_MESSAGE, queue_high: int = 10_000,
                 stats_interval: float = 2.0, persist_patience: float = 600.0,
                 resync_interval: float = 300.0, lookup_max_age: float = 30.0,
                 status_window: float = 0.25, rng: random.Random | None = None,
                 agents: AgentInterfaces | None = None, boot_wait: float = 5.0,
                 effects_high: int = 2000, lookup_slots: int = 2,
                 call_log_queue: int = 5000, call_log_batch: int = 200,
                 call_log_linger: float = 0.05, stats: StatsConfig | None = None,
                 history: CallHistory | None = None, rebuild_timeout: float = 10.0) -> None:
        self.config = config
        self.name = config.name
        self.bus = bus
        self.directory = directory
        stats = stats or StatsConfig()
        self.tracker = CallTracker(config.name, region=region, agents=agents,
                                   service_level_s=stats.sl_threshold_s)
        # The live statistics (issue #13): fed the same events, its queue figures are part
        # of every queue_stats; messages are built when the coalescer lets one out.
        self.stats = StatsEngine(config.name, stats, self.tracker.agents)
        self.tracker.book.live = self.stats.queue_live
        self.history = history
        self.rebuild_timeout = rebuild_timeout
        self.rebuilt: int | None = None  # call-log rows counted at start (None: not done)
        self.ping_interval = ping_interval
        self.ping_timeout = ping_timeout
        self.connect_timeout = connect_timeout
        self.login_timeout = login_timeout
        self.resync_timeout = resync_timeout
        self.backoff_min = backoff_min
        self.backoff_max = backoff_max
        self.action_timeout = action_timeout
        self.max_message = max_message
        self.queue_high = queue_high
        self.queue_low = queue_high // 2
        self.effects_high = effects_high
        self.effects_low = effects_high // 2
        self.stats_interval = stats_interval
        self.persist_patience = persist_patience
        self.resync_interval = resync_interval
        self.boot_wait = boot_wait
        self.lookup_max_age = lookup_max_age
        self.rng = rng or random.Random()
        # Used for its action/response correlation only: we never call Manager.connect(),
        # so its fixed-delay reconnect and unchecked pinger never run.
        self.manager = Manager(host=config.host, port=config.port,
                                username=config.username, secret=config.secret,
                                ping_delay=3600, reconnect_timeout=3600)
        self.protocol: HotlineAMIProtocol | None = None
        self.queue: asyncio.Queue[tuple[str, float, Any]] = asyncio.Queue()
        self.connected = False
        self.logged_in = False
        self.state_name = "stopped"
        self.last_error: str | None = None
        self.since = time.time()
        self.connects = 0
        self.login_failures = 0
        self.events_processed = 0
        self._paused = False
        self._pending = 0  # events queued, not yet through the tracker
        self.pauses = 0  # times reading was paused for back-pressure
        self._run_task: asyncio.Task[None] | None = None
        self._ticker: asyncio.Task[None] | None = None
        self._consumer: asyncio.Task[None] | None = None
        self._lanes: dict[str, asyncio.Queue[Effect | None]] = {}
        self._lane_tasks: dict[str, asyncio.Task[None]] = {}
        self._lane_busy: set[str] = set()  # lanes executing an effect right now
        # the bus's plain-call publish, when it has one (effects then run without a lane)
        self._publish_now = bus.publish_nowait if isinstance(bus, NowaitBus) else None
        self.effects_direct = 0  # effects carried out in the consumer's step (no lane)
        self._consumer_idle = False  # the consumer waits for the queue (so it is empty)
        self.items_direct = 0  # reads (and snapshots) put through the tracker on arrival
        self._lookups: dict[str, asyncio.Future[CallerContext]] = {}
        self._lookup_done: dict[str, float] = {}
        self._lookup_keys: dict[str, tuple[str | None, str]] = {}  # call -> number looked up
        #: call -> its IVR journey read (shared by the call's pops; see _journey)
        self._journeys: dict[str, tuple[float, bool, asyncio.Future[PopIvr | None]]] = {}
        self._resynced = asyncio.Event()
        self._booted = asyncio.Event()  # FullyBooted seen on this connection
        self._resync_booted = False  # the last snapshots were asked after FullyBooted
        self._resync_backoff: dict[str, float] = {}
        self._retries: set[asyncio.Task[None]] = set()
        self._resync_pending = 0
        self._originates: dict[str, asyncio.Future[AmiMessage]] = {}
        self._stopping = False
        self._status = Coalescer(self.bus.publish, status_window)
        self._inflight = 0  # effects handed to lanes, not yet executed
        self._room = asyncio.Event()  # set while _inflight is at or below effects_low
        self._room.set()
        self.effect_waits = 0  # times the consumer waited for effects to drain
        self.lookup_slots = lookup_slots
        self._lookup_slots = asyncio.Semaphore(lookup_slots)
        self._lookups_active = 0  # lookups started and not finished (running or waiting)
        self.prefetch_shed = 0  # prefetches skipped: every lookup slot was busy
        self.lookups_shed = 0  # lookups skipped: the call had ended while waiting
        self.call_log = CallLogWriter(self._store_calls, max_queue=call_log_queue,
                                      batch=call_log_batch, patience=persist_patience,
                                      linger=call_log_linger)

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        self._stopping = False
        self.manager.loop = asyncio.get_running_loop()
        await self._rebuild_stats()
        self.call_log.start()
        self._consumer = asyncio.create_task(self._consume(), name=f"ami-{self.name}-events")
        self._run_task = asyncio.create_task(self._run(), name=f"ami-{self.name}-link")
        self._ticker = asyncio.create_task(self._tick(), name=f"ami-{self.name}-stats")

    async def stop(self) -> None:
        self._stopping = True
        for task in (self._run_task, self._ticker, *self._retries):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        if self.protocol is not None:
            self.protocol.transport.close()
        self.logged_in = False
        self._set_state("stopped", connected=False)
        # Let what was received be processed and persisted (and "stopped" published).
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.drain(), 5)
        if self._consumer is not None:
            self._consumer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._consumer
        await self._salvage_lanes()
        # Every record queued is written before we return (nothing lost at shutdown).
        await self.call_log.stop()
        for fut in self._lookups.values():
            fut.cancel()
        self._lookups.clear()
        self._lookup_keys.clear()
        self._lookup_done.clear()

    async def _rebuild_stats(self) -> None:
        """Today's statistics from the call log (a process restart must not zero the
        wallboard); a failing or slow database leaves them at zero, logged."""
        if self.history is None:
            return
        now = time.time()
        since = datetime.fromtimestamp(midnight_before(now, self.stats.zone), UTC)
        try:
            records = await asyncio.wait_for(self.history.calls_since(self.name, since),
                                             self.rebuild_timeout)
        except Exception as exc:  # any failure: start without history
            log.warning("AMI %s: today's statistics not rebuilt from the call log: %r",
                        self.name, exc)
            return
        self.rebuilt = self.stats.rebuild(records, time.time())
        self.stats.take_changes()  # nobody listens yet; the first pushes carry them

    def _push_stats(self) -> None:
        """Offer what the statistics engine saw change to the coalescer (the messages
        are built when they go out)."""
        queues, agents = self.stats.take_changes()
        poke = self._status.poke
        for q in queues:
            poke(("queue_stats", self.name, q), TOPIC_QUEUES, partial(self._queue_message, q))
        for ext in agents:
            poke(("agent_stats", self.name, ext), TOPIC_QUEUES,
                 partial(self._agent_message, ext))

    def _queue_message(self, qname: str) -> OutEvent:
        return self.tracker.book.stats_message(qname, time.time())

    def _agent_message(self, ext: str) -> OutEvent:
        return self.stats.agent_message(ext, time.time())

    async def _salvage_lanes(self) -> None:
        """End the lanes; call-log records still queued in them go to the writer anyway."""
        tasks = list(self._lane_tasks.values())
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        left = 0
        for q in self._lanes.values():
            while not q.empty():
                eff = q.get_nowait()
                if isinstance(eff, Persist):
                    left += 1
                    try:  # a writer stuck on a dead database must not hold shutdown
                        await asyncio.wait_for(self.call_log.put(eff.record), 5)
                    except TimeoutError:
                        log.error("AMI %s: call-log record not written at shutdown: %r",
                                  self.name, eff.record)
        if left:
            log.warning("AMI %s: %d call-log records were still waiting in call lanes at "
                        "shutdown; queued for writing", self.name, left)
        self._lanes.clear()
        self._lane_tasks.clear()
        self._inflight = 0
        self._room.set()

    async def drain(self) -> None:
        """Wait until every received event is processed and every effect executed."""
        while True:
            await self.queue.join()
            lanes = [q for q in self._lanes.values()]
            for q in lanes:
                await q.join()
            await self.call_log.flush()
            if self.queue.empty() and all(q.empty() for q in self._lanes.values()) \
                    and not self.call_log.queued:
                await self._status.flush()
                return

    def status(self) -> messages.PbxState:
        """This connection's state (``/readyz``, and ``pbx_status`` when it changes)."""
        return {"name": self.name, "host": self.config.host, "port": self.config.port,
                "connected": self.connected and self.logged_in, "state": self.state_name,
                "last_error": self.last_error,
                "since": datetime.fromtimestamp(self.since, UTC).isoformat(),
                "connects": self.connects, "login_failures": self.login_failures,
                "events": self.events_processed, "live_calls": len(self.tracker.calls),
                "resynced": self._resynced.is_set()}

    def load(self) -> dict[str, int]:
        """Back-pressure and shedding counters (``/metrics``, the burst benchmark)."""
        return {"events_queued": self._pending, "reader_pauses": self.pauses,
                "effects_in_flight": self._inflight, "effect_waits": self.effect_waits,
                "effects_direct": self.effects_direct, "reads_direct": self.items_direct,
                "prefetch_shed": self.prefetch_shed, "lookups_shed": self.lookups_shed,
                **{f"call_log_{k}": v for k, v in self.call_log.stats().items()}}

    def _set_state(self, state: str, *, connected: bool, error: str | None = None) -> None:
        changed = state != self.state_name or error != self.last_error
        self.state_name = state
        self.connected = connected
        if error is not None or state == "connected":
            self.last_error = error
        if changed:
            self.since = time.time()
            self._publish_nowait(TOPIC_PBX, messages.pbx_status(self.status()))

    def _publish_nowait(self, topic: str, event: OutEvent) -> None:
        self._enqueue("__pbx__", Publish(topic, event))

    def _enqueue(self, key: str, eff: Effect) -> None:
        self._inflight += 1
        self._lane(key).put_nowait(eff)

    # ------------------------------------------------------------------ link loop
    async def _run(self) -> None:
        attempt = 0
        while not self._stopping:
            good_session = False
            try:
                good_session = await self._session()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a bug must not end the reconnect loop
                log.exception("AMI %s: session failed", self.name)
                self._set_state("disconnected", connected=False, error=f"internal: {exc}")
            finally:
                self.logged_in = False
                self._resynced.clear()
                if self.protocol is not None:
                    with contextlib.suppress(Exception):
                        self.protocol.transport.abort()
                    self.protocol.connection_lost(None)
                    self.protocol = None
            if self._stopping:
                return
            attempt = 0 if good_session else attempt + 1
            delay = min(self.backoff_max, self.backoff_min * (2 ** min(attempt, 16)))
            delay = self.rng.uniform(delay / 2, delay)
            log.info("AMI %s: reconnecting in %.2fs", self.name, delay)
            await asyncio.sleep(delay)

    def _sink(self, item: tuple[str, float, Any]) -> None:
        if item[0] == "events":
            self._pending += len(item[2])
        if self._consumer_idle and self.queue.empty() and (
                item[0] != "events" or len(item[2]) <= _FEED_SLICE):
            # Nothing waits before it: through the tracker in this step (a hop through the
            # consumer task costs a loop iteration; the pop is behind it, issue #19). A
            # bigger read (a burst, a flood) is queued: the consumer takes it in slices.
            rest = self._take_now(item)
            if rest is None:
                return
            item = rest
        self.queue.put_nowait(item)
        if not self._paused and self._pending > self.queue_high and self.protocol:
            self._paused = True
            self.pauses += 1
            self.protocol.transport.pause_reading()

    async def _session(self) -> bool:
        """One connection: connect, login, resync, watch. True if it got to resync."""
        self._booted.clear()
        proto = await self._connect()
        if proto is None or not await self._login(proto):
            return False
        watch = asyncio.ensure_future(self._watchdog(proto))
        try:
            if not await self._first_resync(proto):
                return False
            self._set_state("connected", connected=True, error=None)
            lost_exc = await self._watch(proto)
            reason = f"link lost: {lost_exc}" if lost_exc else "link lost"
            if watch.done() and not watch.cancelled() and watch.result():
                reason = watch.result() or reason
            log.warning("AMI %s: %s", self.name, reason)
            self._set_state("disconnected", connected=False, error=reason)
            return True
        finally:
            watch.cancel()

    async def _connect(self) -> HotlineAMIProtocol | None:
        loop = asyncio.get_running_loop()
        self._set_state("connecting", connected=False, error=self.last_error)
        try:
            _, proto = await asyncio.wait_for(loop.create_connection(
                lambda: HotlineAMIProtocol(self._sink, self.max_message),
                self.config.host, self.config.port), self.connect_timeout)
        except (TimeoutError, OSError) as exc:
            reason = str(exc) or type(exc).__name__
            log.warning("AMI %s: cannot connect to %s:%s: %s", self.name,
                        self.config.host, self.config.port, reason)
            self._set_state("disconnected", connected=False, error=f"connect: {reason}")
            return None
        assert isinstance(proto, HotlineAMIProtocol)
        self.protocol = proto
        proto.factory = self.manager
        proto.log = log
        proto.config = self.manager.config
        proto.encoding = "utf-8"
        self.manager.protocol = proto
        self.manager.responses = proto.responses
        self.connects += 1
        return proto

    async def _login(self, proto: HotlineAMIProtocol) -> bool:
        try:
            resp = await asyncio.wait_for(asyncio.shield(self.manager.send_action({
                "Action": "Login", "Username": self.config.username,
                "Secret": self.config.secret, "Events": "on"})), self.login_timeout)
        except (TimeoutError, PbxUnavailable) as exc:
            self._set_state("disconnected", connected=False,
                            error=f"login: no reply ({type(exc).__name__})")
            return False
        if not resp.success:
            self.login_failures += 1
            msg = first(resp.get("Message")) or "refused"
            log.error("AMI %s: login as %r failed: %s", self.name, self.config.username, msg)
            self._set_state("login_failed", connected=False, error=f"login failed: {msg}")
            return False
        self.logged_in = True
        self._set_state("resyncing", connected=True, error=None)
        return True

    async def _first_resync(self, proto: HotlineAMIProtocol) -> bool:
        """Wait for FullyBooted (a PBX still loading modules answers QueueStatus with
        "Invalid/unknown command"), then take the snapshots. Asterisk sends FullyBooted
        right after login when it is up; a PBX that never says it is resynced anyway after
        ``boot_wait`` and again when FullyBooted comes."""
        booted: asyncio.Future[Any] = asyncio.ensure_future(self._booted.wait())
        try:
            await asyncio.wait({booted, proto.lost}, timeout=self.boot_wait,
                               return_when=asyncio.FIRST_COMPLETED)
        finally:
            booted.cancel()
        if proto.lost.done():
            self._set_state("disconnected", connected=False, error="link lost during resync")
            return False
        if not self._booted.is_set():
            log.warning("AMI %s: no FullyBooted within %.1fs; resyncing now and again when "
                        "it comes", self.name, self.boot_wait)
        self._resynced.clear()
        self._send_resync(proto, initial=True)
        resync_wait: asyncio.Future[Any] = asyncio.ensure_future(self._resynced.wait())
        try:
            done, _ = await asyncio.wait({resync_wait, proto.lost},
                                         timeout=self.resync_timeout,
                                         return_when=asyncio.FIRST_COMPLETED)
        finally:
            resync_wait.cancel()
        if resync_wait not in done:
            reason = "link lost during resync" if proto.lost.done() else "resync timeout"
            self._set_state("disconnected", connected=False, error=reason)
            return False
        return True

    def _send_resync(self, proto: HotlineAMIProtocol, *, initial: bool = False) -> None:
        """Both snapshots, in stream order; remembers whether the PBX was booted then."""
        if initial:
            self._resync_pending = 2
        self._resync_booted = self._booted.is_set()
        for kind, action in _RESYNC_ACTIONS.items():
            proto.send_resync(action, kind)

    async def _watch(self, proto: HotlineAMIProtocol) -> Exception | None:
        """Until the link is lost; periodic resyncs heal drift (a lost event) meanwhile."""
        while True:
            try:
                return await asyncio.wait_for(asyncio.shield(proto.lost),
                                              self.resync_interval)
            except TimeoutError:
                self._send_resync(proto)

    def _on_fully_booted(self) -> None:
        """FullyBooted: snapshots taken before it may miss app_queue: take them again."""
        self._booted.set()
        proto = self.protocol
        if self._resynced.is_set() and not self._resync_booted and proto is not None \
                and not proto.lost.done():
            log.info("AMI %s: PBX fully booted: resyncing", self.name)
            self._send_resync(proto)

    def _retry_resync(self, proto: HotlineAMIProtocol, kind: str) -> None:
        """A snapshot action failed (a module still loading): ask again with backoff while
        this link lives; the delay doubles up to ``backoff_max``."""
        delay = self._resync_backoff.get(kind, self.backoff_min)
        self._resync_backoff[kind] = min(self.backoff_max, delay * 2)

        async def retry() -> None:
            await asyncio.sleep(delay)
            if proto is self.protocol and not proto.lost.done():
                proto.send_resync(_RESYNC_ACTIONS[kind], kind)

        task = asyncio.ensure_future(retry())
        self._retries.add(task)
        task.add_done_callback(self._retries.discard)

    async def _watchdog(self, proto: HotlineAMIProtocol) -> str | None:
        """Ping a quiet link; close it if the Ping goes unanswered."""
        while not proto.lost.done():
            await asyncio.sleep(self.ping_interval / 2)
            if time.monotonic() - proto.last_rx < self.ping_interval or self._paused:
                continue  # quiet because we paused reading (back-pressure) is not dead
            fut = self.manager.send_action({"Action": "Ping"})
            try:
                await asyncio.wait_for(asyncio.shield(fut), self.ping_timeout)
            except (TimeoutError, PbxUnavailable):
                if proto.lost.done():
                    return None
                reason = f"no reply to Ping within {self.ping_timeout:g}s: link declared dead"
                log.warning("AMI %s: %s", self.name, reason)
                self.last_error = reason
                proto.transport.abort()
                return reason
        return None

    # ------------------------------------------------------------------ event consumer
    @staticmethod
    def _parts(kind: str, payload: Any) -> list[Any]:
        """A read's events go through the tracker a slice at a time, so effects in flight
        stay near ``effects_high`` even when one TCP read held a thousand."""
        if kind != "events":
            return [payload]
        return [payload[i:i + _FEED_SLICE] for i in range(0, len(payload), _FEED_SLICE)]

    def _take_now(self, item: tuple[str, float, Any]) -> tuple[str, float, Any] | None:
        """What the consumer would do with ``item``, done now (it is idle and the queue
        empty); the part left when the lanes are full (``effects_high``), to be queued."""
        kind, t, payload = item
        parts = self._parts(kind, payload)
        try:
            for k, part in enumerate(parts):
                if self._inflight > self.effects_high:
                    if kind != "events":
                        return item
                    return kind, t, [event for rest in parts[k:] for event in rest]
                effects = self._apply(kind, t, part)
                if effects:
                    self._dispatch(effects)
        except Exception:
            log.exception("AMI %s: tracker failed on %.300r", self.name, payload)
        self.items_direct += 1
        return None

    async def _consume(self) -> None:
        while True:
            self._consumer_idle = True
            try:
                kind, t, payload = await self.queue.get()
            finally:
                self._consumer_idle = False
            try:
                for part in self._parts(kind, payload):
                    effects = self._apply(kind, t, part)
                    if effects:
                        self._dispatch(effects)
                    await self._wait_for_room()
            except Exception:
                log.exception("AMI %s: tracker failed on %.300r", self.name, payload)
            finally:
                self.queue.task_done()
            if self._paused and self._pending < self.queue_low and self.protocol:
                self._paused = False
                self.protocol.transport.resume_reading()

    async def _wait_for_room(self) -> None:
        """The lanes are behind (a slow database, a pop storm): take no more events until
        they are half-way through, so the event queue fills and reading the socket pauses."""
        while self._inflight > self.effects_high:
            self.effect_waits += 1
            self._room.clear()
            await self._room.wait()

    def _apply(self, kind: str, t: float, payload: Any) -> list[Effect]:
        """One queued item through the tracker: events, a snapshot, or a failed snapshot."""
        tracker = self.tracker
        if kind == "events":
            effects = self._feed(payload, t)
            self._push_stats()
            return effects
        if kind in _RESYNC_ACTIONS:
            effects = (tracker.resync_channels if kind == "resync_channels"
                       else tracker.resync_queues)(payload[1], t)
            try:
                (self.stats.resync_channels if kind == "resync_channels"
                 else self.stats.resync_queues)(payload[1], t)
            except Exception:
                log.exception("AMI %s: statistics failed on a %s snapshot", self.name, kind)
            self._push_stats()
            self._resync_backoff.pop(kind, None)
            self._resync_step(payload[0])
            return effects
        if kind == "resync_error":
            log.warning("AMI %s: resync action failed: %s", self.name, payload[1])
            effects = tracker.settle_unknown(t)
            self._resync_step(payload[0])
            self._retry_resync(payload[0], payload[2])
            return effects
        return []

    def _feed(self, events: list[AmiMessage], t: float) -> list[Effect]:
        self._pending -= len(events)
        effects: list[Effect] = []
        for event in events:
            self.events_processed += 1
            name = event.get("Event")
            if name == "OriginateResponse":
                self._originate_done(event)
            elif name == "FullyBooted":
                self._on_fully_booted()
            try:
                effects += self.tracker.feed(event, t)
            except Exception:
                log.exception("AMI %s: tracker failed on %.300r", self.name, event)
            try:
                self.stats.feed(event, t)
            except Exception:
                log.exception("AMI %s: statistics failed on %.300r", self.name, event)
        return effects

    async def _tick(self) -> None:
        """Re-publish stats of queues with waiting callers (their longest wait grows), and
        let the statistics see time pass (windows, wrap-ups, midnight, the trend)."""
        while True:
            await asyncio.sleep(self.stats_interval)
            now = time.time()
            try:
                self.stats.tick(now)
            except Exception:
                log.exception("AMI %s: statistics tick failed", self.name)
            for name, q in self.tracker.book.queues.items():
                if q.waiting:
                    self.stats.dirty_queues.add(name)
            self._push_stats()

    def _resync_step(self, proto: HotlineAMIProtocol) -> None:
        """One snapshot applied. Snapshots of an older connection (still queued when the
        link dropped) are applied in order like any event but do not count for this one."""
        if proto is not self.protocol:
            return
        self._resync_pending -= 1
        if self._resync_pending <= 0:
            self._resynced.set()

    def _lane(self, key: str) -> asyncio.Queue[Effect | None]:
        q = self._lanes.get(key)
        if q is None:
            q = self._lanes[key] = asyncio.Queue()
            self._lane_tasks[key] = asyncio.create_task(self._run_lane(key, q))
        return q

    def _dispatch(self, effects: list[Effect]) -> None:
        for eff in effects:
            key = eff.call_id if not isinstance(eff, Publish) or eff.call_id else "__pbx__"
            if isinstance(eff, Publish) and eff.event.get("type") == "queue_stats":
                # Built again when it goes out, with the statistics of that moment.
                self.stats.dirty_queues.add(eff.event["queue"])
                continue
            if isinstance(eff, Prefetch):
                self._lookup(eff.call_id, eff.caller_e164, eff.raw_number, prefetch=True)
                continue
            if isinstance(eff, JourneyPrefetch):
                self._journey(eff.call_id, final=True)
                continue
            if isinstance(eff, Persist) and self.stats.unsettled:
                self.stats.settle(eff.record, time.time())  # a call that left unseen
            if self._run_now(key or "__pbx__", eff):
                self.effects_direct += 1
                continue
            self._enqueue(key or "__pbx__", eff)
        self._push_stats()

    def _run_now(self, key: str, eff: Effect) -> bool:
        """Carry ``eff`` out now if it needs no waiting and lane ``key`` is idle (nothing of
        the call queued or running, so order is kept); False: it goes to the lane."""
        publish = self._publish_now
        if publish is None or key in self._lane_busy:
            return False
        lane = self._lanes.get(key)
        if lane is not None and not lane.empty():
            return False
        try:
            if isinstance(eff, Publish):
                if status_key(eff.event) is not None:
                    return False  # the coalescer's (it may hold the event back)
                publish(eff.topic, eff.event)
            elif isinstance(eff, ScreenPop):
                fut = self._lookup(eff.call_id, eff.caller_e164, eff.raw_number,
                                   max_age=self.lookup_max_age)
                journey = self._journey(eff.call_id)
                if fut is None or not fut.done() or not journey.done():
                    return False  # the lane waits for the lookup
                publish(TOPIC_CALLS, self._pop_event(eff, fut.result(), None,
                                                     journey.result()))
            elif isinstance(eff, Persist):
                done = self._logged if eff.record.ended_at is not None else None
                return self.call_log.put_nowait(eff.record, done)
            else:
                return False
        except Exception:
            log.exception("AMI %s: effect failed: %.300r", self.name, eff)
        return True

    def known_customer(self, call_id: str) -> PopCustomer | None:
        """The customer the pop's lookup found for a live call (``None``: unknown caller,
        or no lookup finished yet). Never waits and never queries."""
        fut = self._lookups.get(call_id)
        if fut is None or not fut.done() or fut.cancelled() or fut.exception() is not None:
            return None
        customer = fut.result().get("customer")
        return customer if isinstance(customer, dict) else None

    def _lookup(self, call_id: str, e164: str | None, raw: str,
                max_age: float | None = None, prefetch: bool = False
                ) -> asyncio.Future[Any] | None:
        """One caller lookup per call, started when the call appears (prefetch) and shared
        by every pop of the call (ring-all). A result older than ``max_age`` (a long IVR)
        or a failed one is looked up again. A ``prefetch`` finding every lookup slot busy
        and as many waiting already (one waiting room per slot) is skipped (``None``): the
        pop will look up itself. (Skipping as soon as every slot was busy skipped one
        prefetch in nine at 20 calls/s on a loaded machine, and each of those pops then
        waited for a whole lookup of its own: the pop's tail, issue #19.)"""
        fut = self._lookups.get(call_id)
        if fut is not None and self._lookup_keys.get(call_id) != (e164, raw):
            fut = None  # the caller ID changed (late caller ID): look the new one up
        if fut is not None and fut.done() and max_age is not None and (
                fut.cancelled() or fut.exception() is not None
                or time.monotonic() - self._lookup_done.get(call_id, 0.0) > max_age):
            fut = None
        if fut is None:
            if prefetch and self._lookups_active >= 2 * self.lookup_slots:
                self.prefetch_shed += 1
                return None
            fut = self._lookups[call_id] = asyncio.ensure_future(
                self._slotted_lookup(call_id, e164, raw))
            self._lookup_keys[call_id] = (e164, raw)
            self._lookups_active += 1

            def done(f: asyncio.Future[Any]) -> None:
                self._lookups_active -= 1
                if not f.cancelled():
                    f.exception()  # retrieved here; pops report the failure themselves
                if self._lookups.get(call_id) is f:  # not replaced by a newer number's
                    self._lookup_done[call_id] = time.monotonic()

            fut.add_done_callback(done)
        return fut

    async def _slotted_lookup(self, call_id: str, e164: str | None,
                              raw: str) -> CallerContext:
        """The directory's lookup within a slot; skipped (:class:`LookupShed`) when it had
        to wait for the slot and the call ended meanwhile: nobody needs that answer now."""
        waited = self._lookup_slots.locked()
        async with self._lookup_slots:
            if self._stopping:
                raise LookupShed("lookup skipped: shutting down")
            if waited and not self.tracker.is_known_call(call_id.split(":", 1)[-1]):
                self.lookups_shed += 1
                raise LookupShed("lookup skipped: the call had ended")
            return await self.directory.lookup_caller(e164, raw)

    async def _store_calls(self, records: Sequence[CallRecord]) -> None:
        await self.directory.record_calls(records)

    async def _run_lane(self, key: str, q: asyncio.Queue[Effect | None]) -> None:
        while True:
            try:
                # An effect already queued is taken at once: wait_for would wrap the get
                # in a task and a timer per effect (a third of the bridge's CPU per event).
                eff = q.get_nowait()
            except asyncio.QueueEmpty:
                try:
                    eff = await asyncio.wait_for(q.get(), 30 if key != "__pbx__" else None)
                except TimeoutError:
                    if q.empty():  # an idle call lane goes away
                        del self._lanes[key]
                        del self._lane_tasks[key]
                        return
                    continue
            self._lane_busy.add(key)
            try:
                if eff is not None:
                    await self._execute(eff)
            except Exception:
                log.exception("AMI %s: effect failed: %.300r", self.name, eff)
            finally:
                self._lane_busy.discard(key)
                q.task_done()
                self._inflight -= 1
                if self._inflight <= self.effects_low:
                    self._room.set()
            if isinstance(eff, Persist) and eff.record.ended_at is not None and q.empty():
                # The call is over (the tracker emits nothing more for it): free the lane.
                if self._lanes.get(key) is q:
                    del self._lanes[key]
                    del self._lane_tasks[key]
                return

    async def _execute(self, eff: Effect) -> None:
        if isinstance(eff, Publish):
            key = status_key(eff.event)
            if key is None:
                await self.bus.publish(eff.topic, eff.event)
            else:
                await self._status.offer(key, eff.topic, eff.event)
        elif isinstance(eff, ScreenPop):
            await self._screen_pop(eff)
        elif isinstance(eff, CallerUpdate):
            await self._caller_update(eff)
        elif isinstance(eff, ReadVariables):
            await self._read_variables(eff)
        elif isinstance(eff, Persist):
            await self._persist(eff)

    async def _found(self, call_id: str, e164: str | None,
                     raw: str) -> tuple[CallerContext, str | None]:
        """The caller lookup's result for a call (shared, see :meth:`_lookup`), and the
        error text when it failed: pops and updates go out anyway, without customer data."""
        fut = self._lookup(call_id, e164, raw, max_age=self.lookup_max_age)
        assert fut is not None  # only prefetches are skipped
        if fut.done() and not fut.cancelled() and fut.exception() is None:
            return fut.result(), None  # prefetched: no wait (wait_for costs loop steps)
        try:
            return await asyncio.wait_for(asyncio.shield(fut), 5), None
        except LookupShed as exc:
            return messages.no_caller(), str(exc)
        except Exception as exc:
            log.warning("caller lookup for %s failed: %r", call_id, exc)
            return messages.no_caller(), f"lookup failed: {type(exc).__name__}"

    async def _caller_update(self, eff: CallerUpdate) -> None:
        """A late or changed caller ID: look it up (a pop still to come uses it) and tell
        the consoles that already show the call its number, name and customer."""
        if not eff.extensions:
            self._lookup(eff.call_id, eff.caller_e164, eff.raw_number, prefetch=True)
            return
        found, _ = await self._found(eff.call_id, eff.caller_e164, eff.raw_number)
        event = messages.call_update(
            call_id=eff.call_id, pbx=eff.pbx, state=eff.state, extensions=list(eff.extensions),
            caller_number=eff.caller_number, caller_name=eff.caller_name,
            customer=found["customer"])  # None also when the lookup failed (logged)
        await self.bus.publish(TOPIC_CALLS, event)

    async def _read_variables(self, eff: ReadVariables) -> None:
        """Getvar each variable; values come back through the event queue as VarSet, so the
        tracker applies them in order with everything else (a channel gone meanwhile, or a
        variable never set, is simply nothing to apply)."""
        found: list[AmiMessage] = []
        for name in eff.names:
            try:
                resp = await self.action({"Action": "Getvar", "Channel": eff.channel,
                                          "Variable": name})
            except TelephonyError as exc:
                log.debug("AMI %s: Getvar %s on %s: %s", self.name, name, eff.channel, exc)
                return
            value = first(resp.get("Value"))
            if value and value != "(null)":
                found.append({"Event": "VarSet", "Channel": eff.channel,
                              "Uniqueid": eff.uniqueid, "Linkedid": eff.linkedid,
                              "Variable": name, "Value": value})
        if found:
            self._sink(("events", time.time(), found))

    async def _screen_pop(self, eff: ScreenPop) -> None:
        journey = self._journey(eff.call_id)  # read meanwhile: the caller lookup is slower
        found, error = await self._found(eff.call_id, eff.caller_e164, eff.raw_number)
        try:
            ivr = await asyncio.wait_for(asyncio.shield(journey), JOURNEY_WAIT_S)
        except TimeoutError:
            ivr = None  # the pop goes out without it rather than late
        await self.bus.publish(TOPIC_CALLS, self._pop_event(eff, found, error, ivr))

    def _journey(self, call_id: str, *, final: bool = False
                 ) -> asyncio.Future[PopIvr | None]:
        """The call's IVR journey (``None``: none, or the read failed), read once for all
        the call's pops (ring-all). A ``final`` read (started when the call joined a queue:
        the IVR records before it transfers) is kept whatever it found; any other ``None``
        older than :data:`JOURNEY_WAIT_S` is read again (a caller may reach the IVR after a
        first pop)."""
        cached = self._journeys.get(call_id)
        if cached is not None and not final:
            at, was_final, fut = cached
            if was_final or not fut.done() or fut.result() is not None \
                    or time.monotonic() - at < JOURNEY_WAIT_S:
                return fut
        fut = asyncio.ensure_future(self._read_journey(call_id))
        self._journeys[call_id] = (time.monotonic(), final, fut)
        return fut

    async def _read_journey(self, call_id: str) -> PopIvr | None:
        try:
            return await self.directory.ivr_journey(call_id)
        except Exception as exc:
            log.warning("IVR journey of %s: %r", call_id, exc)
            return None

    @staticmethod
    def _pop_event(eff: ScreenPop, found: CallerContext,
                   error: str | None, ivr: PopIvr | None = None) -> messages.ScreenPop:
        return messages.screen_pop(
            call_id=eff.call_id, pbx=eff.pbx, extension=eff.extension,
            caller_number=eff.caller_number, caller_name=eff.caller_name, queue=eff.queue,
            order_number=eff.order_number, dtmf=eff.dtmf, context=found, lookup_error=error,
            ivr=ivr)

    async def _persist(self, eff: Persist) -> None:
        """Queue the record for the call-log writer (waits while its queue is full: that is
        the back-pressure); a finished call is announced once its row is committed."""
        done = self._logged if eff.record.ended_at is not None else None
        await self.call_log.put(eff.record, done)

    async def _logged(self, record: CallRecord) -> None:
        """The call is in the log for good: tell the UIs (recent calls, wallboard)."""
        await self.bus.publish(TOPIC_CALLS, call_log_event(record))
        self._lookup_done.pop(record.call_id, None)
        self._lookup_keys.pop(record.call_id, None)
        self._journeys.pop(record.call_id, None)
        # A lookup still running is left to finish, not cancelled: cancelling a database
        # call midway can leak its pooled connection (the call log's budget is small).
        self._lookups.pop(record.call_id, None)

    # ------------------------------------------------------------------ actions
    async def action(self, fields: dict[str, Any], timeout: float | None = None,  # noqa: ASYNC109
                     as_list: bool = False) -> Any:
        """Send an action; return the reply, or raise PbxUnavailable/ActionFailed/Timeout.

        ``as_list`` defaults to False: panoramisk otherwise guesses list replies from the
        message text (``Added interface to queue`` would wait forever for more).
        """
        name = str(fields.get("Action"))
        if not self.logged_in or self.protocol is None or self.protocol.closed:
            raise PbxUnavailable(f"PBX {self.name} is not connected "
                                 f"({self.last_error or self.state_name})")
        fut = self.manager.send_action(dict(fields), as_list=as_list)
        try:
            resp = await asyncio.wait_for(asyncio.shield(fut),
                                          timeout or self.action_timeout)
        except TimeoutError:
            raise ActionTimeout(f"{name}: no reply from {self.name} within "
                                f"{timeout or self.action_timeout:g}s") from None
        head = resp[0] if isinstance(resp, list) else resp
        if not head.success:
            raise ActionFailed(name, first(head.get("Message")) or
                               first(head.get("Response")))
        return resp

    def expect_originate(self, action_id: str) -> asyncio.Future[AmiMessage]:
        fut: asyncio.Future[AmiMessage] = asyncio.get_running_loop().create_future()
        self._originates[action_id] = fut
        return fut

    def _originate_done(self, event: AmiMessage) -> None:
        fut = self._originates.pop(first(event.get("ActionID")), None)
        if fut is not None and not fut.done():
            fut.set_result(event)
