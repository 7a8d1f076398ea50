"""Routing's own table: the rules admins edit (the routing columns of groups, users, types
and tickets live on those models in :mod:`tickets.models`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from tickets.db import Base, JSONType, UTCDateTime, utcnow


class RoutingRule(Base):
    """One rule: ``conditions`` and ``actions`` as the admin wrote them (JSON, compiled by
    :mod:`tickets.routing.conditions` / :mod:`tickets.routing.rules` when loaded)."""

    __tablename__ = "routing_rules"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    stop: Mapped[bool] = mapped_column(Boolean, default=False)
    # when it applies: "created" and/or "updated"
    triggers: Mapped[list[str]] = mapped_column(JSONType, default=lambda: ["created"])
    conditions: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    actions: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
