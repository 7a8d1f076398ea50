"""The AMI bridge: one panoramisk connection per PBX, made trustworthy.

panoramisk 1.4 gives us the action/response correlation (``Action`` futures keyed by
ActionID, list actions, ``Response: Error``); this module wraps what it does not do:

* **Framing**: :class:`HotlineAMIProtocol` replaces its text re-splitting (unbounded buffer,
  quadratic on big messages) with :class:`telephony.ami.FrameParser` (size limit, garbage and
  half frames survive) and classifies messages by ``Event`` first.
* **Order and back-pressure**: events do not go through ``Manager.dispatch`` (callbacks run
  unordered as separate tasks); they are appended to one ordered queue per PBX, consumed by a
  single task that feeds the :class:`~telephony.tracker.CallTracker`. When the queue is deep
  we pause reading the socket, so TCP pushes back on Asterisk instead of memory growing.
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
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import random
import time
from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from panoramisk import Manager
from panoramisk.ami_protocol import AMIProtocol
from panoramisk.message import Message

from tickets.bus import TOPIC_CALLS, TOPIC_PBX, TOPIC_QUEUES, Bus
from tickets.messages import CallerContext, PopCustomer

from .ami import DEFAULT_MAX_MESSAGE, AmiMessage, FrameParser, encode_action, first
from .coalesce import Coalescer, status_key
from .ports import (
    ActionFailed,
    ActionTimeout,
    CallDirectory,
    CallRecord,
    PbxConfig,
    PbxUnavailable,
)
from .tracker import CallTracker, Effect, Persist, Prefetch, Publish, ScreenPop

log = logging.getLogger(__name__)

_RESYNC_IDS = itertools.count(1)
Sink = Callable[[tuple[str, float, Any]], None]


def call_log_event(record: CallRecord) -> dict[str, Any]:
    """The ``call_log`` bus event for a finished call (the record, JSON-ready)."""
    event: dict[str, Any] = {"type": "call_log"}
    for key, value in asdict(record).items():
        if isinstance(value, datetime):
            value = value.isoformat()
        elif isinstance(value, tuple):
            value = list(value)
        event[key] = value
    event["extensions"] = list(record.agents)
    return event


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
                self.sink(("resync_error", now, (self, f"{kind}: {msg.get('Message', '')}")))
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
                 status_window: float = 0.25, rng: random.Random | None = None) -> None:
        self.config = config
        self.name = config.name
        self.bus = bus
        self.directory = directory
        self.tracker = CallTracker(config.name, region=region)
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
        self.stats_interval = stats_interval
        self.persist_patience = persist_patience
        self.resync_interval = resync_interval
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
        self._lookups: dict[str, asyncio.Future[CallerContext]] = {}
        self._lookup_done: dict[str, float] = {}
        self._resynced = asyncio.Event()
        self._resync_pending = 0
        self._originates: dict[str, asyncio.Future[AmiMessage]] = {}
        self._stopping = False
        self._status = Coalescer(self.bus.publish, status_window)

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        self._stopping = False
        self.manager.loop = asyncio.get_running_loop()
        self._consumer = asyncio.create_task(self._consume(), name=f"ami-{self.name}-events")
        self._run_task = asyncio.create_task(self._run(), name=f"ami-{self.name}-link")
        self._ticker = asyncio.create_task(self._tick(), name=f"ami-{self.name}-stats")

    async def stop(self) -> None:
        self._stopping = True
        for task in (self._run_task, self._ticker):
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
        for t in list(self._lane_tasks.values()):
            t.cancel()
        self._lanes.clear()
        self._lane_tasks.clear()
        for fut in self._lookups.values():
            fut.cancel()
        self._lookups.clear()
        self._lookup_done.clear()

    async def drain(self) -> None:
        """Wait until every received event is processed and every effect executed."""
        while True:
            await self.queue.join()
            lanes = [q for q in self._lanes.values()]
            for q in lanes:
                await q.join()
            if self.queue.empty() and all(q.empty() for q in self._lanes.values()):
                await self._status.flush()
                return

    def status(self) -> dict[str, Any]:
        return {"name": self.name, "host": self.config.host, "port": self.config.port,
                "connected": self.connected and self.logged_in, "state": self.state_name,
                "last_error": self.last_error,
                "since": datetime.fromtimestamp(self.since, UTC).isoformat(),
                "connects": self.connects, "login_failures": self.login_failures,
                "events": self.events_processed, "live_calls": len(self.tracker.calls),
                "resynced": self._resynced.is_set()}

    def _set_state(self, state: str, *, connected: bool, error: str | None = None) -> None:
        changed = state != self.state_name or error != self.last_error
        self.state_name = state
        self.connected = connected
        if error is not None or state == "connected":
            self.last_error = error
        if changed:
            self.since = time.time()
            self._publish_nowait(TOPIC_PBX, {"type": "pbx_status", **self.status()})

    def _publish_nowait(self, topic: str, event: dict[str, Any]) -> None:
        self._lane("__pbx__").put_nowait(Publish(topic, event))

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
        self.queue.put_nowait(item)
        if item[0] == "events":
            self._pending += len(item[2])
        if not self._paused and self._pending > self.queue_high and self.protocol:
            self._paused = True
            self.pauses += 1
            self.protocol.transport.pause_reading()

    async def _session(self) -> bool:
        """One connection: connect, login, resync, watch. True if it got to resync."""
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
            return False
        assert isinstance(proto, HotlineAMIProtocol)
        self.protocol = proto
        proto.factory = self.manager
        proto.log = log
        proto.config = self.manager.config
        proto.encoding = "utf-8"
        self.manager.protocol = proto
        self.manager.responses = proto.responses
        self.connects += 1
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
        self._resync_pending = 2
        self._resynced.clear()
        proto.send_resync("CoreShowChannels", "resync_channels")
        proto.send_resync("QueueStatus", "resync_queues")
        watch = asyncio.ensure_future(self._watchdog(proto))
        resync_wait = asyncio.ensure_future(self._resynced.wait())
        try:
            waiters: set[asyncio.Future[Any]] = {resync_wait, proto.lost}
            done, _ = await asyncio.wait(waiters,
                                         timeout=self.resync_timeout,
                                         return_when=asyncio.FIRST_COMPLETED)
            if resync_wait not in done:
                reason = "link lost during resync" if proto.lost.done() else "resync timeout"
                self._set_state("disconnected", connected=False, error=reason)
                return False
            self._set_state("connected", connected=True, error=None)
            while True:
                # Periodic resync heals drift (a lost event) without waiting for a reconnect.
                try:
                    lost_exc = await asyncio.wait_for(asyncio.shield(proto.lost),
                                                      self.resync_interval)
                    break
                except TimeoutError:
                    self._resync_pending = 2
                    proto.send_resync("CoreShowChannels", "resync_channels")
                    proto.send_resync("QueueStatus", "resync_queues")
            reason = f"link lost: {lost_exc}" if lost_exc else "link lost"
            if watch.done() and not watch.cancelled() and watch.result():
                reason = watch.result() or reason
            log.warning("AMI %s: %s", self.name, reason)
            self._set_state("disconnected", connected=False, error=reason)
            return True
        finally:
            watch.cancel()
            resync_wait.cancel()

    async def _watchdog(self, proto: HotlineAMIProtocol) -> str | None:
        """Ping a quiet link; close it if the Ping goes unanswered."""
        while not proto.lost.done():
            await asyncio.sleep(self.ping_interval / 2)
            if time.monotonic() - proto.last_rx < self.ping_interval:
                continue
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
    async def _consume(self) -> None:
        tracker = self.tracker
        while True:
            kind, t, payload = await self.queue.get()
            try:
                if kind == "events":
                    self._pending -= len(payload)
                    effects = []
                    for event in payload:
                        self.events_processed += 1
                        if event.get("Event") == "OriginateResponse":
                            self._originate_done(event)
                        try:
                            effects += tracker.feed(event, t)
                        except Exception:
                            log.exception("AMI %s: tracker failed on %.300r", self.name, event)
                elif kind == "resync_channels":
                    effects = tracker.resync_channels(payload[1], t)
                    self._resync_step(payload[0])
                elif kind == "resync_queues":
                    effects = tracker.resync_queues(payload[1], t)
                    self._resync_step(payload[0])
                elif kind == "resync_error":
                    log.warning("AMI %s: resync action failed: %s", self.name, payload[1])
                    effects = tracker.settle_unknown(t)
                    self._resync_step(payload[0])
                else:
                    effects = []
                if effects:
                    self._dispatch(effects)
            except Exception:
                log.exception("AMI %s: tracker failed on %.300r", self.name, payload)
            finally:
                self.queue.task_done()
            if self._paused and self._pending < self.queue_low and self.protocol:
                self._paused = False
                self.protocol.transport.resume_reading()

    async def _tick(self) -> None:
        """Re-publish stats of queues with waiting callers: their longest wait grows."""
        while True:
            await asyncio.sleep(self.stats_interval)
            now = time.time()
            for stats in self.tracker.queue_stats(now):
                if stats["waiting"]:
                    self._publish_nowait(TOPIC_QUEUES, stats)

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
            if isinstance(eff, Prefetch):
                self._lookup(eff.call_id, eff.caller_e164, eff.raw_number)
                continue
            self._lane(key or "__pbx__").put_nowait(eff)

    def known_customer(self, call_id: str) -> PopCustomer | None:
        """The customer the pop's lookup found for a live call (``None``: unknown caller,
        or no lookup finished yet). Never waits and never queries."""
        fut = self._lookups.get(call_id)
        if fut is None or not fut.done() or fut.cancelled() or fut.exception() is not None:
            return None
        customer = fut.result().get("customer")
        return customer if isinstance(customer, dict) else None

    def _lookup(self, call_id: str, e164: str | None, raw: str,
                max_age: float | None = None) -> asyncio.Future[Any]:
        """One caller lookup per call, started when the call appears (prefetch) and shared
        by every pop of the call (ring-all). A result older than ``max_age`` (a long IVR)
        or a failed one is looked up again."""
        fut = self._lookups.get(call_id)
        if fut is not None and fut.done() and max_age is not None and (
                fut.cancelled() or fut.exception() is not None
                or time.monotonic() - self._lookup_done.get(call_id, 0.0) > max_age):
            fut = None
        if fut is None:
            fut = self._lookups[call_id] = asyncio.ensure_future(
                self.directory.lookup_caller(e164, raw))

            def done(f: asyncio.Future[Any]) -> None:
                self._lookup_done[call_id] = time.monotonic()
                if not f.cancelled():
                    f.exception()  # retrieved here; pops report the failure themselves

            fut.add_done_callback(done)
        return fut

    async def _run_lane(self, key: str, q: asyncio.Queue[Effect | None]) -> None:
        while True:
            try:
                eff = await asyncio.wait_for(q.get(), 30 if key != "__pbx__" else None)
            except TimeoutError:
                if q.empty():  # an idle call lane goes away
                    del self._lanes[key]
                    del self._lane_tasks[key]
                    return
                continue
            try:
                if eff is not None:
                    await self._execute(eff)
            except Exception:
                log.exception("AMI %s: effect failed: %.300r", self.name, eff)
            finally:
                q.task_done()
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
            fut = self._lookup(eff.call_id, eff.caller_e164, eff.raw_number,
                               max_age=self.lookup_max_age)
            try:
                found = await asyncio.wait_for(asyncio.shield(fut), 5)
                error = None
            except Exception as exc:  # the pop goes out anyway, without customer data
                log.warning("caller lookup for %s failed: %r", eff.call_id, exc)
                found, error = {}, f"lookup failed: {type(exc).__name__}"
            event = {"type": "screen_pop", "call_id": eff.call_id, "pbx": eff.pbx,
                     "extension": eff.extension, "caller_number": eff.caller_number,
                     "caller_name": eff.caller_name, "queue": eff.queue,
                     "order_number": eff.order_number, "dtmf": eff.dtmf,
                     "customer": found.get("customer"), "tickets": found.get("tickets", []),
                     "calls": found.get("calls", []), "orders": found.get("orders", [])}
            if error:
                event["lookup_error"] = error
            await self.bus.publish(TOPIC_CALLS, event)
        elif isinstance(eff, Persist):
            await self._persist(eff)

    async def _persist(self, eff: Persist) -> None:
        """Upsert, retrying a failing call log (database restart) for up to ~10 minutes.

        Only this call's lane waits; other calls go on.
        """
        delay = 0.05
        deadline = time.monotonic() + self.persist_patience
        while True:
            try:
                await self.directory.record_call(eff.record)
                break
            except Exception as exc:
                if time.monotonic() > deadline:
                    log.error("call log write for %s failed for good (record %r): %r",
                              eff.record.call_id, eff.record, exc)
                    return
                log.warning("call log write for %s failed, retrying in %.2fs: %r",
                            eff.record.call_id, delay, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 3, 5.0)
        if eff.record.ended_at is not None:
            # The call is in the log for good: tell the UIs (recent calls, wallboard).
            await self.bus.publish(TOPIC_CALLS, call_log_event(eff.record))
            self._lookup_done.pop(eff.record.call_id, None)
            fut = self._lookups.pop(eff.record.call_id, None)
            if fut is not None and not fut.done():
                fut.cancel()

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
