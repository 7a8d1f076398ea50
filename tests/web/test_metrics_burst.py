"""The live collector's call-burst figures: back-pressure, shedding and the call log."""

from __future__ import annotations

from types import SimpleNamespace

from prometheus_client import CollectorRegistry, generate_latest

from web.metrics import LiveCollector

LOAD = {"events_queued": 40, "reader_pauses": 3, "effects_in_flight": 20, "effect_waits": 5,
        "prefetch_shed": 7, "lookups_shed": 6, "call_log_queued": 12, "call_log_written": 900,
        "call_log_batches": 9, "call_log_retries": 2, "call_log_lost": 0,
        "call_log_full_waits": 1}


def _scrape(telephony: object) -> str:
    services = SimpleNamespace(telephony=telephony, hub=None, asr=None, ivr=None,
                               login_throttle=SimpleNamespace(refused=0),
                               password_gate=SimpleNamespace(refused=0),
                               bus=SimpleNamespace(state=lambda: {"kind": "in-process"}))
    registry = CollectorRegistry()
    registry.register(LiveCollector(services))  # type: ignore[arg-type]
    return generate_latest(registry).decode()


def test_burst_figures_per_pbx() -> None:
    telephony = SimpleNamespace(state=list, queues=list, load=lambda: {"pbx1": LOAD})
    text = _scrape(telephony)
    assert 'hotline_pbx_backlog{pbx="pbx1",stage="events"} 40.0' in text
    assert 'hotline_pbx_backlog{pbx="pbx1",stage="effects"} 20.0' in text
    assert 'hotline_pbx_backlog{pbx="pbx1",stage="call_log"} 12.0' in text
    assert 'hotline_pbx_reader_pauses_total{pbx="pbx1"} 3.0' in text
    assert 'hotline_pbx_shed_total{pbx="pbx1",what="prefetch"} 7.0' in text
    assert 'hotline_pbx_shed_total{pbx="pbx1",what="lookup"} 6.0' in text
    assert 'hotline_call_log_records_total{outcome="written",pbx="pbx1"} 900.0' in text or \
        'hotline_call_log_records_total{pbx="pbx1",outcome="written"} 900.0' in text
    assert 'hotline_call_log_retries_total{pbx="pbx1"} 2.0' in text
    assert 'pbx="pbx1"' not in _scrape(None)  # no PBX: no series
