"""Failed-login throttling: the pure counter (clock-driven), and the login endpoint."""

from __future__ import annotations

import asyncio

import httpx

from web.throttle import LoginThrottle


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_pair_slows_down_stepwise_and_the_window_forgets() -> None:
    clock = Clock()
    th = LoginThrottle(free_failures=3, base_delay_s=1, max_delay_s=8, window_s=600,
                       clock=clock)
    for _ in range(3):  # the free ones: typos cost nothing
        assert th.retry_after("Alice", "10.0.0.1") == 0
        th.failed("alice", "10.0.0.1")
    waits = []
    for _ in range(5):
        waits.append(th.retry_after("ALICE", "10.0.0.1"))  # any case
        clock.now += waits[-1]
        assert th.retry_after("alice", "10.0.0.1") == 0
        th.failed("alice", "10.0.0.1")
    assert waits == [1, 2, 4, 8, 8]  # doubling, capped at max_delay_s
    assert th.refused == 5
    clock.now += 600  # the window after the last failure: the pair starts afresh
    assert th.retry_after("alice", "10.0.0.1") == 0
    th.failed("alice", "10.0.0.1")
    assert th.retry_after("alice", "10.0.0.1") == 0


def test_a_guesser_does_not_lock_the_user_out_for_everyone() -> None:
    clock = Clock()
    th = LoginThrottle(free_failures=3, max_delay_s=300, clock=clock)
    for _ in range(10):  # a guesser at 10.6.6.6 against the supervisor
        clock.now += th.retry_after("sue", "10.6.6.6")
        th.failed("sue", "10.6.6.6")
    assert th.retry_after("sue", "10.6.6.6") > 60  # the guesser waits …
    assert th.retry_after("sue", "10.0.0.7") == 0  # … sue at her own desk does not
    assert th.retry_after("bob", "10.6.6.6") == 0  # nor others behind the guesser's address


def test_success_clears_the_pair() -> None:
    clock = Clock()
    th = LoginThrottle(free_failures=2, clock=clock)
    th.failed("alice", "10.0.0.9")
    th.failed("alice", "10.0.0.9")
    assert th.retry_after("alice", "10.0.0.9") > 0
    clock.now += 10
    th.succeeded("alice", "10.0.0.9")
    th.failed("alice", "10.0.0.9")  # a typo after a success is free again
    assert th.retry_after("alice", "10.0.0.9") == 0


def test_address_ceiling_bounds_a_sprayer_but_not_the_floors_known_users() -> None:
    clock = Clock()
    th = LoginThrottle(free_failures=3, per_address=5, window_s=60, clock=clock)
    th.succeeded("alice", "10.0.0.1")  # alice logged in from the call centre's NAT before
    for i in range(5):  # a sprayer behind the same NAT address: one guess per username
        assert th.retry_after(f"user{i}", "10.0.0.1") == 0
        th.failed(f"user{i}", "10.0.0.1")
        clock.now += 1
    assert th.retry_after("user9", "10.0.0.1") == 55  # until the first failure leaves
    assert th.retry_after("alice", "10.0.0.1") == 0  # a known pair is exempt
    assert th.known("Alice", "10.0.0.1") and not th.known("user0", "10.0.0.1")
    assert th.retry_after("user9", "10.0.0.2") == 0  # other addresses are not affected
    clock.now += 55
    assert th.retry_after("user9", "10.0.0.1") == 0


def test_user_ceiling_bounds_many_addresses_but_not_the_users_own_desk() -> None:
    clock = Clock()
    th = LoginThrottle(free_failures=3, per_user=4, window_s=60, clock=clock)
    th.succeeded("sue", "10.0.0.7")  # her desk
    for i in range(4):  # a botnet: one guess per address
        assert th.retry_after("sue", f"198.51.100.{i}") == 0
        th.failed("SUE", f"198.51.100.{i}")
    assert th.retry_after("sue", "198.51.100.99") == 60  # a fifth address must wait
    assert th.retry_after("sue", "10.0.0.7") == 0  # her desk is not locked out
    assert th.retry_after("bob", "198.51.100.99") == 0  # nor other users


def test_memory_is_bounded() -> None:
    th = LoginThrottle(max_keys=100)
    for i in range(1000):
        th.failed(f"user{i}", f"10.0.{i // 256}.{i % 256}")
        th.succeeded(f"ok{i}", f"10.1.{i // 256}.{i % 256}")
    assert len(th._pairs) == len(th._addresses) == len(th._known) == len(th._users) == 100


async def test_login_endpoint_answers_429_with_retry_after(client: httpx.AsyncClient) -> None:
    for _ in range(3):  # the free failures (HOTLINE_LOGIN_FREE_FAILURES)
        resp = await client.post("/api/v1/auth/login",
                                 json={"username": "bob", "password": "guess"})
        assert resp.status_code == 401
    # Even the right password is refused now: the guesser must not learn it is right.
    resp = await client.post("/api/v1/auth/login", json={"username": "bob", "password": "demo"})
    assert resp.status_code == 429, resp.text
    assert "too many failed logins" in resp.json()["detail"]
    assert resp.headers["retry-after"] == "1"
    resp = await client.post("/api/v1/auth/login",
                             json={"username": "alice", "password": "demo"})
    assert resp.status_code == 200  # another user's valid login is not penalised
    await asyncio.sleep(1.05)  # the first step of the delay passes: bob may try again
    resp = await client.post("/api/v1/auth/login", json={"username": "bob", "password": "demo"})
    assert resp.status_code == 200, resp.text
    admin = await client.post("/api/v1/auth/login",
                              json={"username": "admin", "password": "demo"})
    metrics = await client.get("/metrics", headers={
        "Authorization": f"Bearer {admin.json()['access_token']}"})
    assert "hotline_login_refused_total 1.0" in metrics.text  # for the dashboards


async def test_concurrent_guesses_of_one_pair_get_only_the_free_hashes(
        client: httpx.AsyncClient) -> None:
    """Twelve guesses at once all pass the first check; the check is made again once a
    password-check slot is held, so only the free failures reach argon2."""
    resps = await asyncio.gather(*(client.post("/api/v1/auth/login", json={
        "username": "bob", "password": f"guess{i}"}) for i in range(12)))
    codes = sorted(r.status_code for r in resps)
    assert codes == [401] * 3 + [429] * 9, codes
