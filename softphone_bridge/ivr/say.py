"""Reading values aloud: numbers, ticket numbers, hours, dates and statuses as TEXT for a TTS.

The IVR's prompts are synthesized by espeak-ng, whose own number reading is not good enough
for a hotline (its Mandarin voice reads ``2005`` as 二千五, and nobody reads a ticket number
as one integer). So every value a prompt says is spelled out here first, the way a person on
a Chinese or English hotline says it, and the synthesizer only sees words:

* integers: 一百二十三, 两千零五, 十五 (零 for a gap, 两 before 百/千/万/亿, no 一 before a
  leading 十) / "one hundred twenty-three";
* digit strings, phone style: 幺二三 (幺 for 1) / "one two three";
* ticket numbers: ``T-000123`` → 工单幺二三 / "ticket one two three" (leading zeros dropped);
* hours and clock times: 下午两点, 下午三点半 / "2 p.m.", "3:30 p.m.";
* moments relative to today in the site's timezone: 今天下午三点半, 明天上午九点,
  十二月三日下午三点 / "today at 3:30 p.m.", "December 3rd at 3 p.m.";
* durations (最长两分钟 / "two minutes") and ticket status keys.

Everything here is pure (no clock: callers pass ``now``) and raises ``ValueError`` on a value
it cannot read (a negative hour, a ticket number without digits, a naive datetime).
"""

from __future__ import annotations

import re
from datetime import date, datetime, tzinfo

from softphone_bridge.ivr.ports import Lang

__all__ = [
    "clock",
    "day",
    "digits",
    "duration",
    "hour",
    "integer",
    "status",
    "ticket_digits",
    "ticket_number",
    "when",
]

_ZH_DIGITS = "零一二三四五六七八九"
#: Digit names when a string is read digit by digit (phone numbers): 幺 for 1, as Chinese
#: phones and hotlines say it, so that 1 and 7 (yī / qī) cannot be confused.
_ZH_PHONE_DIGITS = "零幺二三四五六七八九"
_EN_ONES = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
            "ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen",
            "seventeen", "eighteen", "nineteen")
_EN_TENS = ("", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty",
            "ninety")
_EN_SCALES = ((10**12, "trillion"), (10**9, "billion"), (10**6, "million"), (1000, "thousand"))
_EN_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August",
              "September", "October", "November", "December")

_STATUS: dict[str, dict[str, str]] = {
    "zh": {"new": "新建", "assigned": "已受理", "open": "处理中", "in_progress": "处理中",
           "pending_customer": "等待您的回复", "pending": "暂缓处理", "resolved": "已解决",
           "closed": "已关闭", "cancelled": "已取消", "reopened": "重新处理中"},
    "en": {"new": "new", "assigned": "assigned to an agent", "open": "open",
           "in_progress": "in progress", "pending_customer": "waiting for you",
           "pending": "on hold", "resolved": "resolved", "closed": "closed",
           "cancelled": "cancelled", "reopened": "reopened"},
}

_TICKET = re.compile(r"(?:[A-Za-z]{1,5}-?)?(\d{1,18})")


def _lang(lang: str) -> Lang:
    if lang == "zh":
        return "zh"
    if lang == "en":
        return "en"
    raise ValueError(f"unknown language {lang!r} (zh or en)")


# -- integers ------------------------------------------------------------------------------

def integer(n: int, lang: Lang, *, counting: bool = False) -> str:
    """``n`` in words: ``integer(2005, "zh")`` → ``"两千零五"``, ``integer(123, "en")`` →
    ``"one hundred twenty-three"``.

    ``counting``: the number counts something (两张工单, 两分钟), so a lone 2 is 两 in
    Chinese rather than 二 (English ignores it). Negative numbers get 负 / "minus".
    Raises ``ValueError`` for a bool or an unknown language.
    """
    if isinstance(n, bool) or not isinstance(n, int):
        raise ValueError(f"not an integer: {n!r}")
    lang = _lang(lang)
    if n < 0:
        return ("负" if lang == "zh" else "minus ") + integer(-n, lang, counting=counting)
    if lang == "en":
        return _en(n)
    if n == 2 and counting:
        return "两"
    return "零" if n == 0 else _zh(n, lead=True)


def _zh(n: int, *, lead: bool) -> str:
    """1 ≤ n; ``lead``: nothing is read before it (so 10–19 start with 十, not 一十)."""
    for unit, name in ((10**8, "亿"), (10**4, "万")):
        if n >= unit:
            high, low = divmod(n, unit)
            head = "两" if high == 2 else _zh(high, lead=lead)
            if low == 0:
                return head + name
            # a gap before the lower part (一万零五, 一亿零一百万) is read as one 零
            gap = "零" if low < unit // 10 else ""
            return head + name + gap + _zh(low, lead=False)
    return _zh_small(n, lead=lead)


def _zh_small(n: int, *, lead: bool) -> str:
    """1 ≤ n < 10 000."""
    out: list[str] = []
    started = zero_pending = False
    for d, unit in zip((n // 1000, n // 100 % 10, n // 10 % 10, n % 10),
                       ("千", "百", "十", ""), strict=True):
        if d == 0:
            zero_pending = started
            continue
        if zero_pending:
            out.append("零")
            zero_pending = False
        if d == 2 and unit in ("千", "百"):
            word = "两"
        elif d == 1 and unit == "十" and lead and not started:
            word = ""
        else:
            word = _ZH_DIGITS[d]
        out.append(word + unit)
        started = True
    return "".join(out)


def _en(n: int) -> str:
    if n < 20:
        return _EN_ONES[n]
    if n < 100:
        tens, ones = divmod(n, 10)
        return _EN_TENS[tens] + (f"-{_EN_ONES[ones]}" if ones else "")
    if n < 1000:
        hundreds, rest = divmod(n, 100)
        return f"{_EN_ONES[hundreds]} hundred" + (f" {_en(rest)}" if rest else "")
    for scale, name in _EN_SCALES:
        if n >= scale:
            high, rest = divmod(n, scale)
            return f"{_en(high)} {name}" + (f" {_en(rest)}" if rest else "")
    raise AssertionError("unreachable")  # pragma: no cover


# -- digit strings and ticket numbers ------------------------------------------------------

def digits(text: str, lang: Lang) -> str:
    """A digit string read digit by digit, as phone numbers are: ``"0123"`` → ``"零幺二三"`` /
    ``"zero one two three"``. Raises ``ValueError`` when ``text`` is empty or has anything but
    ASCII digits."""
    lang = _lang(lang)
    if not text or not text.isascii() or not text.isdigit():
        raise ValueError(f"not a digit string: {text!r}")
    if lang == "zh":
        return "".join(_ZH_PHONE_DIGITS[int(c)] for c in text)
    return " ".join(_EN_ONES[int(c)] for c in text)


def ticket_digits(number: str) -> str:
    """The digits a caller types for a ticket: ``"T-000123"`` → ``"123"``, ``"000"`` → ``"0"``.

    Accepts ``T-000123``, ``T000123`` and bare digits (a short letter prefix is ignored).
    Raises ``ValueError`` for anything else.
    """
    match = _TICKET.fullmatch(number.strip()) if isinstance(number, str) else None
    if match is None:
        raise ValueError(f"not a ticket number: {number!r}")
    return match.group(1).lstrip("0") or "0"


def ticket_number(number: str, lang: Lang) -> str:
    """``"T-000123"`` → ``"工单幺二三"`` / ``"ticket one two three"`` (see :func:`ticket_digits`
    for what is accepted)."""
    lang = _lang(lang)
    said = digits(ticket_digits(number), lang)
    return f"工单{said}" if lang == "zh" else f"ticket {said}"


# -- hours, dates, moments ------------------------------------------------------------------

def _check_hm(h: int, minute: int) -> None:
    if isinstance(h, bool) or not isinstance(h, int) or not 0 <= h <= 23:
        raise ValueError(f"not an hour (0-23): {h!r}")
    if isinstance(minute, bool) or not isinstance(minute, int) or not 0 <= minute <= 59:
        raise ValueError(f"not a minute (0-59): {minute!r}")


def _zh_period(h: int) -> str:
    if h < 5:
        return "凌晨"
    if h < 9:
        return "早上"
    if h < 12:
        return "上午"
    if h == 12:
        return "中午"
    return "下午" if h < 18 else "晚上"


def hour(h: int, lang: Lang) -> str:
    """An hour of the day (0–23) on the 12-hour clock: 14 → ``"下午两点"`` / ``"2 p.m."``;
    12 → 中午十二点 / "noon"; 0 → 凌晨零点 / "midnight". Raises ``ValueError`` outside 0–23."""
    return clock(h, 0, lang)


def clock(h: int, minute: int, lang: Lang) -> str:
    """A time of day: (15, 30) → ``"下午三点半"`` / ``"3:30 p.m."``; (9, 5) → ``"上午九点零五分"``
    / ``"9:05 a.m."``. Raises ``ValueError`` for an hour outside 0–23 or a minute outside 0–59.
    """
    lang = _lang(lang)
    _check_hm(h, minute)
    if lang == "zh":
        h12 = h if h <= 12 else h - 12
        said = _zh_period(h) + integer(h12, "zh", counting=True) + "点"
        if minute == 30:
            return said + "半"
        if minute:
            return said + ("零" if minute < 10 else "") + integer(minute, "zh") + "分"
        return said
    if minute == 0 and h in (0, 12):
        return "midnight" if h == 0 else "noon"
    suffix = "a.m." if h < 12 else "p.m."
    h12 = h % 12 or 12
    return f"{h12}:{minute:02d} {suffix}" if minute else f"{h12} {suffix}"


def day(d: date, lang: Lang, *, today: date) -> str:
    """A date relative to ``today``: 今天/明天/后天/昨天 / "today", "tomorrow", "yesterday";
    otherwise 十二月三日 / "December 3rd", with the year when it is not ``today``'s
    (二零二七年一月五日 / "January 5th, 2027")."""
    lang = _lang(lang)
    offset = (d - today).days
    if lang == "zh":
        relative = {-1: "昨天", 0: "今天", 1: "明天", 2: "后天"}.get(offset)
        if relative:
            return relative
        year = "" if d.year == today.year else digits(str(d.year), "zh").replace("幺", "一") + "年"
        return f"{year}{integer(d.month, 'zh')}月{integer(d.day, 'zh')}日"
    relative = {-1: "yesterday", 0: "today", 1: "tomorrow"}.get(offset)
    if relative:
        return relative
    said = f"{_EN_MONTHS[d.month - 1]} {_ordinal(d.day)}"
    return said if d.year == today.year else f"{said}, {d.year}"


def _ordinal(n: int) -> str:
    """3 → "3rd": a date is said "December third" (espeak-ng reads "3rd" so)."""
    suffix = "th" if 11 <= n % 100 <= 13 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def when(moment: datetime, lang: Lang, *, now: datetime, tz: tzinfo) -> str:
    """A moment as a caller hears it, in the site's timezone ``tz``, relative to ``now``'s day:
    ``"今天下午三点半"``, ``"明天上午九点"``, ``"十二月三日下午三点"`` / ``"today at 3:30 p.m."``,
    ``"tomorrow at 9 a.m."``, ``"December 3rd at 3 p.m."``. Seconds are dropped.

    Raises ``ValueError`` for a naive ``moment`` or ``now`` (their timezone is unknown).
    """
    lang = _lang(lang)
    if moment.tzinfo is None or now.tzinfo is None:
        raise ValueError("when() needs timezone-aware datetimes")
    local = moment.astimezone(tz)
    said_day = day(local.date(), lang, today=now.astimezone(tz).date())
    said_time = clock(local.hour, local.minute, lang)
    return f"{said_day}{said_time}" if lang == "zh" else f"{said_day} at {said_time}"


# -- durations and statuses -----------------------------------------------------------------

def duration(seconds: float, lang: Lang) -> str:
    """A duration, rounded to the second: 120 → ``"两分钟"`` / ``"two minutes"``; 90 →
    ``"一分三十秒"`` / ``"one minute and thirty seconds"``; 3600 → 一小时 / "one hour".
    Raises ``ValueError`` for a negative or non-finite value."""
    lang = _lang(lang)
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) \
            or not 0 <= seconds < float("inf"):
        raise ValueError(f"not a duration in seconds: {seconds!r}")
    total = round(seconds)
    h, rest = divmod(total, 3600)
    m, s = divmod(rest, 60)
    if lang == "zh":
        if total == 0:
            return "零秒"
        parts = []
        if h:
            parts.append(integer(h, "zh", counting=True) + "小时")
        if m:
            # 一分三十秒, but 两分钟 when nothing follows
            parts.append(integer(m, "zh", counting=True) + ("分" if s else "分钟"))
        if s:
            parts.append(("零" if h and not m else "") + integer(s, "zh", counting=True) + "秒")
        return "".join(parts)
    words = [f"{_en(v)} {unit}{'' if v == 1 else 's'}"
             for v, unit in ((h, "hour"), (m, "minute"), (s, "second")) if v]
    if not words:
        return "zero seconds"
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def status(key: str, lang: Lang) -> str:
    """A ticket status key as the caller hears it: ``in_progress`` → ``"处理中"`` /
    ``"in progress"``; ``pending_customer`` → 等待您的回复 / "waiting for you". An unknown key
    is read as itself (underscores as spaces), so a new status is never a failure."""
    lang = _lang(lang)
    return _STATUS[lang].get(key) or key.replace("_", " ")
