"""Routing: decisions per second and their latency; ticket creates with routing on vs off.

Run from the repository root (about two minutes):
    .venv/bin/python -m tests.bench.bench_routing [--decisions 20000] [--db pg|sqlite]
        [--seconds 15] [--no-http]

The site: 500 agents in 40 groups (12–13 each, every group assigning least-loaded or round
robin, VIP tickets to the most senior), 200 rules generated from a fixed seed — one to three
conditions each over type, priority, channel, customer tier, tags, keywords (zh and en),
time of day and weekday, joined by all/any; actions set a group, a priority or tags; a few
stop. Tickets to route are drawn from the same seed (types, priorities, channels, texts).

1. **Decision, in-process** (the issue's figure: p99 ≤ 2 ms for one decision, ≥ 2,000
   decisions/s on one core): ``rules.evaluate`` over the 200 compiled rules, then
   ``assignment.choose`` among the chosen group's members. Timed one by one
   (``perf_counter_ns``) in one thread: decisions/s = 1 / mean.
2. **Decision on the database** (``Router.route``: the rules from its per-process cache,
   the group's members with their open tickets — one statement — the choice and the turn
   written), on the benchmark's throwaway PostgreSQL (or SQLite), one at a time.
3. **Creates over HTTP, routing off vs on** (target: on ≤ 15 % slower): ``bench_create``'s
   load generator (``wrk``, concurrency 20) against one ``hotline serve``, first with no
   rules (the demo groups assign by hand: routing reads an empty cache), then — same
   database, a fresh server — with the 500 agents, 40 groups and 200 rules, where the
   benchmark's repair ticket is routed by a rule to a least-loaded group and assigned.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import shutil
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from sqlalchemy import insert, select  # noqa: E402

from tests.bench import bench_create  # noqa: E402
from tests.bench.common import machine, pct, stop_process, wait_http  # noqa: E402
from tests.support.servers import free_port  # noqa: E402
from tickets.db import make_engine, make_sessionmaker, utcnow  # noqa: E402
from tickets.models import Group, User, group_members  # noqa: E402
from tickets.routing.assignment import Candidate, choose  # noqa: E402
from tickets.routing.conditions import Facts, compile_condition  # noqa: E402
from tickets.routing.models import RoutingRule  # noqa: E402
from tickets.routing.rules import Routing, Rule, compile_actions, evaluate  # noqa: E402
from tickets.routing.service import Draft, Router, RuleBook  # noqa: E402
from web.settings import to_async_url  # noqa: E402

SEED = 7
AGENTS, GROUPS, RULES = 500, 40, 200
TYPES = ["refund", "repair", "delivery", "complaint", "account"]
WORDS = ["退款", "漏水", "不制冷", "黑屏", "噪音", "发票", "安装", "投诉", "催单", "会员",
         "refund", "leak", "noise", "invoice", "install", "broken", "late", "password"]
ZONE = ZoneInfo("Asia/Shanghai")
TARGET_P99_MS, TARGET_RATE, TARGET_SLOWER = 2.0, 2000.0, 0.15


def _leaf(rng: random.Random) -> dict[str, Any]:
    kind = rng.choice(["type", "priority", "channel", "tier", "text", "tags", "time", "day"])
    if kind == "type":
        return {"field": "type", "op": "in", "value": rng.sample(TYPES, rng.randint(1, 2))}
    if kind == "priority":
        return {"field": "priority", "op": "at_least", "value": rng.choice(["high", "urgent"])}
    if kind == "channel":
        return {"field": "channel", "op": "eq", "value": rng.choice(["phone", "email", "web"])}
    if kind == "tier":
        return {"field": "customer.tier", "op": "eq", "value": "vip"}
    if kind == "text":
        return {"field": "text", "op": "contains_any", "value": rng.sample(WORDS, 3)}
    if kind == "tags":
        return {"field": "tags", "op": "has_any", "value": rng.sample(["vip", "b2b", "x"], 1)}
    if kind == "time":
        start = rng.randint(0, 20)
        return {"field": "time_of_day", "op": "between",
                "value": [f"{start:02d}:00", f"{start + 3:02d}:30"]}
    return {"field": "weekday", "op": "in", "value": rng.sample(range(1, 8), 2)}


def rule_specs(rng: random.Random) -> list[dict[str, Any]]:
    """The 200 rules as stored: name, conditions, actions, stop."""
    specs = []
    for n in range(RULES):
        leaves = [_leaf(rng) for _ in range(rng.randint(1, 3))]
        cond = {rng.choice(["all", "any"]): leaves} if len(leaves) > 1 else leaves[0]
        action = rng.choice(["group", "group", "priority", "tags"])
        actions = ([{"kind": "set_group", "value": f"g{rng.randrange(GROUPS):02d}"}]
                   if action == "group" else
                   [{"kind": "set_priority", "value": rng.choice(["high", "urgent"])}]
                   if action == "priority" else [{"kind": "add_tags", "value": ["routed"]}])
        specs.append({"name": f"rule {n:03d}", "conditions": cond, "actions": actions,
                      "stop": rng.random() < 0.05})
    return specs


def facts_samples(rng: random.Random, n: int) -> list[Facts]:
    start = datetime(2026, 12, 1, tzinfo=ZONE)
    out = []
    for _ in range(n):
        out.append(Facts(
            now=start + timedelta(minutes=rng.randrange(7 * 24 * 60)),
            type=rng.choice(TYPES), priority=rng.choice(["low", "normal", "high", "urgent"]),
            channel=rng.choice(["phone", "email", "web"]),
            customer_tier=rng.choice(["vip", "standard", "standard"]),
            tags=frozenset(rng.sample(["vip", "b2b", "new"], rng.randint(0, 1))),
            title=f"{rng.choice(WORDS)} {rng.choice(WORDS)} 问题 problem",
            description="客户来电说 " + " ".join(rng.sample(WORDS, 4)),
            transcript=" ".join(rng.sample(WORDS, 5))))
    return out


def candidates_by_group(rng: random.Random) -> dict[str, list[Candidate]]:
    groups: dict[str, list[Candidate]] = {f"g{g:02d}": [] for g in range(GROUPS)}
    for a in range(AGENTS):
        groups[f"g{a % GROUPS:02d}"].append(Candidate(
            a + 1, f"agent{a:03d}", available=rng.random() > 0.15, load=rng.randrange(30),
            open_count=rng.randrange(15), cap=20, seniority=rng.randrange(10),
            last_assigned=rng.randrange(10**6)))
    return groups


def bench_decisions(count: int) -> tuple[float, float, float]:
    """Part 1; returns (decisions/s, median ms, p99 ms)."""
    rng = random.Random(SEED)
    rules = [Rule(i + 1, s["name"], compile_condition(s["conditions"]),
                  compile_actions(s["actions"]), stop=s["stop"], position=i + 1)
             for i, s in enumerate(rule_specs(rng))]
    members = candidates_by_group(rng)
    samples = facts_samples(rng, count)
    wall: list[float] = []
    cpu: list[float] = []
    fired = assigned = 0
    for facts in samples:
        t0, c0 = time.perf_counter_ns(), time.thread_time_ns()
        outcome = evaluate(rules, facts, Routing(priority=facts.priority))
        group = outcome.routing.group
        if group is not None:
            choice = choose("least_loaded", members[group], vip=facts.customer_tier == "vip",
                            vip_to_senior=True)
            assigned += choice.user_id is not None
        cpu.append((time.thread_time_ns() - c0) / 1e6)
        wall.append((time.perf_counter_ns() - t0) / 1e6)
        fired += len(outcome.fired)
    print(f"1. decision in-process ({RULES} rules, {AGENTS} agents in {GROUPS} groups, "
          f"{count} tickets; {fired / count:.1f} rules fired and {assigned / count:.0%} "
          f"assigned per ticket):")
    for label, times in (("wall clock", wall), ("CPU time of the thread", cpu)):
        print(f"   {label}: {1000 / statistics.fmean(times):,.0f} decisions/s, median "
              f"{statistics.median(times):.3f} ms, p99 {pct(times, 99):.3f} ms, max "
              f"{max(times):.3f} ms")
    # "on one core": the thread's CPU time, which another process's load does not stretch
    rate, median, p99 = 1000 / statistics.fmean(cpu), statistics.median(cpu), pct(cpu, 99)
    met = p99 <= TARGET_P99_MS and rate >= TARGET_RATE
    print(f"   target (CPU time, one core) p99 ≤ {TARGET_P99_MS} ms and ≥ {TARGET_RATE:,.0f}"
          f"/s: {'met' if met else 'MISSED'}")
    return rate, median, p99


async def seed_site(db_url: str) -> None:
    """500 agents, 40 groups and 200 rules into the database; rule 'bench route' sends the
    benchmark's repair tickets to g07 first."""
    rng = random.Random(SEED)
    engine = make_engine(to_async_url(db_url))
    try:
        async with engine.begin() as conn:
            now = utcnow()
            await conn.execute(insert(Group), [
                {"key": f"g{g:02d}", "name": f"Group {g}", "skills": [],
                 "assignment": "least_loaded" if g % 2 else "round_robin",
                 "vip_to_senior": True} for g in range(GROUPS)])
            await conn.execute(insert(User), [
                {"username": f"agent{a:03d}", "display_name": f"Agent {a}", "role": "agent",
                 "password_hash": "!", "locale": "zh", "skills": [], "is_active": True,
                 "seniority": rng.randrange(10), "created_at": now} for a in range(AGENTS)])
            groups = dict((await conn.execute(select(Group.key, Group.id))).all())
            users = dict((await conn.execute(select(User.username, User.id).where(
                User.username.like("agent%")))).all())
            await conn.execute(insert(group_members), [
                {"group_id": groups[f"g{a % GROUPS:02d}"], "user_id": users[f"agent{a:03d}"]}
                for a in range(AGENTS)])
            specs = [{"name": "bench route", "conditions": {
                "all": [{"field": "type", "op": "eq", "value": "repair"},
                        {"field": "text", "op": "contains_any", "value": ["spin", "不转"]}]},
                "actions": [{"kind": "set_group", "value": "g07"}], "stop": False},
                *rule_specs(rng)[: RULES - 1]]
            await conn.execute(insert(RoutingRule), [
                {"name": s["name"], "position": i + 1, "enabled": True, "stop": s["stop"],
                 "triggers": ["created"], "conditions": s["conditions"],
                 "actions": s["actions"], "version": 1, "created_at": now, "updated_at": now}
                for i, s in enumerate(specs)])
    finally:
        await engine.dispose()


async def bench_db_decisions(db_url: str, count: int) -> None:
    """Part 2: Router.route on the database, one ticket draft at a time."""
    rng = random.Random(SEED + 1)
    engine = make_engine(to_async_url(db_url))
    sessions = make_sessionmaker(engine)
    router = Router(RuleBook(ttl=3600))
    times = []
    try:
        for n in range(count + 50):
            draft = Draft(priority=rng.choice(["normal", "high"]), channel="phone",
                          type_key=rng.choice(TYPES), title=f"{rng.choice(WORDS)} spin",
                          description=" ".join(rng.sample(WORDS, 3)))
            async with sessions() as session, session.begin():
                t0 = time.perf_counter_ns()
                await router.route(session, draft)
                elapsed = (time.perf_counter_ns() - t0) / 1e6
            if n >= 50:  # the first ones warm the rule cache and the statement cache
                times.append(elapsed)
    finally:
        await engine.dispose()
    print(f"2. decision on the database (Router.route: cached rules, the group's members "
          f"and loads in one statement, the turn written; {count} tickets): median "
          f"{statistics.median(times):.2f} ms, p99 {pct(times, 99):.2f} ms")


def bench_http(args: argparse.Namespace, db_url: str, tmp: Path) -> None:
    """Part 3: creates/s with no rules, then with the site seeded."""
    results = []
    for label in ("routing off (no rules)", "routing on (200 rules, 40 groups)"):
        if results:
            asyncio.run(seed_site(db_url))
        port = free_port()
        server = bench_create.start_server(port, db_url, tmp, None)
        base = f"http://127.0.0.1:{port}"
        try:
            asyncio.run(wait_http(base + "/healthz"))
            body, headers = bench_create.hotline_request(base)
            results.append(bench_create.measure(base + "/api/v1/tickets", body, headers, args,
                                                server.pid, f"3. {label}"))
        finally:
            stop_process(server)
    off, on = (r.ok / r.seconds for r in results)
    slower = 1 - on / off
    print(f"3. routing on vs off: {on:.1f} / {off:.1f} creates/s = {slower:+.1%} slower "
          f"(target ≤ {TARGET_SLOWER:.0%}): {'met' if slower <= TARGET_SLOWER else 'MISSED'}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--decisions", type=int, default=20_000)
    parser.add_argument("--db-decisions", type=int, default=1000)
    parser.add_argument("--db", choices=("pg", "sqlite"), default="pg")
    parser.add_argument("--no-http", action="store_true", help="skip part 3")
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--warmup", type=float, default=3)
    parser.add_argument("--settle", type=float, default=60)
    args = parser.parse_args()
    args.profile = None
    print(machine())
    bench_decisions(args.decisions)
    tmp = Path(tempfile.mkdtemp(prefix="bench-routing-"))
    try:
        with bench_create.database(args.db, tmp) as db_url:
            if not args.no_http:
                bench_http(args, db_url, tmp)
            else:
                asyncio.run(seed_site(db_url))
            asyncio.run(bench_db_decisions(db_url, args.db_decisions))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
