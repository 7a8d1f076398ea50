"""Merge and link over HTTP (both backends): the routes, their answers and errors, the
read-only merged ticket (409 naming the target), the relations on GET, and one
``ticket_updated`` (the catalogue's message) per changed ticket, after the commit."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import FastAPI

from tests.conftest import login
from tickets.bus import TOPIC_TICKETS
from tickets.messages import check


def _drain(sub: Any) -> list[dict[str, Any]]:
    """The ticket messages published so far (not the outbox's ``notification`` messages,
    which share the topic and arrive whenever its delivery loop runs: e.g. for the tickets
    the demo's maintenance schedule opens at start)."""
    out = []
    while not sub.queue.empty():
        item = sub.queue.get_nowait()
        if item is not None and item[1].get("type") != "notification":
            out.append(item[1])
    return out


async def _customer(client: httpx.AsyncClient, auth: dict[str, str], name: str,
                    language: str = "zh") -> int:
    r = await client.post("/api/v1/customers", headers=auth,
                          json={"name": name, "language": language})
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


async def _ticket(client: httpx.AsyncClient, auth: dict[str, str], title: str,
                  customer_id: int | None, **extra: Any) -> dict[str, Any]:
    r = await client.post("/api/v1/tickets", headers=auth,
                          json={"title": title, "customer_id": customer_id, **extra})
    assert r.status_code == 201, r.text
    return dict(r.json())


async def test_merge_over_http(app_client: tuple[FastAPI, httpx.AsyncClient]) -> None:
    app, client = app_client
    alice = await login(client, "alice")
    cust = await _customer(client, alice, "Ann Lee", "en")
    dup = await _ticket(client, alice, "dup", cust, assignee="alice")
    keep = await _ticket(client, alice, "keep", cust, assignee="alice")
    await client.post(f"/api/v1/tickets/{dup['id']}/comments", headers=alice,
                      json={"body": "see photo", "public": True})
    sub = app.state.services.bus.subscribe(TOPIC_TICKETS)
    try:
        r = await client.post(f"/api/v1/tickets/{dup['id']}/merge", headers=alice,
                              json={"into": keep["number"], "note": "duplicate"})
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["ticket"]["status"] == "closed"
        assert body["ticket"]["merged_into"] == keep["number"]
        assert body["ticket"]["allowed_status"] == []
        assert body["carried"] == {"comments": 1, "attachments": 0, "calls": 0}
        assert body["followed"] == [] and body["notice_comment_id"]
        sent = _drain(sub)
        assert [(m["type"], m["ticket"]["id"]) for m in sent] == [
            ("ticket_updated", dup["id"]), ("ticket_updated", keep["id"])]
        for message in sent:
            check(message)
    finally:
        await sub.close()
    target = (await client.get(f"/api/v1/tickets/{keep['id']}", headers=alice)).json()
    assert [m["number"] for m in target["merged"]] == [dup["number"]]
    comments = (await client.get(f"/api/v1/tickets/{keep['id']}/comments",
                                 headers=alice)).json()
    assert [(c["body"], c["merged_from_id"]) for c in comments] == [("see photo", dup["id"])]
    # read-only: 409 naming where the work goes on
    for method, path, kwargs in [
            ("PATCH", "", {"json": {"status": "in_progress"}}),
            ("POST", "/comments", {"json": {"body": "late"}}),
            ("POST", "/forward", {}),
            ("POST", "/merge", {"json": {"into": keep["id"]}})]:
        r = await client.request(method, f"/api/v1/tickets/{dup['id']}{path}", headers=alice,
                                 **kwargs)
        assert r.status_code == 409, (path, r.text)
        assert f"merged into {keep['number']}" in r.json()["detail"]
    other = await _ticket(client, alice, "other customer's", await _customer(client, alice, "B"))
    r = await client.post(f"/api/v1/tickets/{keep['id']}/merge", headers=alice,
                          json={"into": other["id"]})
    assert r.status_code == 409 and "force" in r.json()["detail"]
    for into, status in [("T-", 422), (0, 422), ("T-999999", 404), (keep["id"], 409)]:
        r = await client.post(f"/api/v1/tickets/{keep['id']}/merge", headers=alice,
                              json={"into": into})
        assert r.status_code == status, (into, r.text)
    wang = await login(client, "wang")
    r = await client.post(f"/api/v1/tickets/{keep['id']}/merge", headers=wang,
                          json={"into": other["id"]})
    assert r.status_code == 403


async def test_children_and_bulk_over_http(app_client: tuple[FastAPI, httpx.AsyncClient]
                                           ) -> None:
    app, client = app_client
    sue = await login(client, "sue")
    incident = await _ticket(client, sue, "batch E21", None)
    kids = [await _ticket(client, sue, f"E21 {i}", await _customer(client, sue, f"c{i}"),
                          assignee="alice" if i else None) for i in range(2)]
    for kid in kids:
        r = await client.post(f"/api/v1/tickets/{incident['id']}/children/{kid['id']}",
                              headers=sue)
        assert r.status_code == 200, r.text
    assert [c["number"] for c in r.json()["children"]] == [k["number"] for k in kids]
    child = (await client.get(f"/api/v1/tickets/{kids[0]['id']}", headers=sue)).json()
    assert child["parent"] == incident["number"]
    assert child["parent_ticket"]["number"] == incident["number"]
    r = await client.post(f"/api/v1/tickets/{kids[0]['id']}/children/{incident['id']}",
                          headers=sue)
    assert r.status_code == 409 and kids[0]["number"] in r.json()["detail"]
    sub = app.state.services.bus.subscribe(TOPIC_TICKETS)
    try:
        r = await client.post(f"/api/v1/tickets/{incident['id']}/children/bulk", headers=sue,
                              json={"action": "status", "status": "in_progress"})
        assert r.status_code == 200, r.text
        out = r.json()
        assert [a["number"] for a in out["applied"]] == [kids[1]["number"]]
        assert out["skipped"] == [{**{k: kids[0][k] for k in ("id", "number", "status",
                                                               "customer_id", "assignee_id",
                                                               "title")},
                                   "reason": "cannot move to in_progress: the ticket has "
                                             "no assignee"}]
        assert {m["ticket"]["id"] for m in _drain(sub)} == {incident["id"], kids[1]["id"]}
    finally:
        await sub.close()
    for body in ({"action": "reply"}, {"action": "status"}, {"action": "explode"}):
        r = await client.post(f"/api/v1/tickets/{incident['id']}/children/bulk", headers=sue,
                              json=body)
        assert r.status_code == 422, body
    r = await client.delete(f"/api/v1/tickets/{incident['id']}/children/{kids[0]['id']}",
                            headers=sue)
    assert r.status_code == 200 and [c["id"] for c in r.json()["children"]] == [kids[1]["id"]]
    eric = await login(client, "eric")
    r = await client.delete(f"/api/v1/tickets/{incident['id']}/children/{kids[1]['id']}",
                            headers=eric)
    assert r.status_code == 403
