"""Who owns a ticket, over HTTP: "assigned" needs a person, the status menu the server sends
(``allowed_status``) lists only moves it would accept, and tickets nobody owns can be listed
(``unassigned=true``) so none vanishes between "my tickets" and a group queue."""

from __future__ import annotations

import httpx

from tests.conftest import login


async def _patch(client: httpx.AsyncClient, h: dict[str, str], tid: int,
                 body: dict[str, object]) -> httpx.Response:
    return await client.patch(f"/api/v1/tickets/{tid}", headers=h, json=body)


async def test_assigned_needs_an_assignee_and_the_menu_says_so(
        client: httpx.AsyncClient) -> None:
    h = await login(client, "alice")
    ticket = (await client.post("/api/v1/tickets", headers=h,
                                json={"title": "一个组的工单", "group": "hotline"})).json()
    assert ticket["status"] == "new" and ticket["assignee_id"] is None
    assert ticket["allowed_status"] == ["cancelled", "resolved"]
    tid = ticket["id"]
    for refused in ("assigned", "in_progress"):
        resp = await _patch(client, h, tid, {"status": refused})
        assert resp.status_code == 409 and "no assignee" in resp.json()["detail"], refused
    resp = await _patch(client, h, tid, {"status": "pending_customer"})
    # The reason lists what this ticket can do now, as the menu does.
    assert resp.json()["detail"].endswith("allowed: cancelled, resolved")
    # Every move the menu offers is accepted; assigning someone makes it assigned.
    resp = await _patch(client, h, tid, {"assignee": "bob"})
    ticket = resp.json()
    assert resp.status_code == 200 and ticket["status"] == "assigned"
    assert "in_progress" in ticket["allowed_status"] and "assigned" not in ticket["allowed_status"]
    resp = await _patch(client, h, tid, {"status": "in_progress"})
    assert resp.status_code == 200
    # Taking the assignee away from an assigned ticket makes it new again, never
    # "assigned to nobody".
    other = (await client.post("/api/v1/tickets", headers=h,
                               json={"title": "t", "assignee": "alice"})).json()
    assert other["status"] == "assigned"
    back = (await _patch(client, h, other["id"], {"assignee": None})).json()
    assert back["status"] == "new" and back["assignee_id"] is None


async def test_every_offered_move_is_accepted(client: httpx.AsyncClient) -> None:
    h = await login(client, "alice")
    for body in ({"title": "a"}, {"title": "b", "assignee": "bob"},
                 {"title": "c", "group": "repair"}):
        ticket = (await client.post("/api/v1/tickets", headers=h, json=body)).json()
        for target in ticket["allowed_status"]:
            fresh = (await client.post("/api/v1/tickets", headers=h, json=body)).json()
            resp = await _patch(client, h, fresh["id"], {"status": target})
            assert resp.status_code == 200, (body, target, resp.text)


async def test_unassigned_lists_tickets_nobody_owns(client: httpx.AsyncClient) -> None:
    h = await login(client, "alice")
    orphan = (await client.post("/api/v1/tickets", headers=h, json={"title": "无人处理"})).json()
    assert orphan["group_id"] is None and orphan["assignee_id"] is None
    owned = (await client.post("/api/v1/tickets", headers=h,
                               json={"title": "有人处理", "assignee": "bob"})).json()
    page = (await client.get("/api/v1/tickets", headers=h,
                             params={"unassigned": "true", "limit": 200})).json()
    ids = {t["id"] for t in page["items"]}
    assert orphan["id"] in ids and owned["id"] not in ids
    assert all(t["assignee_id"] is None for t in page["items"])
    # Without a filter an agent sees every ticket, the orphan included.
    everything = (await client.get("/api/v1/tickets", headers=h,
                                   params={"q": "无人处理"})).json()
    assert [t["id"] for t in everything["items"]] == [orphan["id"]]
    bad = await client.get("/api/v1/tickets", headers=h, params={"unassigned": "maybe"})
    assert bad.status_code == 422 and "unassigned" in bad.text
