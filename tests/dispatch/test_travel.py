"""Straight-line travel (``dispatch.travel``): known great-circle distances and the minutes
the detour factor and urban speed give."""

from __future__ import annotations

import pytest

from dispatch.ports import Point
from dispatch.travel import (
    DEFAULT_TRAVEL,
    ROAD_DETOUR,
    URBAN_SPEED_KMH,
    StraightLine,
    TravelModel,
    haversine_km,
    straight_line_minutes,
)

SHANGHAI = Point(31.2304, 121.4737)
BEIJING = Point(39.9042, 116.4074)
PUDONG_AIRPORT = Point(31.1443, 121.8083)
HONGQIAO = Point(31.1979, 121.3363)


def test_known_distances() -> None:
    assert haversine_km(SHANGHAI, BEIJING) == pytest.approx(1067, abs=3)
    assert haversine_km(HONGQIAO, PUDONG_AIRPORT) == pytest.approx(45.8, abs=0.5)
    # one degree of latitude ≈ 111.2 km; along a meridian the distance is exact
    assert haversine_km(Point(0, 0), Point(1, 0)) == pytest.approx(111.195, abs=0.01)
    assert haversine_km(Point(0, 0), Point(0, 180)) == pytest.approx(20015.1, abs=0.5)


def test_distance_is_symmetric_and_zero_on_the_spot() -> None:
    assert haversine_km(SHANGHAI, SHANGHAI) == 0.0
    assert haversine_km(SHANGHAI, BEIJING) == haversine_km(BEIJING, SHANGHAI)
    # antipodes: rounding never pushes asin out of its domain
    assert haversine_km(Point(45, 10), Point(-45, -170)) == pytest.approx(20015.1, abs=0.5)


def test_minutes_are_distance_times_detour_over_speed() -> None:
    km = haversine_km(HONGQIAO, PUDONG_AIRPORT)
    assert straight_line_minutes(HONGQIAO, PUDONG_AIRPORT) == \
        pytest.approx(km * ROAD_DETOUR / URBAN_SPEED_KMH * 60)
    # 10 km at 30 km/h with a 1.3 detour: 26 minutes
    ten_km = Point(SHANGHAI.lat + 10 / 111.195, SHANGHAI.lon)
    assert straight_line_minutes(SHANGHAI, ten_km) == pytest.approx(26.0, abs=0.01)
    assert straight_line_minutes(SHANGHAI, ten_km, speed_kmh=60, detour=1.0) == \
        pytest.approx(10.0, abs=0.01)
    with pytest.raises(ValueError):
        straight_line_minutes(SHANGHAI, ten_km, speed_kmh=0)


def test_the_default_model_is_the_straight_line() -> None:
    model: TravelModel = DEFAULT_TRAVEL
    assert model.minutes(SHANGHAI, BEIJING) == straight_line_minutes(SHANGHAI, BEIJING)
    assert StraightLine(speed_kmh=60).minutes(SHANGHAI, BEIJING) == \
        pytest.approx(straight_line_minutes(SHANGHAI, BEIJING) / 2)
    with pytest.raises(ValueError):
        StraightLine(speed_kmh=-1)
