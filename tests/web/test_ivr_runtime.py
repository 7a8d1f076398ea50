"""``web.ivr_runtime`` and the IVR's start in ``web.wiring``: what an operator sees when the
IVR cannot start, and what a log line shows of a caller's number."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import pytest

from web import wiring
from web.ivr_runtime import masked, run_ivr
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
