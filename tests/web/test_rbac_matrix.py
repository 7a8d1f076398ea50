"""Every route × every role → the status class it must give (SQLite, in-process).

The routes come from the app itself (``web.edge.flat_routes``), so a route added without
a row here fails ``test_every_route_has_a_row`` by name. To add one, copy a row of a route
with the same audience into :data:`MATRIX`.

Roles, in column order: anonymous, customer (wang), agent (alice), engineer (eric),
supervisor (sue), admin. Classes:

* ``ok``   the role got past authorization: 2xx, or the route's own answer to the probe
           (the probe sends an empty body, so 400/409/410/422 count as "let in");
* ``401``  not logged in;  ``403``  logged in, wrong role;
* ``404``  logged in, but the record is not visible to this role (the ids are chosen so
           staff see them and the customer and the engineer do not);
* ``303``  a page sending an anonymous browser to the login form.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi.routing import APIRoute, APIWebSocketRoute

from tests.conftest import login
from web.edge import flat_routes

pytestmark = pytest.mark.parametrize("backend", ["sqlite"])

ROLES = ("anonymous", "customer", "agent", "engineer", "supervisor", "admin")
USERS = {"customer": "wang", "agent": "alice", "engineer": "eric", "supervisor": "sue",
         "admin": "admin"}

A = ("401", "ok", "ok", "ok", "ok", "ok")          # any login
STAFF = ("401", "403", "ok", "403", "ok", "ok")    # agent, supervisor, admin
MGR = ("401", "403", "403", "403", "ok", "ok")     # supervisor, admin
ADMIN = ("401", "403", "403", "403", "403", "ok")
VISIBLE = ("401", "404", "ok", "404", "ok", "ok")  # a ticket/customer not theirs
STAFF_VISIBLE = ("401", "403", "ok", "404", "ok", "ok")  # staff-only on a ticket
PUBLIC = ("ok",) * 6

#: "METHOD /path" → expected class per role (ROLES order).
MATRIX: dict[str, tuple[str, ...]] = {
    # health, docs (the test app is not a demo install: docs need a login)
    "GET /healthz": PUBLIC,
    "GET /readyz": PUBLIC,
    "GET /metrics": MGR,
    "GET /docs": ("303", "ok", "ok", "ok", "ok", "ok"),
    "GET /openapi.json": A,
    "GET /docs/assets/{name}": PUBLIC,
    # pages
    "GET /": ("303",) * 6,
    "GET /login": PUBLIC,
    "GET /console": ("303", "403", "ok", "403", "ok", "ok"),
    "GET /wallboard": ("303", "403", "403", "403", "ok", "ok"),
    "GET /admin/routing": ("303", "403", "403", "403", "ok", "ok"),
    "GET /admin/sla": ("303", "403", "403", "403", "ok", "ok"),
    "GET /reports": ("303", "403", "403", "403", "ok", "ok"),
    "GET /dispatch": ("303", "403", "403", "403", "ok", "ok"),
    "GET /admin/notifications": ("303", "403", "403", "403", "403", "ok"),
    "GET /engineer-sw.js": PUBLIC,
    "GET /engineer": ("303", "403", "403", "ok", "ok", "ok"),
    "GET /portal": ("303", "ok", "403", "403", "403", "ok"),
    "GET /static/{rel}": PUBLIC,
    # auth
    "POST /api/v1/auth/login": PUBLIC,
    "POST /api/v1/auth/logout": PUBLIC,
    "POST /api/v1/auth/logout-all": A,
    "GET /api/v1/auth/me": A,
    # customers and orders
    "POST /api/v1/customers": STAFF,
    "GET /api/v1/customers": STAFF,
    "GET /api/v1/customers/{customer_id}": VISIBLE,
    "PATCH /api/v1/customers/{customer_id}": STAFF,
    "POST /api/v1/orders": STAFF,
    "GET /api/v1/orders/{number}": VISIBLE,
    # tickets
    "POST /api/v1/tickets": A,
    "GET /api/v1/tickets": A,
    "GET /api/v1/tickets/{ticket_id}": VISIBLE,
    "PATCH /api/v1/tickets/{ticket_id}": ("401", "403", "ok", "404", "ok", "ok"),
    "POST /api/v1/tickets/{ticket_id}/forward": STAFF,
    "POST /api/v1/tickets/{ticket_id}/flow": STAFF,
    "GET /api/v1/tickets/{ticket_id}/history": VISIBLE,
    "GET /api/v1/tickets/{ticket_id}/comments": VISIBLE,
    "POST /api/v1/tickets/{ticket_id}/comments": VISIBLE,
    "POST /api/v1/tickets/{ticket_id}/calls": STAFF,
    "GET /api/v1/tickets/{ticket_id}/attachments": VISIBLE,
    "POST /api/v1/tickets/{ticket_id}/attachments": VISIBLE,
    "GET /api/v1/tickets/{ticket_id}/attachments/{attachment_id}": VISIBLE,
    "PATCH /api/v1/tickets/{ticket_id}/attachments/{attachment_id}": STAFF,
    # merge and link (the probe's empty merge/bulk body is a 422; linking runs for real)
    "POST /api/v1/tickets/{ticket_id}/merge": STAFF,
    "POST /api/v1/tickets/{ticket_id}/children/bulk": STAFF,
    "POST /api/v1/tickets/{ticket_id}/children/{child_id}": STAFF,
    "DELETE /api/v1/tickets/{ticket_id}/children/{child_id}": STAFF,
    # admin
    "GET /api/v1/users": STAFF,
    "POST /api/v1/users": ADMIN,
    "PATCH /api/v1/users/{user_id}": ADMIN,
    "GET /api/v1/groups": STAFF,
    "POST /api/v1/groups": MGR,
    "PATCH /api/v1/groups/{group_id}": MGR,
    "DELETE /api/v1/groups/{group_id}": ADMIN,
    "GET /api/v1/ticket-types": STAFF,
    "POST /api/v1/ticket-types": MGR,
    "PATCH /api/v1/ticket-types/{key}": MGR,
    # routing rules: admins edit, supervisors read and try them
    "GET /api/v1/routing/rules": MGR,
    "POST /api/v1/routing/rules": ADMIN,
    "GET /api/v1/routing/rules/{rule_id}": MGR,
    "PATCH /api/v1/routing/rules/{rule_id}": ADMIN,
    "DELETE /api/v1/routing/rules/{rule_id}": ADMIN,
    "PUT /api/v1/routing/rules-order": ADMIN,
    "POST /api/v1/routing/dry-run": MGR,
    # SLA: admins edit calendars and policies, supervisors read them and order 督办
    "GET /api/v1/admin/sla/calendars": MGR,
    "POST /api/v1/admin/sla/calendars": ADMIN,
    "PATCH /api/v1/admin/sla/calendars/{calendar_id}": ADMIN,
    "DELETE /api/v1/admin/sla/calendars/{calendar_id}": ADMIN,  # in use: 409
    "GET /api/v1/admin/sla/policies": MGR,
    "POST /api/v1/admin/sla/policies": ADMIN,
    "PATCH /api/v1/admin/sla/policies/{policy_id}": ADMIN,
    "DELETE /api/v1/admin/sla/policies/{policy_id}": ADMIN,
    # staff, and the ticket's assignee of any staff role (an engineer: only theirs)
    "GET /api/v1/tickets/{ticket_id}/sla": STAFF_VISIBLE,
    "GET /api/v1/tickets/{ticket_id}/supervision": STAFF_VISIBLE,
    "POST /api/v1/tickets/{ticket_id}/supervision": MGR,
    "POST /api/v1/tickets/{ticket_id}/supervision/{order_id}/cancel": MGR,
    # calls and the PBX (no PBX in this app: the actions answer 409, i.e. "ok" here)
    "GET /api/v1/calls": STAFF,
    "GET /api/v1/calls/live": STAFF,
    "GET /api/v1/queues": STAFF,
    "GET /api/v1/stats/live": MGR,
    "GET /api/v1/stats/trend": MGR,
    "POST /api/v1/calls/originate": STAFF,
    "POST /api/v1/calls/{call_id}/hangup": STAFF,
    "POST /api/v1/calls/{call_id}/transfer": STAFF,
    "POST /api/v1/agents/me/state": STAFF,
    "POST /api/v1/calls/{call_id}/spy": MGR,
    # the floor (web/api/floor.py): supervisors act on agents and abandoned calls
    "POST /api/v1/agents/{extension}/pause": MGR,
    "POST /api/v1/agents/{extension}/logout": MGR,
    "GET /api/v1/abandoned": MGR,
    "POST /api/v1/abandoned/{call_id}/callback": MGR,
    "POST /api/v1/abandoned/{call_id}/done": ("401", "403", "403", "403", "404", "404"),
    "GET /api/v1/wallboard/settings": MGR,
    "PUT /api/v1/wallboard/settings": MGR,
    "GET /api/v1/sla/at-risk": MGR,
    "GET /api/v1/pbx": A,
    "POST /api/v1/demo/calls": MGR,
    # knowledge base
    "GET /api/v1/kb/suggest": STAFF,
    "POST /api/v1/kb/articles": MGR,
    "GET /api/v1/kb/articles": STAFF,
    # notifications: everyone notified has mutes; the outbox and webhooks are the admin's
    "PATCH /api/v1/me": A,  # one's own locale (the probe's empty body: 422, nothing changed)
    "GET /api/v1/me/notification-preferences": ("401", "403", "ok", "ok", "ok", "ok"),
    "PUT /api/v1/me/notification-preferences": ("401", "403", "ok", "ok", "ok", "ok"),
    "GET /api/v1/admin/outbox": ADMIN,
    "POST /api/v1/admin/outbox/{message_id}/retry": ADMIN,
    "GET /api/v1/admin/webhooks": ADMIN,
    "POST /api/v1/admin/webhooks": ADMIN,
    "PATCH /api/v1/admin/webhooks/{hook_id}": ADMIN,
    "DELETE /api/v1/admin/webhooks/{hook_id}": ADMIN,
    "GET /api/v1/mail/messages": MGR,
    # reports (supervisors and admins)
    "GET /api/v1/reports/tickets": MGR,
    "GET /api/v1/reports/agents": MGR,
    "GET /api/v1/reports/queues": MGR,
    "GET /api/v1/reports/summary": MGR,
    # field dispatch: staff dispatch, an engineer sees and moves only their own orders
    "POST /api/v1/tickets/{ticket_id}/work_orders": STAFF,
    "GET /api/v1/tickets/{ticket_id}/work_orders": ("401", "404", "ok", "ok", "ok", "ok"),
    "GET /api/v1/work_orders": ("401", "404", "ok", "ok", "ok", "ok"),
    "GET /api/v1/work_orders/{work_order_id}": VISIBLE,
    "PATCH /api/v1/work_orders/{work_order_id}": STAFF,
    "POST /api/v1/work_orders/{work_order_id}/call": VISIBLE,
    "GET /api/v1/work_orders/{work_order_id}/candidates": STAFF,
    "POST /api/v1/work_orders/{work_order_id}/assign": STAFF,
    "POST /api/v1/work_orders/{work_order_id}/status": VISIBLE,
    "POST /api/v1/work_orders/{work_order_id}/decline": ("401", "403", "403", "404", "403",
                                                          "403"),
    "POST /api/v1/work_orders/{work_order_id}/report": VISIBLE,
    "POST /api/v1/work_orders/{work_order_id}/photos": VISIBLE,
    "POST /api/v1/work_orders/{work_order_id}/signature": VISIBLE,
    "GET /api/v1/work_orders/{work_order_id}/files/{file_id}": VISIBLE,
    "POST /api/v1/dispatch/sync": ("401", "403", "403", "ok", "403", "403"),
    "GET /api/v1/dispatch/board": MGR,
    "GET /api/v1/engineers": STAFF,
    "PUT /api/v1/engineers/{engineer_id}": MGR,
    "POST /api/v1/engineers/me/position": ("401", "403", "403", "ok", "403", "403"),
    "POST /api/v1/engineers/{engineer_id}/duty": MGR,  # another engineer's (liu's)
    "GET /api/v1/engineers/{engineer_id}/plan": ("401", "403", "ok", "403", "ok", "ok"),
    "POST /api/v1/engineers/{engineer_id}/plan": ("401", "403", "ok", "403", "ok", "ok"),
    # equipment and preventive maintenance (web/api/equipment.py): staff read, managers write
    "POST /api/v1/equipment": MGR,
    "GET /api/v1/equipment": STAFF,
    "GET /api/v1/equipment/{equipment_id}": STAFF,
    "PATCH /api/v1/equipment/{equipment_id}": MGR,
    "POST /api/v1/maintenance_schedules": MGR,
    "GET /api/v1/maintenance_schedules": STAFF,
}
#: A 1×1 PNG as a data URL (work-order photos and signatures).
PNG_URL = ("data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk"
           "+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==")
#: Valid bodies where the record's visibility is checked after the body's validation
#: (anything else gets ``{}``: the roles and the login are checked before the body).
PROBES: dict[str, dict[str, Any]] = {
    "POST /api/v1/tickets/{ticket_id}/comments": {"json": {"body": "rbac probe"}},
    "POST /api/v1/tickets/{ticket_id}/attachments": {
        "files": {"file": ("probe.txt", b"rbac probe", "text/plain")}},
    "POST /api/v1/work_orders/{work_order_id}/status": {
        "json": {"status": "cancelled", "reason": "rbac probe"}},
    "POST /api/v1/work_orders/{work_order_id}/photos": {"json": {"data_url": PNG_URL}},
    "POST /api/v1/work_orders/{work_order_id}/signature": {"json": {"data_url": PNG_URL}},
    "POST /api/v1/dispatch/sync": {"json": {"ops": []}},
    "POST /api/v1/engineers/me/position": {"json": {"lat": 31.2, "lon": 121.4}},
    "POST /api/v1/engineers/{engineer_id}/duty": {"json": {"on_duty": True}},
}
#: Routes the HTTP matrix cannot probe, with where they are covered instead.
ELSEWHERE = {
    "WS /ws": "tests/web/test_ws.py (anonymous and forged tokens: 1008) and the websocket "
              "visibility matrix",
}


def app_routes(app: Any) -> list[str]:
    keys: list[str] = []
    for route in flat_routes(app):
        if isinstance(route, APIWebSocketRoute):
            keys.append(f"WS {route.path}")
        elif isinstance(route, APIRoute):
            keys += [f"{m} {route.path_format}" for m in sorted(route.methods - {"HEAD"})]
    return keys


def test_every_route_has_a_row(app_client: tuple[Any, httpx.AsyncClient]) -> None:
    routes = set(app_routes(app_client[0]))
    missing = sorted(routes - MATRIX.keys() - ELSEWHERE.keys())
    assert not missing, ("routes without a row in tests/web/test_rbac_matrix.py MATRIX "
                         f"(add one per route: expected class per role): {missing}")
    stale = sorted((MATRIX.keys() | ELSEWHERE.keys()) - routes)
    assert not stale, f"rows for routes that no longer exist: {stale}"


async def _ids(client: httpx.AsyncClient, admin: dict[str, str]) -> dict[str, str]:
    """Records staff see and neither wang (customer) nor eric (engineer) may."""
    me = {u: (await client.get("/api/v1/auth/me", headers=await login(client, u))).json()
          for u in ("wang", "eric", "alice")}
    tickets = (await client.get("/api/v1/tickets", params={"limit": 200},
                                headers=admin)).json()["items"]
    hidden = [t for t in tickets if t["customer_id"] not in (None, me["wang"]["customer_id"])
              and t["assignee_id"] != me["eric"]["id"]]
    other, child = hidden[0], hidden[1]
    customer = other["customer_id"]
    detail = (await client.get(f"/api/v1/customers/{customer}", headers=admin)).json()
    files = {"file": ("a.txt", b"rbac", "text/plain")}
    attachment = (await client.post(f"/api/v1/tickets/{other['id']}/attachments",
                                    headers=admin, files=files)).json()
    rule = (await client.post("/api/v1/routing/rules", headers=admin, json={
        "name": "rbac probe", "conditions": {"all": []},
        "actions": [{"kind": "add_tags", "value": ["probe"]}], "enabled": False})).json()
    group = other["group_id"] or 1  # a group tickets use: deleting it is refused (409)
    hook = (await client.post("/api/v1/admin/webhooks", headers=admin, json={
        "url": "http://127.0.0.1:9/probe", "secret": "rbac-probe-secret-0001"})).json()
    await client.post(f"/api/v1/tickets/{other['id']}/comments", headers=admin,
                      json={"body": "rbac outbox probe", "public": True})
    message = (await client.get("/api/v1/admin/outbox", headers=admin)).json()["items"][0]
    order = (await client.post(f"/api/v1/tickets/{other['id']}/supervision", headers=admin,
                               json={"note": "rbac probe",
                                     "deadline_at": "2099-01-01T00:00:00Z"})).json()
    engineers = (await client.get("/api/v1/engineers", headers=admin)).json()
    liu = next(e for e in engineers if e["username"] == "liu")  # not eric: his is 404/403
    work_order = (await client.post(f"/api/v1/tickets/{other['id']}/work_orders",
                                    headers=admin, json={"lat": 31.23, "lon": 121.47})).json()
    await client.post(f"/api/v1/work_orders/{work_order['id']}/assign", headers=admin,
                      json={"engineer_id": liu["id"]})
    photo = (await client.post(f"/api/v1/work_orders/{work_order['id']}/photos",
                               headers=admin, json={"data_url": PNG_URL})).json()
    return {"ticket_id": str(other["id"]), "child_id": str(child["id"]),
            "work_order_id": str(work_order["id"]), "file_id": str(photo["files"][0]["id"]),
            "engineer_id": str(liu["id"]),
            "customer_id": str(customer),
            "rule_id": str(rule["id"]), "group_id": str(group), "key": "refund",
            "order_id": str(order["id"]), "calendar_id": "1", "policy_id": "4",
            "number": detail["orders"][0]["number"] if detail["orders"] else "none",
            "attachment_id": str(attachment["id"]), "user_id": str(me["alice"]["id"]),
            "call_id": "rbac-call", "extension": "6001", "name": "favicon.png", "rel": "js/api.js",
            "hook_id": str(hook["id"]), "message_id": str(message["id"]),
            "equipment_id": "1"}  # the demo's first equipment


def _class(status: int) -> str:
    if status in (401, 403, 404, 303):
        return str(status)
    if status < 400 or status in (400, 409, 410, 422):
        return "ok"
    return f"unexpected {status}"


async def test_every_route_and_role(app_client: tuple[Any, httpx.AsyncClient]) -> None:
    app, client = app_client
    admin = await login(client, "admin")
    ids = await _ids(client, admin)
    headers = {role: await login(client, user) for role, user in USERS.items()}
    headers["anonymous"] = {}
    wrong: list[str] = []
    # Logging out everywhere voids every token of the user, and a DELETE removes the probe's
    # record: those rows go last.
    for key in sorted(app_routes(app),
                      key=lambda k: ("/auth/logout" in k, k.startswith("DELETE"))):
        if key in ELSEWHERE:
            continue
        method, path = key.split(" ", 1)
        url = path.format(**{k: ids[k] for k in ids if "{" + k + "}" in path})
        for role, expected in zip(ROLES, MATRIX[key], strict=True):
            auth = headers[role]
            if path.startswith("/api/v1/auth/logout") and role != "anonymous":
                auth = await login(client, USERS[role])  # logging out voids the token
            client.cookies.clear()
            if not path.startswith("/api/") and auth:  # pages read the session cookie
                token = auth["Authorization"].removeprefix("Bearer ")
                auth = {"Cookie": f"hotline_token={token}"}
            body = PROBES.get(key, {"json": {}} if method in ("POST", "PATCH") else {})
            r = await client.request(method, url, headers=auth, follow_redirects=False, **body)
            got = _class(r.status_code)
            if got != expected:
                wrong.append(f"{key} as {role}: expected {expected}, got {r.status_code} "
                             f"{r.text[:120]}")
    assert not wrong, "\n".join(wrong)
