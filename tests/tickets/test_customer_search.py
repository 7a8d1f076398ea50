"""Finding a customer in the console's customers panel: by a part of the name, by an order
number, or by a phone number written any way (a part of it too); ``%`` and ``_`` are
letters, not wildcards."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import login


@pytest.fixture
async def people(client: httpx.AsyncClient) -> dict[str, int]:
    h = await login(client, "alice")
    out = {}
    for name, phone in [("深圳湾科技有限公司", "+86 755 8600 1234"),
                        ("Zhou_Test 周", "+8618612345678"), ("100% Hardware", "02161234567")]:
        resp = await client.post("/api/v1/customers", headers=h,
                                 json={"name": name, "phones": [phone]})
        assert resp.status_code == 201, resp.text
        out[name] = resp.json()["id"]
    resp = await client.post("/api/v1/orders", headers=h, json={
        "number": "SO-2026-ABC77", "customer_id": out["Zhou_Test 周"],
        "product_name": "空调 KFR-35GW", "purchased_at": "2026-05-01T10:00:00+08:00"})
    assert resp.status_code == 201, resp.text
    return out


async def _find(client: httpx.AsyncClient, q: str) -> set[int]:
    h = await login(client, "alice")
    resp = await client.get("/api/v1/customers", headers=h, params={"q": q, "limit": 200})
    assert resp.status_code == 200, resp.text
    return {c["id"] for c in resp.json()}


@pytest.mark.parametrize(("q", "who"), [
    ("深圳湾", "深圳湾科技有限公司"),
    ("zhou_test", "Zhou_Test 周"),
    ("so-2026-abc77", "Zhou_Test 周"),  # an order number, any case
    ("0755-8600 1234", "深圳湾科技有限公司"),  # a landline as written locally
    ("8600 1234", "深圳湾科技有限公司"),  # a part of it
    ("186 1234 5678", "Zhou_Test 周"),
    ("+86 21 6123 4567", "100% Hardware"),
])
async def test_search_by_name_order_or_phone(client: httpx.AsyncClient, people: dict[str, int],
                                             q: str, who: str) -> None:
    assert people[who] in await _find(client, q)


async def test_wildcards_are_letters(client: httpx.AsyncClient, people: dict[str, int]) -> None:
    assert await _find(client, "100%") == {people["100% Hardware"]}
    assert await _find(client, "%") == {people["100% Hardware"]}  # not every customer
    assert await _find(client, "u_t") == {people["Zhou_Test 周"]}
    # Three digits are too few to mean a phone number: no customer matches by phone.
    assert people["Zhou_Test 周"] not in await _find(client, "186")
