"""One ticket visibility rule: the SQL form (``visible``, lists) and the pure predicate
(``may_see_ticket``, used by ``get_ticket`` and by the websocket hub) agree for every role,
on SQLite and PostgreSQL, over the demo's tickets (customers, engineers' and nobody's)."""

from __future__ import annotations

from sqlalchemy import select

from tests.conftest import DbMaker
from tickets import service
from tickets.db import make_engine, make_sessionmaker
from tickets.models import Ticket, User
from web.settings import to_async_url


async def test_sql_and_pure_rule_agree_for_every_user(new_db: DbMaker) -> None:
    engine = make_engine(to_async_url(await new_db()))
    sm = make_sessionmaker(engine)
    try:
        async with sm() as s:
            users = list((await s.scalars(select(User))).all())
            tickets = list((await s.scalars(select(Ticket))).all())
            actors = [service.Actor(id=u.id, role=u.role, customer_id=u.customer_id)
                      for u in users]
            actors.append(service.Actor(id=999_999, role="customer", customer_id=None))
            eric = next(u.id for u in users if u.username == "eric")
            assert {a.role for a in actors} == {"admin", "agent", "supervisor", "engineer",
                                                "customer"}
            for actor in actors:
                listed = set((await s.scalars(
                    service.visible(select(Ticket.id), actor))).all())
                pure = {t.id for t in tickets if service.may_see_ticket(
                    actor, customer_id=t.customer_id, assignee_id=t.assignee_id)}
                assert listed == pure, actor
                everything = {t.id for t in tickets}
                assert (pure == everything) if actor.is_staff else (pure < everything)
                if actor.role == "engineer" and actor.id == eric:
                    assert pure, "the demo's eric has tickets: the rule must find them"
    finally:
        await engine.dispose()
