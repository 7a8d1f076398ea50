"""Notification settings and adapter helpers (pure): bad values refused at start-up."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from web.jobs import psycopg_conninfo
from web.notify_adapters import fill
from web.settings import Settings


def test_sms_body_must_be_json_and_defaults_hold() -> None:
    with pytest.raises(ValidationError, match="HOTLINE_SMS_BODY is not JSON"):
        Settings(sms_body='{"to": ')
    s = Settings()
    assert s.smtp_host == "" and s.mail_domain == "hotline.local"
    assert s.outbox_max_attempts == 8 and s.smtp_tls == "starttls"
    with pytest.raises(ValidationError):
        Settings(mail_domain="bad domain>")


def test_fill_replaces_inside_strings_only() -> None:
    template = {"to": "{to}", "msg": "{text} ({key})", "n": 1, "list": ["{to}"]}
    out = fill(template, {"to": "+86138", "text": 'say "hi"}', "key": "k1"})
    assert out == {"to": "+86138", "msg": 'say "hi"} (k1)', "n": 1, "list": ["+86138"]}


def test_psycopg_conninfo() -> None:
    assert psycopg_conninfo("postgresql+asyncpg://u:p@h:5/db") == "postgresql://u:p@h:5/db"
    assert psycopg_conninfo("postgres://u@h/db") == "postgresql://u@h/db"
    with pytest.raises(ValueError):
        psycopg_conninfo("sqlite:///x.db")


def test_sweep_tick_and_lease_settings() -> None:
    """HOTLINE_SLA_SWEEP_S must be a tick the job engine can run (cron_of); the lease has
    bounds. The sweep is registered with the setting's tick."""
    from web.app import build_services
    from web.jobs import cron_of
    from web.wiring import register_jobs

    s = Settings()
    assert (s.sla_sweep_s, s.outbox_lease_s) == (30, 120.0)
    for good in (1, 2, 15, 30, 60, 300, 3600):
        assert cron_of(Settings(sla_sweep_s=good).sla_sweep_s)
    for bad in (7, 45, 90, 7200, 0):
        with pytest.raises(ValidationError, match="sla_sweep_s"):
            Settings(sla_sweep_s=bad)
    with pytest.raises(ValidationError, match="outbox_lease_s"):
        Settings(outbox_lease_s=0.5)
    services = build_services(Settings(sla_sweep_s=5, outbox_lease_s=9))
    try:
        register_jobs(services)
        assert services.jobs.periodics["sla_sweep"].every_s == 5
        assert services.dispatcher is not None and services.dispatcher.lease_s == 9
    finally:
        services.password_gate.close()
