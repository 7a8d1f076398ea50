"""A small dispatch world (no demo data: ids and figures are ours): a supervisor, an agent,
three engineers around Shanghai with skills, a customer, a ticket type needing ``hvac``."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dispatch import service as dispatch
from dispatch.models import EngineerProfile
from dispatch.schemas import WorkOrderIn
from tickets import service
from tickets.customers import create_customer
from tickets.models import TicketType, User
from tickets.schemas import CustomerIn, TicketIn

SITE = ZoneInfo("Asia/Shanghai")
#: a Tuesday, far from the tests' run dates (no time-of-day dependence)
DAY = datetime(2030, 1, 8, tzinfo=SITE)


def at(hour: int, minute: int = 0) -> datetime:
    return DAY.replace(hour=hour, minute=minute)


@dataclass
class World:
    sm: async_sessionmaker[AsyncSession]
    store: Path
    agent: service.Actor
    sup: service.Actor
    customer_id: int
    #: engineers by name: near (People's Square), mid (Pudong), far (Songjiang)
    eng: dict[str, int] = field(default_factory=dict)

    def actor(self, name: str) -> service.Actor:
        return service.Actor(id=self.eng[name], role="engineer")

    def ctx(self, *, max_bytes: int = 4096, resolve_ticket: bool = True) -> dispatch.Ctx:
        return dispatch.Ctx(store=self.store, max_bytes=max_bytes,
                            resolve_ticket=resolve_ticket, plan_time_limit_s=0.2)


BASES = {"near": (31.2304, 121.4737), "mid": (31.2200, 121.5440), "far": (31.0300, 121.2270)}


async def seed(sm: async_sessionmaker[AsyncSession], store: Path) -> World:
    async with sm() as s, s.begin():
        agent = User(username="agent1", role="agent", password_hash="!", display_name="A",
                     skills=[])
        sup = User(username="sup1", role="supervisor", password_hash="!", display_name="S")
        s.add_all([agent, sup])
        s.add(TicketType(key="fix", name="Fix", required_skills=["hvac"], flow=[]))
        customer = await create_customer(s, CustomerIn(
            name="王伟", phones=["138 0013 8000"], address="上海市黄浦区南京东路 1 号"), "CN")
        await s.flush()
        world = World(sm, store, service.Actor(id=agent.id, role="agent"),
                      service.Actor(id=sup.id, role="supervisor"), customer.id)
        for name, (lat, lon) in BASES.items():
            user = User(username=f"eng_{name}", role="engineer", password_hash="!",
                        display_name=name, skills=["hvac", "washer"])
            s.add(user)
            await s.flush()
            s.add(EngineerProfile(user_id=user.id, base_lat=lat, base_lon=lon,
                                  work_start_min=480, work_end_min=1080,
                                  work_days=[1, 2, 3, 4, 5, 6, 7], daily_capacity=8))
            world.eng[name] = user.id
    return world


async def new_ticket(w: World, title: str = "空调不制冷") -> int:
    async with w.sm() as s, s.begin():
        t = await service.create_ticket(s, TicketIn(title=title, customer_id=w.customer_id,
                                                    type="fix"), w.agent)
        return t.id


def order_in(**kw: object) -> WorkOrderIn:
    values: dict[str, object] = {"lat": 31.2310, "lon": 121.4740,
                                 "window_start": at(10).isoformat(),
                                 "window_end": at(12).isoformat()}
    values.update(kw)
    return WorkOrderIn.model_validate(values)


async def new_order(w: World, ticket_id: int | None = None, *, engineer: str | None = None,
                    **kw: object) -> int:
    tid = ticket_id or await new_ticket(w)
    async with w.sm() as s, s.begin():
        order = await dispatch.create(s, tid, order_in(**kw), w.agent, w.ctx())
        if engineer is not None:
            await dispatch.assign(s, order.id, w.agent, w.ctx(), engineer_id=w.eng[engineer])
        return order.id
