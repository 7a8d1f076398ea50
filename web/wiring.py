"""Starting and stopping the optional parts: AMI bridges, the ASR server, the SMTP receiver.

Each part gets the ports it needs (``web.adapters``) over the ticket database. A part that
cannot start (bad URL, missing model) is logged and left out; the web keeps serving and
``/readyz`` says what is missing.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
from zoneinfo import ZoneInfo

from asr.audiosocket import LOOPBACK, AsrLimits, AsrServer, Network, parse_allow, send_call
from asr.engine import AsrError, VoskEngine
from asr.model_store import ModelError
from asr.synth import utterance
from dispatch.maintenance import generate_due
from dispatch.service import Ctx as DispatchCtx
from telephony.agents import parse_agent_interfaces
from telephony.demo_pbx import DemoPacing, DemoPbx
from telephony.ports import PbxConfig, parse_ami_urls
from telephony.service import Telephony
from telephony.stats import StatsConfig
from tickets.db import make_engine, make_read_sessionmaker, make_sessionmaker, utcnow
from tickets.notify.delivery import Dispatcher, Ports
from tickets.notify.outbox import Outbox
from tickets.routing.service import Presence, Router, RuleBook
from tickets.sla.service import BOOK, Site, sweep
from web.adapters import DbCallDirectory, DbPrefillContext
from web.jobs import make_job_engine
from web.mailin import make_handler, make_receiver
from web.mailpoll import ImapPoller, parse_imap_url
from web.notify_adapters import BusLive, HttpSms, HttpWebhook, SmtpSender
from web.pausewatch import PauseWatch, live_members
from web.services import Services
from web.settings import Settings

log = logging.getLogger(__name__)


def configure_sla(services: Services) -> None:
    """The SLA book's site defaults from the settings (zone, holidays, order reminder)."""
    settings = services.settings
    BOOK.configure(Site(settings.timezone, settings.holidays, settings.sla_order_reminder))


def queue_presence(services: Services) -> Presence:
    """Routing's presence port: the state of each member of an Asterisk queue by extension,
    as this process's PBX bridges know it; None when no bridge here knows the queue (no PBX,
    or another worker process runs the bridge: then routing counts every member in)."""
    def states(queue: str) -> dict[str, str] | None:
        if services.telephony is None:
            return None
        out: dict[str, str] = {}
        found = False
        for stats in services.telephony.queues():
            if stats["queue"] != queue:
                continue
            found = True
            for m in stats["agents"]:
                ext = m.get("extension")
                # an agent in two PBXs' queue of that name counts as the better state
                if ext and (ext not in out or out[ext] in ("paused", "unavailable")):
                    out[ext] = m["state"]
        return out if found else None
    return states


def dispatch_context(services: Services) -> DispatchCtx:
    """What a field-dispatch call needs from the process (``dispatch.service.Ctx``): the
    notification port, the attachment store and limit, and whether a ticket resolves with
    its last work order (``HOTLINE_DISPATCH_RESOLVE_TICKET``). One per call: it also
    collects what the call changed, for the handler to announce after its commit."""
    settings = services.settings
    return DispatchCtx(notify=services.notify, resolve_ticket=settings.dispatch_resolve_ticket,
                       store=services.attachment_store,
                       max_bytes=settings.attachment_max_bytes, planner=services.planner)


def make_router(services: Services) -> Router:
    return Router(RuleBook(), services.settings.timezone, queue_presence(services))


def notify_channels(settings: Settings) -> list[str]:
    """The channels this installation has: email with an SMTP host, SMS with a gateway."""
    return (["email"] if settings.smtp_host else []) + (["sms"] if settings.sms_url else []) \
        + ["ws", "webhook"]


def make_outbox(settings: Settings) -> Outbox:
    """The ``Notify`` port (``tickets.notify.events.Notify``) for the domain services."""
    return Outbox(channels=notify_channels(settings))


def make_dispatcher(services: Services) -> Dispatcher:
    """The outbox's delivery over the configured channels (``web.notify_adapters``)."""
    s = services.settings
    ports = Ports(
        email=SmtpSender(s.smtp_host, s.smtp_port, username=s.smtp_username,
                         password=s.smtp_password, tls=s.smtp_tls) if s.smtp_host else None,
        sms=HttpSms(s.sms_url, s.sms_token, s.sms_body) if s.sms_url else None,
        webhook=HttpWebhook(), live=BusLive(services.bus))
    return Dispatcher(services.db, ports, mail_from=s.mail_from, mail_domain=s.mail_domain,
                      max_attempts=s.outbox_max_attempts, lease_s=s.outbox_lease_s)


def register_jobs(services: Services) -> None:
    """Everything the job engine runs. Periodic tasks (once per tick, cluster-wide):
    ``services.jobs.periodic(name, every_s, fn)``; deferred tasks:
    ``services.jobs.task(name, fn)`` then ``await services.job_engine.defer(name, at=…,
    **kwargs)``; per-process loops: ``services.jobs.loop(name, every_s, fn)``."""
    dispatcher = services.dispatcher = make_dispatcher(services)
    services.jobs.loop("outbox_delivery", services.settings.outbox_poll_s, dispatcher.run_once)
    keep_days = services.settings.outbox_keep_days

    async def purge_outbox() -> None:
        await dispatcher.purge(keep_days)

    services.jobs.periodic("outbox_purge", 3600, purge_outbox)

    async def sla_sweep() -> None:
        """Reminders, breaches, escalation steps and 督办 deadlines that are due: batch by
        batch (a transaction each) until a batch comes back short."""
        limit = services.settings.sla_sweep_batch
        while True:
            async with services.db() as session, session.begin():
                report = await sweep(session, now=utcnow(), notify=services.notify,
                                     limit=limit)
            if report.tickets < limit:
                return

    services.jobs.periodic("sla_sweep", services.settings.sla_sweep_s, sla_sweep)

    site_tz = ZoneInfo(services.settings.timezone)

    async def maintenance_due() -> None:
        """Preventive maintenance: the work orders (and tickets) due within each schedule's
        lead time, once each (``dispatch.maintenance``)."""
        async with services.db() as session, session.begin():
            created = await generate_due(session, tz=site_tz)
        if created:
            log.info("maintenance: %d work orders generated", created)

    services.jobs.periodic("maintenance_due", 3600, maintenance_due)


async def start_jobs(services: Services) -> None:
    """Start this process's job engine (procrastinate on PostgreSQL, in-process on SQLite)."""
    services.job_engine = make_job_engine(services.jobs, services.settings.database_url,
                                          services.engine, services.db)
    await services.job_engine.start()


async def stop_jobs(services: Services) -> None:
    if services.job_engine is not None:
        await services.job_engine.stop()
        services.job_engine = None
    if services.dispatcher is not None:
        ports = services.dispatcher.ports
        for port in (ports.email, ports.sms, ports.webhook):
            close = getattr(port, "close", None)
            if close is not None:
                await close()


def make_pause_watch(services: Services) -> PauseWatch:
    """Issue #10's release of paused agents' tickets, fed by this process's PBX bridges
    (the members of every queue of a connected, resynced PBX); off when the setting is 0."""
    return PauseWatch(lambda: live_members(services.telephony), services.db, services.bus,
                      services.router, services.settings.routing_release_paused_after * 60,
                      notify=services.notify)


def stats_config(settings: Settings) -> StatsConfig:
    """The live statistics' settings (``HOTLINE_STATS_*``, the site's time zone)."""
    reasons = frozenset(r.strip().lower() for r in settings.stats_wrapup_reasons.split(",")
                        if r.strip())
    return StatsConfig(sl_threshold_s=settings.stats_sl_threshold_s,
                       short_abandon_s=settings.stats_short_abandon_s,
                       timezone=settings.timezone, wrapup_reasons=reasons,
                       wrapup_s=settings.stats_wrapup_s)


async def _pbx_configs(services: Services) -> list[PbxConfig]:
    """The PBXs to connect to: the demo PBX (started here), none, or ``HOTLINE_AMI_URL``'s."""
    settings = services.settings
    if settings.pbx_mode == "off":
        return []
    if settings.pbx_mode == "demo":
        services.demo_pbx = DemoPbx(DemoPacing(settings.demo_first_call_s,
                                               settings.demo_gap_min_s,
                                               max(settings.demo_gap_min_s,
                                                   settings.demo_gap_max_s),
                                               settings.demo_speed))
        return [await services.demo_pbx.start()]
    try:
        return parse_ami_urls(settings.ami_url or "")
    except ValueError as exc:
        log.error("HOTLINE_AMI_URL is invalid, no PBX connected: %s", exc)
        services.pbx_error = str(exc)
        return []


async def start_components(services: Services) -> None:
    settings = services.settings
    await _start_mail(services)
    pbxs = await _pbx_configs(services)
    if pbxs:
        # Call-log writes and caller lookups get an engine of their own, so a burst of
        # calls can never take the connections HTTP requests need (issue #9).
        services.pbx_engine = make_engine(settings.async_database_url, settings.pbx_db_pool,
                                          max_overflow=0)
        directory = DbCallDirectory(make_sessionmaker(services.pbx_engine),
                                    make_read_sessionmaker(services.pbx_engine))
        services.telephony = Telephony(
            pbxs, services.bus, directory, settings.default_region,
            agent_context=settings.agent_context,
            agent_interfaces=parse_agent_interfaces(settings.agent_interfaces),
            queue_high=settings.ami_event_queue, effects_high=settings.ami_effects_max,
            lookup_slots=settings.pbx_db_pool - 1, call_log_queue=settings.call_log_queue,
            call_log_batch=settings.call_log_batch, stats=stats_config(settings),
            history=directory)
        await services.telephony.start()
        services.pause_watch = make_pause_watch(services)
        services.pause_watch.start()
    if settings.vosk_model:
        try:
            engine = await VoskEngine.load(settings.vosk_model,
                                           frames_per_chunk=settings.asr_frames_per_chunk)
        except (AsrError, ModelError, OSError) as exc:
            log.error("speech recognition is off: %s", exc)
            services.asr_error = str(exc)
        else:
            host, port = settings.audiosocket_host_port
            limits = AsrLimits(uuid_timeout=settings.audiosocket_uuid_timeout_s,
                               max_pending=settings.audiosocket_max_pending)
            services.asr = AsrServer(engine, services.bus,
                                     DbPrefillContext(services.db_read, settings.default_region,
                                                      settings.asr_grammar),
                                     host=host, port=port, limits=limits,
                                     allow=await audiosocket_allow(settings.audiosocket_allow,
                                                                   pbxs))
            await services.asr.start()
            await _demo_speech(services, host, port)
    if settings.ivr_in_serve:
        await _start_ivr(services, pbxs)


async def _start_ivr(services: Services, pbxs: list[PbxConfig]) -> None:
    """The IVR beside the web (``HOTLINE_IVR_IN_SERVE``): same loop, database, ASR engine,
    router and outbox as the REST API; the bridge of this process moves callers to agents."""
    from softphone_bridge.audio import AudioError, SynthesisError

    from .ivr_backend import LoopIvrBackend
    from .ivr_runtime import make_transfer, start_ivr

    settings = services.settings
    loop = asyncio.get_running_loop()
    backend = LoopIvrBackend(
        loop, services.db, store=services.attachment_store,
        max_bytes=settings.attachment_max_bytes, allowed_types=settings.attachment_types,
        region=settings.default_region, default_language=settings.ivr_language,
        support_queue=settings.ivr_queue,
        engine=services.asr.engine if services.asr is not None else None,
        transfer=make_transfer(loop, settings, services.telephony, pbxs),
        router=services.router, notify=services.notify, bus=services.bus)
    try:
        services.ivr = await start_ivr(settings, backend)
    except (OSError, AudioError, SynthesisError) as exc:
        log.error("the IVR is off: %s", exc)
        services.ivr_error = str(exc)


async def _start_mail(services: Services) -> None:
    """The SMTP receiver (``HOTLINE_MAIL_LISTEN``) and the IMAP poller
    (``HOTLINE_IMAP_URL``), when set; one process runs them: the one running the components."""
    settings = services.settings
    if not settings.mail_listen_host_port and not settings.imap_url:
        return
    handler = make_handler(settings, services.db, services.bus, services.router,
                           services.notify)
    receiver = make_receiver(settings, handler)
    if receiver is not None:
        try:
            await receiver.start()
        except OSError as exc:
            log.error("the SMTP receiver could not listen on %s: %s", settings.mail_listen, exc)
            services.mail_error = str(exc)
        else:
            services.mail = receiver
    if settings.imap_url:
        try:
            target = parse_imap_url(settings.imap_url)
        except ValueError as exc:
            log.error("IMAP polling is off: %s", exc)
            services.imap_error = str(exc)
            return
        services.imap = ImapPoller(target, handler, interval_s=settings.imap_interval_s,
                                   max_bytes=settings.mail_max_bytes)
        services.imap.start()


async def audiosocket_allow(setting: str | None, pbxs: list[PbxConfig]) -> list[Network]:
    """The AudioSocket allow-list: ``HOTLINE_AUDIOSOCKET_ALLOW`` when set, else loopback
    plus every address the PBX hosts of ``HOTLINE_AMI_URL`` resolve to (a host that does
    not resolve is logged and left out: its audio is refused until the setting names it)."""
    if setting:
        return parse_allow(setting)
    allow: list[Network] = list(LOOPBACK)
    loop = asyncio.get_running_loop()
    for pbx in pbxs:
        try:
            infos = await asyncio.wait_for(
                loop.getaddrinfo(pbx.host, None, type=socket.SOCK_STREAM), 5)
        except (OSError, TimeoutError) as exc:
            log.warning("AudioSocket allow-list: PBX host %s does not resolve (%s); set "
                        "HOTLINE_AUDIOSOCKET_ALLOW to admit its audio", pbx.host, exc)
            continue
        for info in infos:
            net = ipaddress.ip_network(str(info[4][0]).split("%", 1)[0])
            if not any(net.subnet_of(have) for have in allow  # type: ignore[arg-type]
                       if have.version == net.version):
                allow.append(net)
    log.info("AudioSocket accepts connections from %s", ", ".join(map(str, allow)))
    return allow


async def _demo_speech(services: Services, host: str, port: int) -> None:
    """With speech recognition on, the demo PBX's callers speak (when audio can be had)."""
    if services.demo_pbx is None:
        return
    pcm = await asyncio.to_thread(utterance)
    if pcm is None:
        return  # utterance() logged why

    async def speak(stream_uuid: str) -> None:
        await send_call(host, port, stream_uuid, pcm)

    services.demo_pbx.speaker = speak


async def stop_components(services: Services) -> None:
    if services.ivr is not None:
        await services.ivr.stop()
        services.ivr = None
    if services.imap is not None:
        await services.imap.stop()
        services.imap = None
    if services.mail is not None:
        await services.mail.stop()
        services.mail = None
    if services.asr is not None:
        await services.asr.stop()
        services.asr = None
    if services.pause_watch is not None:
        await services.pause_watch.stop()
        services.pause_watch = None
    if services.telephony is not None:
        await services.telephony.stop()  # writes the call-log records still queued
        services.telephony = None
    if services.pbx_engine is not None:
        await services.pbx_engine.dispose()
        services.pbx_engine = None
    if services.demo_pbx is not None:
        await services.demo_pbx.stop()
        services.demo_pbx = None
