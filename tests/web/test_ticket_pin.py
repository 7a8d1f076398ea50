"""The ticket PIN in the API: staff read it in the ticket's detail; the ticket's own
customer does not (they get it in their notifications), another customer gets a 404 that
says nothing; lists and creation answers never carry it. On SQLite and PostgreSQL."""

from __future__ import annotations

import httpx

from tests.conftest import login


async def test_only_staff_read_the_pin(client: httpx.AsyncClient) -> None:
    wang, alice = await login(client, "wang"), await login(client, "alice")
    r = await client.post("/api/v1/tickets", headers=wang, json={"title": "洗衣机不转"})
    assert r.status_code == 201, r.text
    own = r.json()
    assert "pin" not in own
    c = await client.post("/api/v1/customers", headers=alice,
                          json={"name": "Other", "phones": ["+8613987654321"]})
    assert c.status_code == 201, c.text
    r = await client.post("/api/v1/tickets", headers=alice,
                          json={"title": "someone else's", "customer_id": c.json()["id"]})
    assert r.status_code == 201, r.text
    other = r.json()
    assert other["customer_id"] != own["customer_id"]

    staff_view = (await client.get(f"/api/v1/tickets/{other['id']}", headers=alice)).json()
    pin = staff_view["pin"]
    assert isinstance(pin, str) and len(pin) == 6 and pin.isdigit()
    # the owner's own view: no PIN (it reaches them in their notifications)
    mine = await client.get(f"/api/v1/tickets/{own['id']}", headers=wang)
    assert mine.status_code == 200 and mine.json()["pin"] is None
    # another customer's ticket: 404, nothing of it
    r = await client.get(f"/api/v1/tickets/{other['id']}", headers=wang)
    assert r.status_code == 404 and pin not in r.text
    listed = (await client.get("/api/v1/tickets", headers=alice,
                               params={"limit": 200})).json()["items"]
    assert listed and all("pin" not in t for t in listed)
