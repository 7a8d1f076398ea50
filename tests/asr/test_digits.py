"""Spoken digits to numbers in English, Chinese and Korean."""

from __future__ import annotations

import pytest

from asr.digits import find_digit_runs, normalize_digits


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # English
        ("my order is one two three four five six", "my order is 123456"),
        ("double five oh one", "5501"),
        ("triple seven two", "7772"),
        ("oh one two three", "0123"),
        ("one-two-three, four", "1234"),
        ("Nine Eight Seven", "987"),
        ("it is 12 three 4", "it is 1234"),
        ("oh I see, one", "oh I see, one"),
        ("the one I bought", "the one I bought"),
        ("double trouble one", "double trouble one"),
        ("oh oh oh", "oh oh oh"),
        # Chinese
        ("订单号幺三八零零一三八", "订单号13800138"),
        ("订单 号 幺 三 八 零 零 一 三 八", "订单 号 13800138"),
        ("幺三八 0013 八千", "1380013 八千"),
        ("三百五十", "三百五十"),
        ("两零二四〇〇〇一", "20240001"),
        ("稍等一下，两个问题", "稍等一下，两个问题"),
        ("第一", "第一"),
        # Korean
        ("주문 번호는 일이삼사오입니다", "주문 번호는 12345입니다"),
        ("일 이 삼 공 공", "12300"),
        ("영 일 공 구 팔", "01098"),
        ("이것은 사과", "이것은 사과"),
        ("하고 [2] [05] [1] 다", "하고 2051 다"),
    ],
)
def test_normalize_digits(text: str, expected: str) -> None:
    assert normalize_digits(text) == expected


def test_runs_carry_source_positions() -> None:
    text = "order one two three and phone 555 1234"
    runs = find_digit_runs(text)
    assert [r.digits for r in runs] == ["123", "5551234"]
    assert text[runs[0].start : runs[0].end] == "one two three"
    assert text[runs[1].start : runs[1].end] == "555 1234"


def test_korean_particle_is_not_part_of_the_run() -> None:
    text = "번호는 칠팔구이에요"
    (run,) = find_digit_runs(text)
    assert run.digits == "789"
    assert text[run.end :] == "이에요"


def test_min_run_is_respected() -> None:
    assert find_digit_runs("one two", min_run=3) == []
    assert [r.digits for r in find_digit_runs("one two", min_run=2)] == ["12"]
    assert normalize_digits("一二三四", min_run=5) == "一二三四"


def test_double_needs_a_single_digit_after_it() -> None:
    assert normalize_digits("double 55 one") == "double 551"
    assert normalize_digits("one two three double") == "123 double"
