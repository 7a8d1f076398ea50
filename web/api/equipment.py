"""Customers' equipment and preventive-maintenance schedules (``dispatch.equipment``,
``dispatch.maintenance``). Staff read; supervisors and admins write."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from dispatch import equipment as service
from dispatch import maintenance
from dispatch.equipment import EquipmentIn, EquipmentOut, EquipmentPatch
from dispatch.maintenance import ScheduleIn, ScheduleOut
from dispatch.models import Equipment, MaintenanceSchedule
from web.deps import IdPath, IdQuery, Manager, OffsetQuery, SessionDep, Staff

router = APIRouter(prefix="/api/v1", tags=["equipment"])


class EquipmentDetail(EquipmentOut):
    #: its work orders, newest first (repairs, maintenance, installs)
    work_orders: list[dict[str, Any]]


def _detail(row: Equipment, orders: list[Any]) -> dict[str, Any]:
    out = EquipmentOut.model_validate(row).model_dump()
    out["work_orders"] = [service.history_item(wo) for wo in orders]
    return out


@router.post("/equipment", status_code=201, response_model=EquipmentOut)
async def create_equipment(data: EquipmentIn, _: Manager, session: SessionDep) -> Equipment:
    row = await service.create_equipment(session, data)
    await session.commit()
    return row


@router.get("/equipment")
async def list_equipment(
        _: Staff, session: SessionDep, customer_id: IdQuery = None,
        model: Annotated[str | None, Query(max_length=64)] = None,
        serial_number: Annotated[str | None, Query(max_length=64)] = None,
        limit: Annotated[int, Query(ge=1, le=200)] = 50,
        offset: OffsetQuery = 0) -> dict[str, Any]:
    rows, total = await service.list_equipment(
        session, customer_id=customer_id, model=model, serial_number=serial_number,
        limit=limit, offset=offset)
    return {"items": [EquipmentOut.model_validate(r).model_dump() for r in rows],
            "total": total, "limit": limit, "offset": offset}


@router.get("/equipment/{equipment_id}", response_model=EquipmentDetail)
async def get_equipment(equipment_id: IdPath, _: Staff, session: SessionDep) -> dict[str, Any]:
    row = await service.get_equipment(session, equipment_id)
    return _detail(row, await service.history(session, equipment_id))


@router.patch("/equipment/{equipment_id}", response_model=EquipmentDetail)
async def update_equipment(equipment_id: IdPath, patch: EquipmentPatch, _: Manager,
                           session: SessionDep) -> dict[str, Any]:
    row = await service.update_equipment(session, equipment_id, patch)
    out = _detail(row, await service.history(session, equipment_id))
    await session.commit()
    return out


@router.post("/maintenance_schedules", status_code=201, response_model=ScheduleOut)
async def create_schedule(data: ScheduleIn, _: Manager,
                          session: SessionDep) -> MaintenanceSchedule:
    row = await maintenance.create_schedule(session, data)
    await session.commit()
    return row


@router.get("/maintenance_schedules", response_model=list[ScheduleOut])
async def list_schedules(_: Staff, session: SessionDep) -> list[MaintenanceSchedule]:
    return await maintenance.list_schedules(session)
