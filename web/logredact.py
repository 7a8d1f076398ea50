"""No token, password, secret or one-time code in any log line.

Consoles open ``/ws?token=<JWT>``, and uvicorn's access log writes every request line in
full; whoever reads the log could act as that user until the token expires. Redaction
happens when a record is *created* (a log-record factory), so it covers every logger and
every handler — uvicorn's, ours, and whatever a deployment adds — without depending on the
order in which logging gets configured. :class:`RedactFilter` does the same job for handler
configurations (``logging.config`` dicts) that want it explicitly.

Arguments are redacted one by one (not pre-formatted) because uvicorn's access formatter
unpacks ``record.args`` by position.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping
from typing import Any

MASK = "[redacted]"
# Any key containing one of these words (HOTLINE_SECRET_KEY, ivr_password, access_token…),
# or a one-time code's usual names, or a ticket's PIN (tickets.ivr; exact names only:
# "pin" inside a word, as in "mapping", is no PIN).
_SENSITIVE = (r"[A-Za-z0-9_]*(?:token|password|passwd|pwd|secret|api_?key|otp)[A-Za-z0-9_]*|"
              r"code|one_time_code|verification_code|sms_code|pin|ticket_pin")
_RULES: tuple[tuple[re.Pattern[str], str], ...] = (
    # JWTs anywhere (header.payload.signature, the header always starts "eyJ").
    (re.compile(r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*"), MASK),
    # Authorization headers and bare bearer/basic credentials.
    (re.compile(r"(?i)\b(authorization\s*[:=]\s*)(?:\S+\s+)?[^\s,;'\"]+"), rf"\1{MASK}"),
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]+"), rf"\1 {MASK}"),
    # key=value in query strings and log text (?token=…, &password=…).
    (re.compile(rf"(?i)(?<![A-Za-z0-9_])({_SENSITIVE})=([^&\s'\",;]+)"), rf"\1={MASK}"),
    # JSON / dict shapes: "password": "…", 'token': '…'.
    (re.compile(rf"(?i)([\"']({_SENSITIVE})[\"']\s*:\s*)[\"'][^\"']*[\"']"), rf'\1"{MASK}"'),
)


#: Every rule's match contains one of these (a JWT ``eyJ``, ``=``, a quote, or the words
#: authorization/bearer/basic): text without any is clean after one search, not five
#: substitutions (the access log redacts every argument of every request line).
_MAYBE = re.compile(r"eyJ|=|[\"']|(?i:authorization|bearer|basic)")


def redact(text: str) -> str:
    """``text`` with every credential-looking value replaced by ``[redacted]``."""
    if _MAYBE.search(text) is None:
        return text
    for pattern, replacement in _RULES:
        text = pattern.sub(replacement, text)
    return text


def _redact_value(value: object) -> object:
    """A log argument without credentials. Text is cleaned; numbers and None keep their type
    (``%d``/``%f``); anything else (an ``httpx.URL``, a headers dict, bytes) is cleaned as the
    text it would print as, and replaced by that text only when it held a credential."""
    if isinstance(value, str):
        return redact(value)
    if value is None or isinstance(value, int | float):
        return value
    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
    cleaned = redact(text)
    return value if cleaned == text else cleaned


def redact_record(record: logging.LogRecord) -> None:
    """Redact ``record``'s message and arguments in place (shapes kept)."""
    if isinstance(record.msg, str):
        record.msg = redact(record.msg)
    args = record.args
    if isinstance(args, tuple):
        record.args = tuple(_redact_value(a) for a in args)
    elif isinstance(args, Mapping):
        record.args = {k: _redact_value(v) for k, v in args.items()}


class RedactFilter(logging.Filter):
    """A handler/logger filter that redacts and never drops a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        redact_record(record)
        return True


_installed = False


def install_redaction() -> None:
    """Redact every log record of this process from now on (idempotent)."""
    global _installed
    if _installed:
        return
    previous: Callable[..., logging.LogRecord] = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        redact_record(record)
        return record

    logging.setLogRecordFactory(factory)
    _installed = True
