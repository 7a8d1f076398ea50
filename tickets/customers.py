"""Customers, their phone numbers and orders; lookup by any written form of a number."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from sqlalchemy import ColumnElement, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload

from tickets.errors import Conflict, Invalid, NotFound
from tickets.models import Customer, CustomerPhone, Order, Product
from tickets.phones import InvalidPhoneNumber, normalize, parse
from tickets.schemas import CustomerIn, CustomerPatch, OrderIn, PhoneIn


def _phones(raw: list[str | PhoneIn], region: str,
            area_code: str | None) -> list[CustomerPhone]:
    """Stored numbers: valid only (``Invalid`` says which and why), one row per number."""
    seen: dict[str, CustomerPhone] = {}
    for item in raw:
        number, label = (item.number, item.label) if isinstance(item, PhoneIn) else (item, None)
        try:
            phone = parse(number, region, area_code)
        except InvalidPhoneNumber as exc:
            raise Invalid(f"phones: {exc}") from None
        seen.setdefault(phone.e164, CustomerPhone(e164=phone.e164, label=label,
                                                  extension=phone.extension,
                                                  written=phone.written))
    return list(seen.values())


def _keep_existing(existing: CustomerPhone | None, wanted: CustomerPhone) -> CustomerPhone:
    """The stored row for an unchanged number (its id stays), updated as now written."""
    if existing is None:
        return wanted
    existing.label, existing.extension = wanted.label, wanted.extension
    existing.written, existing.invalid_reason = wanted.written, None
    return existing


async def create_customer(session: AsyncSession, data: CustomerIn, region: str,
                          area_code: str | None = None) -> Customer:
    """A new customer; ``Invalid`` if a phone is not a valid number (see ``phones.parse``)."""
    customer = Customer(
        name=data.name, email=data.email, company=data.company, tier=data.tier,
        language=data.language, address=data.address, notes=data.notes,
    )
    customer.phones = _phones(list(data.phones), region, area_code)
    session.add(customer)
    await session.flush()
    return customer


async def update_customer(session: AsyncSession, customer_id: int, data: CustomerPatch,
                          region: str, area_code: str | None = None) -> Customer:
    customer = await get_customer(session, customer_id)
    changes = data.model_dump(exclude_unset=True)
    if "phones" in changes:
        changes.pop("phones")
        wanted = _phones(list(data.phones or []), region, area_code)
        existing = {p.e164: p for p in customer.phones}
        customer.phones = [_keep_existing(existing.get(p.e164), p) for p in wanted]
    for key, value in changes.items():
        if key == "name" and value is None:
            raise Invalid("name cannot be empty")
        setattr(customer, key, value)
    await session.flush()
    return customer


async def get_customer(session: AsyncSession, customer_id: int) -> Customer:
    customer = await session.get(Customer, customer_id)
    if customer is None:
        raise NotFound(f"customer {customer_id} not found")
    return customer


async def find_by_phone(session: AsyncSession, raw: str, region: str,
                        area_code: str | None = None) -> list[Customer]:
    """Customers having this number, written any way; ``Invalid`` if it is no number."""
    try:
        e164 = normalize(raw, region, area_code)
    except InvalidPhoneNumber as exc:
        raise Invalid(str(exc)) from None
    return await find_by_e164(session, e164)


async def customer_id_by_e164(session: AsyncSession, e164: str) -> int | None:
    """The (oldest) customer having this number: one indexed probe, no objects built."""
    return await session.scalar(select(CustomerPhone.customer_id)
                                .where(CustomerPhone.e164 == e164)
                                .order_by(CustomerPhone.customer_id).limit(1))


async def find_by_e164(session: AsyncSession, e164: str) -> list[Customer]:
    # One round trip: the matching ids by index, and every phone of those customers joined.
    ids = select(CustomerPhone.customer_id).where(CustomerPhone.e164 == e164)
    query = (select(Customer).options(joinedload(Customer.phones))
             .where(Customer.id.in_(ids)).order_by(Customer.id))
    return list((await session.scalars(query)).unique().all())


async def search_customers(session: AsyncSession, q: str | None, limit: int,
                           offset: int) -> tuple[list[Customer], int]:
    """Customers whose name contains ``q``, who have an order numbered ``q``, or a phone
    number containing its digits (4 or more, written any way: ``021-6123 4567`` finds
    +862161234567). Returns (page, total), oldest customer first."""
    query = select(Customer)
    if q and q.strip():
        query = query.where(or_(*customer_search_terms(q.strip())))
    total = await session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = await session.scalars(query.order_by(Customer.id).limit(limit).offset(offset))
    return list(rows.all()), total


def contains_pattern(text: str) -> str:
    """A LIKE pattern matching ``text`` anywhere, ``%``/``_``/``\\`` taken literally
    (use with ``escape="\\"``)."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def customer_search_terms(q: str) -> list[ColumnElement[bool]]:
    """The conditions on ``Customer`` of :func:`search_customers` (any one matches)."""
    terms: list[ColumnElement[bool]] = [
        Customer.name.ilike(contains_pattern(q), escape="\\"),
        Customer.id.in_(select(Order.customer_id).where(func.upper(Order.number) == q.upper())),
    ]
    # A national number's trunk 0 and an international 00 are not in E.164's digits.
    digits = re.sub(r"\D", "", q).lstrip("0")
    if len(digits) >= 4 and not re.search(r"[^\d\s+()./-]", q):
        terms.append(Customer.id.in_(select(CustomerPhone.customer_id)
                                     .where(CustomerPhone.e164.contains(digits))))
    return terms


def in_warranty(order: Order, now: datetime | None = None) -> bool | None:
    if order.warranty_end is None:
        return None
    return order.warranty_end >= (now or datetime.now(UTC))


async def create_order(session: AsyncSession, data: OrderIn) -> Order:
    await get_customer(session, data.customer_id)
    if await session.scalar(select(Order.id).where(Order.number == data.number)):
        raise Conflict(f"order {data.number!r} exists")
    product = None
    if data.product_sku:
        product = await session.scalar(select(Product).where(Product.sku == data.product_sku))
    warranty_end = data.warranty_end
    if warranty_end is None and product is not None:
        months = product.warranty_months
        warranty_end = data.purchased_at.replace(
            year=data.purchased_at.year + (data.purchased_at.month - 1 + months) // 12,
            month=(data.purchased_at.month - 1 + months) % 12 + 1, day=1)
    order = Order(
        number=data.number, customer_id=data.customer_id,
        product_id=product.id if product else None, product_name=data.product_name,
        quantity=data.quantity, amount=data.amount, purchased_at=data.purchased_at,
        warranty_end=warranty_end, status=data.status,
    )
    session.add(order)
    await session.flush()
    return order


async def customer_orders(session: AsyncSession, customer_id: int, limit: int = 50) -> list[Order]:
    rows = await session.scalars(select(Order).where(Order.customer_id == customer_id)
                                 .order_by(Order.purchased_at.desc()).limit(limit))
    return list(rows.all())


async def order_by_number(session: AsyncSession, number: str) -> Order | None:
    return await session.scalar(select(Order).where(Order.number == number))
