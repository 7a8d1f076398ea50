"""Odd input is a 4xx naming the field, never a 500: every integer a client can send is
bounded, every date/time follows one rule (tickets/timeinput.py), numbers are finite.

The first tests read the API description, so a new parameter or body field without bounds
fails here by name; the others send the instances the attack found, on both backends.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from tests.conftest import login
from web.app import create_app
from web.settings import Settings

HUGE = "9223372036854775808"  # 2**63: past every database integer


@pytest.fixture(scope="module")
def openapi(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("bounds")
    app = create_app(Settings(database_url=f"sqlite:///{tmp}/x.db", data_dir=tmp,
                              secret_key="x" * 40, ami_url="off"))
    return app.openapi()


def _resolve(doc: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = doc["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def _leaves(doc: dict[str, Any], schema: dict[str, Any], where: str,
            seen: frozenset[str] = frozenset()) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every scalar schema inside ``schema`` with the path that leads to it."""
    ref = schema.get("$ref")
    if ref in seen:
        return
    if ref:
        seen = seen | {ref}
    schema = _resolve(doc, schema)
    for key in ("anyOf", "oneOf", "allOf"):
        for option in schema.get(key, []):
            yield from _leaves(doc, option, where, seen)
    for name, prop in schema.get("properties", {}).items():
        yield from _leaves(doc, prop, f"{where}.{name}", seen)
    if isinstance(schema.get("items"), dict):
        yield from _leaves(doc, schema["items"], f"{where}[]", seen)
    if isinstance(schema.get("additionalProperties"), dict):
        yield from _leaves(doc, schema["additionalProperties"], f"{where}{{}}", seen)
    if schema.get("type") in ("integer", "number", "string"):
        yield where, schema


def _inputs(doc: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for path, methods in doc["paths"].items():
        for method, op in methods.items():
            for param in op.get("parameters", []):
                yield from _leaves(doc, param["schema"],
                                   f"{method.upper()} {path} {param['in']}:{param['name']}")
            for media in op.get("requestBody", {}).get("content", {}).values():
                yield from _leaves(doc, media["schema"], f"{method.upper()} {path} body")


def test_every_integer_input_has_both_bounds(openapi: dict[str, Any]) -> None:
    unbounded = [where for where, s in _inputs(openapi)
                 if s["type"] in ("integer", "number")
                 and (("maximum" not in s and "exclusiveMaximum" not in s)
                      or ("minimum" not in s and "exclusiveMinimum" not in s))]
    assert unbounded == [], f"integer/number inputs without both bounds: {unbounded}"


def test_every_time_input_follows_the_one_rule(openapi: dict[str, Any]) -> None:
    """A date/time in a query or a body is a ``Moment``/``MomentEnd``: naive = site zone."""
    others = [where for where, s in _inputs(openapi)
              if s.get("format") == "date-time" and "2026-11-30T09:30" not in s.get(
                  "examples", [])]
    assert others == [], f"date/time inputs not using tickets.timeinput: {others}"


@pytest.mark.parametrize("path", ["/api/v1/customers", "/api/v1/calls", "/api/v1/tickets"])
async def test_huge_offset_is_a_422_naming_it(client: httpx.AsyncClient, path: str) -> None:
    r = await client.get(path, params={"offset": HUGE}, headers=await login(client, "admin"))
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["loc"] == ["query", "offset"]


async def test_huge_numbers_anywhere_are_422(client: httpx.AsyncClient) -> None:
    h = await login(client, "admin")
    r = await client.get("/api/v1/tickets", params={"assignee": "99999999999"}, headers=h)
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["query", "assignee"]
    r = await client.get("/api/v1/tickets", params={"assignee": "bob"}, headers=h)
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["query", "assignee"]
    r = await client.patch("/api/v1/tickets/1", json={"version": int(HUGE)}, headers=h)
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "version"]
    for path in ("/api/v1/tickets/" + HUGE, "/api/v1/customers/" + HUGE):
        assert (await client.get(path, headers=h)).status_code == 422
    order = {"number": "BIG-1", "customer_id": 1, "product_name": "x",
             "purchased_at": "2026-01-05", "amount": 1e400}
    r = await client.post("/api/v1/orders", content=str(order).replace("'", '"').replace(
        "inf", "1e400"), headers={**h, "content-type": "application/json"})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "amount"], r.text


async def test_a_number_field_must_be_finite(client: httpx.AsyncClient) -> None:
    h = await login(client, "admin")
    made = await client.post("/api/v1/ticket-types", headers=h, json={
        "key": "measure", "name": "Measure", "fields": [{"key": "volts", "label": "V",
                                                         "type": "number"}]})
    assert made.status_code == 201, made.text
    for raw in ("1e400", "-1e400", "1e300"):
        r = await client.post("/api/v1/tickets", headers={**h, "content-type":
                                                         "application/json"},
                              content='{"title": "t", "type": "measure", '
                                      f'"fields": {{"volts": {raw}}}}}')
        assert r.status_code == 422 and "volts" in r.json()["detail"], r.text


async def test_a_time_without_offset_in_a_body_is_the_site_zone(
        client: httpx.AsyncClient) -> None:
    h = await login(client, "admin")
    r = await client.post("/api/v1/orders", headers=h, json={
        "number": "NAIVE-1", "customer_id": 1, "product_name": "kettle",
        "purchased_at": "2026-03-01T09:30", "warranty_end": "2027-03-01"})
    assert r.status_code == 201, r.text
    # HOTLINE_TIMEZONE is Asia/Shanghai (+08:00): 09:30 there is 01:30 UTC.
    assert datetime.fromisoformat(r.json()["purchased_at"]) == datetime(2026, 3, 1, 1, 30,
                                                                        tzinfo=UTC)
    bad = await client.post("/api/v1/orders", headers=h, json={
        "number": "NAIVE-2", "customer_id": 1, "product_name": "kettle",
        "purchased_at": "yesterday"})
    assert bad.status_code == 422
    assert bad.json()["detail"][0]["loc"] == ["body", "purchased_at"]


async def test_a_body_that_is_not_json_is_a_400(client: httpx.AsyncClient) -> None:
    """docs/CONTRACT.md: 400 a body that cannot be parsed; 422 is for parsed, invalid input."""
    h = {**await login(client, "admin"), "content-type": "application/json"}
    for raw in (b'{"title": "x",', b"\xff\xfe", b"[1, 2"):
        r = await client.post("/api/v1/tickets", headers=h, content=raw)
        assert r.status_code == 400, r.text
        assert "not valid JSON" in r.json()["detail"]
    r = await client.post("/api/v1/tickets", headers=h, content=b'{"title": "x",')
    assert "character 14" in r.json()["detail"]
