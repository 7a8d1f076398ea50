"""Customers' installed equipment: create, list, read with its repair history, update usage.

Why a service of its own: equipment is what a visit repairs or maintains, and what a
maintenance schedule generates orders for (``dispatch.maintenance``); the API, the demo data
and the tests all create it the same checked way. The input shapes live here (not in
``tickets.schemas``) because ``tickets`` knows nothing of dispatch. The caller's session,
never committed here.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from pydantic import Field, StringConstraints
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from dispatch.models import Equipment, WorkOrder
from dispatch.schemas import Lat, Lon
from tickets.errors import Conflict, Invalid, NotFound
from tickets.models import Customer, Product
from tickets.schemas import DbId, In, Out
from tickets.timeinput import LocalDate

Serial = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
Model = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
Region = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
Address = Annotated[str, StringConstraints(strip_whitespace=True, max_length=255)]
#: running hours or cycles
Usage = Annotated[int, Field(ge=0, le=1_000_000_000, strict=True)]


class EquipmentIn(In):
    customer_id: DbId
    serial_number: Serial
    model: Model
    product_id: DbId | None = None
    install_date: LocalDate | None = None
    warranty_end: LocalDate | None = None
    address: Address = ""
    region: Region | None = None
    lat: Lat | None = None
    lon: Lon | None = None
    usage: Usage = 0


class EquipmentPatch(In):
    """What changes after installation: the usage reading (mostly), the place, the warranty."""

    usage: Usage | None = None
    address: Address | None = None
    region: Region | None = None
    lat: Lat | None = None
    lon: Lon | None = None
    warranty_end: LocalDate | None = None


class EquipmentOut(Out):
    id: int
    customer_id: int
    product_id: int | None
    serial_number: str
    model: str
    install_date: date | None
    warranty_end: date | None
    address: str
    region: str | None
    lat: float | None
    lon: float | None
    usage: int
    created_at: datetime


def _check_dates(install: date | None, warranty_end: date | None) -> None:
    if install is not None and warranty_end is not None and warranty_end < install:
        raise Invalid("warranty_end: the warranty cannot end before the install date "
                      f"({warranty_end.isoformat()} < {install.isoformat()})")


def _check_coordinates(lat: float | None, lon: float | None) -> None:
    if (lat is None) != (lon is None):
        raise Invalid(f"{'lon' if lon is None else 'lat'}: lat and lon go together")


async def _serial_taken(session: AsyncSession, serial: str) -> bool:
    return (await session.scalar(select(Equipment.id).where(
        Equipment.serial_number == serial))) is not None


async def create_equipment(session: AsyncSession, data: EquipmentIn) -> Equipment:
    """A new equipment row (flushed: it has its id).

    Invalid (422, the message starts with the field): unknown ``customer_id`` or
    ``product_id``, ``warranty_end`` before ``install_date``, only one of ``lat``/``lon``.
    Conflict (409): the serial number is taken (a race past the check is the unique index's
    IntegrityError, also a 409)."""
    _check_dates(data.install_date, data.warranty_end)
    _check_coordinates(data.lat, data.lon)
    if await session.get(Customer, data.customer_id) is None:
        raise Invalid(f"customer_id: no customer {data.customer_id}")
    if data.product_id is not None and await session.get(Product, data.product_id) is None:
        raise Invalid(f"product_id: no product {data.product_id}")
    if await _serial_taken(session, data.serial_number):
        raise Conflict(f"serial_number: {data.serial_number!r} is already registered")
    row = Equipment(**data.model_dump())
    session.add(row)
    await session.flush()
    return row


async def list_equipment(session: AsyncSession, *, customer_id: int | None = None,
                         model: str | None = None, serial_number: str | None = None,
                         limit: int = 50, offset: int = 0) -> tuple[list[Equipment], int]:
    """``(rows by id, total)`` matching every filter given."""
    query = select(Equipment)
    if customer_id is not None:
        query = query.where(Equipment.customer_id == customer_id)
    if model is not None:
        query = query.where(Equipment.model == model)
    if serial_number is not None:
        query = query.where(Equipment.serial_number == serial_number)
    total = await session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = (await session.scalars(query.order_by(Equipment.id).limit(limit)
                                  .offset(offset))).all()
    return list(rows), int(total)


async def get_equipment(session: AsyncSession, equipment_id: int) -> Equipment:
    """NotFound (404) when there is no such equipment."""
    row = await session.get(Equipment, equipment_id)
    if row is None:
        raise NotFound(f"no equipment {equipment_id}")
    return row


async def history(session: AsyncSession, equipment_id: int) -> list[WorkOrder]:
    """The equipment's work orders (repairs, maintenance, installs), newest first."""
    return list((await session.scalars(select(WorkOrder).where(
        WorkOrder.equipment_id == equipment_id).order_by(WorkOrder.id.desc()))).all())


def history_item(wo: WorkOrder) -> dict[str, Any]:
    """A work order as the equipment's history shows it (the full order is
    ``GET /api/v1/work_orders/{id}``)."""
    return {"id": wo.id, "number": f"WO-{wo.id:06d}", "ticket_id": wo.ticket_id,
            "kind": wo.kind, "status": wo.status, "engineer_id": wo.engineer_id,
            "due_on": wo.due_on, "schedule_id": wo.schedule_id, "notes": wo.notes,
            "fail_reason": wo.fail_reason, "created_at": wo.created_at,
            "completed_at": (wo.status_times or {}).get("completed")}


async def update_equipment(session: AsyncSession, equipment_id: int,
                           patch: EquipmentPatch) -> Equipment:
    """Apply the fields given. NotFound; Invalid for a warranty ending before the install
    date or only one coordinate left set."""
    row = await get_equipment(session, equipment_id)
    changes = patch.model_dump(exclude_unset=True)
    for name in ("usage",):
        if name in changes and changes[name] is None:
            raise Invalid(f"{name}: cannot be null")
    _check_dates(row.install_date, changes.get("warranty_end", row.warranty_end))
    _check_coordinates(changes.get("lat", row.lat), changes.get("lon", row.lon))
    for name, value in changes.items():
        setattr(row, name, value)
    await session.flush()
    return row
