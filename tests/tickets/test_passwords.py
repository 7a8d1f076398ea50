"""Password gate (bounded argon2) and the password policy."""

from __future__ import annotations

import asyncio
import threading

import pytest
from argon2 import PasswordHasher
from pydantic import ValidationError

from tickets.passwords import GateBusy, PasswordGate, password_problem, verify_password
from tickets.schemas import DEMO_SEED, UserIn, UserPatch

# Cheap parameters: the stored hash decides the cost of verifying it.
_cheap = PasswordHasher(time_cost=1, memory_cost=64, parallelism=1)


async def test_gate_bounds_running_and_waiting_and_refuses_the_rest() -> None:
    gate = PasswordGate(workers=1, max_waiting=1, max_wait_s=0.3)
    release = asyncio.Event()
    entered: list[int] = []

    async def hold(i: int) -> None:
        async with gate.slot():
            entered.append(i)
            await release.wait()

    first = asyncio.create_task(hold(1))
    await asyncio.sleep(0)
    second = asyncio.create_task(hold(2))  # waits for the one slot
    await asyncio.sleep(0)
    assert gate.waiting == 1
    with pytest.raises(GateBusy) as busy:  # the queue is full: refused at once
        async with gate.slot():
            pass
    assert busy.value.retry_after_s == 1
    with pytest.raises(GateBusy):  # the waiter gives up after max_wait_s
        await second
    assert entered == [1] and gate.waiting == 0 and gate.refused == 2
    release.set()
    await first
    await hold(3)  # the slot is free again
    assert entered == [1, 3]


async def test_known_users_are_served_before_a_spray_and_past_its_queue_limit() -> None:
    gate = PasswordGate(workers=1, max_waiting=2, max_wait_s=2)
    order: list[str] = []
    release = asyncio.Event()

    async def login(name: str, priority: bool = False) -> None:
        async with gate.slot(priority=priority):
            order.append(name)
            if name == "first":
                await release.wait()

    tasks = [asyncio.create_task(login("first"))]
    await asyncio.sleep(0)
    tasks += [asyncio.create_task(login(f"guess{i}")) for i in range(2)]
    await asyncio.sleep(0)
    with pytest.raises(GateBusy):  # the others' queue is full …
        await login("guess9")
    tasks.append(asyncio.create_task(login("alice", priority=True)))  # … not for her
    await asyncio.sleep(0)
    assert gate.waiting == 3
    release.set()
    await asyncio.gather(*tasks)
    assert order == ["first", "alice", "guess0", "guess1"]
    assert gate.waiting == 0 and gate._free == 1


async def test_a_waiter_that_goes_away_leaves_no_slot_behind() -> None:
    gate = PasswordGate(workers=1, max_waiting=5, max_wait_s=5)
    async with gate.slot():
        waiter = asyncio.create_task(gate.slot().__aenter__())
        await asyncio.sleep(0)
        waiter.cancel()  # the client hung up while waiting
        with pytest.raises(asyncio.CancelledError):
            await waiter
    assert gate._free == 1 and gate.waiting == 0
    async with gate.slot():
        assert gate._free == 0


async def test_gate_verifies_on_its_own_low_priority_threads() -> None:
    gate = PasswordGate(workers=2)
    stored = _cheap.hash("right horse battery")
    names: list[str] = []

    def spy(h: str | None, p: str) -> bool:
        names.append(threading.current_thread().name)
        return verify_password(h, p)

    try:
        async with gate.slot():
            assert await gate.verify(stored, "right horse battery")
            assert not await gate.verify(stored, "wrong")
            assert not await gate.verify(None, "anything")  # unknown user: still a check
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(gate._executor(), spy, stored, "x")
        assert names and names[0].startswith("argon2")
        assert await gate.hash("a b c") != "a b c"
    finally:
        gate.close()


@pytest.mark.parametrize("password", ["1234", "demo", "pass1234", "password123!",
                                      "qwertyuiop", "aaaaaaaaaaaa", "1234567890"])
def test_weak_passwords_are_refused(password: str) -> None:
    assert password_problem(password) is not None


def test_the_policy_names_the_field_and_the_rule() -> None:
    with pytest.raises(ValidationError) as exc:
        UserIn(username="carol", password="demo", role="agent")
    err = exc.value.errors()[0]
    assert err["loc"] == ("password",)
    assert "at least 10 characters" in err["msg"]
    with pytest.raises(ValidationError) as exc:
        UserPatch(password="password123!")
    assert "too easy to guess" in exc.value.errors()[0]["msg"]
    with pytest.raises(ValidationError):  # leaning on the username
        UserIn(username="carolwang", password="carolwang1", role="agent")
    assert UserIn(username="carol", password="tram-lantern-47", role="agent")
    assert UserPatch(password="tram-lantern-47").password == "tram-lantern-47"


def test_only_the_demo_seed_context_waives_the_policy() -> None:
    data = {"username": "alice", "password": "demo", "role": "agent"}
    assert UserIn.model_validate(data, context={DEMO_SEED: True}).password == "demo"
    with pytest.raises(ValidationError):
        UserIn.model_validate(data, context={"other": True})
