"""The AudioSocket allow-list setting and its default (loopback + the AMI hosts)."""

from __future__ import annotations

import logging

import pytest
from pydantic import ValidationError

from telephony.ports import PbxConfig
from web.settings import Settings
from web.wiring import audiosocket_allow


def _pbx(host: str) -> PbxConfig:
    return PbxConfig(name="pbx", host=host, port=5038, username="u", secret="s")


async def test_the_setting_wins() -> None:
    allow = await audiosocket_allow("10.0.0.0/8, 192.0.2.7", [_pbx("198.51.100.1")])
    assert [str(n) for n in allow] == ["10.0.0.0/8", "192.0.2.7/32"]


async def test_default_is_loopback_and_the_pbx_hosts(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="web.wiring"):
        allow = await audiosocket_allow(None, [_pbx("198.51.100.1"), _pbx("127.0.0.1"),
                                               _pbx("no-such-host.invalid")])
    assert [str(n) for n in allow] == ["127.0.0.0/8", "::1/128", "198.51.100.1/32"]
    assert "no-such-host.invalid does not resolve" in caplog.text


def test_a_bad_entry_is_named_at_startup() -> None:
    with pytest.raises(ValidationError, match=r"10\.0\.0\.999"):
        Settings(audiosocket_allow="10.0.0.1,10.0.0.999")
    assert Settings(audiosocket_allow=" ").audiosocket_allow is None
    with pytest.raises(ValidationError):
        Settings(audiosocket_uuid_timeout_s=0)
