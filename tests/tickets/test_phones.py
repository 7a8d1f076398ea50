"""Stored phone numbers are valid numbers: the rule (tickets.phones), the customer service
called directly on SQLite and PostgreSQL, the API showing extension and written form, and
the migration flagging rows stored before the rule."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import text

from tests.conftest import DbMaker, login, make_settings, running_app
from tickets.customers import create_customer, find_by_phone, update_customer
from tickets.db import make_engine, make_sessionmaker
from tickets.errors import Invalid
from tickets.phones import InvalidPhoneNumber, MissingAreaCode, normalize, parse
from tickets.schemas import CustomerIn, CustomerPatch, PhoneIn
from web.migrate import alembic_config
from web.settings import Settings, to_async_url


@pytest.mark.parametrize(("raw", "e164", "ext"), [
    ("138 0013 8000", "+8613800138000", None),
    ("021-61234567 ext. 808", "+862161234567", "808"),
    ("+86 21 6123 4567 转 808", "+862161234567", "808"),
    ("021 6123 4567 x808", "+862161234567", "808"),
    ("02161234567分机808", "+862161234567", "808"),
    ("0755-8600 1234 #12", "+8675586001234", "12"),
    ("+44 20 7946 0123 extension 5", "+442079460123", "5"),
    ("0086 10 6552 9988", "+861065529988", None),
])
def test_valid_numbers_and_extensions(raw: str, e164: str, ext: str | None) -> None:
    phone = parse(raw, "CN")
    assert (phone.e164, phone.extension, phone.written) == (e164, ext, raw)
    assert phone.display.endswith(f"ext. {ext}") if ext else "ext" not in phone.display
    assert normalize(raw, "CN") == e164  # the lookup key of every form is the same number


@pytest.mark.parametrize("raw", ["6552 9988", "61234567", "865 5299"])
def test_a_landline_without_area_code_says_so(raw: str) -> None:
    with pytest.raises(MissingAreaCode, match="area code is missing"):
        parse(raw, "CN")


def test_default_area_code_completes_a_landline() -> None:
    assert parse("6552 9988", "CN", "21").e164 == "+862165529988"
    assert parse("6552 9988", "CN", "021").e164 == "+862165529988"
    assert parse("6552 9988 转 3", "CN", "21").extension == "3"
    # numbers that have an area code (or are mobiles) are not touched by it
    assert parse("010 6552 9988", "CN", "21").e164 == "+861065529988"
    assert parse("13800138000", "CN", "21").e164 == "+8613800138000"
    assert normalize("6552 9988", "CN", "21") == "+862165529988"


@pytest.mark.parametrize("raw", ["+1 555 123 0001", "+86 6552 9988", "12345678901",
                                 "+44 20 7946", "abc", "", "<unknown>", "ext. 808"])
def test_possible_but_not_valid_is_refused(raw: str) -> None:
    with pytest.raises(InvalidPhoneNumber):
        parse(raw, "CN")


def test_settings_area_code() -> None:
    assert Settings(default_area_code="021").default_area_code == "21"
    with pytest.raises(ValueError):
        Settings(default_area_code="abc")


# --- the customer service, directly, on both backends -------------------------------------

async def test_service_stores_valid_numbers_only(new_db: DbMaker) -> None:
    engine = make_engine(to_async_url(await new_db(demo=False)))
    sm = make_sessionmaker(engine)
    try:
        async with sm() as s, s.begin():
            c = await create_customer(s, CustomerIn(name="上海办公室", phones=[
                PhoneIn(number="+86 21 6123 4567 转 808", label="office"), "138 0013 8000"]),
                "CN")
            rows = [(p.e164, p.extension, p.written, p.label) for p in c.phones]
            assert rows == [("+862161234567", "808", "+86 21 6123 4567 转 808", "office"),
                            ("+8613800138000", None, "138 0013 8000", None)]
            for bad, why in [("6552 9988", "area code is missing"),
                             ("+1 555 123 0001", "not a valid phone number")]:
                with pytest.raises(Invalid, match=why):
                    await create_customer(s, CustomerIn(name="x", phones=[bad]), "CN")
            with_area = await create_customer(s, CustomerIn(name="y", phones=["6552 9988"]),
                                              "CN", area_code="21")
            assert with_area.phones[0].e164 == "+862165529988"
            for form in ["02161234567", "021-6123 4567 ext. 1", "+86 21 61234567"]:
                assert [x.id for x in await find_by_phone(s, form, "CN")] == [c.id]
            assert [x.id for x in await find_by_phone(s, "65529988", "CN", "21")] == [
                with_area.id]
            kept_id = c.phones[1].id
            patched = await update_customer(s, c.id, CustomerPatch(phones=[
                "13800138000 x5"]), "CN")
            assert [(p.id, p.extension) for p in patched.phones] == [(kept_id, "5")]
    finally:
        await engine.dispose()


async def test_api_shows_extension_written_form_and_refuses_with_422(new_db: DbMaker,
                                                                      tmp_path: Path) -> None:
    settings = make_settings(await new_db(), tmp_path)
    async with running_app(settings) as (_app, client):
        h = await login(client, "alice")
        resp = await client.post("/api/v1/customers", headers=h, json={
            "name": "深圳分公司", "phones": ["0755-8600 1234 ext. 808"]})
        assert resp.status_code == 201, resp.text
        [phone] = resp.json()["phones"]
        assert phone == {"e164": "+8675586001234", "label": None, "extension": "808",
                         "written": "0755-8600 1234 ext. 808",
                         "display": "+86 755 8600 1234 ext. 808", "invalid_reason": None}
        resp = await client.post("/api/v1/customers", headers=h,
                                 json={"name": "无区号", "phones": ["6552 9988"]})
        assert resp.status_code == 422 and "area code is missing" in resp.json()["detail"]
        assert "phones" in resp.json()["detail"]


async def test_api_uses_the_configured_area_code(new_db: DbMaker, tmp_path: Path) -> None:
    settings = make_settings(await new_db(), tmp_path, default_area_code="21")
    async with running_app(settings) as (_app, client):
        h = await login(client, "alice")
        resp = await client.post("/api/v1/customers", headers=h,
                                 json={"name": "本地", "phones": ["6552 9988"]})
        assert resp.status_code == 201, resp.text
        assert resp.json()["phones"][0]["e164"] == "+862165529988"
        found = await client.get("/api/v1/customers", headers=h, params={"phone": "65529988"})
        assert [c["name"] for c in found.json()] == ["本地"]


# --- the migration flags rows stored before the rule --------------------------------------

async def test_migration_flags_invalid_rows(new_db: DbMaker, tmp_path: Path) -> None:
    url = await new_db()
    config = alembic_config(url)
    await asyncio.to_thread(command.downgrade, config, "0002")
    engine = make_engine(to_async_url(url))
    try:
        async with engine.begin() as conn:
            await conn.execute(text("INSERT INTO customers (name, tier, language, created_at) "
                                    "VALUES ('old', 'standard', 'zh', CURRENT_TIMESTAMP)"))
            cid = await conn.scalar(text("SELECT max(id) FROM customers"))
            for e164 in ["+8665529988", "+15551230001", "+8613800138000"]:
                await conn.execute(text("INSERT INTO customer_phones (customer_id, e164) "
                                        "VALUES (:c, :e)"), {"c": cid, "e": e164})
    finally:
        await engine.dispose()
    await asyncio.to_thread(command.upgrade, config, "head")
    async with running_app(make_settings(url, tmp_path)) as (_app, client):
        h = await login(client, "alice")
        detail = (await client.get(f"/api/v1/customers/{cid}", headers=h)).json()
        flags = {p["e164"]: p["invalid_reason"] for p in detail["phones"]}
        assert flags["+8613800138000"] is None
        assert "not a valid number" in flags["+8665529988"]
        assert "not a valid number" in flags["+15551230001"]

