"""The prompt catalogue: every contract key renders in both languages, values are read out,
parameters are checked."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from softphone_bridge.ivr import catalogue
from softphone_bridge.ivr.catalogue import PromptParamError, render, render_text

#: The keys of docs/ivr-contract "Prompt keys", with their parameters.
CONTRACT = {
    "welcome": (), "welcome_survey": (), "menu": (), "invalid": (), "timeout": (),
    "transfer_strikes": (), "status_count": ("count",),
    "status_ticket": ("number", "status", "group", "when"), "status_none": (),
    "status_other": (), "enter_ticket_number": (), "enter_pin": (), "not_found": (),
    "record_prompt": ("max_s",), "beep": (), "message_saved": ("number",),
    "message_empty": (), "callback_hour": (), "callback_saved": ("number", "hour"),
    "rate_intro": ("number",), "rate_thanks": (), "rate_none": (), "transfer": (),
    "no_agent": (), "busy": (), "sorry_unavailable": (), "goodbye": (),
    "callback_no_number": (), "no_agent_call_later": (),
}
SHANGHAI = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai
SAMPLE = {"count": 3, "number": "T-000123", "status": "in_progress",
          "group": {"zh": "售后组", "en": "After-sales"},
          "when": datetime(2026, 12, 1, 7, 30, tzinfo=UTC), "max_s": 120, "hour": 14}
CJK = re.compile(r"[\u4e00-\u9fff]")


def test_the_catalogue_has_exactly_the_contract_keys() -> None:
    assert set(catalogue.KEYS) == set(CONTRACT)
    for key, params in CONTRACT.items():
        spec = catalogue.prompt(key)
        assert set(spec.params) | set(spec.optional) == set(params), key
    assert catalogue.TONES == {"beep"}


@pytest.mark.parametrize("key", [k for k in CONTRACT if k != "beep"])
def test_every_key_renders_in_both_languages(key: str) -> None:
    params = {name: SAMPLE[name] for name in CONTRACT[key]}
    zh = render_text(key, "zh", now=NOW, tz=SHANGHAI, **params)
    en = render_text(key, "en", now=NOW, tz=SHANGHAI, **params)
    for text in (zh, en):
        assert 4 <= len(text) <= 300, text
        assert "{" not in text and "}" not in text and ".." not in text
    # each language's own words; no digits left for the synthesizer to guess at in Chinese
    zh_main = render(key, "zh", now=NOW, tz=SHANGHAI, **params)[0][1]
    assert CJK.search(zh_main) and not re.search(r"[0-9A-Za-z]", zh_main), zh_main
    en_main = render(key, "en", now=NOW, tz=SHANGHAI, **params)[0][1]
    assert not CJK.search(en_main) and en_main[0].isupper(), en_main


def test_parameters_are_read_out() -> None:
    args = {"now": NOW, "tz": SHANGHAI}
    assert render_text("status_count", "zh", count=2, **args) == "您有两张未完成的工单。"
    assert render_text("status_count", "en", count=1, **args) == "You have one open ticket."
    assert render_text("status_count", "en", count=3, **args) == "You have three open tickets."
    assert render_text("status_ticket", "zh", **args, **{
        k: SAMPLE[k] for k in ("number", "status", "group", "when")}) == (
        "工单幺二三，状态：处理中，由售后组负责，预计今天下午三点半前完成。")
    assert render_text("status_ticket", "en", **args, **{
        k: SAMPLE[k] for k in ("number", "status", "group", "when")}) == (
        "Ticket one two three is in progress, handled by After-sales, "
        "expected by today at 3:30 p.m.")
    assert render_text("record_prompt", "zh", max_s=120, **args) == \
        "请在提示音后留言，最长两分钟，说完请按井号键。"
    assert "up to two minutes" in render_text("record_prompt", "en", max_s=120, **args)
    assert render_text("callback_saved", "zh", number="T-000045", hour=14, **args) == \
        "已为您登记回电，工单四五，我们会在下午两点左右给您回电。"
    assert render_text("callback_saved", "en", number="T-000045", hour=None, **args) == (
        "Your call-back is booked as ticket four five. "
        "We will call you as soon as possible.")
    assert "工单幺二三" in render_text("rate_intro", "zh", number="T-000123")
    assert "ticket one two three" in render_text("message_saved", "en", number="T-000123")


def test_optional_clauses_are_left_out_when_missing_or_none() -> None:
    assert render_text("status_ticket", "zh", number="T-000007", status="resolved") == \
        "工单七，状态：已解决。"
    assert render_text("status_ticket", "en", number="T-000007", status="pending_customer",
                       group=None, when=None) == "Ticket seven is waiting for you."
    assert render_text("status_ticket", "en", number="T-000007", status="new",
                       group="Billing") == "Ticket seven is new, handled by Billing."
    # a group's name in the other language when its own is missing
    assert "由Field service负责" in render_text(
        "status_ticket", "zh", number="7", status="new", group={"en": "Field service"})
    # but English does not read Chinese characters ("Chinese letter, Chinese letter")
    assert render_text("status_ticket", "en", number="7", status="new",
                       group={"zh": "售后组"}) == "Ticket seven is new."
    assert render_text("status_ticket", "en", number="7", status="new",
                       group="售后组") == "Ticket seven is new."


def test_the_menu_offers_the_other_language_in_that_language() -> None:
    assert render("menu", "zh")[-1] == ("en", "For English, press nine.")
    assert render("menu", "en")[-1] == ("zh", "中文服务请按九。")
    for lang in ("zh", "en"):
        text = render_text("menu", lang)  # type: ignore[arg-type]
        for word in (("一", "二", "三", "四", "零", "星号") if lang == "zh"
                     else ("one", "two", "three", "four", "zero", "star")):
            assert word in text


def test_unknown_keys_and_languages() -> None:
    with pytest.raises(KeyError, match="no_such_prompt"):
        render_text("no_such_prompt", "zh")
    with pytest.raises(ValueError, match="unknown language"):
        render_text("welcome", "fr")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="tone"):
        render_text("beep", "zh")


def test_parameter_errors_are_clear() -> None:
    with pytest.raises(PromptParamError, match=r"'status_count'.*missing count"):
        render_text("status_count", "zh")
    with pytest.raises(PromptParamError, match="missing status"):
        render_text("status_ticket", "en", number="T-000001")
    with pytest.raises(PromptParamError, match="unexpected colour"):
        render_text("welcome", "en", colour="red")
    with pytest.raises(PromptParamError, match=r"callback_saved.*hour"):
        render_text("callback_saved", "zh", number="T-000001")  # hour=None must be explicit
    with pytest.raises(PromptParamError, match="number: not a ticket number"):
        render_text("rate_intro", "zh", number="abc")
    with pytest.raises(PromptParamError, match="hour: not an hour"):
        render_text("callback_saved", "en", number="T-1", hour=24)
    with pytest.raises(PromptParamError, match=r"when: .*timezone-aware"):
        render_text("status_ticket", "en", number="T-1", status="new",
                    when=datetime(2026, 12, 1, 15, 0))
    with pytest.raises(PromptParamError, match="count: not a count"):
        render_text("status_count", "en", count="3")


def test_fixed_keys_are_the_prompts_without_parameters() -> None:
    fixed = catalogue.fixed_keys()
    assert "menu" in fixed and "goodbye" in fixed
    assert not {"beep", "status_ticket", "status_count", "callback_saved"} & set(fixed)
    for key in fixed:
        assert render_text(key, "zh") and render_text(key, "en")


def test_a_group_name_is_kept_to_one_short_line() -> None:
    text = render_text("status_ticket", "en", number="1", status="new",
                       group="After\nsales " + "x" * 100)
    assert "\n" not in text and "After sales xxx" in text and "x" * 40 not in text
