"""What the IVR says: every prompt key with its Chinese and English text.

The machine only names prompts (``"menu"``, ``"status_ticket"`` with ``number=…``); the
words live here so they can be read and reworded in one place, and so tests and the fake
prompt book can check a key exists without any audio. Texts are short and plain, as a
hotline says them; values are spelled out by :mod:`softphone_bridge.ivr.say`.

A prompt is a sequence of **segments**, each in one language: the main menu ends with the
offer of the other language *in that language* ("For English, press nine." in the Chinese
menu), which the prompt book synthesizes with the other voice. :func:`render_text` joins
the segments for logs and tests; :func:`render` keeps them apart for synthesis.

Templates are ``str.format`` strings over the *read* parameters (``_READERS`` says how
each is read). A parameter may be optional (``group`` and ``when`` of ``status_ticket``):
then its clause, with its own words, is left out when the value is missing or ``None``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo

from softphone_bridge.ivr import say
from softphone_bridge.ivr.ports import Lang

__all__ = [
    "KEYS",
    "LANGS",
    "TONES",
    "Prompt",
    "PromptParamError",
    "fixed_keys",
    "prompt",
    "render",
    "render_text",
]

LANGS: tuple[Lang, ...] = ("zh", "en")
_DOUBLE_STOP = re.compile(r"\.\.(?!\.)")
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
#: Keys that are a sound, not words (:mod:`softphone_bridge.audio` makes them).
TONES = frozenset({"beep"})


class PromptParamError(ValueError):
    """A prompt was asked for without a parameter it needs, with one it does not take, or
    with a value that cannot be read (a ticket number without digits, an hour of 25)."""


@dataclass(frozen=True)
class _Reading:
    """How the moment-relative parameters are read: the site timezone and the current time."""

    now: datetime
    tz: tzinfo


def _group(value: object, lang: Lang, _ctx: _Reading) -> str:
    """A group's name: a plain string, or names by language (``{"zh": …, "en": …}``,
    falling back to the other language). ``""`` (the clause is left out) when English would
    have to read Chinese characters: the English voice says "Chinese letter" for each."""
    if isinstance(value, Mapping):
        names = [value.get(lang), *value.values()]
        value = next((n for n in names if isinstance(n, str) and n.strip()), "")
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"not a group name: {value!r}")
    if lang == "en" and _CJK.search(value):
        return ""
    # a name is read as it is; keep it to one short line
    return " ".join(value.split())[:40]


def _when(value: object, lang: Lang, ctx: _Reading) -> str:
    if not isinstance(value, datetime):
        raise ValueError(f"not a datetime: {value!r}")
    return say.when(value, lang, now=ctx.now, tz=ctx.tz)


def _count(value: object, lang: Lang, _ctx: _Reading) -> str:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"not a count: {value!r}")
    return say.integer(value, lang, counting=True)


def _callback_time(value: object, lang: Lang, _ctx: _Reading) -> str:
    """``hour`` of a call-back: 在下午两点左右 / "around 2 p.m."; ``None`` = as soon as possible."""
    if value is None:
        return "尽快" if lang == "zh" else "as soon as possible"
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"not an hour: {value!r}")
    said = say.hour(value, lang)
    return f"在{said}左右" if lang == "zh" else f"around {said}"


def _seconds(value: object, lang: Lang, _ctx: _Reading) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"not a number of seconds: {value!r}")
    return say.duration(value, lang)


def _text(value: object) -> str:
    if not isinstance(value, str):
        raise ValueError(f"not text: {value!r}")
    return value


#: How each parameter is read: (value, language, reading context) → words.
_READERS: Mapping[str, Callable[[object, Lang, _Reading], str]] = {
    "number": lambda v, lang, _c: say.ticket_number(_text(v), lang),
    "status": lambda v, lang, _c: say.status(_text(v), lang),
    "group": _group,
    "when": _when,
    "count": _count,
    "hour": _callback_time,
    "max_s": _seconds,
}


@dataclass(frozen=True)
class Prompt:
    """One prompt's texts. ``text[lang]``: the segments, each ``(language, template)``.
    ``params``: required parameters (``None`` allowed only where the reader takes it).
    ``optional``: parameter → its clause per language, inserted as ``{<param>_clause}``
    (empty when the parameter is missing, ``None``, or has nothing to say in the language)."""

    text: Mapping[Lang, tuple[tuple[Lang, str], ...]]
    params: tuple[str, ...] = ()
    optional: Mapping[str, Mapping[Lang, str]] = field(default_factory=dict)

    @property
    def fixed(self) -> bool:
        """No parameters: the same audio every time (cached once; a recording may replace it)."""
        return not self.params and not self.optional


def _p(zh: str, en: str, *params: str, zh_tail: str | None = None,
       en_tail: str | None = None,
       optional: Mapping[str, Mapping[Lang, str]] | None = None) -> Prompt:
    """A prompt from its Chinese and English templates; ``zh_tail``/``en_tail``: a last
    segment in the *other* language (said by that language's voice)."""
    zh_segments: tuple[tuple[Lang, str], ...] = (("zh", zh),)
    en_segments: tuple[tuple[Lang, str], ...] = (("en", en),)
    if zh_tail:
        zh_segments += (("en", zh_tail),)
    if en_tail:
        en_segments += (("zh", en_tail),)
    return Prompt({"zh": zh_segments, "en": en_segments}, params, optional or {})


_CATALOGUE: dict[str, Prompt] = {
    "welcome": _p("您好，欢迎致电客户服务热线。",
                  "Hello, and thank you for calling customer service."),
    "welcome_survey": _p("您好，感谢您刚才的来电，请为我们的服务打个分。",
                         "Thank you for your call. Please take a moment to rate our service."),
    "menu": _p("查询工单请按一，留言请按二，预约回电请按三，评价服务请按四，人工服务请按零，"
               "重听请按星号键。",
               "To check a ticket, press one. To leave a message, press two. "
               "To request a call-back, press three. To rate our service, press four. "
               "To speak to an agent, press zero. To hear this again, press star.",
               zh_tail="For English, press nine.", en_tail="中文服务请按九。"),
    "invalid": _p("输入有误，请重新选择。", "Sorry, that is not a valid choice."),
    "timeout": _p("抱歉，没有收到您的按键。", "Sorry, we did not get your choice."),
    "transfer_strikes": _p("抱歉，多次输入未成功，为您转接人工服务。",
                           "Sorry, that did not work. Let us get you to an agent."),
    "status_count": _p("您有{count}张未完成的工单。", "You have {count} open {tickets}.",
                       "count"),
    "status_ticket": _p(
        "{number}，状态：{status}{group_clause}{when_clause}。",
        "{number} is {status}{group_clause}{when_clause}.",
        "number", "status",
        optional={"group": {"zh": "，由{group}负责", "en": ", handled by {group}"},
                  "when": {"zh": "，预计{when}前完成", "en": ", expected by {when}"}}),
    "status_none": _p("您目前没有未完成的工单。", "You have no open tickets."),
    "status_other": _p("查询其他工单，请输入工单号并按井号键；人工服务请按零；"
                       "返回主菜单请按星号键。",
                       "To hear another ticket, enter its number and then press pound. "
                       "For an agent, press zero. For the main menu, press star."),
    "enter_ticket_number": _p("请输入工单号，以井号键结束。",
                              "Please enter your ticket number, then press pound."),
    "enter_pin": _p("请输入工单通知中的六位密码，以井号键结束。",
                    "Please enter the six-digit PIN from your ticket notice, then press pound."),
    "not_found": _p("抱歉，没有找到这张工单，或者密码不正确。",
                    "Sorry, we could not find that ticket, or the PIN was not right."),
    "record_prompt": _p("请在提示音后留言，最长{max_s}，说完请按井号键。",
                        "Please leave your message after the tone. You have up to {max_s}. "
                        "Press pound when you are done.", "max_s"),
    "beep": Prompt({"zh": (), "en": ()}),
    "message_saved": _p("您的留言已收到，已为您创建{number}，我们会尽快处理。",
                        "Thank you. Your message is saved as {number}, "
                        "and we will get back to you soon.", "number"),
    "message_empty": _p("抱歉，没有听到您的留言。", "Sorry, we did not hear a message."),
    "callback_hour": _p("请输入希望回电的钟点，零到二十三，以井号键结束；尽快回电请直接按井号键。",
                        "Please enter the hour for our call, from zero to twenty-three, "
                        "then press pound. For as soon as possible, just press pound."),
    "callback_saved": _p("已为您登记回电，{number}，我们会{hour}给您回电。",
                         "Your call-back is booked as {number}. "
                         "We will call you {hour}.", "number", "hour"),
    "rate_intro": _p("请为{number}的服务打分，从一到五，五分表示非常满意。",
                     "Please rate how we handled {number}. Press one to five; "
                     "five means very satisfied.", "number"),
    "rate_thanks": _p("感谢您的评价。", "Thank you for your rating."),
    "rate_none": _p("您目前没有需要评价的工单。", "There is no ticket to rate right now."),
    "transfer": _p("正在为您转接人工客服，请稍候。",
                   "Putting you through to an agent. Please hold."),
    "no_agent": _p("抱歉，现在没有客服可以接听，我们会尽快给您回电。",
                   "Sorry, no agent can take your call right now. We will call you back."),
    "busy": _p("抱歉，线路繁忙，请稍后再拨。",
               "Sorry, all our lines are busy. Please call again later."),
    "sorry_unavailable": _p("抱歉，系统暂时无法处理您的请求。",
                            "Sorry, we cannot handle your request right now."),
    "goodbye": _p("感谢您的来电，再见。", "Thank you for calling. Goodbye."),
    "callback_no_number": _p("抱歉，您的号码未显示，无法为您预约回电。",
                             "Sorry, your number is withheld, so we cannot call you back."),
    "no_agent_call_later": _p("抱歉，现在没有客服可以接听，请稍后再拨。",
                              "Sorry, no agent can take your call right now. "
                              "Please call again later."),
}

#: Every prompt key, in catalogue order.
KEYS: tuple[str, ...] = tuple(_CATALOGUE)


def prompt(key: str) -> Prompt:
    """The prompt of ``key``. Raises ``KeyError`` for an unknown key."""
    try:
        return _CATALOGUE[key]
    except KeyError:
        raise KeyError(f"unknown prompt key {key!r}") from None


def fixed_keys() -> tuple[str, ...]:
    """Keys said the same way every time (no parameters, not a tone): what to pre-synthesize."""
    return tuple(k for k, p in _CATALOGUE.items() if p.fixed and k not in TONES)


def render(key: str, lang: Lang, *, now: datetime | None = None, tz: tzinfo = UTC,
           **params: object) -> tuple[tuple[Lang, str], ...]:
    """The prompt's words as ``(language, text)`` segments, parameters read out.

    ``now`` (default: the current time) and ``tz`` (the site's timezone) are how ``when``
    is read (今天下午三点). Raises ``KeyError`` for an unknown key, ``ValueError`` for a tone
    (``beep`` has no words) or an unknown language, and :class:`PromptParamError` for a
    missing, unexpected or unreadable parameter.
    """
    p = prompt(key)
    if lang not in LANGS:
        raise ValueError(f"unknown language {lang!r} (zh or en)")
    if key in TONES:
        raise ValueError(f"prompt {key!r} is a tone, not words")
    missing = [name for name in p.params if name not in params]
    unexpected = sorted(set(params) - set(p.params) - set(p.optional))
    if missing or unexpected:
        raise PromptParamError(
            f"prompt {key!r} takes {', '.join(p.params + tuple(p.optional)) or 'no parameters'}"
            + (f"; missing {', '.join(missing)}" if missing else "")
            + (f"; unexpected {', '.join(unexpected)}" if unexpected else ""))
    ctx = _Reading(now or datetime.now(UTC), tz)
    fields: dict[str, str] = {}
    for name, value in params.items():
        if value is None and name in p.optional:
            continue
        try:
            said = _READERS[name](value, lang, ctx)
        except ValueError as exc:
            raise PromptParamError(f"prompt {key!r}, {name}: {exc}") from None
        if said or name not in p.optional:
            fields[name] = said
    for name, clauses in p.optional.items():
        fields[f"{name}_clause"] = clauses[lang].format(**fields) if name in fields else ""
    if "count" in params:
        fields["tickets"] = "ticket" if params["count"] == 1 else "tickets"
    return tuple((seg_lang, _sentence(template.format(**fields)))
                 for seg_lang, template in p.text[lang])


def _sentence(text: str) -> str:
    """A capital first letter (an English prompt may start with "ticket one two three") and
    no doubled full stop ("… 2 p.m." ending a sentence)."""
    return _DOUBLE_STOP.sub(".", text[:1].upper() + text[1:])


def render_text(key: str, lang: Lang, *, now: datetime | None = None, tz: tzinfo = UTC,
                **params: object) -> str:
    """The prompt's words as one string (segments joined by a space); see :func:`render`."""
    return " ".join(text for _lang, text in render(key, lang, now=now, tz=tz, **params))
