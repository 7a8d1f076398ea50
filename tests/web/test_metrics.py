"""The request timer (web.metrics.RequestTimer): same metric, same labels as before."""

from __future__ import annotations

import re

import httpx

from tests.conftest import login


def count(text: str, method: str, route: str, status: str) -> float:
    pattern = (rf'^hotline_http_request_seconds_count\{{method="{method}",'
               rf'route="{re.escape(route)}",status="{status}"\}} (\S+)$')
    found = re.search(pattern, text, re.M)
    return float(found.group(1)) if found else 0.0


async def test_requests_are_timed_by_route_template_and_status(
        client: httpx.AsyncClient) -> None:
    sue = await login(client, "sue")  # a supervisor may read /metrics
    tickets = (await client.get("/api/v1/tickets?limit=1", headers=sue)).json()["items"]
    tid = tickets[0]["id"]
    for _ in range(2):
        assert (await client.get(f"/api/v1/tickets/{tid}", headers=sue)).status_code == 200
    assert (await client.get("/api/v1/tickets/999999", headers=sue)).status_code == 404
    assert (await client.get("/no/such/page")).status_code == 404
    resp = await client.post("/api/v1/tickets", headers=sue, json={"title": "timed"})
    assert resp.status_code == 201
    text = (await client.get("/metrics", headers=sue)).text
    assert count(text, "GET", "/api/v1/tickets/{ticket_id}", "200") == 2  # no ids in labels
    assert count(text, "GET", "/api/v1/tickets/{ticket_id}", "404") == 1
    assert count(text, "GET", "unmatched", "404") == 1
    assert count(text, "POST", "/api/v1/tickets", "201") == 1
    assert f"/api/v1/tickets/{tid}\"" not in text
    assert 'hotline_http_request_seconds_bucket{le="0.002",method="GET"' in text
