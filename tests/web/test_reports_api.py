"""The reports over HTTP, on the seeded set (tests/tickets/reports/seed.py) beside the demo
data: the contract's queue report shape, CSV (byte-order mark, Chinese names) and XLSX
(opened with openpyxl) downloads, filters by name, and 422s naming the parameter. Roles are
in tests/web/test_rbac_matrix.py; the figures themselves in tests/tickets/reports."""

from __future__ import annotations

import csv
import io
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from openpyxl import load_workbook

from tests.conftest import login
from tests.tickets.reports.seed import seed

PERIOD = {"from": "2026-03-02", "to": "2026-03-03"}


@pytest.fixture
async def api(app_client: tuple[FastAPI, httpx.AsyncClient]) -> tuple[httpx.AsyncClient,
                                                                      dict[str, str]]:
    app, client = app_client
    async with app.state.services.db() as s, s.begin():
        await seed(s)
    return client, await login(client, "sue")


async def get(api: Any, report: str, **params: str) -> httpx.Response:
    client, auth = api
    return await client.get(f"/api/v1/reports/{report}", params={**PERIOD, **params},
                            headers=auth)


async def test_reports_json_csv_xlsx(api: Any) -> None:
    r = await get(api, "queues", bucket="hour", group="rp_support")
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["from"], body["to"], body["bucket"]) == ("2026-03-02", "2026-03-03", "hour")
    first = body["rows"][0]
    assert set(first) >= {"bucket_start", "queue", "offered", "answered", "abandoned",
                          "short_abandoned", "answered_within_sl", "service_level", "asa_s",
                          "aht_s"}
    assert (first["bucket_start"], first["queue"], first["offered"], first["service_level"]) \
        == ("2026-03-02T09:00:00+08:00", "rp-support", 4, pytest.approx(1 / 3))
    assert {row["queue"] for row in body["rows"]} == {"rp-support"}  # the group's queue

    r = await get(api, "agents", group="rp_sales", format="csv")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/csv")
    assert r.headers["content-disposition"] == \
        'attachment; filename="hotline-agents-2026-03-02_2026-03-03.csv"'
    assert r.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert [(x["name"], x["calls_missed"], x["idle_s"]) for x in rows] == [("李本", "3", "")]

    r = await get(api, "tickets", format="xlsx")
    assert r.status_code == 200 and "xlsx" in r.headers["content-disposition"]
    book = load_workbook(io.BytesIO(r.content), read_only=True)
    assert book.sheetnames == ["by_day", "by_type", "by_channel", "total"]
    by_type = list(book["by_type"].iter_rows(values_only=True))
    assert by_type[0][:4] == ("type", "type_name", "type_name_zh", "created")
    assert ("rp_repair", "Repair", "维修", 4) in [row[:4] for row in by_type]
    total = list(book["total"].iter_rows(values_only=True))
    assert dict(zip(total[0], total[1], strict=False))["fcr_rate"] == 0.4  # csat: cut

    r = await get(api, "summary", type="rp_refund", channel="phone")
    assert r.json()["tickets"]["created"] == 1  # T7
    assert r.json()["calls"]["offered"] == 8


BAD = [
    ("tickets", {"from": "2026-03-04"}, "from"),
    ("queues", {"from": "2025-03-01"}, "to"),
    ("queues", {"from": "2026-01-01", "bucket": "hour"}, "bucket"),
    ("queues", {"bucket": "week"}, "bucket"),
    ("tickets", {"group": "nope"}, "group"),
    ("agents", {"agent": "wang"}, "agent"),  # a customer, not staff
    ("tickets", {"type": "nope"}, "type"),
    ("tickets", {"channel": "fax"}, "channel"),
    ("summary", {"format": "pdf"}, "format"),
    ("queues", {"from": "1999-12-31", "to": "2000-01-01"}, "from"),
    ("queues", {"sl_threshold_s": "0"}, "sl_threshold_s"),
]


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_bad_parameters_are_422_naming_them(api: Any) -> None:
    wrong = []
    for report, params, field in BAD:
        r = await get(api, report, **params)
        if r.status_code != 422 or r.json()["detail"][0]["loc"] != ["query", field]:
            wrong.append(f"{report} {params}: {r.status_code} {r.text[:200]}")
    assert not wrong, "\n".join(wrong)
    client, auth = api
    # One end only, at the calendar's edge: the default 7-day span must not overflow (500).
    for params, field in (({"to": "0001-01-03"}, "to"), ({"from": "9999-12-30"}, "from")):
        r = await client.get("/api/v1/reports/queues", params=params, headers=auth)
        assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["query", field], \
            (params, r.status_code, r.text[:200])
    r = await client.get("/api/v1/reports/queues", headers=await login(client, "alice"))
    assert r.status_code == 403  # agents may not read reports
