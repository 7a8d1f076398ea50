"""Reading values aloud (zh/en): fixed cases as a person says them, and the integer reader
checked on 0..10^8 against independent parsers of what it wrote."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from softphone_bridge.ivr import say

SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.mark.parametrize(("n", "zh", "en"), [
    (0, "零", "zero"),
    (1, "一", "one"),
    (2, "二", "two"),
    (10, "十", "ten"),
    (15, "十五", "fifteen"),
    (20, "二十", "twenty"),
    (22, "二十二", "twenty-two"),
    (100, "一百", "one hundred"),
    (101, "一百零一", "one hundred one"),
    (110, "一百一十", "one hundred ten"),
    (115, "一百一十五", "one hundred fifteen"),
    (123, "一百二十三", "one hundred twenty-three"),
    (200, "两百", "two hundred"),
    (1000, "一千", "one thousand"),
    (1001, "一千零一", "one thousand one"),
    (1010, "一千零一十", "one thousand ten"),
    (1100, "一千一百", "one thousand one hundred"),
    (2005, "两千零五", "two thousand five"),
    (2222, "两千两百二十二", "two thousand two hundred twenty-two"),
    (10000, "一万", "ten thousand"),
    (10005, "一万零五", "ten thousand five"),
    (10500, "一万零五百", "ten thousand five hundred"),
    (12000, "一万两千", "twelve thousand"),
    (20000, "两万", "twenty thousand"),
    (100000, "十万", "one hundred thousand"),
    (150000, "十五万", "one hundred fifty thousand"),
    (100010, "十万零一十", "one hundred thousand ten"),
    (220000, "二十二万", "two hundred twenty thousand"),
    (1000000, "一百万", "one million"),
    (10010000, "一千零一万", "ten million ten thousand"),
    (100000000, "一亿", "one hundred million"),
    (100000001, "一亿零一", "one hundred million one"),
    (101000000, "一亿零一百万", "one hundred one million"),
    (200000000, "两亿", "two hundred million"),
    (1_000_000_000_000, "一万亿", "one trillion"),
])
def test_integers(n: int, zh: str, en: str) -> None:
    assert say.integer(n, "zh") == zh
    assert say.integer(n, "en") == en


def test_counting_two_is_liang_and_negative_numbers() -> None:
    assert say.integer(2, "zh", counting=True) == "两"
    assert say.integer(12, "zh", counting=True) == "十二"
    assert say.integer(2, "en", counting=True) == "two"
    assert say.integer(-15, "zh") == "负十五"
    assert say.integer(-15, "en") == "minus fifteen"


@pytest.mark.parametrize("bad", [True, 1.5, "3"])
def test_integer_refuses_what_is_not_an_int(bad: object) -> None:
    with pytest.raises(ValueError, match="not an integer"):
        say.integer(bad, "zh")  # type: ignore[arg-type]


def test_unknown_language_is_an_error() -> None:
    with pytest.raises(ValueError, match="unknown language"):
        say.integer(1, "fr")  # type: ignore[arg-type]


# -- property: the readers are exact and follow the 零/两/十 rules -----------------------------

_ZH_VALUE = {c: i for i, c in enumerate("零一二三四五六七八九")} | {"两": 2}
_ZH_SMALL = {"十": 10, "百": 100, "千": 1000}
_ZH_BIG = {"万": 10**4, "亿": 10**8}


def parse_zh(text: str) -> int:
    """A Chinese numeral → int (the textbook algorithm; 零 is only a place holder)."""
    total = section = digit = 0
    for c in text:
        if c in _ZH_VALUE:
            digit = _ZH_VALUE[c]
        elif c in _ZH_SMALL:
            section += (digit or 1) * _ZH_SMALL[c]
            digit = 0
        elif c in _ZH_BIG:
            section += digit
            unit = _ZH_BIG[c]
            # 一万亿: a bigger unit scales everything read so far that is below it
            total = (total + section) * unit if total < unit else total + section * unit
            section = digit = 0
        else:
            raise AssertionError(f"unexpected character {c!r} in {text!r}")
    return total + section + digit


_EN_WORDS = {w: i for i, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen".split())}
_EN_WORDS |= {w: 10 * i for i, w in enumerate(
    "twenty thirty forty fifty sixty seventy eighty ninety".split(), start=2)}
_EN_SCALE = {"thousand": 10**3, "million": 10**6, "billion": 10**9}


def parse_en(text: str) -> int:
    total = current = 0
    for word in text.replace("-", " ").split():
        if word in _EN_WORDS:
            current += _EN_WORDS[word]
        elif word == "hundred":
            current *= 100
        elif word in _EN_SCALE:
            total += current * _EN_SCALE[word]
            current = 0
        else:
            raise AssertionError(f"unexpected word {word!r} in {text!r}")
    return total + current


def zero_gaps(n: int) -> int:
    """How many 零 the textbook reading of ``n`` has: one per run of zero digits followed by a
    non-zero digit, unless the run only ends a 4-digit group (十万一千: the 万 group's "0"
    needs none; 一亿零一千: a whole zero group does)."""
    s = str(n)
    count = 0
    for run in re.finditer("0+", s):
        if run.end() == len(s):
            continue  # trailing zeros are never read
        lowest = len(s) - run.end()  # place value (10**lowest) of the run's last zero
        if lowest % 4 or len(run.group()) >= 4:
            count += 1
    return count


def test_zero_gaps_matches_known_readings() -> None:
    for n, reading in [(101000, "十万一千"), (100001000, "一亿零一千"), (1000100, "一百万零一百"),
                       (1010, "一千零一十"), (10001, "一万零一")]:
        assert say.integer(n, "zh") == reading
        assert zero_gaps(n) == reading.count("零")


@given(st.integers(min_value=0, max_value=10**8))
def test_zh_integer_reads_back_and_follows_the_rules(n: int) -> None:
    text = say.integer(n, "zh")
    assert parse_zh(text) == n
    assert "零零" not in text
    assert n == 0 or not text.endswith("零")
    assert not text.startswith("一十")              # 十五, 十万
    assert not re.search(r"两(?![百千万亿])", text)  # 两 only before a unit
    assert not re.search(r"二[百千]", text)          # 两百, 两千
    assert text.count("零") == (n == 0) + zero_gaps(n)


@given(st.integers(min_value=0, max_value=10**8))
def test_en_integer_reads_back(n: int) -> None:
    text = say.integer(n, "en")
    assert parse_en(text) == n
    assert "  " not in text and not text.endswith(" ")
    assert " and " not in text  # American style, no "and" after hundred


# -- digits, tickets -----------------------------------------------------------------------

def test_digit_strings_are_read_as_on_a_phone() -> None:
    assert say.digits("0123456789", "zh") == "零幺二三四五六七八九"
    assert say.digits("110", "zh") == "幺幺零"
    assert say.digits("123", "en") == "one two three"
    assert say.digits("007", "en") == "zero zero seven"


@pytest.mark.parametrize("bad", ["", "12a", "1 2", "١٢", "-1"])
def test_digits_refuse_non_digits(bad: str) -> None:
    with pytest.raises(ValueError, match="not a digit string"):
        say.digits(bad, "zh")


@pytest.mark.parametrize(("number", "zh", "en"), [
    ("T-000123", "工单幺二三", "ticket one two three"),
    ("T-100020", "工单幺零零零二零", "ticket one zero zero zero two zero"),
    ("T-000000", "工单零", "ticket zero"),
    ("T-1234567", "工单幺二三四五六七", "ticket one two three four five six seven"),
    ("123", "工单幺二三", "ticket one two three"),
    (" T000045 ", "工单四五", "ticket four five"),
])
def test_ticket_numbers_drop_leading_zeros(number: str, zh: str, en: str) -> None:
    assert say.ticket_number(number, "zh") == zh
    assert say.ticket_number(number, "en") == en


def test_ticket_digits() -> None:
    assert say.ticket_digits("T-000123") == "123"
    assert say.ticket_digits("0") == "0"


@pytest.mark.parametrize("bad", ["", "T-", "T-12a", "ticket", "T--12", "12-34"])
def test_not_a_ticket_number(bad: str) -> None:
    with pytest.raises(ValueError, match="not a ticket number"):
        say.ticket_number(bad, "en")


# -- hours, clock, days, moments --------------------------------------------------------------

@pytest.mark.parametrize(("h", "zh", "en"), [
    (0, "凌晨零点", "midnight"),
    (1, "凌晨一点", "1 a.m."),
    (2, "凌晨两点", "2 a.m."),
    (7, "早上七点", "7 a.m."),
    (9, "上午九点", "9 a.m."),
    (11, "上午十一点", "11 a.m."),
    (12, "中午十二点", "noon"),
    (14, "下午两点", "2 p.m."),
    (17, "下午五点", "5 p.m."),
    (18, "晚上六点", "6 p.m."),
    (22, "晚上十点", "10 p.m."),
    (23, "晚上十一点", "11 p.m."),
])
def test_hours(h: int, zh: str, en: str) -> None:
    assert say.hour(h, "zh") == zh
    assert say.hour(h, "en") == en


@pytest.mark.parametrize(("h", "m", "zh", "en"), [
    (15, 30, "下午三点半", "3:30 p.m."),
    (9, 5, "上午九点零五分", "9:05 a.m."),
    (9, 15, "上午九点十五分", "9:15 a.m."),
    (10, 45, "上午十点四十五分", "10:45 a.m."),
    (12, 30, "中午十二点半", "12:30 p.m."),
    (0, 20, "凌晨零点二十分", "12:20 a.m."),
    (14, 2, "下午两点零二分", "2:02 p.m."),
])
def test_clock_times(h: int, m: int, zh: str, en: str) -> None:
    assert say.clock(h, m, "zh") == zh
    assert say.clock(h, m, "en") == en


@pytest.mark.parametrize(("h", "m"), [(24, 0), (-1, 0), (3, 60), (3, -1)])
def test_bad_times(h: int, m: int) -> None:
    with pytest.raises(ValueError, match=r"not an? (hour|minute)"):
        say.clock(h, m, "zh")


@pytest.mark.parametrize(("d", "zh", "en"), [
    (date(2026, 12, 1), "今天", "today"),
    (date(2026, 12, 2), "明天", "tomorrow"),
    (date(2026, 12, 3), "后天", "December 3rd"),
    (date(2026, 11, 30), "昨天", "yesterday"),
    (date(2026, 12, 25), "十二月二十五日", "December 25th"),
    (date(2026, 2, 10), "二月十日", "February 10th"),
    (date(2027, 1, 5), "二零二七年一月五日", "January 5th, 2027"),
    (date(2031, 11, 21), "二零三一年十一月二十一日", "November 21st, 2031"),
    (date(2026, 12, 22), "十二月二十二日", "December 22nd"),
    (date(2026, 12, 13), "十二月十三日", "December 13th"),
    (date(2026, 5, 31), "五月三十一日", "May 31st"),
])
def test_days_relative_to_today(d: date, zh: str, en: str) -> None:
    today = date(2026, 12, 1)
    assert say.day(d, "zh", today=today) == zh
    assert say.day(d, "en", today=today) == en


def test_moments_are_read_in_the_site_timezone_relative_to_its_today() -> None:
    now = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai
    cases = [
        (datetime(2026, 12, 1, 7, 30, tzinfo=UTC), "今天下午三点半", "today at 3:30 p.m."),
        (datetime(2026, 12, 2, 1, 0, tzinfo=UTC), "明天上午九点", "tomorrow at 9 a.m."),
        (datetime(2026, 12, 4, 7, 0, 59, tzinfo=UTC), "十二月四日下午三点",
         "December 4th at 3 p.m."),
        (datetime(2026, 12, 1, 16, 30, tzinfo=UTC), "明天凌晨零点半", "tomorrow at 12:30 a.m."),
        (datetime(2026, 12, 1, 4, 0, tzinfo=UTC), "今天中午十二点", "today at noon"),
    ]
    for moment, zh, en in cases:
        assert say.when(moment, "zh", now=now, tz=SHANGHAI) == zh
        assert say.when(moment, "en", now=now, tz=SHANGHAI) == en
    # 23:30 UTC is already tomorrow in Shanghai, but today in UTC
    late = datetime(2026, 12, 1, 23, 30, tzinfo=UTC)
    assert say.when(late, "en", now=now, tz=SHANGHAI) == "tomorrow at 7:30 a.m."
    assert say.when(late, "en", now=now, tz=UTC) == "today at 11:30 p.m."


def test_when_needs_aware_datetimes() -> None:
    naive = datetime(2026, 12, 1, 15, 0)
    with pytest.raises(ValueError, match="timezone-aware"):
        say.when(naive, "zh", now=datetime.now(UTC), tz=SHANGHAI)
    with pytest.raises(ValueError, match="timezone-aware"):
        say.when(datetime.now(UTC), "zh", now=naive, tz=SHANGHAI)


@given(st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1),
                    timezones=st.just(UTC)),
       st.integers(min_value=-400, max_value=400))
def test_when_always_reads_something_sensible(now: datetime, offset_h: int) -> None:
    moment = now + timedelta(hours=offset_h)
    zh = say.when(moment, "zh", now=now, tz=SHANGHAI)
    en = say.when(moment, "en", now=now, tz=SHANGHAI)
    assert re.fullmatch(r"[\u4e00-\u9fff]+", zh), zh
    assert re.fullmatch(r"[A-Za-z0-9 ,:.]+ at [0-9:]+ [ap]\.m\.|.+ at (noon|midnight)", en), en


# -- durations and statuses ---------------------------------------------------------------------

@pytest.mark.parametrize(("s", "zh", "en"), [
    (0, "零秒", "zero seconds"),
    (1, "一秒", "one second"),
    (2, "两秒", "two seconds"),
    (30, "三十秒", "thirty seconds"),
    (59.6, "一分钟", "one minute"),
    (90, "一分三十秒", "one minute and thirty seconds"),
    (120, "两分钟", "two minutes"),
    (125, "两分五秒", "two minutes and five seconds"),
    (3600, "一小时", "one hour"),
    (3605, "一小时零五秒", "one hour and five seconds"),
    (7322, "两小时两分两秒", "two hours, two minutes and two seconds"),
])
def test_durations(s: float, zh: str, en: str) -> None:
    assert say.duration(s, "zh") == zh
    assert say.duration(s, "en") == en


@pytest.mark.parametrize("bad", [-1, float("nan"), float("inf"), True])
def test_bad_durations(bad: float) -> None:
    with pytest.raises(ValueError, match="not a duration"):
        say.duration(bad, "en")


@pytest.mark.parametrize(("key", "zh", "en"), [
    ("new", "新建", "new"),
    ("open", "处理中", "open"),
    ("in_progress", "处理中", "in progress"),
    ("pending_customer", "等待您的回复", "waiting for you"),
    ("pending", "暂缓处理", "on hold"),
    ("resolved", "已解决", "resolved"),
    ("closed", "已关闭", "closed"),
    ("escalated_twice", "escalated twice", "escalated twice"),  # unknown: the key itself
])
def test_statuses(key: str, zh: str, en: str) -> None:
    assert say.status(key, "zh") == zh
    assert say.status(key, "en") == en
