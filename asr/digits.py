"""Spoken digits to numbers, for English, Chinese and Korean transcripts.

Callers read order and phone numbers digit by digit, and recognizers write them back as
words: ``one three eight double oh``, ``幺三八 零零一三``, ``일 이 삼 공``, or a mix with
arabic digits (``138 零零 one three``). This module finds such *runs* of digit tokens and
turns each into one digit string, so pattern matching downstream sees ``13800``.

Pure text in, text out: no I/O, no language detection. Scripts do not collide (Hanzi,
Hangul and Latin digit words are disjoint), so every language is handled in one pass.

Ambiguity is kept in check by a minimum run length: ``一下``, ``이것``, ``the one`` are not
numbers, while ``one two three`` is. Runs shorter than ``min_run`` digits stay as written.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

#: English digit words. "o"/"oh" only count inside a run that has other digits.
EN_DIGITS = {
    "zero": "0", "oh": "0", "o": "0", "nought": "0", "naught": "0",
    "one": "1", "two": "2", "three": "3", "four": "4", "five": "5",
    "six": "6", "seven": "7", "eight": "8", "nine": "9",
}
_EN_WEAK = frozenset({"oh", "o"})
EN_REPEAT = {"double": 2, "triple": 3}

#: Chinese digit characters; 幺 (yao) is the telephone "one", 两 the counting "two".
ZH_DIGITS = {
    "零": "0", "〇": "0", "○": "0", "洞": "0",
    "一": "1", "幺": "1", "壹": "1",
    "二": "2", "两": "2", "贰": "2",
    "三": "3", "叁": "3", "四": "4", "肆": "4", "五": "5", "伍": "5",
    "六": "6", "陆": "6", "七": "7", "柒": "7", "八": "8", "捌": "8", "九": "9", "玖": "9",
}

#: Sino-Korean digit syllables (공/영 are both "zero" when reading numbers).
KO_DIGITS = {
    "공": "0", "영": "0", "령": "0",
    "일": "1", "이": "2", "삼": "3", "사": "4", "오": "5",
    "육": "6", "륙": "6", "칠": "7", "팔": "8", "구": "9",
}
#: Endings that may stick to the last digit syllable of a Korean word ("...오입니다").
KO_SUFFIXES = sorted(
    ["입니다", "이에요", "이예요", "예요", "이요", "이고", "이구요", "이랑", "하고", "번이요",
     "번", "요", "은", "는", "을", "를", "으로", "로", "에", "고", "이다", "이죠", "죠"],
    key=len,
    reverse=True,
)

# One token: a bracketed number (the Korean vosk model writes digits as "[5]" or "[05]"),
# arabic digits, one Hanzi digit, a Hangul word, a Latin word, or any other single char.
_ZH_CLASS = "".join(ZH_DIGITS)
_TOKEN = re.compile(
    rf"(?P<br>\[\d{{1,3}}\])|(?P<num>\d+)|(?P<zh>[{_ZH_CLASS}])|(?P<ko>[가-힣]+)"
    r"|(?P<en>[A-Za-z]+)|(?P<join>[\s\-–—,，、./·]+)|(?P<other>.)",
    re.DOTALL,
)
#: Chinese units: a digit before one of these is a quantity (八千 = 8000), not a digit.
ZH_UNITS = frozenset("十百千万亿拾佰仟萬億")


@dataclass(frozen=True)
class DigitRun:
    """A run of spoken/written digits: the digits, and where it sits in the source text."""

    digits: str
    start: int
    end: int


@dataclass
class _Tok:
    kind: str  # "digit", "join", "repeat", "word"
    text: str
    start: int
    end: int
    digits: str = ""
    weak: bool = False  # "oh"/"o": a digit only next to real digits
    tail: int = 0  # Korean: length of a particle glued to the end, not part of the run


def _korean_digits(word: str) -> tuple[str, int] | None:
    """Digits of a Hangul word made of digit syllables, with an optional particle tail."""
    if all(ch in KO_DIGITS for ch in word):
        return "".join(KO_DIGITS[ch] for ch in word), 0
    for suffix in KO_SUFFIXES:
        if word.endswith(suffix) and len(word) > len(suffix):
            head = word[: -len(suffix)]
            if all(ch in KO_DIGITS for ch in head):
                return "".join(KO_DIGITS[ch] for ch in head), len(suffix)
    return None


def _tokenize(text: str) -> list[_Tok]:
    toks: list[_Tok] = []
    for m in _TOKEN.finditer(text):
        kind = m.lastgroup
        s, e, t = m.start(), m.end(), m.group()
        if kind == "br":
            toks.append(_Tok("digit", t, s, e, digits=t[1:-1]))
        elif kind == "num":
            toks.append(_Tok("digit", t, s, e, digits=t))
        elif kind == "zh":
            if e < len(text) and text[e] in ZH_UNITS:
                toks.append(_Tok("word", t, s, e))
            else:
                toks.append(_Tok("digit", t, s, e, digits=ZH_DIGITS[t]))
        elif kind == "ko":
            found = _korean_digits(t)
            if found is None:
                toks.append(_Tok("word", t, s, e))
            else:
                toks.append(_Tok("digit", t, s, e, digits=found[0], tail=found[1]))
        elif kind == "en":
            low = t.lower()
            if low in EN_DIGITS:
                toks.append(_Tok("digit", t, s, e, digits=EN_DIGITS[low], weak=low in _EN_WEAK))
            elif low in EN_REPEAT:
                toks.append(_Tok("repeat", t, s, e, digits=str(EN_REPEAT[low])))
            else:
                toks.append(_Tok("word", t, s, e))
        elif kind == "join":
            toks.append(_Tok("join", t, s, e))
        else:
            toks.append(_Tok("word", t, s, e))
    return toks


def find_digit_runs(text: str, min_run: int = 3) -> list[DigitRun]:
    """Every run of at least ``min_run`` digits in ``text``, in order.

    A run is digit tokens separated only by spaces, hyphens, commas, dots or slashes;
    ``double``/``triple`` repeat the next digit. A Korean particle glued to the last
    syllable ends the run (``...오입니다`` → ``5`` then ``입니다``).
    """
    toks = _tokenize(text)
    runs: list[DigitRun] = []
    i, n = 0, len(toks)
    while i < n:
        tok = toks[i]
        startable = tok.kind == "digit" or (
            tok.kind == "repeat" and i + 2 < n and _next_digit(toks, i) is not None
        )
        if not startable:
            i += 1
            continue
        digits: list[str] = []
        strong = 0
        start, end = tok.start, tok.end
        j = i
        while j < n:
            t = toks[j]
            if t.kind == "digit":
                digits.append(t.digits)
                strong += 0 if t.weak else 1
                end = t.end - t.tail
                j += 1
                if t.tail:
                    break
            elif t.kind == "repeat":
                k = _next_digit(toks, j)
                if k is None:
                    break
                nxt = toks[k]
                digits.append(nxt.digits * int(t.digits))
                strong += 0 if nxt.weak else 1
                end = nxt.end - nxt.tail
                j = k + 1
                if nxt.tail:
                    break
            elif t.kind == "join" and j + 1 < n and toks[j + 1].kind in ("digit", "repeat"):
                j += 1
            else:
                break
        value = "".join(digits)
        # Weak tokens ("oh") at the edges of a run are dropped unless the run has real
        # digits around them: "oh one two" keeps its zero, "oh" alone is a word.
        if strong and len(value) >= min_run:
            runs.append(DigitRun(value, start, end))
        i = max(j, i + 1)
    return runs


def _next_digit(toks: list[_Tok], i: int) -> int | None:
    """Index of the digit token a ``double``/``triple`` at ``i`` applies to, if any."""
    k = i + 1
    while k < len(toks) and toks[k].kind == "join":
        k += 1
    if k < len(toks) and toks[k].kind == "digit" and len(toks[k].digits) == 1:
        return k
    return None


def normalize_digits(text: str, min_run: int = 3) -> str:
    """``text`` with every digit run replaced by its digits (spaces inside runs removed)."""
    out: list[str] = []
    pos = 0
    for run in find_digit_runs(text, min_run):
        out.append(text[pos : run.start])
        out.append(run.digits)
        pos = run.end
    out.append(text[pos:])
    return "".join(out)
