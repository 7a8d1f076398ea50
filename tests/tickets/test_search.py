"""The field report's instance over HTTP, on both backends: ``GET /api/v1/tickets?q=``
finds a caller's name and an error code written in the description or a comment, and
``q=%`` matches only the tickets with a real ``%`` (not every ticket)."""

from __future__ import annotations

import httpx

from tests.conftest import login


async def test_q_over_http(client: httpx.AsyncClient) -> None:
    h = await login(client, "alice")
    made = {}
    for key, body in [("desc", {"title": "空调报修", "description": "王经理来电，屏幕显示 E21"}),
                      ("other", {"title": "退款", "description": "nothing"}),
                      ("pct", {"title": "fan at 100% all night"})]:
        resp = await client.post("/api/v1/tickets", headers=h, json=body)
        assert resp.status_code == 201, resp.text
        made[key] = resp.json()["id"]
    resp = await client.post(f"/api/v1/tickets/{made['other']}/comments", headers=h,
                             json={"body": "customer quoted code e21 too"})
    assert resp.status_code == 201, resp.text

    async def ids(q: str) -> set[int]:
        resp = await client.get("/api/v1/tickets", headers=h, params={"q": q, "limit": 200})
        assert resp.status_code == 200, resp.text
        return {t["id"] for t in resp.json()["items"]}

    assert made["desc"] in await ids("王经理") and made["other"] not in await ids("王经理")
    assert {made["desc"], made["other"]} <= await ids("E21")
    everything = await ids("")
    percent, underscore = await ids("%"), await ids("_")
    assert made["pct"] in percent and len(percent) < len(everything)
    assert not {made["desc"], made["other"]} & (percent | underscore)
    assert made["pct"] not in underscore
