"""``web.ivr_runtime`` and the IVR's start in ``web.wiring``: what an operator sees when the
IVR cannot start, and what a log line shows of a caller's number."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from softphone_bridge.ivr.fakes import FakeBackend, FakePromptBook, ScriptedChannel
from web import wiring
from web.ivr_runtime import _serve_call, masked, run_ivr
from web.services import Services
from web.settings import Settings


def _settings(tmp_path: Path) -> Settings:
    return Settings(database_url=f"sqlite:///{tmp_path / 'h.db'}", data_dir=tmp_path / "var",
                    ami_url="off", ivr_sip_port=0)


def test_hotline_ivr_without_espeak_ng_says_so_and_exits_1(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no espeak-ng on it
    with caplog.at_level(logging.ERROR, logger="hotline.ivr"):
        assert asyncio.run(run_ivr(_settings(tmp_path))) == 1
    assert "espeak-ng is not installed" in caplog.text
    assert "Traceback" not in caplog.text


def test_serve_without_espeak_ng_runs_with_the_ivr_off(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    settings = _settings(tmp_path)
    none: Any = None
    services = Services(settings=settings, engine=none, db=none, db_read=none,
                        read_engine=none, bus=none, secret_key="k")
    asyncio.run(wiring._start_ivr(services, []))
    assert services.ivr is None
    assert services.ivr_error is not None and "espeak-ng" in services.ivr_error


def test_masked_never_shows_most_of_a_number() -> None:
    assert masked("+8613800138000") == "+86*******8000"
    assert masked("13800138000") == "138****8000"
    for number in ("6001", "1234567", "62345678", "0105551234"):
        shown = sum(a == b for a, b in zip(masked(number), number, strict=True))
        assert shown <= len(number) // 2, masked(number)


@pytest.mark.parametrize("values", [
    {"ivr_sip_port": 99999},                       # bind() raised OverflowError
    {"ivr_sip_port": -1},
    {"ivr_sip_server": "127.0.0.1:99999"},          # no datagram could ever match: deaf
    {"ivr_sip_server": "127.0.0.1:0"},
    {"ivr_sip_server": ":5060"},
    {"ivr_rtp_ports": "31000-31009"},               # < 2 × max_calls (20): a traceback
])
def test_ivr_settings_that_cannot_work_are_refused_up_front(values: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        Settings(**values)


def test_ivr_settings_that_work() -> None:
    s = Settings(ivr_sip_server="pbx.example:5070", ivr_sip_port=0, ivr_rtp_ports="31000-31009",
                 ivr_max_calls=5)
    assert s.ivr_server_host_port == ("pbx.example", 5070)
    assert Settings(ivr_sip_server="192.0.2.10").ivr_server_host_port == ("192.0.2.10", 5060)


def test_a_busy_call_hears_busy_and_leaves_a_busy_journey() -> None:
    """Over the limit the endpoint played a tone and no journey was kept (outcome busy)."""
    backend, prompts = FakeBackend(), FakePromptBook()
    channel = ScriptedChannel()
    _serve_call(channel, backend=backend, prompts=prompts, language="en", digit_timeout_s=6,
                message_max_s=120, busy=True)
    assert prompts.keys() == ["busy"] and channel.hangups >= 1
    assert [j.outcome for j in backend.journeys] == ["busy"]
    assert "identify" not in backend.names()
