"""Phone numbers: E.164 for storage and lookup, the written form and extension kept apart.

Callers write numbers every way (``138 0013 8000``, ``+86 138-0013-8000``,
``008613800138000``, ``021-61234567 ext. 808``, ``+86 21 6123 4567 转 808``); AMI hands us
whatever the trunk sent. Two strengths of reading, on purpose:

* :func:`parse` — for what we *store*: the number must be valid (``phonenumbers``
  ``is_valid_number``, not merely "possible": ``6552 9988`` read in China as ``+86 65529988``
  does not exist and would pop and call back wrong). A landline written without its area
  code is refused with :class:`MissingAreaCode`, unless a default area code is configured.
  The extension (``ext``, ``x``, ``#``, ``转``, ``分机``) is split off and kept.
* :func:`normalize` / :func:`try_normalize` — for *lookups* (search, caller ID): any
  readable number gives a key; an unknown one simply finds nobody. Raw caller IDs are
  kept as sent by the call log, not through here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import phonenumbers

_JUNK = re.compile(r"[^\d+]")
#: A trailing extension: "ext. 808", "x808", "#808", "转 808", "分机808", "extension 808".
_EXTENSION = re.compile(r"(?i)[\s,;]*(?:ext(?:ension)?\.?|x|#|转|轉|分机|分機)\s*[:.]?\s*"
                        r"(\d{1,10})\s*$")
_LANDLINE_DIGITS = (7, 8)  # a Chinese local number: 7–8 digits, no area code


class InvalidPhoneNumber(ValueError):
    """The text cannot be read as a (valid) phone number in the given region."""


class MissingAreaCode(InvalidPhoneNumber):
    """A landline written without its area code, and no default area code is configured."""


@dataclass(frozen=True, slots=True)
class Phone:
    """A number fit for storage: ``e164`` (``+862161234567``), the extension (digits or
    ``None``) and the text as the user wrote it."""

    e164: str
    extension: str | None
    written: str

    @property
    def display(self) -> str:
        return display(self.e164, self.extension)


def split_extension(raw: str) -> tuple[str, str | None]:
    """``"021-61234567 转 808"`` → ``("021-61234567", "808")``; no extension → ``None``."""
    match = _EXTENSION.search(raw)
    if match is None or not _JUNK.sub("", raw[:match.start()]).lstrip("+"):
        return raw, None
    return raw[:match.start()], match.group(1)


def _parse(number: str, region: str) -> phonenumbers.PhoneNumber:
    compact = _JUNK.sub("", number.strip())
    if not compact.lstrip("+"):
        raise InvalidPhoneNumber(f"not a phone number: {number.strip()!r}")
    if compact.startswith("00"):
        compact = "+" + compact[2:]
    try:
        return phonenumbers.parse(compact, None if compact.startswith("+") else region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidPhoneNumber(f"not a phone number: {number.strip()!r} ({exc})") from None


def _e164(parsed: phonenumbers.PhoneNumber) -> str:
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def lacks_area_code(number: str, region: str) -> bool:
    """A national number too short to carry an area code (``6552 9988`` in China): it
    cannot be matched to anyone's stored number, which always has one."""
    digits = _JUNK.sub("", number)
    return (region == "CN" and not digits.startswith(("+", "0"))
            and len(digits) in _LANDLINE_DIGITS and digits[0] != "1")


def _with_area_code(number: str, region: str, area_code: str | None) -> str:
    if area_code and lacks_area_code(number, region):
        return "0" + area_code.lstrip("0") + _JUNK.sub("", number)
    return number


@lru_cache(maxsize=16384)
def parse(raw: str, region: str = "CN", area_code: str | None = None) -> Phone:
    """A valid number from ``raw``, or :class:`InvalidPhoneNumber` saying why.

    ``area_code`` (e.g. ``"21"``) completes a landline written without one; without it such
    a number raises :class:`MissingAreaCode`.
    """
    written = (raw or "").strip()
    if not written or written == "<unknown>":
        raise InvalidPhoneNumber("empty phone number")
    number, extension = split_extension(written)
    if lacks_area_code(number, region) and not area_code:
        raise MissingAreaCode(f"the area code is missing: {written!r} is a landline number "
                              "without its area code (write it as e.g. 021 6552 9988)")
    parsed = _parse(_with_area_code(number, region, area_code), region)
    if not phonenumbers.is_valid_number(parsed):
        raise InvalidPhoneNumber(f"not a valid phone number: {written!r} (no such number in "
                                 "the numbering plan)")
    return Phone(e164=_e164(parsed), extension=extension, written=written)


@lru_cache(maxsize=65536)
def normalize(raw: str, region: str = "CN", area_code: str | None = None) -> str:
    """The lookup key (E.164) of ``raw``, extension dropped; :class:`InvalidPhoneNumber` if
    it cannot be read. Possible-but-invalid numbers still give a key (they find nobody)."""
    text = raw.strip() if raw else ""
    if not text or text == "<unknown>":
        raise InvalidPhoneNumber("empty phone number")
    number, _ = split_extension(text)
    parsed = _parse(_with_area_code(number, region, area_code), region)
    if not phonenumbers.is_possible_number(parsed):
        raise InvalidPhoneNumber(f"not a possible phone number for {region}: {raw!r}")
    return _e164(parsed)


def try_normalize(raw: str | None, region: str = "CN",
                  area_code: str | None = None) -> str | None:
    """Like :func:`normalize` but ``None`` for anything unreadable (caller ID, speech)."""
    if not raw:
        return None
    try:
        return normalize(raw, region, area_code)
    except InvalidPhoneNumber:
        return None


def invalid_reason(e164: str) -> str | None:
    """Why a stored ``e164`` is not a valid number, or ``None`` if it is."""
    try:
        parsed = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException as exc:
        return f"not a phone number ({exc})"
    if not phonenumbers.is_valid_number(parsed):
        return "not a valid number in its country's numbering plan"
    return None


def display(e164: str, extension: str | None = None) -> str:
    """International display form, e.g. ``+86 21 6123 4567 ext. 808``."""
    try:
        parsed = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        text = e164
    else:
        text = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
    return f"{text} ext. {extension}" if extension else text
