"""Assignment inside a group: eligibility, methods, VIP to the most senior, and fairness
over many rounds (max − min ≤ 1 for equal members)."""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import replace

import pytest

from tickets.routing.assignment import WEIGHTS, Candidate, choose, load_of


def team() -> list[Candidate]:
    return [Candidate(i, f"agent{i}") for i in range(1, 6)]


def run(method: str, members: list[Candidate], rounds: int,
        priorities: list[str] | None = None) -> Counter[str]:
    """Assign ``rounds`` tickets, updating loads and turn numbers as the service would."""
    given: Counter[str] = Counter()
    by_id = {m.user_id: m for m in members}
    for n in range(1, rounds + 1):
        priority = priorities[n % len(priorities)] if priorities else "normal"
        choice = choose(method, by_id.values())
        assert choice.user_id is not None, choice.reason
        m = by_id[choice.user_id]
        by_id[m.user_id] = replace(m, load=m.load + WEIGHTS[priority],
                                   open_count=m.open_count + 1, last_assigned=n)
        given[m.username] += 1
    return given


@pytest.mark.parametrize("method", ["round_robin", "least_loaded"])
def test_equal_members_share_fairly_over_1000_assignments(method: str) -> None:
    given = run(method, team(), 1000)
    assert max(given.values()) - min(given.values()) <= 1, given


def test_least_loaded_weighs_priority() -> None:
    members = [Candidate(1, "a", load=load_of(["urgent", "urgent"]), open_count=2),
               Candidate(2, "b", load=load_of(["low", "low", "low"]), open_count=3)]
    assert choose("least_loaded", members).username == "b"  # 3 < 8 although more tickets
    assert choose("round_robin", [replace(members[0], last_assigned=5),
                                  replace(members[1], last_assigned=9)]).username == "a"


def test_who_cannot_take_work_gets_nothing() -> None:
    members = [Candidate(1, "paused", available=False), Candidate(2, "off", active=False),
               Candidate(3, "full", cap=2, open_count=2), Candidate(4, "free", load=50)]
    for method in ("round_robin", "least_loaded"):
        assert choose(method, members).username == "free"
    rounds = run("least_loaded", members, 200)
    assert set(rounds) == {"free"}


def test_skills_a_type_requires_must_all_be_held() -> None:
    members = [Candidate(1, "a", skills=frozenset({"refund"})),
               Candidate(2, "b", skills=frozenset({"refund", "en"}), load=10),
               Candidate(3, "c", skills=frozenset({"en"}))]
    need = frozenset({"refund", "en"})
    assert choose("least_loaded", members, required_skills=need).username == "b"
    none = choose("round_robin", members, required_skills=frozenset({"ko"}))
    assert none.user_id is None and "no member has the skills ko" in none.reason


def test_vip_goes_to_the_most_senior_available() -> None:
    members = [Candidate(1, "junior"), Candidate(2, "senior", seniority=9, load=20),
               Candidate(3, "elder", seniority=12, available=False)]
    pick = choose("least_loaded", members, vip=True, vip_to_senior=True)
    assert pick.username == "senior" and "most senior" in pick.reason
    assert choose("least_loaded", members, vip=False, vip_to_senior=True).username == "junior"
    assert choose("least_loaded", members, vip=True).username == "junior"


def test_manual_and_empty_groups_wait_with_a_reason() -> None:
    assert "by hand" in choose("manual", team()).reason
    assert "no members" in choose("least_loaded", []).reason
    paused = [Candidate(1, "a", available=False)]
    assert "paused or logged out" in choose("round_robin", paused).reason
    with pytest.raises(ValueError, match="unknown assignment method"):
        choose("random", team())


def test_the_choice_does_not_depend_on_member_order() -> None:
    members = [Candidate(i, f"m{i}", load=i % 3, last_assigned=i % 4) for i in range(1, 30)]
    first = choose("least_loaded", members)
    for _ in range(20):
        random.shuffle(members)
        assert choose("least_loaded", members) == first
