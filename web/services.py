"""The process's long-lived parts, built once by the app factory and shared by handlers."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from telephony.demo_pbx import DemoPbx
from tickets.bus import Bus
from web.settings import Settings
from web.throttle import LoginThrottle


@dataclass
class Services:
    settings: Settings
    engine: AsyncEngine
    db: async_sessionmaker[AsyncSession]
    db_read: async_sessionmaker[AsyncSession]  # autocommit, single-statement hot reads
    bus: Bus
    secret_key: str
    hub: Any = None
    telephony: Any = None
    asr: Any = None
    demo_pbx: DemoPbx | None = None  # the built-in demo PBX, when it is the one in use
    extras: dict[str, Any] = field(default_factory=dict)
    login_throttle: LoginThrottle = field(default_factory=LoginThrottle)

    @property
    def attachment_store(self) -> Path:
        return self.settings.data_dir / "attachments"
