"""Ticket prefill from transcripts: type, order numbers, phone numbers; zh, en, ko."""

from __future__ import annotations

import pytest

from asr.context import CallContext
from asr.extract import Extractor, Prefill, extract

KNOWN = CallContext(known_orders=["SO20240001", "88001234"], default_region="CN")


# -- ticket type ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "ticket_type"),
    [
        ("I'd like a refund please", "refund"),
        ("my washing machine is broken and stopped working", "repair"),
        ("the parcel hasn't arrived, where is my delivery", "delivery"),
        ("I want to make a complaint, your agent was rude", "complaint"),
        ("I forgot my password and cannot log in", "account"),
        ("我要退款", "refund"),
        ("冰箱坏了，需要维修", "repair"),
        ("快递 还 没 到", "delivery"),
        ("我要投诉你们的服务", "complaint"),
        ("账号登录不了，密码忘了", "account"),
        ("환불 해 주세요", "refund"),
        ("세탁기가 고장 났어요 수리 부탁", "repair"),
        ("택배 배송 이 안 와요", "delivery"),
        ("불만 이 있어서 항의 합니다", "complaint"),
        ("비밀번호 를 잊어버려서 로그인 이 안 돼요", "account"),
    ],
)
def test_ticket_type_in_three_languages(text: str, ticket_type: str) -> None:
    got = extract(text)
    assert got.ticket_type == ticket_type
    assert 0.5 <= got.confidence <= 1.0


def test_confidence_grows_with_evidence_and_falls_with_conflict() -> None:
    one = extract("refund").confidence
    two = extract("refund, I want my money back").confidence
    mixed = extract("refund, it is broken").confidence
    assert two > one > mixed


def test_conflicting_evidence_suggests_no_type() -> None:
    got = extract("refund broken delivery complaint")
    assert got.ticket_type is None
    assert got.confidence < 0.3


def test_no_keywords_no_type() -> None:
    assert extract("hello, good morning") == Prefill()


def test_latin_keywords_respect_word_boundaries() -> None:
    assert extract("the prefix is unrefundable").ticket_type is None
    assert extract("two refunds").ticket_type == "refund"


def test_configured_keywords_replace_defaults() -> None:
    ctx = CallContext(ticket_types={"installation": {"en": ["install"], "zh": ["安装"]}})
    assert extract("please install it", ctx).ticket_type == "installation"
    assert extract("我要预约安装", ctx).ticket_type == "installation"
    assert extract("refund", ctx).ticket_type is None


# -- order numbers ----------------------------------------------------------------------


def test_spoken_english_order_number() -> None:
    got = extract("my order number is two zero two four double zero five six")
    assert got.order_numbers == ("20240056",)
    assert got.known_orders == ()


def test_chinese_order_number_with_yao_and_mixed_digits() -> None:
    got = extract("订单号幺三八零零一三八 8000，我要退款")
    assert got.order_numbers == ("138001388000",)
    assert got.ticket_type == "refund"


def test_korean_order_number_with_particle() -> None:
    got = extract("주문 번호는 일이삼사오육칠팔입니다 환불 해 주세요")
    assert got.order_numbers == ("12345678",)
    assert got.ticket_type == "refund"


def test_known_order_with_letters_is_found_from_its_digits() -> None:
    got = extract("order S O two zero two four zero zero zero one", KNOWN)
    assert got.order_numbers == ("SO20240001",)
    assert got.known_orders == ("SO20240001",)


def test_one_digit_off_known_order_is_corrected() -> None:
    got = extract("订单 八八零零一二三五", KNOWN)
    assert got.order_numbers == ("88001234",)
    assert got.known_orders == ("88001234",)


def test_fuzzy_match_must_be_unique() -> None:
    ctx = CallContext(known_orders=["11112222", "11112224"])
    got = extract("order one one one one two two two three", ctx)
    assert got.known_orders == ()
    assert got.order_numbers == ("11112223",)


def test_real_order_comes_before_a_guess() -> None:
    got = extract("order 55667788 and also 88001234", KNOWN)
    assert got.order_numbers == ("88001234", "55667788")
    assert got.known_orders == ("88001234",)


def test_configured_pattern_with_letters() -> None:
    ctx = CallContext(order_patterns=[r"SO\d{8}"])
    got = extract("it was order SO 2024 0007 I think, not 12345678", ctx)
    assert got.order_numbers == ("SO20240007",)


def test_short_numbers_are_not_orders() -> None:
    assert extract("I called three times, room 12").order_numbers == ()


# -- phone numbers ----------------------------------------------------------------------


def test_chinese_phone_after_cue_is_normalized() -> None:
    got = extract("我的电话是幺三八 零零幺三 八零零零")
    assert got.phone_numbers == ("+8613800138000",)
    assert got.order_numbers == ()


def test_english_phone_with_region() -> None:
    ctx = CallContext(default_region="US")
    got = extract("call me on two oh one five five five oh one two three", ctx)
    assert got.phone_numbers == ("+12015550123",)


def test_korean_phone_after_cue() -> None:
    ctx = CallContext(default_region="KR")
    got = extract("전화 번호 는 공일공 일이삼사 오육칠팔", ctx)
    assert got.phone_numbers == ("+821012345678",)


def test_bare_valid_mobile_is_a_phone_but_order_cue_wins() -> None:
    assert extract("13800138000").phone_numbers == ("+8613800138000",)
    got = extract("订单号 13800138000")
    assert got.order_numbers == ("13800138000",)
    assert got.phone_numbers == ()


def test_phone_and_order_in_one_sentence() -> None:
    got = extract("call me on 138 0013 8000, my order is 55667788")
    assert got.phone_numbers == ("+8613800138000",)
    assert got.order_numbers == ("55667788",)


# -- merging ----------------------------------------------------------------------------


def test_merge_keeps_numbers_and_takes_a_better_type() -> None:
    first = Prefill("repair", 0.4, ("55667788",), (), ())
    later = Prefill("refund", 0.8, ("12345678",), ("+8613800138000",), ())
    merged = first.merge(later)
    assert merged.ticket_type == "refund"
    assert merged.confidence == 0.8
    assert merged.order_numbers == ("55667788", "12345678")
    assert merged.phone_numbers == ("+8613800138000",)


def test_merge_keeps_a_more_confident_earlier_type() -> None:
    merged = Prefill("refund", 0.8).merge(Prefill("repair", 0.5))
    assert (merged.ticket_type, merged.confidence) == ("refund", 0.8)
    same = Prefill("refund", 0.8).merge(Prefill("refund", 0.6))
    assert same.confidence == 0.6
    assert Prefill("refund", 0.8).merge(Prefill()).ticket_type == "refund"


def test_merge_lets_a_completed_number_replace_its_fragment() -> None:
    merged = Prefill(order_numbers=("138001",)).merge(Prefill(order_numbers=("13800138",)))
    assert merged.order_numbers == ("13800138",)


def test_merge_never_drops_a_real_order_and_keeps_it_first() -> None:
    first = Prefill(order_numbers=("880012",), known_orders=("880012",))
    later = Prefill(order_numbers=("99880012",))
    merged = first.merge(later)
    assert merged.order_numbers == ("880012", "99880012")
    assert merged.known_orders == ("880012",)


def test_extractor_over_a_growing_transcript() -> None:
    ex = Extractor(KNOWN)
    shown = Prefill()
    transcript = ""
    utterances = ["hello I need help", "order eight eight zero zero", "one two three four",
                  "it is broken"]
    for utterance in utterances:
        transcript = f"{transcript} {utterance}".strip()
        shown = shown.merge(ex.extract(transcript))
    assert shown.order_numbers == ("88001234",)
    assert shown.known_orders == ("88001234",)
    assert shown.ticket_type == "repair"


def test_event_shape() -> None:
    event = Prefill("refund", 0.63212, ("1",), ("+86",), ()).to_event("pbx1:1.2")
    assert event == {
        "type": "ticket_prefill",
        "call_id": "pbx1:1.2",
        "ticket_type": "refund",
        "confidence": 0.632,
        "order_numbers": ["1"],
        "phone_numbers": ["+86"],
        "known_orders": [],
    }


def test_bad_or_empty_patterns_do_not_break_extraction(caplog: pytest.LogCaptureFixture) -> None:
    ctx = CallContext(order_patterns=[r"SO(\d{8}", r"\d*", r"\d{6,20}"])
    got = extract("order one two three four five six, refund", ctx)
    assert got.order_numbers == ("123456",)
    assert got.ticket_type == "refund"
    assert "order pattern 'SO(\\\\d{8}' ignored" in caplog.text


def test_alternation_patterns_keep_their_digit_boundaries() -> None:
    ctx = CallContext(order_patterns=[r"\d{6}|\d{8}"])
    assert extract("order 1234567890", ctx).order_numbers == ()
    assert extract("order 12345678", ctx).order_numbers == ("12345678",)


def test_random_text_never_raises() -> None:
    import random

    rng = random.Random(5)
    alphabet = ("0123456789 一二三幺两零八千订单电话일이삼공주문전화[]-,."
                "oh one two double refund 退款")
    ex = Extractor(CallContext(known_orders=["SO20240001", "8800"]))
    for _ in range(2000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 60)))
        got = ex.extract(text)
        assert all(o for o in got.order_numbers)
        assert all(p.startswith("+") for p in got.phone_numbers)
