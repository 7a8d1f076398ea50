"""Customers and their orders."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query

from tickets import calls as call_service
from tickets import customers as service
from tickets.customers import in_warranty
from tickets.models import Customer, Order
from tickets.schemas import CustomerIn, CustomerOut, CustomerPatch, OrderIn, OrderOut
from web.deps import IdPath, OffsetQuery, PrincipalDep, ServicesDep, SessionDep, Staff

router = APIRouter(prefix="/api/v1", tags=["customers"])


def _order_out(order: Order) -> OrderOut:
    out = OrderOut.model_validate(order)
    out.in_warranty = in_warranty(order)
    return out


def _check_customer_access(principal: PrincipalDep, customer_id: int) -> None:
    if principal.role in ("agent", "supervisor", "admin"):
        return
    if principal.role == "customer" and principal.customer_id == customer_id:
        return
    raise HTTPException(404, f"customer {customer_id} not found")


@router.post("/customers", status_code=201, response_model=CustomerOut)
async def create_customer(data: CustomerIn, _: Staff, services: ServicesDep,
                          session: SessionDep) -> Customer:
    settings = services.settings
    customer = await service.create_customer(session, data, settings.default_region,
                                             settings.default_area_code)
    await session.commit()
    return customer


@router.get("/customers", response_model=list[CustomerOut])
async def list_customers(
    _: Staff, services: ServicesDep, session: SessionDep,
    phone: Annotated[str | None, Query(max_length=40)] = None,
    q: Annotated[str | None, Query(max_length=100)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: OffsetQuery = 0,
) -> list[Customer]:
    if phone is not None:
        return await service.find_by_phone(session, phone, services.settings.default_region,
                                           services.settings.default_area_code)
    rows, _total = await service.search_customers(session, q, limit, offset)
    return rows


@router.get("/customers/{customer_id}")
async def get_customer(customer_id: IdPath, principal: PrincipalDep,
                       session: SessionDep) -> dict[str, Any]:
    _check_customer_access(principal, customer_id)
    customer = await service.get_customer(session, customer_id)
    out = CustomerOut.model_validate(customer).model_dump(mode="json")
    out["orders"] = [_order_out(o).model_dump(mode="json")
                     for o in await service.customer_orders(session, customer_id)]
    if principal.role == "customer":
        del out["notes"]  # the agents' notes about the customer are not for the customer
    else:
        out["tickets"] = await call_service.customer_tickets(session, customer_id)
        recent = await call_service.list_calls(
            session, call_service.CallFilter(customer_id=customer_id), limit=10)
        out["calls"] = [call_service.call_dict(c) for c in recent]
    return out


@router.patch("/customers/{customer_id}", response_model=CustomerOut)
async def patch_customer(customer_id: IdPath, data: CustomerPatch, _: Staff,
                         services: ServicesDep, session: SessionDep) -> Customer:
    customer = await service.update_customer(session, customer_id, data,
                                             services.settings.default_region,
                                             services.settings.default_area_code)
    await session.commit()
    return customer


@router.post("/orders", status_code=201, response_model=OrderOut)
async def create_order(data: OrderIn, _: Staff, session: SessionDep) -> OrderOut:
    order = await service.create_order(session, data)
    await session.commit()
    return _order_out(order)


@router.get("/orders/{number}", response_model=OrderOut)
async def get_order(number: str, principal: PrincipalDep, session: SessionDep) -> OrderOut:
    order = await service.order_by_number(session, number)
    if order is None:
        raise HTTPException(404, f"order {number!r} not found")
    _check_customer_access(principal, order.customer_id)
    return _order_out(order)
