"""The rule book's per-process cache on both backends: a change saved by another process
(no ``invalidate`` here) is seen after the TTL — added, disabled, moved — and unchanged
rules are not compiled again."""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert, update

from tests.conftest import DbMaker
from tickets.db import make_engine, make_sessionmaker, utcnow
from tickets.routing import service as routing_service
from tickets.routing.models import RoutingRule
from tickets.routing.service import RuleBook
from web.settings import to_async_url


def _rule(name: str, position: int) -> dict[str, Any]:
    now = utcnow()
    return {"name": name, "position": position, "enabled": True, "stop": False,
            "triggers": ["created"], "version": 1, "created_at": now, "updated_at": now,
            "conditions": {"field": "title", "op": "contains_any", "value": [name]},
            "actions": [{"kind": "add_tags", "value": [name]}]}


async def test_another_process_s_changes_are_seen_after_the_ttl(new_db: DbMaker,
                                                                monkeypatch: Any) -> None:
    engine = make_engine(to_async_url(await new_db(demo=False)))
    sm = make_sessionmaker(engine)
    book = RuleBook(ttl=0)
    compiled: list[str] = []
    real = routing_service.load_rule

    def counting(row: RoutingRule) -> Any:
        compiled.append(row.name)
        return real(row)

    monkeypatch.setattr(routing_service, "load_rule", counting)

    async def names() -> list[str]:
        async with sm() as s:
            return [r.rule.name for r in await book.rules(s, "created")]

    try:
        async with sm() as s, s.begin():
            await s.execute(insert(RoutingRule), [_rule("a", 1), _rule("b", 2)])
        assert await names() == ["a", "b"]
        assert await names() == ["a", "b"] and compiled == ["a", "b"]  # not again
        async with sm() as s, s.begin():  # another process reorders
            await s.execute(update(RoutingRule).where(RoutingRule.name == "a")
                            .values(position=2))
            await s.execute(update(RoutingRule).where(RoutingRule.name == "b")
                            .values(position=1))
        assert await names() == ["b", "a"]
        async with sm() as s, s.begin():  # ... disables one (a save: updated_at moves)
            await s.execute(update(RoutingRule).where(RoutingRule.name == "b")
                            .values(enabled=False, updated_at=utcnow()))
        assert await names() == ["a"]
        async with sm() as s, s.begin():  # ... adds one
            await s.execute(insert(RoutingRule), [_rule("c", 3)])
        assert await names() == ["a", "c"]
        async with sm() as s:
            assert await book.fields(s, "created") == frozenset({"title"})
    finally:
        await engine.dispose()
