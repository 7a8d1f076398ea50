"""PBX status for every page (the demo badge and the "PBX not connected" banner) and the
demo PBX's "ring now" (``hotline demo call`` posts here, so it reaches the demo PBX inside a
separately running ``hotline serve``)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException
from pydantic import StringConstraints

from tickets.schemas import In
from web.deps import Manager, PrincipalDep, ServicesDep

router = APIRouter(prefix="/api/v1", tags=["pbx"])


class DemoCallIn(In):
    to: Annotated[str, StringConstraints(pattern=r"^[0-9]{2,10}$")] | None = None
    # One of telephony.demo_pbx.SCENARIOS; an unknown name is a 422 naming the field.
    scenario: Annotated[str, StringConstraints(pattern=r"^[a-z_]{1,32}$")] | None = None


@router.get("/pbx")
async def pbx_status(services: ServicesDep, _: PrincipalDep) -> dict[str, Any]:
    """``{"mode": "demo"|"off"|"ami", "demo": bool, "connected": bool, "pbxs": [...]}``:
    ``connected`` is true when every configured PBX is logged in (false with none)."""
    pbxs = services.telephony.state() if services.telephony is not None else []
    out: dict[str, Any] = {
        "mode": services.settings.pbx_mode, "demo": services.demo_pbx is not None,
        "connected": bool(pbxs) and all(p["connected"] for p in pbxs),
        "pbxs": [{k: p[k] for k in ("name", "connected", "state", "since")} for p in pbxs]}
    if services.pbx_error:
        out["error"] = services.pbx_error
    return out


@router.post("/demo/calls", status_code=202)
async def demo_call(body: DemoCallIn, services: ServicesDep, _: Manager) -> dict[str, Any]:
    """Ring now through the demo PBX: ``{"scenario", "caller"}`` of the call started.
    409 when the demo PBX is not the PBX in use."""
    if services.demo_pbx is None:
        raise HTTPException(409, "the demo PBX is not running (HOTLINE_AMI_URL is set to "
                                 f"{services.settings.pbx_mode!r})")
    planned = services.demo_pbx.call(body.scenario, body.to)
    return {"scenario": planned.scenario.name, "caller": planned.caller}
