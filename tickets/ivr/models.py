"""``ivr_journeys``: what each caller did in the IVR, for the agent's pop and the call log.

One row per IVR leg, written once when the leg ends (or just before a transfer to an agent,
so the agent's pop finds it). ``call_id`` is Hotline's call id (``pbx1:<Linkedid>``) when
the PBX told the IVR its Linkedid, else ``NULL`` (direct SIP mode); ``call_ref`` the SIP
Call-ID. ``steps`` is the JSON list of ``{at_s, kind, detail}`` (``softphone_bridge.ivr.
ports.JourneyStep``): a leg is read whole, never queried by step, so no child table.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from tickets.db import Base, JSONType, UTCDateTime

#: How a leg ended: transferred to an agent, caller hung up, the IVR ended it, over capacity.
OUTCOMES = ("agent", "hangup", "done", "busy")


class IvrJourney(Base):
    """One caller's way through the IVR."""

    __tablename__ = "ivr_journeys"

    id: Mapped[int] = mapped_column(primary_key=True)
    call_id: Mapped[str | None] = mapped_column(String(96), index=True)
    call_ref: Mapped[str] = mapped_column(String(255))
    caller: Mapped[str] = mapped_column(String(64))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime] = mapped_column(UTCDateTime)
    outcome: Mapped[str] = mapped_column(String(16))
    steps: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    language: Mapped[str] = mapped_column(String(8))
