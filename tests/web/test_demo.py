"""The demo data (web/demo.py, web/demo_data.py) and the customer login of /portal.

The data is checked for what a newcomer relies on: every phone number real, the demo PBX's
callers known (all but one), a believable spread of statuses, times and warranties, KB
articles for the tickets' problems; loading is idempotent. The portal login sees its own
tickets and nothing else.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import httpx
import phonenumbers
import pytest
from sqlalchemy import select

from telephony.demo_pbx import DEMO_KEYED_ORDERS
from tests.conftest import DbMaker, login
from tickets.calls import caller_context
from tickets.customers import customer_id_by_e164
from tickets.db import make_engine, make_sessionmaker
from tickets.models import CallLog, Comment, Customer, KbArticle, Order, Ticket, TicketEvent, User
from web.demo import DEMO_CALLER_NUMBERS, UNKNOWN_CALLER, _opened, _spread, load_demo
from web.demo_data import CUSTOMERS, ORDERS, PRODUCTS, TICKETS
from web.settings import to_async_url

#: A password the policy accepts (tickets/passwords.py).
PW = "copper-kettle-91"


def test_every_demo_phone_number_is_valid() -> None:
    numbers = [n for c in CUSTOMERS for n, _label in c.phones]
    assert len(numbers) > 30
    for number in numbers:
        assert phonenumbers.is_valid_number(phonenumbers.parse(number, "CN")), number
    for number in DEMO_CALLER_NUMBERS:
        assert phonenumbers.is_valid_number(phonenumbers.parse(number)), number
    assert UNKNOWN_CALLER in DEMO_CALLER_NUMBERS


def test_demo_tables_refer_to_what_exists() -> None:
    keys = Counter(c.key for c in CUSTOMERS)
    assert max(keys.values()) == 1
    numbers = Counter(o.number for o in ORDERS)
    assert max(numbers.values()) == 1 and "478" in numbers  # the captures key in 4 7 8 #
    owner = {o.number: o.customer for o in ORDERS}
    assert all(o.customer in keys and o.sku in PRODUCTS for o in ORDERS)
    for t in TICKETS:
        assert t.customer in keys, t.title
        assert t.order is None or owner[t.order] == t.customer, t.title
    # Mostly Chinese customers, some English-speaking company contacts.
    languages = Counter(c.language for c in CUSTOMERS)
    assert languages["zh"] > 3 * languages["en"] > 0


def test_what_the_tickets_say_about_warranties_holds() -> None:
    """Agents' notes say "过保" (out of warranty) or "仍在保" (still covered): the orders agree."""
    orders = {o.number: o for o in ORDERS}
    checked = 0
    for t in TICKETS:
        text = t.title + t.description
        if t.order is None or not any(w in text for w in ("过保", "超保", "仍在保")):
            continue
        order = orders[t.order]
        months_owned = (order.days - t.age_h / 24) / 30.44  # at the time of the ticket
        expired = months_owned > PRODUCTS[order.sku][1]
        assert expired == ("仍在保" not in text), t.title
        checked += 1
    assert checked >= 4


def test_each_demo_caller_keys_one_of_their_own_orders() -> None:
    """The prefilled order number of a demo call fits the caller: a ticket can be made."""
    owner_of = _caller_keys()
    for number in DEMO_CALLER_NUMBERS:
        keyed = DEMO_KEYED_ORDERS[number]
        owners = [o.customer for o in ORDERS if o.number == keyed]
        if number == UNKNOWN_CALLER:
            assert keyed == ""
        else:
            assert owners == [owner_of[number]], (number, keyed)


def _caller_keys() -> dict[str, str]:
    """Demo caller number -> the demo customer's key."""
    out = {}
    for c in CUSTOMERS:
        for written, _ in c.phones:
            e164 = phonenumbers.format_number(phonenumbers.parse(written, "CN"),
                                              phonenumbers.PhoneNumberFormat.E164)
            out[e164] = c.key
    return out


async def test_demo_customers_answer_the_demo_pbx_callers(new_db: DbMaker) -> None:
    engine = make_engine(to_async_url(await new_db()))
    try:
        async with make_sessionmaker(engine)() as s:
            for number in DEMO_CALLER_NUMBERS:
                found = await customer_id_by_e164(s, number)
                assert (found is None) == (number == UNKNOWN_CALLER), number
            wang = await s.get(Customer, await customer_id_by_e164(s, "+8613911112222"))
            assert wang is not None and wang.name == "王建军" and wang.company
            tickets = (await s.scalars(select(Ticket).where(
                Ticket.customer_id == wang.id))).all()
            assert any(t.status in ("assigned", "in_progress") for t in tickets)
            assert await s.scalar(select(Order.id).where(Order.customer_id == wang.id))
            vip = await s.get(Customer, await customer_id_by_e164(s, "+8613800138000"))
            assert vip is not None and vip.tier == "vip"
            # The pop's history: the calls the VIP's tickets were opened on, linked to them.
            ctx = await caller_context(s, "+8613800138000")
            assert ctx["calls"] and {c["state"] for c in ctx["calls"]} <= {"ended", "abandoned"}
            linked = {t.call_id for t in (await s.scalars(select(Ticket).where(
                Ticket.customer_id == vip.id, Ticket.channel == "phone"))).all()}
            assert linked and linked <= {c["call_id"] for c in ctx["calls"]}
            users = {u.username: u for u in (await s.scalars(select(User))).all()}
            assert users["sue"].extension == "6010"  # the supervisor phone of asterisk_conf
            assert users["wang"].role == "customer" and users["wang"].customer_id == wang.id
    finally:
        await engine.dispose()


async def test_demo_history_is_spread_over_weeks_and_consistent(new_db: DbMaker) -> None:
    engine = make_engine(to_async_url(await new_db()))
    now = datetime.now(UTC)
    try:
        async with make_sessionmaker(engine)() as s:
            tickets = (await s.scalars(select(Ticket))).all()
            assert {t.status for t in tickets} == {"new", "assigned", "in_progress",
                                                   "pending_customer", "resolved", "closed",
                                                   "cancelled"}
            created = sorted(t.created_at for t in tickets)
            assert created[-1] < now and now - created[0] > timedelta(days=28)
            assert sum(now - c < timedelta(days=1) for c in created) >= 5  # today's work
            assert [t.id for t in sorted(tickets, key=lambda t: t.created_at)] == \
                sorted(t.id for t in tickets)  # numbers follow time, as in real life
            by_id = {t.id: t for t in tickets}
            last_event: dict[int, tuple[int, datetime]] = {}
            for e in (await s.scalars(select(TicketEvent).order_by(TicketEvent.id))).all():
                ticket = by_id[e.ticket_id]
                assert ticket.created_at <= e.at <= ticket.updated_at <= now, e.kind
                prev = last_event.get(e.ticket_id)
                assert prev is None or prev[1] <= e.at  # history reads in order
                last_event[e.ticket_id] = (e.id, e.at)
            for call in (await s.scalars(select(CallLog))).all():  # calls before their tickets
                assert call.started_at < now and (call.ended_at or now) <= now
            for c in (await s.scalars(select(Comment))).all():
                assert by_id[c.ticket_id].created_at < c.created_at < now
            for t in tickets:
                assert (t.resolved_at is not None) == (t.status in ("resolved", "closed"))
                assert t.first_response_due_at is not None and \
                    t.first_response_due_at > t.created_at
            orders = (await s.scalars(select(Order))).all()
            assert any(o.warranty_end and o.warranty_end < now for o in orders)  # expired
            assert any(o.warranty_end and o.warranty_end > now for o in orders)
            assert all(" · SN " in o.product_name for o in orders)
    finally:
        await engine.dispose()


async def test_kb_answers_the_demo_problems_and_reloading_adds_nothing(
        new_db: DbMaker) -> None:
    engine = make_engine(to_async_url(await new_db()))
    try:
        async with make_sessionmaker(engine)() as s:
            kb = (await s.scalars(select(KbArticle))).all()
            for type_key in ("refund", "repair", "delivery", "account"):
                assert {a.language for a in kb if a.type_key == type_key} >= {"zh"}, type_key
            bodies = " ".join(a.body + a.title for a in kb)
            for code in ("E6", "E21", "E1", "F0", "P1"):  # error codes the tickets quote
                assert code in bodies, code
            again = await load_demo(s)
            await s.commit()
        assert set(again.values()) == {0}
    finally:
        await engine.dispose()


# --- the customer login (/portal) ---------------------------------------------------------

async def test_customer_login_sees_its_tickets_and_nothing_else(
        client: httpx.AsyncClient) -> None:
    wang, alice = await login(client, "wang"), await login(client, "alice")
    me = (await client.get("/api/v1/auth/me", headers=wang)).json()
    assert me["role"] == "customer" and me["customer_id"]
    mine = (await client.get("/api/v1/tickets?limit=200", headers=wang)).json()
    staff_view = (await client.get("/api/v1/tickets", headers=alice,
                                   params={"customer_id": me["customer_id"],
                                           "limit": 200})).json()
    assert mine["total"] == staff_view["total"] > 0
    assert {t["id"] for t in mine["items"]} == {t["id"] for t in staff_view["items"]}
    everyone = (await client.get("/api/v1/tickets?limit=200", headers=alice)).json()
    others = [t for t in everyone["items"] if t["customer_id"] != me["customer_id"]]
    assert others
    for t in others[:5]:  # someone else's ticket does not exist for this login
        assert (await client.get(f"/api/v1/tickets/{t['id']}", headers=wang)).status_code == 404
        assert (await client.get(f"/api/v1/tickets/{t['id']}/comments",
                                 headers=wang)).status_code == 404
    # On its own ticket it reads the public replies, not the agents' internal notes.
    shown = [c for t in mine["items"] for c in (await client.get(
        f"/api/v1/tickets/{t['id']}/comments", headers=wang)).json()]
    internal = [c for t in staff_view["items"] for c in (await client.get(
        f"/api/v1/tickets/{t['id']}/comments", headers=alice)).json() if not c["public"]]
    assert shown and internal and all(c["public"] for c in shown)
    # Its own record with its orders (and their warranties), nobody else's; staff data closed.
    own = (await client.get(f"/api/v1/customers/{me['customer_id']}", headers=wang)).json()
    assert own["orders"] and "calls" not in own
    assert "notes" not in own  # what agents note about a customer is for agents
    other_customer = others[0]["customer_id"]
    assert (await client.get(f"/api/v1/customers/{other_customer}",
                             headers=wang)).status_code in (403, 404)
    for path in ("/api/v1/customers?q=王", "/api/v1/calls", "/api/v1/users"):
        assert (await client.get(path, headers=wang)).status_code == 403, path
    # A request it files is its own.
    made = await client.post("/api/v1/tickets", headers=wang, json={
        "title": "请安排 C 座空调清洗", "channel": "web"})
    assert made.status_code == 201 and made.json()["customer_id"] == me["customer_id"]


@pytest.mark.parametrize(("body", "field"), [
    ({"role": "customer"}, "customer_id"),  # a customer login without its customer
    ({"role": "agent", "customer_id": 1}, "customer_id"),  # staff linked to a customer
    ({"role": "customer", "customer_id": 99_999}, "customer_id"),  # no such customer
])
async def test_customer_logins_are_linked_to_exactly_one_customer(
        client: httpx.AsyncClient, body: dict[str, object], field: str) -> None:
    admin = await login(client, "admin")
    resp = await client.post("/api/v1/users", headers=admin, json={
        "username": "newlogin", "password": PW, **body})
    assert resp.status_code == 422 and field in str(resp.json()["detail"])


async def test_admin_links_and_unlinks_a_customer_login(client: httpx.AsyncClient) -> None:
    admin = await login(client, "admin")
    [cust] = (await client.get("/api/v1/customers", params={"phone": "159 2187 6543"},
                               headers=admin)).json()
    made = await client.post("/api/v1/users", headers=admin, json={
        "username": "li_xy", "password": PW, "role": "customer",
        "customer_id": cust["id"]})
    assert made.status_code == 201 and made.json()["customer_id"] == cust["id"]
    li = await login(client, "li_xy", PW)
    titles = {t["title"] for t in (await client.get("/api/v1/tickets",
                                                    headers=li)).json()["items"]}
    assert any("热水器" in t for t in titles) and not any("王经理" in t for t in titles)
    # Made staff: the link goes, and the customer session ends with the change.
    moved = await client.patch(f"/api/v1/users/{made.json()['id']}", headers=admin,
                               json={"role": "agent"})
    assert moved.status_code == 200 and moved.json()["customer_id"] is None
    assert (await client.get("/api/v1/tickets", headers=li)).status_code == 401


@pytest.mark.parametrize("utc_hour", range(0, 24, 3))
def test_no_demo_ticket_moment_lies_in_the_future(utc_hour: int) -> None:
    """Moving an older ticket into the hotline's day can make it younger than ``age_h``: its
    steps are spread over its real age (this failed at 19:27 UTC, Shanghai's small hours)."""
    now = datetime(2026, 11, 30, utc_hour, 27, tzinfo=UTC)
    for index, spec in enumerate(TICKETS):
        opened = _opened(now, spec, index)
        assert opened < now
        for at in _spread(opened, now, 12):
            assert opened < at < now, (spec.title, at)
