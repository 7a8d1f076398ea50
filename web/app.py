"""The app factory: builds the services, mounts every router, and runs the lifespan."""

from __future__ import annotations

import gc
import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.orm.exc import StaleDataError

from telephony.ports import ActionFailed, ActionTimeout, CallNotFound, PbxUnavailable
from tickets.db import make_engine, make_read_engine, make_read_sessionmaker, make_sessionmaker
from tickets.errors import DomainError
from tickets.passwords import PasswordGate
from tickets.timeinput import set_site_timezone
from web import apidocs, metrics, pages, ws
from web.api import (
    admin,
    auth,
    calls,
    customers,
    equipment,
    floor,
    kb,
    mail,
    notify,
    pbx,
    relations,
    reports,
    routing,
    sla,
    stats,
    tickets,
    work_orders,
)
from web.bus import make_bus
from web.deps import MANAGERS, get_principal, optional_principal
from web.edge import Edge, RouteTable
from web.hub import Hub
from web.logredact import install_redaction
from web.origin import CrossSiteGuard
from web.planner import PlannerPool
from web.services import Services
from web.settings import Settings
from web.throttle import LoginThrottle
from web.wiring import (
    configure_sla,
    make_outbox,
    make_router,
    register_jobs,
    start_components,
    start_jobs,
    stop_components,
    stop_jobs,
)
from web.workers import ComponentsClaim, ForwardLive
from web.wsdirect import KeepServerSend

log = logging.getLogger(__name__)


def build_services(settings: Settings) -> Services:
    engine = make_engine(settings.async_database_url, settings.db_pool_size)
    return Services(settings=settings, engine=engine, db=make_sessionmaker(engine),
                    db_read=make_read_sessionmaker(engine), read_engine=make_read_engine(engine),
                    bus=make_bus(settings.redis_url),
                    secret_key=settings.resolved_secret_key(),
                    login_throttle=LoginThrottle(
                        free_failures=settings.login_free_failures,
                        max_delay_s=settings.login_max_delay_s,
                        per_address=settings.login_address_max_failures,
                        per_user=settings.login_user_max_failures,
                        window_s=settings.login_window_s),
                    password_gate=PasswordGate(settings.login_hash_workers or None,
                                               settings.login_hash_queue,
                                               settings.login_hash_wait_s))


def create_app(settings: Settings | None = None, *,
               components_lock: Path | None = None) -> FastAPI:
    """The app. ``components_lock``: one of several worker processes (``web.workers``): the
    components start only while this process holds that lock file. None: it runs them."""
    settings = settings or Settings()
    set_site_timezone(settings.timezone)
    install_redaction()
    services = build_services(settings)
    services.router = make_router(services)
    services.notify = make_outbox(settings)
    register_jobs(services)
    configure_sla(services)
    claim = ComponentsClaim(components_lock, services) if components_lock else None

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        start = getattr(services.bus, "start", None)
        if start is not None:
            await start()
        services.hub = Hub(services.bus)
        await services.hub.start()
        if claim is not None:
            await claim.start(app)
        else:
            await start_components(services)
        await start_jobs(services)
        services.planner = PlannerPool()  # its processes start with the first plan
        # Everything built at start-up lives for the whole process: move it out of the
        # collector's sight, so full GC passes stay short (a 225 ms pass was the fan-out
        # benchmark's p99, tests/bench/bench_ws.py).
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            await stop_jobs(services)
            if services.planner is not None:
                services.planner.close()
            if claim is not None:
                await claim.stop()
            else:
                await stop_components(services)
            await services.hub.stop()
            await services.bus.close()
            await services.engine.dispose()
            services.password_gate.close()

    app = FastAPI(title="Hotline", version="0.1.0", lifespan=lifespan,
                  description="Call-center ticketing with telephony.",
                  # served by web.apidocs: offline, and behind a login outside demo installs
                  docs_url=None, redoc_url=None, openapi_url=None)
    app.state.services = services
    app.add_middleware(CrossSiteGuard, allowed_origins=settings.allowed_origin_list)
    _error_handlers(app)
    for module in (auth, customers, tickets, relations, admin, calls, kb, pbx, routing,
                   notify, sla, mail, stats, floor, reports, work_orders, equipment):
        app.include_router(module.router)
    app.include_router(ws.router)
    app.include_router(pages.router)
    app.include_router(apidocs.router)
    metrics.install(app, services)
    apidocs.document_errors(app)
    if claim is not None:  # one of several workers: live-state requests go to the one
        app.add_middleware(ForwardLive, claim=claim)
    # Outermost: refuses oversized and anonymous writes before anything reads a body.
    app.add_middleware(Edge, body_max_bytes=settings.body_max_bytes,
                       upload_max_bytes=settings.attachment_max_bytes,
                       secret_key=services.secret_key,
                       routes=RouteTable(app, get_principal))
    # Outside even that, and only for websockets: the server's own send, for the hub's
    # direct frame writes (web/wsdirect.py).
    app.add_middleware(KeepServerSend)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", responses={503: {"description": "the database is unreachable"}})
    async def readyz(request: Request) -> JSONResponse:
        """``{"status": "ready"|"not ready"}`` (200 / 503). Supervisors and admins (token
        or session cookie) also get each part's state: database, bus, PBX connections
        (host and port), ASR and websocket counts, and this process (``pid``, ``role``:
        ``single``, or with ``--workers`` > 1 ``components``/``web``, the latter reporting
        no PBX or ASR of its own); anyone else only up or down."""
        report = await _readiness(services)
        code = 200 if report["status"] == "ready" else 503
        try:
            viewer = await optional_principal(request)
        except (OSError, DBAPIError, OperationalError):  # database down: caller unknown
            viewer = None
        if viewer is None or viewer.role not in MANAGERS:
            return JSONResponse({"status": report["status"]}, status_code=code)
        return JSONResponse(report, status_code=code)

    return app


async def _readiness(services: Services) -> dict[str, Any]:
    """What /readyz tells a supervisor: each part's state; ``status`` from the database."""
    report: dict[str, Any] = {}
    try:
        async with services.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        report["database"] = {"ok": True, "backend": services.engine.dialect.name}
    except (OSError, DBAPIError) as exc:
        report["database"] = {"ok": False, "error": str(exc).splitlines()[0]}
    bus_state = getattr(services.bus, "state", None)
    report["bus"] = bus_state() if bus_state else {"ok": True}
    report["pbx"] = services.telephony.state() if services.telephony else []
    report["pbx_mode"] = services.settings.pbx_mode  # demo | off | ami
    if services.pbx_error:
        report["pbx_error"] = services.pbx_error
    report["asr"] = services.asr.state() if services.asr else {"enabled": False}
    if services.asr_error:
        report["asr"]["error"] = services.asr_error
    report["mail"] = services.mail.state() if services.mail else {"enabled": False}
    if services.mail_error:
        report["mail"]["error"] = services.mail_error
    report["imap"] = services.imap.state() if services.imap else {"enabled": False}
    if services.imap_error:
        report["imap"]["error"] = services.imap_error
    report["ivr"] = services.ivr.state() if services.ivr else {"enabled": False}
    if services.ivr_error:
        report["ivr"]["error"] = services.ivr_error
    report["websockets"] = services.hub.stats() if services.hub else {}
    report["process"] = {"pid": os.getpid(), "role": services.process_role}
    ok = report["database"]["ok"]
    report["status"] = "ready" if ok else "not ready"
    return report


def _validation_response(exc: RequestValidationError) -> JSONResponse:
    """422 listing the fields; 400 when the body is not JSON at all (the contract)."""
    broken = next((e for e in exc.errors() if e.get("type") == "json_invalid"), None)
    if broken is not None:
        where = broken.get("loc", ())[-1]
        at = f" (at character {where})" if isinstance(where, int) else ""
        return JSONResponse({"detail": f"the body is not valid JSON{at}"}, status_code=400)
    errors = [{"loc": e.get("loc"), "msg": e.get("msg"), "type": e.get("type")}
              for e in exc.errors()]
    return JSONResponse({"detail": errors}, status_code=422)


def _error_handlers(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def domain_error(_: Request, exc: DomainError) -> JSONResponse:
        return JSONResponse({"detail": exc.message}, status_code=exc.status)

    @app.exception_handler(PbxUnavailable)
    async def pbx_down(_: Request, exc: PbxUnavailable) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=503)

    @app.exception_handler(ActionFailed)
    async def pbx_refused(_: Request, exc: ActionFailed) -> JSONResponse:
        # A call id naming no live call is not found; anything else the PBX refused.
        status = 404 if isinstance(exc, CallNotFound) else 409
        return JSONResponse({"detail": str(exc)}, status_code=status)

    @app.exception_handler(ActionTimeout)
    async def pbx_silent(_: Request, exc: ActionTimeout) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=504)

    @app.exception_handler(ValueError)
    async def bad_value(_: Request, exc: ValueError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=422)

    @app.exception_handler(StaleDataError)
    async def stale(_: Request, exc: StaleDataError) -> JSONResponse:
        return JSONResponse({"detail": "the record was changed by someone else; reload and "
                                       "retry"}, status_code=409)

    @app.exception_handler(IntegrityError)
    async def integrity(_: Request, exc: IntegrityError) -> JSONResponse:
        log.info("integrity error: %s", exc.orig)
        return JSONResponse({"detail": "conflicts with existing data (duplicate or missing "
                                       "reference)"}, status_code=409)

    @app.exception_handler(DBAPIError)
    async def db_refused(_: Request, exc: DBAPIError) -> JSONResponse:
        # SQLSTATE class 22 (data exception): a value the column cannot hold that the
        # schemas let through (e.g. text in a query filter). The client's fault: 422.
        code = str(getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", "") or "")
        if code.startswith("22"):
            return JSONResponse({"detail": f"value not accepted by the database: "
                                           f"{str(exc.orig).splitlines()[-1][:200]}"},
                                status_code=422)
        log.error("database error: %s", exc.orig)
        return JSONResponse({"detail": "database error, try again"}, status_code=503)

    @app.exception_handler(OperationalError)
    async def db_down(_: Request, exc: OperationalError) -> JSONResponse:
        log.error("database error: %s", exc.orig)
        return JSONResponse({"detail": "database unavailable, try again"}, status_code=503)

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        return _validation_response(exc)
