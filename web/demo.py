"""Demo data: the users of DESIGN.md, departments, ticket types, ~50 customers with orders,
tickets and KB articles. Idempotent: running it again adds nothing that is already there.

The first customers carry the caller numbers of the AMI captures in telephony/captures, so a
replayed call pops a real record.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Literal

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from tickets import service
from tickets.customers import create_customer, create_order
from tickets.models import Customer, Group, KbArticle, Product, Ticket, TicketType, User
from tickets.schemas import CustomerIn, GroupIn, OrderIn, PhoneIn, TicketIn, TicketPatch, UserIn
from tickets.users import create_group, create_user

USERS = [
    ("admin", "admin", "系统管理员 Admin", None),
    ("alice", "agent", "Alice 王丽", "6001"),
    ("bob", "agent", "Bob 李波", "6002"),
    ("sue", "supervisor", "Sue 苏敏", "6010"),
    ("eric", "engineer", "Eric 陈工", None),
]

GROUPS = [
    ("hotline", "Hotline", "客服热线", ["general", "zh", "en"], "support", ["alice", "bob"]),
    ("after_sales", "After-sales", "售后部", ["refund", "warranty"], None, ["bob"]),
    ("repair", "Repair service", "维修服务部", ["repair", "field"], None, ["eric"]),
    ("logistics", "Logistics", "物流部", ["delivery"], None, []),
]

TICKET_TYPES: list[dict[str, object]] = [
    {"key": "refund", "name": "Refund", "name_zh": "退款", "default_priority": "high",
     "flow": ["hotline", "after_sales"],
     "fields": [{"key": "amount", "label": "Amount", "label_zh": "金额", "type": "number",
                 "required": False},
                {"key": "reason", "label": "Reason", "label_zh": "原因", "type": "choice",
                 "required": True,
                 "options": ["defective", "wrong_item", "not_needed", "late", "other"]}],
     "keywords": {"zh": ["退款", "退货", "退钱", "把钱退"], "en": ["refund", "money back",
                                                        "return"],
                  "ko": ["환불", "반품"]}},
    {"key": "repair", "name": "Repair", "name_zh": "维修", "default_priority": "normal",
     "flow": ["hotline", "repair"],
     "fields": [{"key": "fault", "label": "Fault", "label_zh": "故障描述", "type": "text",
                 "required": True},
                {"key": "visit_date", "label": "Visit date", "label_zh": "上门日期",
                 "type": "date", "required": False}],
     "keywords": {"zh": ["维修", "坏了", "修理", "故障", "不工作"],
                  "en": ["repair", "broken", "not working", "fix"], "ko": ["수리", "고장"]}},
    {"key": "delivery", "name": "Delivery", "name_zh": "物流配送", "default_priority": "normal",
     "flow": ["hotline", "logistics"], "fields": [],
     "keywords": {"zh": ["快递", "物流", "配送", "没收到", "送货"],
                  "en": ["delivery", "shipping", "package", "not arrived"],
                  "ko": ["배송", "택배"]}},
    {"key": "complaint", "name": "Complaint", "name_zh": "投诉", "default_priority": "high",
     "flow": ["hotline", "after_sales"], "fields": [],
     "keywords": {"zh": ["投诉", "不满意", "态度"], "en": ["complaint", "complain", "unhappy"],
                  "ko": ["불만", "항의"]}},
    {"key": "account", "name": "Account", "name_zh": "账户", "default_priority": "low",
     "flow": ["hotline"], "fields": [],
     "keywords": {"zh": ["账户", "密码", "登录", "会员"],
                  "en": ["account", "password", "login"], "ko": ["계정", "비밀번호"]}},
]

PRODUCTS = [("AC-900", "Air conditioner AC-900 空调", 36),
            ("WM-7", "Washing machine WM-7 洗衣机", 24), ("TV-55", "55\" TV 电视", 24),
            ("RF-300", "Refrigerator RF-300 冰箱", 36),
            ("PH-12", "Phone PH-12 手机", 12)]

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = ["伟", "芳", "娜", "敏", "静", "强", "磊", "洋", "艳", "勇", "军", "杰", "娟", "涛", "明"]
WESTERN = ["John Smith", "Maria Garcia", "Kim Min-jun", "Sato Yuki", "Anna Müller",
           "Olivier Martin", "Priya Patel", "Lee Ji-woo", "David Brown", "Emma Wilson"]

KB = [
    ("如何申请退款", "在订单签收后 7 天内可申请无理由退款。客服核对订单号后，在售后系统提交退款，"
     "3-5 个工作日原路退回。", "zh", "refund"),
    ("How to request a refund", "Refunds are accepted within 7 days of delivery. Verify the "
     "order number, then submit the refund in the after-sales system; money returns in 3-5 "
     "business days.", "en", "refund"),
    ("空调不制冷的排查", "先确认模式为制冷、温度设定低于室温、滤网清洁。仍不制冷则预约上门维修。",
     "zh", "repair"),
    ("Air conditioner not cooling", "Check cooling mode, set temperature below room "
     "temperature, clean the filter. If it still does not cool, book a repair visit.", "en",
     "repair"),
    ("快递未送达怎么办", "查询物流单号；超过承诺时效 48 小时未送达，转物流部催件并告知客户。", "zh",
     "delivery"),
    ("Package not delivered", "Look up the tracking number; 48 h past the promised date, "
     "forward to logistics and tell the customer.", "en", "delivery"),
    ("重置账户密码", "核实客户手机号后发送重置短信，不得在电话中口述密码。", "zh", "account"),
]


def _caller_numbers() -> list[tuple[str, str, str]]:
    """(name, phone, tier) — the capture callers first, then generated Chinese numbers."""
    rng = random.Random(20261123)
    people = [("John Caller", "+1 555 123 0001", "vip"), ("Jane Abandon", "+1 555 123 0002",
                                                          "standard"),
              ("Jim Transfer", "+1 555 123 0005", "standard"),
              ("张伟", "138 0013 8000", "vip")]
    for i in range(46):
        if i % 5 == 4:
            name = WESTERN[i % len(WESTERN)]
            phone = rng.choice(["+44 20 7946 0", "+82 10 5555 ", "+49 30 90182 "]) + \
                f"{rng.randrange(100, 999)}"
        else:
            name = rng.choice(SURNAMES) + rng.choice(GIVEN) + rng.choice(["", *GIVEN])
            phone = f"1{rng.choice('35789')}{rng.randrange(0, 10)}" \
                    f"{rng.randrange(10_000_000, 99_999_999)}"
        people.append((name, phone, "vip" if i % 9 == 0 else "standard"))
    return people


async def load_demo(session: AsyncSession, region: str = "CN") -> dict[str, int]:
    """Create what is missing; returns how many rows of each kind were added."""
    added = {"users": 0, "groups": 0, "types": 0, "customers": 0, "orders": 0, "tickets": 0,
             "kb": 0}
    users: dict[str, User] = {}
    for username, role, display, ext in USERS:
        user = await session.scalar(select(User).where(User.username == username))
        if user is None:
            user = await create_user(session, UserIn(username=username, password="demo",
                                                     role=role, display_name=display,  # type: ignore[arg-type]
                                                     extension=ext))
            added["users"] += 1
        users[username] = user
    for key, name, name_zh, skills, queue, members in GROUPS:
        if await session.scalar(select(Group.id).where(Group.key == key)) is None:
            await create_group(session, GroupIn(
                key=key, name=name, name_zh=name_zh, skills=skills, queue=queue,
                member_ids=[users[m].id for m in members]))
            added["groups"] += 1
    for spec in TICKET_TYPES:
        if await session.scalar(select(TicketType.id).where(TicketType.key == spec["key"])) is None:
            session.add(TicketType(**spec))
            added["types"] += 1
    for sku, name, months in PRODUCTS:
        if await session.scalar(select(Product.id).where(Product.sku == sku)) is None:
            session.add(Product(sku=sku, name=name, warranty_months=months))
    for title, body, kb_lang, type_key in KB:
        if await session.scalar(select(KbArticle.id).where(KbArticle.title == title)) is None:
            session.add(KbArticle(title=title, body=body, language=kb_lang, type_key=type_key,
                                  tags=[type_key]))
            added["kb"] += 1
    await session.flush()
    if await session.scalar(select(func.count()).select_from(Customer)):
        return added  # customers, orders and tickets were loaded by an earlier run

    rng = random.Random(7)
    now = datetime.now(UTC)
    actor = service.Actor(id=users["alice"].id, role="agent")
    type_keys = [str(t["key"]) for t in TICKET_TYPES]
    for n, (name, phone, tier) in enumerate(_caller_numbers()):
        lang: Literal["zh", "en"] = "en" if name.isascii() else "zh"
        customer = await create_customer(session, CustomerIn(
            name=name, phones=[PhoneIn(number=phone, label="mobile")], tier=tier,  # type: ignore[arg-type]
            language=lang, email=f"customer{n}@example.com" if n % 3 == 0 else None),
            region)
        added["customers"] += 1
        for k in range(1 + n % 3):
            sku, pname, months = PRODUCTS[(n + k) % len(PRODUCTS)]
            bought = now - timedelta(days=rng.randrange(10, 1000))
            await create_order(session, OrderIn(
                number=f"{478 + n * 10 + k}" if n == 0 and k == 0 else
                f"SO{2026_0000 + n * 10 + k}",
                customer_id=customer.id, product_name=pname, product_sku=sku,
                purchased_at=bought, amount=float(rng.randrange(999, 9999)),
                warranty_end=bought + timedelta(days=30 * months)))
            added["orders"] += 1
        for k in range(n % 4 or 2):  # the capture callers (n = 0..3) have history too
            type_key = type_keys[(n + k) % len(type_keys)]
            fields: dict[str, object] = {}
            if type_key == "refund":
                fields = {"reason": "defective"}
            elif type_key == "repair":
                fields = {"fault": "不制冷 / not cooling"}
            ticket = await service.create_ticket(session, TicketIn(
                title=f"{name}: {type_key}", description="demo ticket", type=type_key,
                customer_id=customer.id, fields=fields), actor, region)
            if k % 2 == 1:
                await service.update_ticket(session, ticket.id, TicketPatch(
                    assignee="alice", status="resolved"), actor)
            added["tickets"] += 1
    return added


async def ticket_count(session: AsyncSession) -> int:
    return await session.scalar(select(func.count()).select_from(Ticket)) or 0
