"""How far and how long between two points: the straight-line estimate dispatch ranks and
plans with.

Why a straight line and not a road network: the site runs offline (no routing service, no map
data to keep up to date), and ranking only needs the *order* of candidates to be right, which
a great-circle distance stretched by a detour factor gives for a city. The estimate sits
behind :class:`TravelModel` so a road-network or matrix service can replace it later without
touching the ranking or the planner.

Units: kilometres and minutes; points are WGS84 degrees (:class:`dispatch.ports.Point`).
"""

from __future__ import annotations

import math
from typing import Protocol

from dispatch.ports import Point

#: mean Earth radius (IUGG), km
EARTH_RADIUS_KM = 6371.0088
#: average door-to-door speed of a field engineer in a Chinese city (traffic, lights,
#: parking), km/h
URBAN_SPEED_KMH = 30.0
#: how much longer the road is than the straight line in a city grid (typical 1.2–1.4)
ROAD_DETOUR = 1.3


def haversine_km(a: Point, b: Point) -> float:
    """Great-circle distance between ``a`` and ``b`` in km (haversine on a sphere of
    :data:`EARTH_RADIUS_KM`; within 0.5 % of the ellipsoid)."""
    lat1, lat2 = math.radians(a.lat), math.radians(b.lat)
    dlat = lat2 - lat1
    dlon = math.radians(b.lon - a.lon)
    h = math.sin(dlat / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin(dlon / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


def straight_line_minutes(a: Point, b: Point, *, speed_kmh: float = URBAN_SPEED_KMH,
                          detour: float = ROAD_DETOUR) -> float:
    """Travel minutes from ``a`` to ``b``: the great-circle distance × ``detour`` at
    ``speed_kmh``. ``ValueError`` for a speed ≤ 0."""
    if speed_kmh <= 0:
        raise ValueError("speed_kmh must be > 0")
    return haversine_km(a, b) * detour / speed_kmh * 60.0


class TravelModel(Protocol):
    """Anything that tells travel minutes between two points (``minutes(a, b) -> float``)."""

    def minutes(self, a: Point, b: Point) -> float: ...


class StraightLine:
    """The default :class:`TravelModel`: :func:`straight_line_minutes` with fixed
    ``speed_kmh`` and ``detour``."""

    __slots__ = ("detour", "speed_kmh")

    def __init__(self, speed_kmh: float = URBAN_SPEED_KMH, detour: float = ROAD_DETOUR) -> None:
        if speed_kmh <= 0:
            raise ValueError("speed_kmh must be > 0")
        self.speed_kmh = speed_kmh
        self.detour = detour

    def minutes(self, a: Point, b: Point) -> float:
        return haversine_km(a, b) * self.detour / self.speed_kmh * 60.0


#: the site's default travel model
DEFAULT_TRAVEL: TravelModel = StraightLine()
