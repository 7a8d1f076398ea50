"""Routing over HTTP on both backends: rules on creation (in order, stopping where told, in
the history), assignment inside a group (VIP to the most senior, skills, turns, presence),
flows forward and back, the dry run, and the errors that name what is wrong."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.conftest import login

PW = "copper-kettle-91"
VIP_REFUND = {"all": [{"field": "customer.tier", "op": "eq", "value": "vip"},
                      {"field": "type", "op": "eq", "value": "refund"},
                      {"field": "channel", "op": "eq", "value": "phone"}]}


async def _user(client: httpx.AsyncClient, admin: dict[str, str], name: str,
                **extra: Any) -> int:
    r = await client.post("/api/v1/users", headers=admin, json={
        "username": name, "password": PW, "role": "agent", **extra})
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


async def _finance(client: httpx.AsyncClient, admin: dict[str, str],
                   method: str = "least_loaded") -> dict[str, int]:
    """财务组 with three agents: ann (seniority 2), ben (9, extension 6102), cai (5)."""
    ids = {"ann": await _user(client, admin, "ann", seniority=2, extension="6101"),
           "ben": await _user(client, admin, "ben", seniority=9, extension="6102"),
           "cai": await _user(client, admin, "cai", seniority=5, extension="6103")}
    r = await client.post("/api/v1/groups", headers=admin, json={
        "key": "finance", "name": "Finance", "name_zh": "财务组", "queue": "finance",
        "member_ids": list(ids.values()), "assignment": method, "vip_to_senior": True})
    assert r.status_code == 201, r.text
    ids["group"] = r.json()["id"]
    return ids


async def _rule(client: httpx.AsyncClient, admin: dict[str, str], name: str,
                conditions: dict[str, Any], actions: list[dict[str, Any]],
                **extra: Any) -> dict[str, Any]:
    r = await client.post("/api/v1/routing/rules", headers=admin, json={
        "name": name, "conditions": conditions, "actions": actions, **extra})
    assert r.status_code == 201, r.text
    return dict(r.json())


async def _history(client: httpx.AsyncClient, h: dict[str, str], tid: int) -> list[dict]:
    return list((await client.get(f"/api/v1/tickets/{tid}/history", headers=h)).json())


async def _vip(client: httpx.AsyncClient, h: dict[str, str]) -> int:
    found = (await client.get("/api/v1/customers", headers=h, params={"q": "陈志强"})).json()
    return int(found["items"][0]["id"] if "items" in found else found[0]["id"])


async def test_a_vip_refund_from_the_phone_lands_on_the_most_senior_available(
        app_client: tuple[FastAPI, httpx.AsyncClient]) -> None:
    app, client = app_client
    admin, alice = await login(client, "admin"), await login(client, "alice")
    ids = await _finance(client, admin)
    await _rule(client, admin, "VIP refunds", VIP_REFUND,
                [{"kind": "set_group", "value": "finance"},
                 {"kind": "add_tags", "value": ["vip"]}], stop=True)
    await _rule(client, admin, "never reached", {"all": []},
                [{"kind": "set_priority", "value": "low"}])
    vip = await _vip(client, alice)
    body = {"title": "退款", "type": "refund", "fields": {"reason": "late"},
            "customer_id": vip, "channel": "phone"}
    t = (await client.post("/api/v1/tickets", headers=alice, json=body)).json()
    assert (t["group_id"], t["assignee_id"], t["status"]) == (ids["group"], ids["ben"],
                                                              "assigned")
    assert t["tags"] == ["vip"] and t["priority"] == "high"  # the second rule never ran
    kinds = [(e["kind"], e["data"].get("rule")) for e in await _history(client, alice, t["id"])]
    assert kinds == [("created", None), ("rule_applied", "VIP refunds"),
                     ("auto_assigned", None)]

    # ben pauses in the finance queue: the next most senior (cai) gets the next one
    app.state.services.router.presence = lambda q: {"6101": "available", "6102": "paused",
                                                    "6103": "in_call"} if q == "finance" else None
    t2 = (await client.post("/api/v1/tickets", headers=alice, json=body)).json()
    assert t2["assignee_id"] == ids["cai"]
    # a standard customer's refund is not the VIP rule's
    t3 = (await client.post("/api/v1/tickets", headers=alice, json={
        **body, "customer_id": None})).json()
    assert t3["group_id"] != ids["group"]


async def test_a_hand_set_assignee_wins_and_the_history_says_what_was_skipped(
        client: httpx.AsyncClient) -> None:
    admin, alice = await login(client, "admin"), await login(client, "alice")
    await _finance(client, admin)
    await _rule(client, admin, "all to finance", {"all": []},
                [{"kind": "set_group", "value": "finance"},
                 {"kind": "set_assignee", "value": "ann"}])
    t = (await client.post("/api/v1/tickets", headers=alice, json={
        "title": "mine", "assignee": "alice"})).json()
    me = (await client.get("/api/v1/auth/me", headers=alice)).json()["id"]
    assert t["assignee_id"] == me
    fired = next(e for e in await _history(client, alice, t["id"]) if e["kind"] == "rule_applied")
    assert {"field": "assignee", "from": "alice", "to": "ann", "skipped": "set by hand"} in \
        fired["data"]["changes"]


async def test_round_robin_is_fair_and_skills_and_caps_are_respected(
        client: httpx.AsyncClient) -> None:
    admin, alice = await login(client, "admin"), await login(client, "alice")
    ids = await _finance(client, admin, method="round_robin")
    await _rule(client, admin, "to finance", {"field": "title", "op": "contains_any",
                                              "value": ["发票", "invoice"]},
                [{"kind": "set_group", "value": "finance"}])
    given: Counter[int] = Counter()
    for n in range(30):
        t = (await client.post("/api/v1/tickets", headers=alice, json={
            "title": f"invoice {n}" if n % 2 else f"开发票 {n}"})).json()
        given[t["assignee_id"]] += 1
    assert given == {ids["ann"]: 10, ids["ben"]: 10, ids["cai"]: 10}

    # a type that needs a skill only cai has; a cap on cai's open tickets
    r = await client.post("/api/v1/ticket-types", headers=admin, json={
        "key": "vat", "name": "VAT invoice", "required_skills": ["tax"]})
    assert r.status_code == 201, r.text
    r = await client.patch(f"/api/v1/users/{ids['cai']}", headers=admin, json={
        "skills": ["tax"], "max_open_tickets": 12})
    assert r.status_code == 200, r.text
    first = (await client.post("/api/v1/tickets", headers=alice, json={
        "title": "invoice vat", "type": "vat"})).json()
    second = (await client.post("/api/v1/tickets", headers=alice, json={
        "title": "invoice vat 2", "type": "vat"})).json()
    third = (await client.post("/api/v1/tickets", headers=alice, json={
        "title": "invoice vat 3", "type": "vat"})).json()
    assert first["assignee_id"] == second["assignee_id"] == ids["cai"]  # 11, 12 open
    assert third["assignee_id"] is None and third["group_id"] == ids["group"]  # cap reached
    waiting = [e for e in await _history(client, alice, third["id"])
               if e["kind"] == "assignment_waiting"]
    assert "waits in the group's queue" in waiting[0]["data"]["reason"]


async def test_the_turn_written_with_the_ticket_touches_nothing_else_of_the_agent(
        client: httpx.AsyncClient) -> None:
    """PostgreSQL writes the round-robin turn inside the ticket's INSERT; that UPDATE once
    also took the ticket's ``customer_id`` and ``created_at`` for the agent's own."""
    admin, alice = await login(client, "admin"), await login(client, "alice")
    ids = await _finance(client, admin, method="round_robin")
    await _rule(client, admin, "to finance", {"field": "title", "op": "contains_any",
                                              "value": ["invoice"]},
                [{"kind": "set_group", "value": "finance"}])
    customer = (await client.post("/api/v1/customers", headers=alice, json={
        "name": "周立", "phones": ["+8613911110000"]})).json()["id"]
    given = set()
    for n in range(3):
        t = (await client.post("/api/v1/tickets", headers=alice, json={
            "title": f"invoice {n}", "customer_id": customer})).json()
        given.add(t["assignee_id"])
    assert given == {ids["ann"], ids["ben"], ids["cai"]}  # the turns were written
    users = {u["id"]: u for u in (await client.get("/api/v1/users", headers=admin)).json()}
    for name in ("ann", "ben", "cai"):
        assert users[ids[name]]["customer_id"] is None, users[ids[name]]


async def test_a_disabled_agent_s_tickets_go_back_and_are_assigned_again(
        client: httpx.AsyncClient) -> None:
    admin, alice = await login(client, "admin"), await login(client, "alice")
    ids = await _finance(client, admin, method="least_loaded")
    await _rule(client, admin, "finance", {"all": []},
                [{"kind": "set_group", "value": "finance"}])
    mine = [(await client.post("/api/v1/tickets", headers=alice, json={
        "title": f"t{n}"})).json() for n in range(3)]
    held_by_ann = [t for t in mine if t["assignee_id"] == ids["ann"]]
    assert held_by_ann
    r = await client.patch(f"/api/v1/users/{ids['ann']}", headers=admin,
                           json={"is_active": False})
    assert r.status_code == 200, r.text
    for t in held_by_ann:
        now = (await client.get(f"/api/v1/tickets/{t['id']}", headers=alice)).json()
        assert now["assignee_id"] in (ids["ben"], ids["cai"])
        kinds = [e["kind"] for e in await _history(client, alice, t["id"])]
        assert kinds[-2:] == ["returned_to_pool", "auto_assigned"]


async def test_a_ticket_walks_its_flow_and_back_one_step(client: httpx.AsyncClient) -> None:
    admin, alice = await login(client, "admin"), await login(client, "alice")
    groups = {g["key"]: g["id"] for g in
              (await client.get("/api/v1/groups", headers=admin)).json()}
    r = await client.post("/api/v1/groups", headers=admin, json={
        "key": "quality", "name": "Quality", "name_zh": "质检部"})
    groups["quality"] = r.json()["id"]
    r = await client.patch("/api/v1/ticket-types/repair", headers=admin, json={
        "flow": ["hotline", "quality", "repair", "hotline"], "required_steps": [1]})
    assert r.status_code == 200, r.text
    t = (await client.post("/api/v1/tickets", headers=alice, json={
        "title": "洗衣机不转", "type": "repair", "fields": {"fault": "不转"}})).json()
    assert [s["group"] for s in t["flow"]] == ["hotline", "quality", "repair", "hotline"]
    assert t["flow"][1]["required"] and t["flow_step"] == 0
    url = f"/api/v1/tickets/{t['id']}/flow"
    skip = await client.post(url, headers=alice, json={"move": "to", "step": 3})
    assert skip.status_code == 409 and "quality" in skip.json()["detail"]
    walked = []
    for _ in range(3):
        t = (await client.post(url, headers=alice, json={"move": "forward"})).json()
        walked.append((t["flow_step"], t["group_id"]))
    assert walked == [(1, groups["quality"]), (2, groups["repair"]), (3, groups["hotline"])]
    end = await client.post(url, headers=alice, json={"move": "forward"})
    assert end.status_code == 409 and "last step" in end.json()["detail"]
    no_reason = await client.post(url, headers=alice, json={"move": "back"})
    assert no_reason.status_code == 422 and "note" in no_reason.json()["detail"]
    t = (await client.post(url, headers=alice, json={"move": "back",
                                                      "note": "质检未通过"})).json()
    assert (t["flow_step"], t["group_id"]) == (2, groups["repair"])
    last = (await _history(client, alice, t["id"]))[-1]
    assert last["kind"] == "returned" and last["data"]["note"] == "质检未通过"
    # editing the type's flow later does not move the ticket
    await client.patch("/api/v1/ticket-types/repair", headers=admin, json={"flow": ["hotline"],
                                                                          "required_steps": []})
    again = (await client.get(f"/api/v1/tickets/{t['id']}", headers=alice)).json()
    assert len(again["flow"]) == 4


async def test_dry_run_shows_what_would_fire_and_writes_nothing(
        client: httpx.AsyncClient) -> None:
    admin, sue = await login(client, "admin"), await login(client, "sue")
    ids = await _finance(client, admin)
    saved = await _rule(client, admin, "urgent words", {
        "field": "text", "op": "contains_any", "value": ["漏水", "leak"]},
        [{"kind": "set_priority", "value": "urgent"}])
    trial = {"name": "urgent to finance", "conditions": {
        "field": "priority", "op": "eq", "value": "urgent"},
        "actions": [{"kind": "set_group", "value": "finance"}]}
    r = await client.post("/api/v1/routing/dry-run", headers=sue, json={
        "rule": trial, "sample": {"title": "热水器漏水", "transcript": "一直 漏水"}})
    assert r.status_code == 200, r.text
    out = r.json()
    assert [f["rule_name"] for f in out["fired"]] == ["urgent words", "urgent to finance"]
    assert out["result"]["priority"] == "urgent" and out["result"]["group"] == "finance"
    assert out["assignment"]["assignee"] in ("ann", "ben", "cai")
    # nothing saved, nobody's turn taken
    rules = (await client.get("/api/v1/routing/rules", headers=sue)).json()
    assert [x["name"] for x in rules] == [saved["name"]]
    r = await client.post("/api/v1/routing/dry-run", headers=sue, json={
        "sample": {"title": "no match"}})
    assert r.json()["fired"] == [] and r.json()["assignment"] is None
    assert ids  # (the group exists for the trial rule's target)


@pytest.mark.parametrize(("body", "where"), [
    ({"conditions": {"field": "colour", "op": "eq", "value": "x"}},
     "conditions.field: unknown field 'colour'"),
    ({"conditions": {"all": [{"field": "priority", "op": "like", "value": "x"}]}},
     "conditions.all[0].op: unknown operator 'like'"),
    ({"actions": [{"kind": "set_group", "value": "nowhere"}]},
     "actions[0].value: unknown group 'nowhere'"),
    ({"actions": [{"kind": "teleport", "value": "x"}]}, "actions[0].kind: unknown action"),
    ({"actions": [{"kind": "set_assignee", "value": "wang"}]}, "unknown staff user 'wang'"),
])
async def test_a_bad_rule_is_a_422_naming_the_place(client: httpx.AsyncClient,
                                                    body: dict[str, Any], where: str) -> None:
    admin = await login(client, "admin")
    rule = {"name": "bad", "conditions": {"all": []},
            "actions": [{"kind": "add_tags", "value": ["x"]}], **body}
    r = await client.post("/api/v1/routing/rules", headers=admin, json=rule)
    assert r.status_code == 422 and where in r.json()["detail"], r.text


async def test_a_group_in_use_cannot_be_deleted_and_rules_are_reordered(
        client: httpx.AsyncClient) -> None:
    admin, alice = await login(client, "admin"), await login(client, "alice")
    ids = await _finance(client, admin)
    one = await _rule(client, admin, "one", {"all": []}, [{"kind": "set_group",
                                                          "value": "finance"}])
    two = await _rule(client, admin, "two", {"all": []}, [{"kind": "set_group",
                                                          "value": "hotline"}])
    r = await client.delete(f"/api/v1/groups/{ids['group']}", headers=admin)
    assert r.status_code == 409 and "rule 'one'" in r.json()["detail"]
    r = await client.delete("/api/v1/groups/1", headers=admin)
    assert r.status_code == 409 and "flow of ticket type" in r.json()["detail"]
    # order: two runs first now, so one (finance) has the last word
    t = (await client.post("/api/v1/tickets", headers=alice, json={"title": "a"})).json()
    assert t["group_id"] != ids["group"]
    r = await client.put("/api/v1/routing/rules-order", headers=admin,
                         json={"ids": [two["id"], one["id"]]})
    assert r.status_code == 200 and [x["name"] for x in r.json()] == ["two", "one"]
    t = (await client.post("/api/v1/tickets", headers=alice, json={"title": "b"})).json()
    assert t["group_id"] == ids["group"]
    r = await client.put("/api/v1/routing/rules-order", headers=admin, json={"ids": [one["id"]]})
    assert r.status_code == 422 and "every rule once" in r.json()["detail"]
    r = await client.patch(f"/api/v1/routing/rules/{one['id']}", headers=admin,
                           json={"enabled": False, "version": 1})
    assert r.status_code == 200 and r.json()["version"] == 2
    stale = await client.patch(f"/api/v1/routing/rules/{one['id']}", headers=admin,
                               json={"stop": True, "version": 1})
    assert stale.status_code == 409


async def test_rules_on_update_run_when_told(client: httpx.AsyncClient) -> None:
    admin, alice = await login(client, "admin"), await login(client, "alice")
    await _rule(client, admin, "complaints escalate", {
        "field": "type", "op": "eq", "value": "complaint"},
        [{"kind": "set_priority", "value": "urgent"}, {"kind": "add_tags",
                                                       "value": ["escalated"]}],
        triggers=["updated"])
    t = (await client.post("/api/v1/tickets", headers=alice, json={"title": "x"})).json()
    assert t["priority"] == "normal"  # not a creation rule
    r = await client.patch(f"/api/v1/tickets/{t['id']}", headers=alice,
                           json={"type": "complaint"})
    assert r.status_code == 200, r.text
    assert r.json()["priority"] == "urgent" and "escalated" in r.json()["tags"]
    # a priority the person sets in the same patch is theirs
    t = (await client.post("/api/v1/tickets", headers=alice, json={"title": "y"})).json()
    r = await client.patch(f"/api/v1/tickets/{t['id']}", headers=alice,
                           json={"type": "complaint", "priority": "low"})
    assert r.json()["priority"] == "low"


async def test_notify_reaches_the_named_consoles(
        app_client: tuple[FastAPI, httpx.AsyncClient]) -> None:
    app, client = app_client
    admin, alice = await login(client, "admin"), await login(client, "alice")
    await _rule(client, admin, "tell sue about complaints", {
        "field": "type", "op": "eq", "value": "complaint"},
        [{"kind": "notify", "value": ["sue"]}])
    bad = await client.post("/api/v1/routing/rules", headers=admin, json={
        "name": "tell a customer", "conditions": {"all": []},
        "actions": [{"kind": "notify", "value": ["wang"]}]})
    assert bad.status_code == 422 and "unknown staff user 'wang'" in bad.json()["detail"]
    sub = app.state.services.bus.subscribe("tickets")
    try:
        t = (await client.post("/api/v1/tickets", headers=alice, json={
            "title": "态度差", "type": "complaint"})).json()
        sue = (await client.get("/api/v1/auth/me", headers=await login(client, "sue"))).json()
        async def first_notice() -> dict[str, Any]:
            async for _topic, event in sub:
                if event.get("type") == "ticket_notice":
                    return dict(event)
            raise AssertionError("the subscription ended")
        notice = await asyncio.wait_for(first_notice(), 5)
        assert notice["user_ids"] == [sue["id"]] and notice["ticket"]["id"] == t["id"]
        assert notice["rules"] == ["tell sue about complaints"]
    finally:
        await sub.close()


async def test_a_rule_that_picks_a_department_on_the_flow_sets_the_step(
        client: httpx.AsyncClient) -> None:
    admin, alice = await login(client, "admin"), await login(client, "alice")
    await _rule(client, admin, "refunds skip the hotline", {
        "field": "type", "op": "eq", "value": "refund"},
        [{"kind": "set_group", "value": "after_sales"}])
    t = (await client.post("/api/v1/tickets", headers=alice, json={
        "title": "退款", "type": "refund", "fields": {"reason": "late"}})).json()
    assert [s["group"] for s in t["flow"]] == ["hotline", "after_sales"]
    assert t["flow_step"] == 1
