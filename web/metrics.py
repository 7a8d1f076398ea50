"""Prometheus metrics at ``/metrics`` (supervisors and admins; Prometheus sends a bearer).

Live figures (PBX links, calls, queues, websockets, ASR streams) are read from the running
parts at scrape time by a collector, so nothing on the hot paths updates gauges.

Request latency is timed by :class:`RequestTimer`, a plain ASGI middleware: Starlette's
``BaseHTTPMiddleware`` (``@app.middleware("http")``) ran every request through an extra
task, a memory stream and a streaming response wrapper — about a tenth of the server's CPU
per ticket create (tests/bench/bench_create.py).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from web.deps import Manager
from web.services import Services


class LiveCollector(Collector):
    def __init__(self, services: Services) -> None:
        self.services = services

    def collect(self) -> Iterator[Any]:
        s = self.services
        pbx_up = GaugeMetricFamily("hotline_pbx_connected", "AMI link up and logged in",
                                   labels=["pbx"])
        pbx_events = CounterMetricFamily("hotline_pbx_events", "AMI events processed",
                                         labels=["pbx"])
        calls = GaugeMetricFamily("hotline_live_calls", "calls in progress", labels=["pbx"])
        for pbx in (s.telephony.state() if s.telephony else []):
            pbx_up.add_metric([pbx["name"]], 1.0 if pbx.get("connected") else 0.0)
            pbx_events.add_metric([pbx["name"]], float(pbx.get("events", 0)))
            calls.add_metric([pbx["name"]], float(pbx.get("live_calls", 0)))
        yield from (pbx_up, pbx_events, calls)
        waiting = GaugeMetricFamily("hotline_queue_waiting", "callers waiting",
                                    labels=["queue"])
        longest = GaugeMetricFamily("hotline_queue_longest_wait_seconds",
                                    "longest current wait", labels=["queue"])
        for q in (s.telephony.queues() if s.telephony else []):
            waiting.add_metric([q["queue"]], float(q.get("waiting", 0)))
            longest.add_metric([q["queue"]], float(q.get("longest_wait_s") or 0))
        yield from (waiting, longest)
        if s.hub is not None:
            hub = s.hub.stats()
            yield GaugeMetricFamily("hotline_ws_connections", "open websocket consoles",
                                    value=hub["connections"])
            yield CounterMetricFamily("hotline_ws_messages", "messages queued to consoles",
                                      value=hub["delivered"])
            yield CounterMetricFamily("hotline_ws_slow_disconnects",
                                      "consoles dropped for falling behind",
                                      value=hub["disconnected_slow"])
        yield CounterMetricFamily("hotline_login_refused",
                                  "logins refused for too many failed attempts",
                                  value=s.login_throttle.refused)
        yield CounterMetricFamily("hotline_login_busy",
                                  "logins refused (503) for too many password checks at once",
                                  value=s.password_gate.refused)
        yield from _bus_metrics(s)
        yield from _burst_metrics(s)
        if s.asr is not None:
            asr = s.asr.state()
            yield GaugeMetricFamily("hotline_asr_streams", "active AudioSocket streams",
                                    value=asr.get("active_streams", 0))
            refused = CounterMetricFamily("hotline_asr_refused",
                                          "AudioSocket connections refused or closed early",
                                          labels=["reason"])
            for reason in ("refused_address", "uuid_timeouts", "evicted_pending",
                           "evicted_unlinked", "rejected"):
                refused.add_metric([reason], float(asr.get(reason, 0)))
            yield refused
        if s.ivr is not None:
            yield from _ivr_metrics(s.ivr.state())


def _ivr_metrics(ivr: dict[str, Any]) -> Iterator[Any]:
    """The IVR beside the web (HOTLINE_IVR_IN_SERVE): calls now, answered, refused, ended."""
    yield GaugeMetricFamily("hotline_ivr_calls", "IVR calls in progress", value=ivr["calls"])
    yield CounterMetricFamily("hotline_ivr_answered", "IVR calls answered",
                              value=ivr["answered"])
    yield CounterMetricFamily("hotline_ivr_refused", "IVR calls refused (486 Busy Here)",
                              value=ivr["refused"])
    ended = CounterMetricFamily("hotline_ivr_calls_ended", "IVR calls ended, by outcome "
                                "(agent, hangup, done, busy)", labels=["outcome"])
    for outcome, count in sorted(ivr["ended"].items()):
        ended.add_metric([outcome], float(count))
    yield ended


def _burst_metrics(s: Services) -> Iterator[Any]:
    """Each PBX link's back-pressure: what waits at each stage, what was shed, the call log."""
    backlog = GaugeMetricFamily("hotline_pbx_backlog", "work waiting per stage: AMI events "
                                "read, effects not carried out, call-log records unwritten",
                                labels=["pbx", "stage"])
    pauses = CounterMetricFamily("hotline_pbx_reader_pauses", "times reading the AMI socket "
                                 "was paused for back-pressure", labels=["pbx"])
    shed = CounterMetricFamily("hotline_pbx_shed", "caller lookups skipped under load "
                               "(prefetch: no free slot; lookup: the call had ended)",
                               labels=["pbx", "what"])
    rows = CounterMetricFamily("hotline_call_log_records", "call-log records written, or "
                               "given up after retrying", labels=["pbx", "outcome"])
    retries = CounterMetricFamily("hotline_call_log_retries", "failed call-log batch "
                                  "attempts (retried)", labels=["pbx"])
    for name, load in (s.telephony.load() if s.telephony else {}).items():
        for stage, key in (("events", "events_queued"), ("effects", "effects_in_flight"),
                           ("call_log", "call_log_queued")):
            backlog.add_metric([name, stage], float(load[key]))
        pauses.add_metric([name], float(load["reader_pauses"]))
        shed.add_metric([name, "prefetch"], float(load["prefetch_shed"]))
        shed.add_metric([name, "lookup"], float(load["lookups_shed"]))
        rows.add_metric([name, "written"], float(load["call_log_written"]))
        rows.add_metric([name, "lost"], float(load["call_log_lost"]))
        retries.add_metric([name], float(load["call_log_retries"]))
    yield from (backlog, pauses, shed, rows, retries)


def _bus_metrics(s: Services) -> Iterator[Any]:
    """The Redis bus: up or degraded, its outbox, and what it had to drop."""
    state_of = getattr(s.bus, "state", None)
    bus = state_of() if state_of else {}
    if bus.get("kind") != "redis":
        return
    yield GaugeMetricFamily("hotline_bus_degraded", "1 while Redis does not work both ways "
                            "(only this process's consoles get its events)",
                            value=1.0 if bus.get("degraded") else 0.0)
    yield GaugeMetricFamily("hotline_bus_outbox", "events waiting to be sent to Redis",
                            value=bus.get("outbox", 0))
    lost = CounterMetricFamily("hotline_bus_lost", "events other processes never got "
                               "(outbox full: dropped; too old: expired)", labels=["reason"])
    for reason in ("dropped", "expired"):
        lost.add_metric([reason], float(bus.get(reason, 0)))
    yield lost


class RequestTimer:
    """ASGI middleware: each HTTP request's seconds into ``latency`` (a histogram labelled
    ``method``, ``route`` — the route's template, ``unmatched`` for none, so no ids end up
    in label values — and ``status``; 500 when the app raised before answering)."""

    def __init__(self, app: ASGIApp, latency: Histogram) -> None:
        self.app = app
        self.latency = latency

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_timed(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_timed)
        finally:
            # The router put the matched route into this same scope dict.
            path = getattr(scope.get("route"), "path", "unmatched")
            self.latency.labels(scope["method"], path, str(status)).observe(
                time.perf_counter() - start)


def install(app: Any, services: Services) -> None:
    registry = CollectorRegistry()
    registry.register(LiveCollector(services))
    latency = Histogram("hotline_http_request_seconds", "HTTP request latency",
                        ["method", "route", "status"], registry=registry,
                        buckets=(.002, .005, .01, .025, .05, .1, .25, .5, 1, 2.5))

    app.add_middleware(RequestTimer, latency=latency)

    router = APIRouter(include_in_schema=False)  # per app: each has its own registry

    @router.get("/metrics")
    async def metrics(_: Manager) -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    app.include_router(router)
