"""One call's transcript → prefill logic, fed recognizer results directly (no audio)."""

from __future__ import annotations

from collections import Counter
from types import SimpleNamespace
from typing import Any

from asr.audiosocket import _CallSession
from asr.context import CallContext
from asr.engine import AsrResult
from asr.extract import Extractor


class _Bus:
    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    async def publish(self, topic: str, event: dict[str, Any]) -> None:
        self.events.append(event)


def _session(known: list[str]) -> tuple[_CallSession, _Bus]:
    bus = _Bus()
    server = SimpleNamespace(bus=bus, counters=Counter(),
                             limits=SimpleNamespace(partial_interval=0.0))
    ctx = CallContext(known_orders=known, language="en")
    return _CallSession(server, "pbx1:1.1", Extractor(ctx)), bus  # type: ignore[arg-type]


def _prefills(bus: _Bus) -> list[dict[str, Any]]:
    return [e for e in bus.events if e["type"] == "ticket_prefill"]


async def test_a_real_order_in_a_partial_is_prefilled_before_the_final() -> None:
    session, bus = _session(["20251103"])
    await session.handle(AsrResult("my order is two zero two five", False))
    assert _prefills(bus) == []  # not the whole number yet
    await session.handle(AsrResult("my order is two zero two five one one zero three", False))
    [early] = _prefills(bus)
    assert early["known_orders"] == ["20251103"] and early["ticket_type"] is None
    # The final confirms it (and adds what partials are not trusted with: the type).
    await session.handle(AsrResult(
        "my order is two zero two five one one zero three i want a refund", True))
    last = _prefills(bus)[-1]
    assert last["known_orders"] == ["20251103"] and last["ticket_type"] == "refund"
    assert len(_prefills(bus)) == 2  # the order was not announced twice


async def test_guesses_in_partials_wait_for_the_final() -> None:
    session, bus = _session(["20251103"])
    await session.handle(AsrResult("order five five five one two three four i want a refund",
                                   False))
    assert _prefills(bus) == []  # not a real order, and no type from a partial
    session_without_orders, bus2 = _session([])
    await session_without_orders.handle(AsrResult("order two zero two five one one zero three",
                                                  False))
    assert _prefills(bus2) == []
