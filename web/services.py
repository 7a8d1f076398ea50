"""The process's long-lived parts, built once by the app factory and shared by handlers.

Every part has its real type: the optional ones are ``None`` until ``web.wiring`` (or the
app's lifespan, for the hub) starts them, and a part that could not start says why in its
``*_error`` field, which ``/readyz`` reports.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from asr.audiosocket import AsrServer
from telephony.demo_pbx import DemoPbx
from telephony.service import Telephony
from tickets.bus import Bus
from tickets.notify.delivery import Dispatcher
from tickets.notify.outbox import Outbox
from tickets.passwords import PasswordGate
from tickets.routing.service import Router, RuleBook
from web.hub import Hub
from web.jobs import JobEngine, JobRegistry
from web.mailin import MailReceiver
from web.mailpoll import ImapPoller
from web.pausewatch import PauseWatch
from web.planner import PlannerPool
from web.settings import Settings
from web.throttle import LoginThrottle

if TYPE_CHECKING:  # pyVoIP and espeak only where the IVR runs
    from web.ivr_runtime import IvrRuntime


@dataclass
class Services:
    settings: Settings
    engine: AsyncEngine
    db: async_sessionmaker[AsyncSession]
    db_read: async_sessionmaker[AsyncSession]  # autocommit, single-statement hot reads
    read_engine: AsyncEngine  # the same without the ORM session (tickets.db.make_read_engine)
    bus: Bus
    secret_key: str
    hub: Hub | None = None
    telephony: Telephony | None = None
    pbx_engine: AsyncEngine | None = None  # the telephony side's own pool (pbx_db_pool)
    asr: AsrServer | None = None
    pause_watch: PauseWatch | None = None  # web/pausewatch.py, beside the PBX bridges
    demo_pbx: DemoPbx | None = None  # the built-in demo PBX, when it is the one in use
    pbx_error: str | None = None  # HOTLINE_AMI_URL could not be used
    asr_error: str | None = None  # the vosk model could not be loaded
    mail: MailReceiver | None = None  # the SMTP receiver (HOTLINE_MAIL_LISTEN)
    mail_error: str | None = None  # it could not listen
    imap: ImapPoller | None = None  # IMAP polling (HOTLINE_IMAP_URL)
    imap_error: str | None = None  # HOTLINE_IMAP_URL could not be used
    ivr: IvrRuntime | None = None  # the IVR beside the web (HOTLINE_IVR_IN_SERVE)
    ivr_error: str | None = None  # it could not start (SIP port taken, espeak-ng missing)
    # "single": the one process runs everything; with ``--workers`` > 1 (web.workers) the
    # worker running the components is "components", the others "web" (they forward the
    # live-state requests to it: web.workers.ForwardLive).
    process_role: Literal["single", "components", "web"] = "single"
    login_throttle: LoginThrottle = field(default_factory=LoginThrottle)
    password_gate: PasswordGate = field(default_factory=PasswordGate)
    #: Ticket routing (rules, assignment); ``web.wiring.queue_presence`` tells it who is
    #: paused or logged out in the PBX's queues.
    router: Router = field(default_factory=lambda: Router(RuleBook()))
    #: The ``Notify`` port handed to the domain services (``web.wiring.make_outbox``).
    notify: Outbox = field(default_factory=Outbox)
    #: What the job engine runs (``web.wiring.register_jobs``), the engine while the app
    #: runs, and the outbox's delivery (``web.wiring.make_dispatcher``).
    jobs: JobRegistry = field(default_factory=JobRegistry)
    job_engine: JobEngine | None = None
    dispatcher: Dispatcher | None = None
    #: Field dispatch's day plans, solved in worker processes (``web.planner``); started
    #: with the app.
    planner: PlannerPool | None = None

    @property
    def components_elsewhere(self) -> bool:
        """Whether the PBX bridge, demo PBX and ASR run in another worker process."""
        return self.process_role == "web"

    @property
    def attachment_store(self) -> Path:
        return self.settings.data_dir / "attachments"
