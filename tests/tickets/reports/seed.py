"""A small data set for the report tests, with figures computed by hand in the tests.

Site zone Asia/Shanghai (UTC+8); the period is 2026-03-02..2026-03-03 local. Names carry an
``rp_`` prefix so the set can sit beside the demo data (the API and browser tests).

Tickets (created, local time; T8, T9 outside the period; T10 merged):
  T1  03-02 00:30  rp_repair phone  rp_ann  support  resolved +2 h, 1st resp +10 min, call c1
  T2  03-02 10:00  rp_repair phone  rp_ann  support  closed +1 d, 1st resp +30 min, calls c2+c3
  T3  03-02 11:00  rp_refund email  rp_ben  sales    resolved +4 h, reopened once
  T4  03-02 23:59:59 rp_refund web  rp_ben  sales    in progress, reopened, breached, 1st +1 h
  T5  03-03 00:00  rp_repair phone  -       -        new, breached
  T6  03-03 09:00  rp_repair phone  rp_ann  support  resolved +30 min, 1st +5 min, 1 call-back
  T7  03-03 10:00  rp_refund phone  rp_ann  -        cancelled
  T11 03-03 11:00  (no type) phone  rp_ben  -        resolved +1 h, call c9 and 1 call-back
Calls (inbound unless said; wait / talk seconds; local start):
  C1  support 03-02 09:00:10 answered by 7001 (rang 7002, 7001) wait 12 talk 100
  C2  support 03-02 09:20    answered 7001 wait 30 talk 200
  C3  support 03-02 09:40    abandoned wait 3 (short), rang 7001
  C4  support 03-02 09:50    abandoned wait 40, rang 7001, 7002
  C5  support 03-02 10:10    answered 7002 wait 20 talk 60
  C6  sales   03-03 00:30    answered 7002 then 7001 (last), wait 5 talk 300
  C7  sales   03-03 10:00    unanswered, ended (time-out) wait 60, rang 7002
  C8  outbound 03-02 12:00   (left out)
  C9  no queue 03-02 13:00   answered 7001 talk 50
  C10 support 03-01 23:00    (before the period)
  C11 support 03-03 13:00    answered 7001 wait 8, still talking (no talk time)
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from tickets.models import CallLog, Group, Ticket, TicketCall, TicketEvent, TicketType, User


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def local(text: str) -> datetime:
    """A Shanghai wall-clock time as UTC."""
    return utc(text) - timedelta(hours=8)


async def seed(session: AsyncSession) -> dict[str, Any]:
    """Insert the set (caller commits); returns the ids by name."""
    ann = User(username="rp_ann", display_name="Ann", role="agent", password_hash="x",
               extension="7001")
    ben = User(username="rp_ben", display_name="李本", role="agent", password_hash="x",
               extension="7002")
    sam = User(username="rp_sam", display_name="Sam", role="supervisor", password_hash="x")
    support = Group(key="rp_support", name="Support", queue="rp-support")
    sales = Group(key="rp_sales", name="Sales", queue="rp-sales")
    support.members.append(ann)
    sales.members.append(ben)
    repair = TicketType(key="rp_repair", name="Repair", name_zh="维修")
    refund = TicketType(key="rp_refund", name="Refund", name_zh="退款")
    session.add_all([ann, ben, sam, support, sales, repair, refund])
    await session.flush()

    def ticket(name: str, created: str, **kw: Any) -> Ticket:
        at = local(created)
        values: dict[str, Any] = {"title": f"rp {name}", "status": "new", "channel": "phone",
                                  "created_at": at, "updated_at": at, "reopen_count": 0}
        for key in ("first", "resolved"):
            if key in kw:
                offset = kw.pop(key)
                values["first_responded_at" if key == "first" else "resolved_at"] = \
                    at + offset
        values.update(kw)
        return Ticket(**values)

    h, m = timedelta(hours=1), timedelta(minutes=1)
    t = {
        "T1": ticket("T1", "2026-03-02 00:30", type_id=repair.id, assignee_id=ann.id,
                     group_id=support.id, status="resolved", resolved=2 * h, first=10 * m,
                     call_id="rp:c1"),
        "T2": ticket("T2", "2026-03-02 10:00", type_id=repair.id, assignee_id=ann.id,
                     group_id=support.id, status="closed", resolved=24 * h, first=30 * m,
                     call_id="rp:c2"),
        "T3": ticket("T3", "2026-03-02 11:00", type_id=refund.id, channel="email",
                     assignee_id=ben.id, group_id=sales.id, status="resolved",
                     resolved=4 * h, reopen_count=1),
        "T4": ticket("T4", "2026-03-02 23:59:59", type_id=refund.id, channel="web",
                     assignee_id=ben.id, group_id=sales.id, status="in_progress",
                     reopen_count=1, first=h, sla_breached_at=local("2026-03-03 08:00")),
        "T5": ticket("T5", "2026-03-03 00:00", type_id=repair.id,
                     sla_breached_at=local("2026-03-03 09:00")),
        "T6": ticket("T6", "2026-03-03 09:00", type_id=repair.id, assignee_id=ann.id,
                     group_id=support.id, status="resolved", resolved=30 * m, first=5 * m),
        "T7": ticket("T7", "2026-03-03 10:00", type_id=refund.id, assignee_id=ann.id,
                     status="cancelled"),
        "T8": ticket("T8", "2026-03-04 00:00", type_id=repair.id, assignee_id=ann.id),
        "T9": ticket("T9", "2026-03-01 23:59", type_id=repair.id, assignee_id=ann.id),
        "T11": ticket("T11", "2026-03-03 11:00", assignee_id=ben.id, status="resolved",
                      resolved=h, call_id="rp:c9"),
    }
    session.add_all(t.values())
    await session.flush()
    merged = ticket("T10", "2026-03-02 12:00", type_id=repair.id, status="closed",
                    resolved=h, merged_into_id=t["T1"].id)
    session.add(merged)
    await session.flush()
    t["T10"] = merged
    session.add_all([
        TicketCall(ticket_id=t["T1"].id, call_id="rp:c1"),  # its own call: not a 2nd contact
        TicketCall(ticket_id=t["T2"].id, call_id="rp:c3"),
        TicketEvent(ticket_id=t["T6"].id, kind="called_back", data={"to": "+8613800000000"},
                    at=local("2026-03-03 09:10")),
        TicketEvent(ticket_id=t["T11"].id, kind="called_back", data={"to": "+8613800000000"},
                    at=local("2026-03-03 11:10")),
        TicketEvent(ticket_id=t["T3"].id, kind="reopened", data={}, at=local("2026-03-02 16:00")),
        TicketEvent(ticket_id=t["T4"].id, kind="reopened", data={}, at=local("2026-03-03 07:00")),
    ])

    def call(name: str, start: str, queue: str | None, *, answered: bool = True,
             state: str | None = None, wait: float | None = None, talk: float | None = None,
             agents: tuple[str, ...] = (), rung: tuple[str, ...] = (),
             direction: str = "inbound", ended: bool = True) -> CallLog:
        at = local(start)
        answer = at + timedelta(seconds=wait or 0) if answered else None
        end = (answer + timedelta(seconds=talk or 0) if answer else
               at + timedelta(seconds=wait or 0)) if ended else None
        return CallLog(call_id=f"rp:{name}", pbx="rp", linkedid=name, direction=direction,
                       caller_number="+8613800000000", queue=queue,
                       agent_extension=agents[-1] if agents else None,
                       state=state or ("ended" if ended else "answered"), started_at=at,
                       answered_at=answer, ended_at=end, wait_s=wait, talk_s=talk,
                       extra={"agents": list(agents), "rung": list(rung or agents)})

    session.add_all([
        call("c1", "2026-03-02 09:00:10", "rp-support", wait=12, talk=100, agents=("7001",),
             rung=("7002", "7001")),
        call("c2", "2026-03-02 09:20", "rp-support", wait=30, talk=200, agents=("7001",)),
        call("c3", "2026-03-02 09:40", "rp-support", answered=False, state="abandoned",
             wait=3, rung=("7001",)),
        call("c4", "2026-03-02 09:50", "rp-support", answered=False, state="abandoned",
             wait=40, rung=("7001", "7002")),
        call("c5", "2026-03-02 10:10", "rp-support", wait=20, talk=60, agents=("7002",)),
        call("c6", "2026-03-03 00:30", "rp-sales", wait=5, talk=300, agents=("7002", "7001")),
        call("c7", "2026-03-03 10:00", "rp-sales", answered=False, wait=60, rung=("7002",)),
        call("c8", "2026-03-02 12:00", None, direction="outbound", talk=30, agents=("7001",)),
        call("c9", "2026-03-02 13:00", None, talk=50, agents=("7001",)),
        call("c10", "2026-03-01 23:00", "rp-support", wait=4, talk=10, agents=("7001",)),
        call("c11", "2026-03-03 13:00", "rp-support", wait=8, agents=("7001",), ended=False),
    ])
    await session.flush()
    return {"ann": ann.id, "ben": ben.id, "sam": sam.id, "support": support.id,
            "sales": sales.id, "repair": repair.id, "refund": refund.id,
            **{k: v.id for k, v in t.items()}}
