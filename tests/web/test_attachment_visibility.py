"""Customers see public material only: attachments (list, download) and history.

The finding: on their own ticket a customer listed and downloaded an attachment staff had
uploaded for internal use, and read the history events of private comments with staff ids.
On SQLite and PostgreSQL (``client`` runs the app on each).
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import sqlalchemy as sa
from alembic import command
from sqlalchemy.ext.asyncio import create_async_engine

from tests.conftest import DbMaker, login
from tickets import service
from web.migrate import alembic_config
from web.settings import to_async_url

PNG = b"\x89PNG\r\n\x1a\n" + b"0" * 64


async def _upload(client: httpx.AsyncClient, h: dict[str, str], tid: int, name: str,
                  public: bool | None = None) -> dict[str, Any]:
    data = {} if public is None else {"public": "true" if public else "false"}
    r = await client.post(f"/api/v1/tickets/{tid}/attachments", headers=h, data=data,
                          files={"file": (name, PNG, "image/png")})
    assert r.status_code == 201, r.text
    return dict(r.json())


async def test_customer_sees_only_public_attachments_and_history(
        client: httpx.AsyncClient) -> None:
    wang, alice = await login(client, "wang"), await login(client, "alice")
    me = (await client.get("/api/v1/auth/me", headers=wang)).json()
    r = await client.post("/api/v1/tickets", headers=wang,
                          json={"title": "热水器漏水", "description": "楼下也湿了"})
    assert r.status_code == 201, r.text
    tid = r.json()["id"]
    mine = await _upload(client, wang, tid, "photo.png", public=False)  # customers: public
    internal = await _upload(client, alice, tid, "internal-notes.png")  # staff default
    shown = await _upload(client, alice, tid, "manual.png", public=True)
    assert (mine["public"], internal["public"], shown["public"]) == (True, False, True)
    for body, public in (("客户住址门锁密码 4711", False), ("我们明天上门", True)):
        r = await client.post(f"/api/v1/tickets/{tid}/comments", headers=alice,
                              json={"body": body, "public": public})
        assert r.status_code == 201

    # Staff see everything.
    names = [a["filename"] for a in (await client.get(
        f"/api/v1/tickets/{tid}/attachments", headers=alice)).json()]
    assert names == ["photo.png", "internal-notes.png", "manual.png"]
    # The customer: public ones only; the internal one is a 404, like a missing one.
    listed = (await client.get(f"/api/v1/tickets/{tid}/attachments", headers=wang)).json()
    assert [a["filename"] for a in listed] == ["photo.png", "manual.png"]
    url = f"/api/v1/tickets/{tid}/attachments/{internal['id']}"
    assert (await client.get(url, headers=wang)).status_code == 404
    assert (await client.get(url, headers=alice)).status_code == 200
    got = await client.get(f"/api/v1/tickets/{tid}/attachments/{shown['id']}", headers=wang)
    assert got.status_code == 200 and got.content == PNG

    staff_hist = (await client.get(f"/api/v1/tickets/{tid}/history", headers=alice)).json()
    alice_id = (await client.get("/api/v1/auth/me", headers=alice)).json()["id"]
    assert any(e["actor_id"] == alice_id for e in staff_hist)
    assert [e["data"]["public"] for e in staff_hist if e["kind"] == "commented"] == [False, True]
    hist = (await client.get(f"/api/v1/tickets/{tid}/history", headers=wang)).json()
    kinds = [e["kind"] for e in hist]
    assert kinds == ["created", "attachment_added", "attachment_added", "commented"]
    assert [e["data"].get("attachment_id") for e in hist
            if e["kind"] == "attachment_added"] == [mine["id"], shown["id"]]
    assert {e["actor"] for e in hist} == {"you", "staff"}
    assert all(e["actor_id"] in (None, me["id"]) for e in hist)
    assert all(e["actor_id"] is None for e in hist if e["actor"] == "staff")
    assert not any("assignee_id" in e["data"] or "group_id" in e["data"] for e in hist)

    # Staff publish the internal one: the customer now sees it and its history.
    patch = f"/api/v1/tickets/{tid}/attachments/{internal['id']}"
    assert (await client.patch(patch, headers=wang, json={"public": True})).status_code == 403
    assert (await client.patch(patch, headers=alice, json={"public": "maybe"})).status_code == 422
    r = await client.patch(patch, headers=alice, json={"public": True})
    assert r.status_code == 200 and r.json()["public"] is True
    assert (await client.get(url, headers=wang)).status_code == 200
    hist = (await client.get(f"/api/v1/tickets/{tid}/history", headers=wang)).json()
    assert [e["kind"] for e in hist][-1] == "attachment_visibility"
    # And back to internal: gone again, with its history.
    r = await client.patch(patch, headers=alice, json={"public": False})
    assert r.status_code == 200 and r.json()["public"] is False
    assert (await client.get(url, headers=wang)).status_code == 404
    hist = (await client.get(f"/api/v1/tickets/{tid}/history", headers=wang)).json()
    assert internal["id"] not in [e["data"].get("attachment_id") for e in hist]
    r = await client.patch(f"/api/v1/tickets/{tid}/attachments/999999", headers=alice,
                           json={"public": True})
    assert r.status_code == 404


def test_event_is_public_rule() -> None:
    pub = {3}
    assert not service.event_is_public("commented", {"public": False}, pub)
    assert service.event_is_public("commented", {"public": True}, pub)
    assert service.event_is_public("attachment_added", {"attachment_id": 3}, pub)
    assert not service.event_is_public("attachment_visibility", {"attachment_id": 4}, pub)
    assert not service.event_is_public("call_linked", {"call_id": "pbx1:1.1"}, pub)
    assert service.event_is_public("status_changed", {"status": {"to": "resolved"}}, pub)


async def test_migration_keeps_customer_uploads_public_and_makes_staff_ones_internal(
        new_db: DbMaker) -> None:
    url = await new_db(demo=True)
    config = alembic_config(url)
    await asyncio.to_thread(command.downgrade, config, "0004")
    engine = create_async_engine(to_async_url(url))
    try:
        async with engine.begin() as c:
            users = dict((await c.execute(sa.text(
                "SELECT role, min(id) FROM users GROUP BY role"))).all())
            tid = (await c.execute(sa.text("SELECT min(id) FROM tickets"))).scalar_one()
            for who in ("customer", "agent"):
                await c.execute(sa.text(
                    "INSERT INTO attachments (ticket_id, filename, content_type, size, sha256,"
                    " storage_key, uploaded_by_id, created_at) VALUES (:t, :f, 'image/png', 1,"
                    " 'x', 'k', :u, CURRENT_TIMESTAMP)"), {"t": tid, "f": who, "u": users[who]})
        await asyncio.to_thread(command.upgrade, config, "head")
        async with engine.begin() as c:
            rows = dict((await c.execute(sa.text(
                "SELECT filename, public FROM attachments"))).all())
        assert {k: bool(v) for k, v in rows.items()} == {"customer": True, "agent": False}
    finally:
        await engine.dispose()
