"""Live statistics over REST (issue #13): what a wallboard shows before its first push.

The same messages the websocket pushes (``queue_stats``, ``agent_stats``), read from this
process's PBX bridges (``telephony.stats``), and the per-minute trend kept in memory for the
last 180 minutes. Supervisors and admins only, like the pushes themselves.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query

from web.deps import Manager, ServicesDep

router = APIRouter(prefix="/api/v1/stats", tags=["stats"])


def _now_iso() -> str:
    return datetime.fromtimestamp(time.time(), UTC).isoformat()


@router.get("/live")
async def live(_: Manager, services: ServicesDep) -> dict[str, Any]:
    """``{"at", "queues": [queue_stats…], "agents": [agent_stats…]}`` (no PBX: empty
    lists). Shapes: docs/CONTRACT.md."""
    tel = services.telephony
    return {"at": _now_iso(),
            "queues": [dict(q) for q in tel.queues()] if tel is not None else [],
            "agents": [dict(a) for a in tel.agent_stats()] if tel is not None else []}


@router.get("/trend")
async def trend(_: Manager, services: ServicesDep,
                minutes: Annotated[int, Query(ge=1, le=180)] = 60) -> dict[str, Any]:
    """``{"at", "step_s": 60, "queues": {queue: [{"t", "waiting", "longest_wait_s",
    "service_level"}…]}}``: one sample per minute, oldest first, ``service_level`` the
    15-minute window's at that minute (null: no calls). ``minutes`` 1…180 (else 422)."""
    tel = services.telephony
    return {"at": _now_iso(), "step_s": 60,
            "queues": tel.trend(minutes) if tel is not None else {}}
