"""The equipment and maintenance-schedule API on SQLite and PostgreSQL (demo database): create,
list, read with the repair history, update usage; bad input is a 422 naming the field, a taken
serial number a 409; agents read, supervisors write."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.conftest import login


async def _customer(client: httpx.AsyncClient, headers: dict[str, str]) -> int:
    found = (await client.get("/api/v1/customers", headers=headers)).json()
    return int((found["items"] if isinstance(found, dict) else found)[0]["id"])


def _named(resp: httpx.Response, field: str) -> bool:
    detail = resp.json()["detail"]
    return field in (detail if isinstance(detail, str) else str(detail))


async def test_create_list_get_patch(client: httpx.AsyncClient) -> None:
    sue = await login(client, "sue")
    cid = await _customer(client, sue)
    body = {"customer_id": cid, "serial_number": " LTK2599000001 ", "model": "LT-HP250",
            "install_date": "2025-03-01", "warranty_end": "2027-03-01",
            "address": "浦东新区 1 号", "region": "浦东", "lat": 31.22, "lon": 121.54}
    resp = await client.post("/api/v1/equipment", json=body, headers=sue)
    assert resp.status_code == 201, resp.text
    made = resp.json()
    assert made["serial_number"] == "LTK2599000001" and made["usage"] == 0
    alice = await login(client, "alice")
    listed = (await client.get("/api/v1/equipment", params={"customer_id": cid},
                               headers=alice)).json()
    assert made["id"] in [e["id"] for e in listed["items"]]
    assert listed["total"] >= 1
    one = (await client.get(f"/api/v1/equipment/{made['id']}", headers=alice)).json()
    assert one["work_orders"] == [] and one["model"] == "LT-HP250"
    resp = await client.patch(f"/api/v1/equipment/{made['id']}", json={"usage": 1200},
                              headers=sue)
    assert resp.status_code == 200, resp.text
    assert resp.json()["usage"] == 1200
    # agents read but do not write
    assert (await client.patch(f"/api/v1/equipment/{made['id']}", json={"usage": 1},
                               headers=alice)).status_code == 403
    assert (await client.get("/api/v1/equipment/99999", headers=alice)).status_code == 404
    # a taken serial number
    resp = await client.post("/api/v1/equipment", json=body, headers=sue)
    assert resp.status_code == 409 and _named(resp, "serial_number")


@pytest.mark.parametrize(("change", "field"), [
    ({"customer_id": 999999}, "customer_id"),
    ({"lat": 91.0}, "lat"),
    ({"lat": None, "lon": 121.5}, "lat"),
    ({"lon": -180.5}, "lon"),
    ({"model": ""}, "model"),
    ({"serial_number": "   "}, "serial_number"),
    ({"usage": -1}, "usage"),
    ({"warranty_end": "2025-02-28"}, "warranty_end"),
], ids=["customer_id", "lat", "lat_alone", "lon", "model", "serial_number", "usage",
        "warranty_end"])
async def test_bad_equipment_is_422_naming_the_field(client: httpx.AsyncClient,
                                                     change: dict[str, Any],
                                                     field: str) -> None:
    sue = await login(client, "sue")
    body = {"customer_id": await _customer(client, sue), "serial_number": "LT-BAD-1",
            "model": "LT-HP250", "install_date": "2025-03-01", "lat": 31.2, "lon": 121.5}
    body.update(change)
    resp = await client.post("/api/v1/equipment", json=body, headers=sue)
    assert resp.status_code == 422, resp.text
    assert _named(resp, field), resp.text


async def test_patch_checks_the_warranty_and_coordinates(client: httpx.AsyncClient) -> None:
    sue = await login(client, "sue")
    eid = (await client.get("/api/v1/equipment", headers=sue)).json()["items"][0]["id"]
    one = (await client.get(f"/api/v1/equipment/{eid}", headers=sue)).json()
    assert one["install_date"] is not None
    resp = await client.patch(f"/api/v1/equipment/{eid}",
                              json={"warranty_end": "1999-01-01"}, headers=sue)
    assert resp.status_code == 422 and _named(resp, "warranty_end")
    resp = await client.patch(f"/api/v1/equipment/{eid}", json={"lat": 95}, headers=sue)
    assert resp.status_code == 422 and _named(resp, "lat")
    resp = await client.patch(f"/api/v1/equipment/{eid}", json={"usage": None}, headers=sue)
    assert resp.status_code == 422 and _named(resp, "usage")


async def test_schedules(client: httpx.AsyncClient) -> None:
    sue, alice = await login(client, "sue"), await login(client, "alice")
    resp = await client.post("/api/v1/maintenance_schedules", headers=sue, json={
        "name": "dishwasher yearly", "model": "LT-DW13", "every_months": 12,
        "lead_days": 21, "required_skills": ["washer", "washer"], "duration_min": 45})
    assert resp.status_code == 201, resp.text
    made = resp.json()
    assert made["required_skills"] == ["washer"] and made["active"] is True
    listed = (await client.get("/api/v1/maintenance_schedules", headers=alice)).json()
    assert made["id"] in [s["id"] for s in listed]
    assert (await client.post("/api/v1/maintenance_schedules", headers=alice, json={
        "name": "x", "model": "m", "every_months": 1})).status_code == 403
    for bad, field in [
            ({"name": "x", "every_months": 1}, "model"),
            ({"name": "x", "model": "m"}, "every_months"),
            ({"name": "x", "model": "m", "every_months": 1, "every_usage": 5}, "every_months"),
            ({"name": "x", "model": "m", "every_months": 0}, "every_months"),
            ({"name": "x", "model": "m", "every_usage": 10, "lead_days": -1}, "lead_days"),
            ({"name": "x", "customer_id": 999999, "every_months": 1}, "customer_id"),
            ({"name": "", "model": "m", "every_months": 1}, "name")]:
        resp = await client.post("/api/v1/maintenance_schedules", headers=sue, json=bad)
        assert resp.status_code == 422, (bad, resp.text)
        assert _named(resp, field), (bad, resp.text)


async def test_demo_equipment_and_schedule(client: httpx.AsyncClient) -> None:
    alice = await login(client, "alice")
    items = (await client.get("/api/v1/equipment", params={"limit": 200},
                              headers=alice)).json()["items"]
    assert len(items) >= 5
    assert {"LT-HP250", "LT-MDV160"} <= {e["model"] for e in items}
    assert all(e["lat"] is not None and e["region"] for e in items)
    schedules = (await client.get("/api/v1/maintenance_schedules", headers=alice)).json()
    assert any(s["model"] == "LT-HP250" and s["every_months"] == 3 for s in schedules)


async def test_the_job_engine_runs_the_generation_hourly(
        app_client: tuple[Any, httpx.AsyncClient]) -> None:
    app, client = app_client
    spec = app.state.services.jobs.periodics["maintenance_due"]
    assert spec.every_s == 3600
    await spec.fn()  # runs against the demo: creates what is due today, once
    await spec.fn()
    sue = await login(client, "sue")
    items = (await client.get("/api/v1/equipment", params={"limit": 200},
                              headers=sue)).json()["items"]
    seen: list[tuple[int, int, str]] = []
    for e in items:
        one = (await client.get(f"/api/v1/equipment/{e['id']}", headers=sue)).json()
        seen += [(e["id"], o["schedule_id"], o["due_on"]) for o in one["work_orders"]
                 if o["kind"] == "maintenance"]
    assert len(seen) == len(set(seen))
