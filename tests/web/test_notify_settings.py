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
