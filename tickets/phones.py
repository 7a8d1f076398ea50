"""Phone numbers: one normalized form (E.164) for storage, lookup and display.

Callers write numbers every way (``138 0013 8000``, ``+86 138-0013-8000``,
``008613800138000``); AMI hands us whatever the trunk sent. Everything is parsed by
``phonenumbers`` against a default region so one customer is found by any form.
"""

from __future__ import annotations

import re
from functools import lru_cache

import phonenumbers

_INTL_PREFIXES = ("00", "+")
_JUNK = re.compile(r"[^\d+]")


class InvalidPhoneNumber(ValueError):
    """The text cannot be read as a phone number in the given region."""


@lru_cache(maxsize=65536)
def normalize(raw: str, region: str = "CN") -> str:
    """Return the E.164 form of ``raw`` or raise :class:`InvalidPhoneNumber`.

    Numbers are accepted when ``phonenumbers`` finds them *possible* (length fits the
    country's plan); strict validity would reject new number ranges and test numbers
    such as +1 555 ..., which real call centers still receive.
    """
    text = raw.strip() if raw else ""
    if not text or text == "<unknown>":
        raise InvalidPhoneNumber("empty phone number")
    compact = _JUNK.sub("", text)
    if not compact.lstrip("+"):
        raise InvalidPhoneNumber(f"not a phone number: {raw!r}")
    if compact.startswith("00"):
        compact = "+" + compact[2:]
    try:
        parsed = phonenumbers.parse(compact, None if compact.startswith("+") else region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidPhoneNumber(f"not a phone number: {raw!r} ({exc})") from None
    if not phonenumbers.is_possible_number(parsed):
        raise InvalidPhoneNumber(f"not a possible phone number for {region}: {raw!r}")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def try_normalize(raw: str | None, region: str = "CN") -> str | None:
    """Like :func:`normalize` but ``None`` for anything unreadable (caller ID, speech)."""
    if not raw:
        return None
    try:
        return normalize(raw, region)
    except InvalidPhoneNumber:
        return None


def display(e164: str) -> str:
    """International display form, e.g. ``+86 138 0013 8000``."""
    try:
        parsed = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return e164
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
