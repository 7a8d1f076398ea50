"""Settings from the environment (``HOTLINE_*``), with the embedded defaults of DESIGN.md."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from asr.audiosocket import parse_allow
from telephony.agents import parse_agent_interfaces
from tickets.timeinput import DEFAULT_TIMEZONE, zone


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HOTLINE_", extra="ignore")

    database_url: str = "sqlite:///./hotline.db"
    redis_url: str | None = None
    # Unset or "demo": the built-in demo PBX; "off": no PBX; ami://…: real PBX(s).
    ami_url: str | None = None
    # Demo PBX pacing (seconds): first call after start, then a gap drawn in [min, max];
    # speed = capture playback rate (1.0 = the recorded calls' real timing).
    demo_first_call_s: float = Field(default=1.0, ge=0)
    demo_gap_min_s: float = Field(default=30.0, ge=0)
    demo_gap_max_s: float = Field(default=60.0, ge=0)
    demo_speed: float = Field(default=1.0, gt=0, le=1000)
    # Dialplan context of click-to-call and transfers (asterisk_conf/extensions.conf).
    agent_context: str = "hotline-agents"
    # Queue-member interfaces no rule can read, to extensions: "SIP/alice=6001,DAHDI/1=6002"
    # (PJSIP/SIP/IAX2/DAHDI/<ext>, Local/<ext>@… and hint:<ext>@… need no entry).
    agent_interfaces: str | None = None
    vosk_model: str | None = None
    audiosocket: str = "127.0.0.1:9092"
    # Who may connect to the AudioSocket port: comma-separated IPs/CIDRs. Unset: loopback
    # and the addresses of the HOTLINE_AMI_URL hosts (the PBXs). "0.0.0.0/0,::/0": anyone.
    audiosocket_allow: str | None = None
    # Seconds a new AudioSocket connection has to send its UUID (Asterisk sends it at once).
    audiosocket_uuid_timeout_s: float = Field(default=2.0, gt=0, le=60)
    # Connections that may wait for their UUID at once; a newer one closes the oldest.
    audiosocket_max_pending: int = Field(default=16, ge=1, le=1024)
    # Keyword mode: the recognizer only hears the ticket types' phrases (vosk grammar).
    # Far more robust than free-form for spotting the problem type on poor audio or a
    # model of another language; free-form (the default) also transcribes everything said.
    asr_grammar: bool = False
    # Decoder chunk (Kaldi --frames-per-chunk): smaller = earlier partials, more CPU.
    # Unset: the model's own setting.
    asr_frames_per_chunk: int | None = Field(default=None, ge=1, le=500)
    default_region: str = "CN"
    # Times written without offset (filters, order dates) are in this IANA zone.
    timezone: str = DEFAULT_TIMEZONE
    # SLA calendars (tickets/sla): public holidays of this region when a calendar names none:
    # CN (chinesecalendar: holidays and 调休 make-up working days), any code of the
    # `holidays` package (US, HK, DE-BY …), or none.
    holidays: str = "CN"
    # Share of a supervision order's (督办) time at which its assignee is reminded.
    sla_order_reminder: float = Field(default=0.8, gt=0, le=1)
    # Tickets one SLA sweep takes at most (tickets.sla.service.sweep's limit).
    sla_sweep_batch: int = Field(default=500, ge=1, le=100_000)
    # Seconds between SLA sweeps (one per tick across all processes, web/jobs.py): a
    # divisor of 60 (1…30) or whole minutes dividing an hour (60, 120, … 3600).
    sla_sweep_s: int = Field(default=30, ge=1, le=3600)
    # Area code for landlines written without one (e.g. "21": 6552 9988 → +86 21 6552 9988);
    # unset: such a number is refused as missing its area code.
    default_area_code: str | None = Field(default=None, pattern=r"^0?[1-9]\d{0,3}$")
    # Map tiles of the dispatcher board (/dispatch): an http(s) URL template with {z}, {x},
    # {y} (and optionally {s}), e.g. http://tiles.local/{z}/{x}/{y}.png. Unset: no tiles,
    # the map draws markers and routes on a plain background with a scale. Its origin is
    # added to that page's Content-Security-Policy img-src (web/pages.py).
    map_tiles: str | None = Field(
        default=None, pattern=r"^https?://[^\s\"'<>]+$", max_length=500)
    secret_key: str | None = None
    ivr_sip_server: str = "127.0.0.1:5060"
    ivr_sip_port: int = Field(default=5080, ge=0, le=65535)
    ivr_user: str = "ivr"
    ivr_password: str | None = None
    # The IVR (softphone_bridge/, `hotline ivr`): the only address its SIP and RTP sockets
    # bind; its RTP port range "low-high"; calls served at once (beyond: a busy prompt, and
    # beyond twice that 486 Busy Here); the language for callers not known by number; a
    # folder of recorded prompts overriding the synthesized ones (<dir>/<zh|en>/<key>.wav);
    # seconds to wait for a key; longest voice message; whether `hotline serve` runs it too.
    ivr_bind: str = "127.0.0.1"
    ivr_rtp_ports: str = Field(default="10000-10999", pattern=r"^\d{1,5}-\d{1,5}$")
    ivr_max_calls: int = Field(default=20, ge=1, le=500)
    ivr_language: Literal["zh", "en"] = "zh"
    ivr_prompts_dir: Path | None = None
    ivr_digit_timeout_s: float = Field(default=6.0, ge=1, le=60)
    ivr_message_max_s: int = Field(default=120, ge=5, le=600)
    ivr_in_serve: bool = False
    # The Asterisk queue the IVR's callers reach (extensions.conf's HOTLINE_QUEUE): the group
    # answering it gets the IVR's call-back tickets (routing rules still apply).
    ivr_queue: str = "support"
    # Where the IVR's "0" sends the caller (AMI Redirect of the caller's channel).
    ivr_agent_context: str = Field(default="hotline-ivr-exit", pattern=r"^[A-Za-z0-9_.-]{1,80}$")
    ivr_agent_exten: str = Field(default="agent", pattern=r"^[A-Za-z0-9_+*#.-]{1,80}$")

    # Not in DESIGN.md's table, but settable the same way.
    data_dir: Path = Path("./var")
    token_ttl_s: int = 12 * 3600
    # Failed logins (web/throttle.py): per (username, client address) the first
    # login_free_failures cost nothing, then each attempt waits 1 s, 2 s, 4 s … (at most
    # login_max_delay_s) after the last failure; per client address at most
    # login_address_max_failures within login_window_s (pairs that logged in before are
    # exempt: a call centre behind one NAT address keeps working).
    login_free_failures: int = Field(default=3, ge=0, le=1000)
    login_max_delay_s: float = Field(default=300.0, ge=0)
    login_address_max_failures: int = Field(default=1000, ge=1)
    # per username from all addresses together (pairs that logged in before exempt)
    login_user_max_failures: int = Field(default=100, ge=1)
    login_window_s: float = Field(default=900.0, gt=0)
    # argon2 password checks at once (0: cores - 1, at least 1), how many may wait for one
    # and for how long; beyond that a login gets 503 + Retry-After (tickets/passwords.py).
    login_hash_workers: int = Field(default=0, ge=0, le=64)
    login_hash_queue: int = Field(default=64, ge=0)
    login_hash_wait_s: float = Field(default=5.0, gt=0, le=60)
    # The session cookie's Secure flag: auto = when the request itself is https; true to
    # force it behind a TLS proxy that speaks plain http to Hotline.
    cookie_secure: Literal["auto", "true", "false"] = "auto"
    # Origins (scheme://host[:port]) besides the request's own from which cookie-carrying
    # writes and websockets are accepted, comma-separated: e.g. the https address of a TLS
    # proxy that forwards to Hotline over plain http.
    allowed_origins: str = ""
    attachment_max_bytes: int = 10 * 1024 * 1024
    attachment_types: list[str] = Field(default_factory=lambda: [
        "image/png", "image/jpeg", "image/gif", "image/webp", "application/pdf", "text/plain",
        "text/csv", "audio/wav", "audio/x-wav", "audio/mpeg", "application/zip",
    ])
    db_pool_size: int = 10
    # Worker processes of `hotline serve` (its --workers overrides): more than 1 needs
    # HOTLINE_REDIS_URL and PostgreSQL; one of them runs the PBX side and ASR (web/workers.py).
    workers: int = Field(default=1, ge=1, le=64)
    # Largest request body (JSON, forms) in bytes; uploads get attachment_max_bytes plus
    # room for the multipart headers instead (web/edge.py). Over it: 413 naming the limit.
    body_max_bytes: int = Field(default=1024 * 1024, ge=1024)
    # Open websockets one user may hold; the next is refused (close 4429, web/ws.py).
    ws_max_per_user: int = Field(default=10, ge=1, le=1000)
    # Fan-out writes each event's one frame straight to the consoles' sockets under uvicorn
    # (web/wsdirect.py); false: every message through the ASGI send (the slower path).
    ws_direct_writes: bool = True
    # /docs and /openapi.json without a login? Unset: only on a demo install (the demo PBX
    # and SQLite, see docs_are_public); true/false: as said.
    docs_public: bool | None = None
    # The telephony side's own database budget (never the HTTP pool above): connections for
    # the call-log writer and the caller lookups of screen pops (one writer per PBX, the
    # rest lookups at once; issue #9's call bursts).
    pbx_db_pool: int = Field(default=3, ge=2, le=50)
    # Call-log writer: rows per transaction, and records queued before the AMI link waits.
    call_log_batch: int = Field(default=200, ge=1, le=5000)
    call_log_queue: int = Field(default=2000, ge=1, le=1_000_000)
    # AMI back-pressure: events queued before the socket stops being read, and tracker
    # effects (pops, updates, call-log records) not yet carried out before the event
    # consumer waits. Asterisk keeps the rest in its TCP buffers.
    ami_event_queue: int = Field(default=2000, ge=10, le=1_000_000)
    ami_effects_max: int = Field(default=1000, ge=10, le=1_000_000)
    # Live statistics (telephony/stats, issue #13). Service-level threshold T: answered
    # within T seconds counts within SL (a queue's own ServiceLevel in queues.conf wins).
    stats_sl_threshold_s: float = Field(default=20.0, gt=0, le=3600)
    # Callers hanging up within this many seconds are short abandons (out of SL and
    # abandon-rate denominators).
    stats_short_abandon_s: float = Field(default=5.0, ge=0, le=600)
    # Pause reasons that mean after-call work (wrap-up), comma-separated, case-insensitive.
    stats_wrapup_reasons: str = "wrapup,wrap-up,wrap up,acw"
    # The queues' wrapuptime in seconds (queues.conf; AMI does not report it; a member's
    # own Wrapuptime wins): 0 = none, wrap-up is then a wrap-up pause.
    stats_wrapup_s: float = Field(default=0.0, ge=0, le=3600)
    # Routing: minutes an agent may stay paused in every queue before their unstarted
    # (new/assigned) tickets go back to their groups; 0 = never (web/pausewatch.py).
    routing_release_paused_after: float = Field(default=30.0, ge=0, le=24 * 60)
    # Field dispatch: the ticket resolves when its last open work order completes.
    dispatch_resolve_ticket: bool = True

    # Notifications (tickets/notify/, delivered by the outbox job, web/jobs.py).
    # SMTP server of outgoing email; empty: the email channel is off.
    smtp_host: str = ""
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_username: str | None = None
    smtp_password: str | None = None
    # starttls (upgrade a plain connection), ssl (implicit TLS, port 465) or none
    smtp_tls: Literal["starttls", "ssl", "none"] = "starttls"
    mail_from: str = "Hotline <hotline@hotline.local>"
    # The domain of Hotline's Message-IDs (tickets/mail/threading.py); the email channel
    # recognises replies by it.
    mail_domain: str = Field(default="hotline.local", pattern=r"^[A-Za-z0-9.-]{1,200}$")
    # SMS gateway: POST of sms_body (JSON; {to}, {text}, {key} replaced in its strings) with
    # "Authorization: Bearer <sms_token>". Unset URL: the SMS channel is off.
    sms_url: str | None = None
    sms_token: str | None = None
    sms_body: str = '{"to": "{to}", "text": "{text}", "id": "{key}"}'
    # Failed attempts after which a message is dead-lettered (shown to admins).
    outbox_max_attempts: int = Field(default=8, ge=1, le=100)
    # How often each process looks for due outbox rows (seconds).
    outbox_poll_s: float = Field(default=1.0, gt=0, le=60)
    # Seconds a process holds the outbox messages it claimed: a process that dies meanwhile
    # leaves them to the others after this (tickets/notify/delivery.py).
    outbox_lease_s: float = Field(default=120.0, ge=1, le=3600)
    # Sent outbox rows are deleted after this many days (hourly job); dead ones are kept.
    outbox_keep_days: float = Field(default=30.0, gt=0, le=3650)

    @field_validator("map_tiles", mode="before")
    @classmethod
    def _tile_template(cls, v: object) -> object:
        if v is None or (isinstance(v, str) and not v.strip()):
            return None
        if not isinstance(v, str):
            return v
        if not all(part in v for part in ("{z}", "{x}", "{y}")):
            raise ValueError("a tile URL template with {z}, {x} and {y}")
        host = v.split("/")[2] if v.count("/") >= 2 else ""
        if "{s}" in host.removeprefix("{s}."):
            raise ValueError("{s} only as the host's first label ({s}.tiles.example)")
        return v.strip()

    @field_validator("sla_sweep_s")
    @classmethod
    def _sweep_tick(cls, v: int) -> int:
        if not (60 % v == 0 if v < 60 else v % 60 == 0 and 3600 % v == 0):
            raise ValueError("a divisor of 60 (1…30 s) or whole minutes dividing an hour")
        return v

    @field_validator("ivr_rtp_ports")
    @classmethod
    def _rtp_range(cls, v: str) -> str:
        low, high = (int(x) for x in v.split("-"))
        if not 1024 <= low <= high <= 65535 or high - low < 3:
            raise ValueError("a range low-high within 1024-65535 with at least 4 ports")
        return v

    @field_validator("ivr_sip_server")
    @classmethod
    def _ivr_server(cls, v: str) -> str:
        host, sep, port = v.strip().rpartition(":")
        if not sep:
            host, port = v.strip(), "5060"
        if not host or not port.isdigit() or not 1 <= int(port) <= 65535:
            raise ValueError("host or host:port with a port in 1-65535")
        return v.strip()

    @model_validator(mode="after")
    def _ivr_ports_for_calls(self) -> Settings:
        low, high = self.ivr_rtp_range
        if high - low + 1 < 2 * self.ivr_max_calls:
            raise ValueError(f"HOTLINE_IVR_RTP_PORTS ({self.ivr_rtp_ports}) must hold 2 × "
                             f"HOTLINE_IVR_MAX_CALLS ({self.ivr_max_calls}) ports")
        return self

    @field_validator("sms_body")
    @classmethod
    def _sms_body_json(cls, v: str) -> str:
        import json
        try:
            json.loads(v)
        except ValueError as exc:
            raise ValueError(f"HOTLINE_SMS_BODY is not JSON: {exc}") from None
        return v

    # The inbound email channel (tickets/mail, web/mailin.py); replies are threaded by
    # mail_domain (above: Hotline's own Message-IDs, tickets.mail.threading).
    # Where the SMTP receiver listens ("127.0.0.1:2525"); empty: no receiver.
    mail_listen: str = Field(default="", pattern=r"^\s*(\S*:\d{1,5})?\s*$")
    # Recipients the receiver accepts (comma-separated); empty: support@<mail_domain>.
    mail_addresses: str = ""
    # Largest message the receiver takes (bytes, as received: base64 included); over: 552.
    mail_max_bytes: int = Field(default=25 * 1024 * 1024, ge=1024)
    # A customer's reply reopens a ticket resolved at most this many days ago; later (or a
    # closed ticket) starts a new ticket linked to the old one.
    mail_reopen_days: int = Field(default=14, ge=0, le=3650)
    # A mailbox to poll instead of (or besides) the receiver: imaps://user:pass@host/INBOX
    # (web/mailpoll.py; every message in the folder is taken, then deleted). Unset: off.
    imap_url: str | None = None
    imap_interval_s: float = Field(default=60.0, ge=1, le=86400)

    @field_validator("agent_interfaces")
    @classmethod
    def _check_agent_interfaces(cls, v: str | None) -> str | None:
        parse_agent_interfaces(v)  # a ValueError names the bad entry at startup
        return v

    @field_validator("audiosocket_allow")
    @classmethod
    def _check_audiosocket_allow(cls, v: str | None) -> str | None:
        if v is not None and v.strip():
            parse_allow(v)  # a ValueError names the bad entry at startup
            return v
        return None

    @field_validator("default_region")
    @classmethod
    def _upper_region(cls, v: str) -> str:
        return v.upper()

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, v: str) -> str:
        zone(v)
        return v

    @field_validator("holidays")
    @classmethod
    def _known_holidays(cls, v: str) -> str:
        from tickets.sla.calendar import holiday_source
        holiday_source(v)  # a ValueError names an unknown region at startup
        return v

    @field_validator("default_area_code")
    @classmethod
    def _area_digits(cls, v: str | None) -> str | None:
        return v.lstrip("0") if v else None

    @property
    def pbx_mode(self) -> Literal["demo", "off", "ami"]:
        """Which PBX ``ami_url`` selects: the demo PBX (unset, empty or ``demo``), none
        (``off``), or the real ones of the ``ami://`` list."""
        value = (self.ami_url or "").strip().lower()
        if value in ("", "demo"):
            return "demo"
        return "off" if value == "off" else "ami"

    @property
    def docs_are_public(self) -> bool:
        """Whether ``/docs`` and ``/openapi.json`` are served without a login.

        ``HOTLINE_DOCS_PUBLIC`` decides when set. Unset, the docs are public only on a demo
        install: the built-in demo PBX (``HOTLINE_AMI_URL`` unset or ``demo``) *and* the
        embedded SQLite database. Anything else (a real PBX, ``off``, or PostgreSQL) is
        production mode: the docs need a login like the API they describe."""
        if self.docs_public is not None:
            return self.docs_public
        return self.pbx_mode == "demo" and self.database_url.startswith("sqlite")

    @property
    def allowed_origin_list(self) -> list[str]:
        """``allowed_origins`` as normalised origins (lower case, no trailing slash)."""
        return [o.strip().rstrip("/").lower() for o in self.allowed_origins.split(",")
                if o.strip()]

    @property
    def mail_address_list(self) -> list[str]:
        """The accepted recipient addresses, lower case (default ``support@<mail_domain>``)."""
        found = [a.strip().lower() for a in self.mail_addresses.split(",") if a.strip()]
        return found or [f"support@{self.mail_domain.lower()}"]

    @property
    def mail_listen_host_port(self) -> tuple[str, int] | None:
        """``mail_listen`` as (host, port), or None when the receiver is off."""
        if not self.mail_listen.strip():
            return None
        host, _, port = self.mail_listen.strip().rpartition(":")
        return host or "127.0.0.1", int(port)

    @property
    def async_database_url(self) -> str:
        return to_async_url(self.database_url)

    def resolved_secret_key(self) -> str:
        """The signing key: the setting, else one generated on first run and kept in data_dir."""
        if self.secret_key:
            return self.secret_key
        path = self.data_dir / "secret_key"
        if path.exists():
            return path.read_text().strip()
        path.parent.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(48)
        path.write_text(key)
        path.chmod(0o600)
        return key

    @property
    def audiosocket_host_port(self) -> tuple[str, int]:
        host, _, port = self.audiosocket.rpartition(":")
        return host or "127.0.0.1", int(port)

    @property
    def ivr_server_host_port(self) -> tuple[str, int]:
        """``HOTLINE_IVR_SIP_SERVER`` split (port 5060 when not given)."""
        host, sep, port = self.ivr_sip_server.rpartition(":")
        if not sep or not port.isdigit():
            return self.ivr_sip_server, 5060
        return host, int(port)

    @property
    def ivr_rtp_range(self) -> tuple[int, int]:
        low, _, high = self.ivr_rtp_ports.partition("-")
        return int(low), int(high)


def to_async_url(url: str) -> str:
    """Map the plain SQLAlchemy URLs users write to the async drivers we ship."""
    if url.startswith("sqlite:"):
        return "sqlite+aiosqlite:" + url[len("sqlite:"):]
    for prefix in ("postgresql://", "postgres://", "postgresql+psycopg2://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix):]
    return url
