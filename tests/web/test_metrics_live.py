"""The live collector's bus and AudioSocket figures (read from the parts' state())."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest

from web.metrics import LiveCollector


def _scrape(**parts: Any) -> str:
    services = SimpleNamespace(telephony=None, hub=None, login_throttle=SimpleNamespace(refused=0),
                               password_gate=SimpleNamespace(refused=0), asr=None, ivr=None,
                               bus=SimpleNamespace(state=lambda: {"kind": "in-process"}))
    for name, value in parts.items():
        setattr(services, name, value)
    registry = CollectorRegistry()
    registry.register(LiveCollector(services))  # type: ignore[arg-type]
    return generate_latest(registry).decode()


def test_redis_bus_figures() -> None:
    bus = SimpleNamespace(state=lambda: {"kind": "redis", "degraded": True, "outbox": 7,
                                         "dropped": 3, "expired": 1})
    text = _scrape(bus=bus)
    assert "hotline_bus_degraded 1.0" in text and "hotline_bus_outbox 7.0" in text
    assert 'hotline_bus_lost_total{reason="dropped"} 3.0' in text
    assert 'hotline_bus_lost_total{reason="expired"} 1.0' in text
    assert "hotline_bus_" not in _scrape()  # the in-process bus has nothing to report


def test_audiosocket_refusals() -> None:
    asr = SimpleNamespace(state=lambda: {"active_streams": 2, "rejected": 9,
                                         "refused_address": 4, "uuid_timeouts": 3,
                                         "evicted_pending": 2, "evicted_unlinked": 0})
    text = _scrape(asr=asr)
    assert "hotline_asr_streams 2.0" in text
    assert 'hotline_asr_refused_total{reason="refused_address"} 4.0' in text
    assert 'hotline_asr_refused_total{reason="uuid_timeouts"} 3.0' in text
