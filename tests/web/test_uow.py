"""Commit, then publish (web.uow.UnitOfWork): nothing is announced before or without a commit."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from tickets import messages
from tickets.bus import TOPIC_SESSIONS, TOPIC_TICKETS
from web.uow import UnitOfWork


class Session:
    def __init__(self, log: list[str], fail: bool = False) -> None:
        self.log, self.fail = log, fail

    async def commit(self) -> None:
        self.log.append("commit")
        if self.fail:
            raise RuntimeError("database went away")


class Bus:
    def __init__(self, log: list[str], fail: bool = False) -> None:
        self.log, self.fail = log, fail

    async def publish(self, topic: str, event: Any) -> None:
        if self.fail:
            raise OSError("redis down")
        self.log.append(f"publish {topic} {event['type']}")


def _uow(log: list[str], *, commit_fails: bool = False, bus_fails: bool = False) -> UnitOfWork:
    return UnitOfWork(Session(log, commit_fails), Bus(log, bus_fails))  # type: ignore[arg-type]


async def test_messages_go_out_after_the_commit_in_order() -> None:
    log: list[str] = []
    uow = _uow(log)
    uow.publish(TOPIC_TICKETS, messages.ticket_changed("ticket_created", {"id": 1}))
    uow.publish(TOPIC_SESSIONS, messages.session_revoked(user_id=1, token_id="t"))
    assert log == [] and uow.pending == 2
    await uow.commit()
    assert log == ["commit", "publish tickets ticket_created",
                   "publish sessions session_revoked"]
    assert uow.pending == 0
    await uow.commit()  # published once only
    assert log.count("publish tickets ticket_created") == 1


async def test_a_failed_commit_announces_nothing() -> None:
    log: list[str] = []
    uow = _uow(log, commit_fails=True)
    uow.publish(TOPIC_TICKETS, messages.ticket_changed("ticket_updated", {"id": 1}))
    with pytest.raises(RuntimeError):
        await uow.commit()
    assert log == ["commit"] and uow.pending == 0


async def test_a_bus_outage_after_the_commit_is_logged_not_raised(
        caplog: pytest.LogCaptureFixture) -> None:
    log: list[str] = []
    uow = _uow(log, bus_fails=True)
    uow.publish(TOPIC_TICKETS, messages.ticket_changed("ticket_updated", {"id": 1}))
    with caplog.at_level(logging.WARNING, logger="web.uow"):
        await uow.commit()
    assert log == ["commit"]
    assert "could not publish ticket_updated on tickets" in caplog.text
