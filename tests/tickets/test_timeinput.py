"""Every date/time input: a date, a local time (site zone), an offset time — or a 422 naming
the field, never a 500. The rule itself (tickets.timeinput), every route of the app walked
so none takes a bare datetime, and query filters and bodies over HTTP on both backends."""

from __future__ import annotations

import inspect
import types
import typing
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import httpx
import pytest
from fastapi.routing import APIRoute
from pydantic import BaseModel, BeforeValidator, TypeAdapter, ValidationError
from sqlalchemy import update

from tests.conftest import DbMaker, login
from tickets import service, timeinput
from tickets.db import make_engine, make_sessionmaker
from tickets.models import Ticket
from tickets.schemas import TicketIn
from tickets.timeinput import Moment, MomentEnd, as_moment, as_moment_end, parse_moment
from web.app import create_app
from web.settings import Settings, to_async_url

SHANGHAI = timezone(timedelta(hours=8))


@pytest.mark.parametrize(("raw", "expected"), [
    ("2026-11-30", datetime(2026, 11, 30, tzinfo=SHANGHAI)),
    ("2026-11-30T09:30", datetime(2026, 11, 30, 9, 30, tzinfo=SHANGHAI)),
    ("2026-11-30 09:30:15", datetime(2026, 11, 30, 9, 30, 15, tzinfo=SHANGHAI)),
    ("2026-11-30T09:30:00Z", datetime(2026, 11, 30, 9, 30, tzinfo=UTC)),
    ("2026-11-30T09:30:00.250+01:00",
     datetime(2026, 11, 30, 8, 30, 0, 250_000, tzinfo=UTC)),
    (date(2026, 11, 30), datetime(2026, 11, 30, tzinfo=SHANGHAI)),
    (datetime(2026, 11, 30, 9), datetime(2026, 11, 30, 9, tzinfo=SHANGHAI)),
])
def test_accepted_forms(raw: object, expected: datetime) -> None:
    got = parse_moment(raw)
    assert got.tzinfo is not None and got == expected


def test_end_bound_includes_the_whole_day() -> None:
    assert parse_moment("2026-11-30", end_of_day=True) == datetime(2026, 12, 1,
                                                                   tzinfo=SHANGHAI)
    # a time is taken as written, even for an end bound
    assert parse_moment("2026-11-30T18:00", end_of_day=True) == datetime(
        2026, 11, 30, 18, tzinfo=SHANGHAI)


def test_a_time_with_no_utc_equivalent_is_refused() -> None:
    """Stored columns are UTC: year 1 east of UTC (or 9999 west of it) would overflow
    there, a 500 on any filter (``/api/v1/abandoned?since=0001-01-01``)."""
    for raw in ("0001-01-01", "0001-01-01T00:00+08:00", "9999-12-31T23:00-05:00"):
        with pytest.raises(ValueError, match="out of range"):
            parse_moment(raw)
    with pytest.raises(ValueError, match="out of range"):
        as_moment_end("9999-12-31")
    assert parse_moment("0001-01-01T12:00Z").year == 1  # representable: kept


@pytest.mark.parametrize("raw", ["yesterday", "30/11/2026", "2026-13-01", "2026-02-30",
                                 "2026-11-30T25:00", "1764460800", 1764460800, "", None,
                                 "2026-11-30T09:30+08:00 extra"])
def test_anything_else_is_refused(raw: object) -> None:
    with pytest.raises(ValueError):
        parse_moment(raw)
    with pytest.raises(ValidationError):
        TypeAdapter(Moment).validate_python(raw)


@pytest.mark.parametrize("raw", ["2026-11-30T00:00", "1764460800", 1764460800, "2026-02-30",
                                 "20261130", "", None, datetime(2026, 11, 30)])
def test_a_local_date_is_a_day_and_nothing_else(raw: object) -> None:
    assert timeinput.as_local_date("2026-11-30") == date(2026, 11, 30)
    with pytest.raises(ValueError):
        timeinput.as_local_date(raw)


def test_site_timezone_setting() -> None:
    try:
        timeinput.set_site_timezone("Europe/Berlin")
        assert parse_moment("2026-11-30T09:00") == datetime(2026, 11, 30, 8, tzinfo=UTC)
        with pytest.raises(ValueError, match="unknown time zone"):
            timeinput.set_site_timezone("Mars/Olympus")
        with pytest.raises(ValidationError, match="unknown time zone"):
            Settings(timezone="Mars/Olympus")
    finally:
        timeinput.set_site_timezone(timeinput.DEFAULT_TIMEZONE)


# --- no route takes a bare datetime -------------------------------------------------------

_OURS = {as_moment, as_moment_end, timeinput.as_local_date}


def _is_datetime(annotation: Any) -> bool:
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _is_datetime(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        return any(_is_datetime(a) for a in typing.get_args(annotation))
    return inspect.isclass(annotation) and issubclass(annotation, date)


def _has_our_validator(metadata: list[Any], annotation: Any = None) -> bool:
    """Our validator on the field, or inside its type (``Moment | None``)."""
    if any(isinstance(m, BeforeValidator) and m.func in _OURS for m in metadata):
        return True
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _has_our_validator(list(annotation.__metadata__))
    if origin in (typing.Union, types.UnionType):
        return all(_has_our_validator([], a) for a in typing.get_args(annotation)
                   if a is not type(None))
    return False


def _bare_fields(model: type[BaseModel], where: str) -> Iterator[str]:
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if _is_datetime(annotation) and not _has_our_validator(field.metadata, annotation):
            yield f"{where}.{name}"
        for arg in (annotation, *typing.get_args(annotation)):
            if inspect.isclass(arg) and issubclass(arg, BaseModel):
                yield from _bare_fields(arg, f"{where}.{name}")


def _bare_inputs(route: APIRoute) -> Iterator[str]:
    for param in route.dependant.query_params + route.dependant.path_params:
        info = param.field_info
        if _is_datetime(info.annotation) and not _has_our_validator(info.metadata,
                                                                    info.annotation):
            yield f"{route.path} ?{param.name}"
    for body in route.dependant.body_params:
        annotation = body.field_info.annotation
        if inspect.isclass(annotation) and issubclass(annotation, BaseModel):
            yield from _bare_fields(annotation, f"{route.path} body")
        elif _is_datetime(annotation) and not _has_our_validator(body.field_info.metadata,
                                                                 annotation):
            yield f"{route.path} body {body.name}"


def _api_routes(routes: list[Any]) -> Iterator[APIRoute]:
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        included = getattr(route, "original_router", None)  # an included router
        if included is not None:
            yield from _api_routes(included.routes)


def test_no_route_takes_a_bare_datetime(tmp_path: Any) -> None:
    app = create_app(Settings(database_url=f"sqlite:///{tmp_path}/x.db", secret_key="k" * 40,
                              data_dir=tmp_path))
    routes = list(_api_routes(app.routes))
    assert len(routes) > 20
    assert [bare for r in routes for bare in _bare_inputs(r)] == []
    # the walk does see the inputs that exist
    dated = {f"{r.path}?{p.name}" for r in routes for p in r.dependant.query_params
             if _is_datetime(p.field_info.annotation)}
    assert {"/api/v1/tickets?created_from", "/api/v1/tickets?created_to",
            "/api/v1/calls?since"} <= dated


def test_the_walk_catches_a_bare_datetime() -> None:
    class Bad(BaseModel):
        when: datetime | None = None
        good: Moment
        end: MomentEnd | None = None

    assert list(_bare_fields(Bad, "x")) == ["x.when"]


# --- over HTTP, both backends -------------------------------------------------------------

@pytest.mark.parametrize("value", ["2026-11-30", "2026-11-30T09:30", "2026-11-30 09:30",
                                   "2026-11-30T09:30:00+08:00", "2026-11-30T01:30:00Z"])
@pytest.mark.parametrize("field", ["created_from", "created_to"])
async def test_ticket_filters_take_every_form(client: httpx.AsyncClient, field: str,
                                              value: str) -> None:
    h = await login(client, "alice")
    resp = await client.get("/api/v1/tickets", headers=h, params={field: value})
    assert resp.status_code == 200, resp.text


@pytest.mark.parametrize(("path", "field"), [("/api/v1/tickets", "created_from"),
                                             ("/api/v1/tickets", "created_to"),
                                             ("/api/v1/calls", "since")])
@pytest.mark.parametrize("value", ["30.11.2026", "tomorrow", "2026-02-30", "1764460800"])
async def test_bad_times_are_422_naming_the_field(client: httpx.AsyncClient, path: str,
                                                  field: str, value: str) -> None:
    h = await login(client, "alice")
    resp = await client.get(path, headers=h, params={field: value})
    assert resp.status_code == 422, resp.text
    assert resp.json()["detail"][0]["loc"] == ["query", field]


async def test_a_day_filter_holds_that_whole_local_day(client: httpx.AsyncClient) -> None:
    h = await login(client, "alice")
    created = (await client.post("/api/v1/tickets", headers=h,
                                 json={"title": "day filter"})).json()
    at = datetime.fromisoformat(created["created_at"]).astimezone(SHANGHAI)
    day = at.date().isoformat()

    async def ids(**params: str) -> set[int]:
        resp = await client.get("/api/v1/tickets", headers=h, params={**params, "limit": 200})
        assert resp.status_code == 200, resp.text
        return {t["id"] for t in resp.json()["items"]}

    assert created["id"] in await ids(created_from=day, created_to=day)
    before = (at.date() - timedelta(days=1)).isoformat()
    after = (at.date() + timedelta(days=1)).isoformat()
    assert created["id"] not in await ids(created_to=before)
    assert created["id"] not in await ids(created_from=after)


async def test_order_body_dates(client: httpx.AsyncClient) -> None:
    h = await login(client, "alice")
    customer = (await client.post("/api/v1/customers", headers=h, json={
        "name": "日期测试", "phones": ["13912340001"]})).json()
    base = {"customer_id": customer["id"], "product_name": "空调"}
    ok = await client.post("/api/v1/orders", headers=h, json={
        **base, "number": "SO-DATE-1", "purchased_at": "2026-05-01",
        "warranty_end": "2027-05-01T18:00"})
    assert ok.status_code == 201, ok.text
    body = ok.json()
    assert datetime.fromisoformat(body["purchased_at"]) == datetime(2026, 5, 1, tzinfo=SHANGHAI)
    assert datetime.fromisoformat(body["warranty_end"]) == datetime(2027, 5, 1, 18,
                                                                    tzinfo=SHANGHAI)
    for field, value in [("purchased_at", "May 1st"), ("warranty_end", "2026-05-99"),
                         ("purchased_at", 1764460800)]:
        bad = await client.post("/api/v1/orders", headers=h, json={
            **base, "number": "SO-DATE-2", "purchased_at": "2026-05-01", field: value})
        assert bad.status_code == 422, bad.text
        assert bad.json()["detail"][0]["loc"] == ["body", field]


# --- the service, directly, on both backends ---------------------------------------------

async def test_service_filters_by_site_days(new_db: DbMaker) -> None:
    """``list_tickets`` with bounds made by the rule: a local day holds exactly the tickets
    created in it, whatever their UTC date (tickets at 23:30 UTC belong to the next
    Shanghai day)."""
    engine = make_engine(to_async_url(await new_db(demo=False)))
    sm = make_sessionmaker(engine)
    admin = service.Actor(id=None, role="admin")
    stamps = {"late_utc": datetime(2026, 11, 29, 23, 30, tzinfo=UTC),   # 30th 07:30 local
              "last_local": datetime(2026, 11, 30, 15, 59, tzinfo=UTC),  # 30th 23:59 local
              "next_local": datetime(2026, 11, 30, 16, 0, tzinfo=UTC),   # 1st 00:00 local
              "before": datetime(2026, 11, 29, 15, 59, tzinfo=UTC)}      # 29th 23:59 local
    try:
        ids = {}
        async with sm() as s, s.begin():
            for key, at in stamps.items():
                ticket = await service.create_ticket(s, TicketIn(title=key), admin)
                await s.execute(update(Ticket).where(Ticket.id == ticket.id)
                                .values(created_at=at))
                ids[ticket.id] = key
        flt = service.TicketFilter(created_from=parse_moment("2026-11-30"),
                                   created_to=parse_moment("2026-11-30", end_of_day=True))
        async with sm() as s:
            rows, total = await service.list_tickets(s, admin, flt, limit=50)
        assert {ids[t.id] for t in rows} == {"late_utc", "last_local"} and total == 2
    finally:
        await engine.dispose()
