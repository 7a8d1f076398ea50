"""Failed-login throttling: the pure counter, and the login endpoint's 429."""

from __future__ import annotations

import httpx

from web.throttle import LoginThrottle


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_username_blocked_after_limit_until_the_window_slides() -> None:
    clock = Clock()
    th = LoginThrottle(max_failures=3, per_address=100, window_s=60, clock=clock)
    for _ in range(3):
        assert th.retry_after("Alice", "10.0.0.1") == 0
        th.failed("alice", "10.0.0.1")
        clock.now += 10
    assert th.retry_after("ALICE", "10.0.0.2") == 30  # any case, any address
    assert th.retry_after("bob", "10.0.0.1") == 0  # others are not affected
    clock.now += 30  # the first failure leaves the window
    assert th.retry_after("alice", "10.0.0.1") == 0
    th.failed("alice", None)
    assert th.retry_after("alice", None) == 10


def test_success_clears_the_username_and_addresses_have_their_own_limit() -> None:
    clock = Clock()
    th = LoginThrottle(max_failures=2, per_address=3, window_s=60, clock=clock)
    th.failed("alice", "10.0.0.9")
    th.succeeded("alice")
    th.failed("alice", "10.0.0.9")
    assert th.retry_after("alice", "10.0.0.9") == 0  # the count restarted at the success
    th.failed("bob", "10.0.0.9")
    th.failed("carol", "10.0.0.9")  # three usernames, one address: the address is blocked
    assert th.retry_after("dave", "10.0.0.9") == 60
    assert th.retry_after("dave", "10.0.0.10") == 0
    assert th.refused == 1


def test_memory_is_bounded() -> None:
    th = LoginThrottle(max_failures=2, per_address=2, window_s=60, max_keys=100)
    for i in range(1000):
        th.failed(f"user{i}", f"10.0.{i // 256}.{i % 256}")
    assert len(th._failures) == 100


async def test_login_endpoint_answers_429_with_retry_after(client: httpx.AsyncClient) -> None:
    for _ in range(10):
        resp = await client.post("/api/v1/auth/login",
                                 json={"username": "bob", "password": "guess"})
        assert resp.status_code == 401
    # Even the right password is refused now: the guesser must not learn it is right.
    resp = await client.post("/api/v1/auth/login", json={"username": "bob", "password": "demo"})
    assert resp.status_code == 429, resp.text
    assert "too many failed logins" in resp.json()["detail"]
    assert 0 < int(resp.headers["retry-after"]) <= 300
    resp = await client.post("/api/v1/auth/login",
                             json={"username": "alice", "password": "demo"})
    assert resp.status_code == 200  # other users log in as usual
    admin = await client.post("/api/v1/auth/login",
                              json={"username": "admin", "password": "demo"})
    metrics = await client.get("/metrics", headers={
        "Authorization": f"Bearer {admin.json()['access_token']}"})
    assert "hotline_login_refused_total 1.0" in metrics.text  # for the dashboards
