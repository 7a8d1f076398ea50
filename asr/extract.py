"""From a transcript to a ticket prefill: ticket type, order numbers, phone numbers.

Pure functions over text (no I/O), so every rule is unit-tested in zh, en and ko.
An :class:`Extractor` is built once per call from its :class:`~asr.context.CallContext`
(compiled patterns, the caller's real orders) and applied to the growing transcript;
:meth:`Prefill.merge` folds each new result into what the agent already sees.

Decisions, in order of trust:

1. a number that is (or is one digit off, uniquely) one of the caller's real orders;
2. a number right after a phone cue ("电话", "phone", "전화") that ``phonenumbers``
   accepts is a phone number; after an order cue it is an order if a pattern matches;
3. otherwise a number a pattern matches is an order, unless it is a *valid* phone number
   for the region (a bare ``13800138000`` in a Chinese call is a mobile number).
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import phonenumbers

from asr.context import CallContext
from asr.digits import find_digit_runs
from tickets import messages
from tickets.phones import try_normalize

log = logging.getLogger(__name__)

#: Numbers shorter than this are never orders or phones (too easily misheard words).
MIN_NUMBER_DIGITS = 4
#: Below this confidence the type is not suggested at all.
MIN_TYPE_CONFIDENCE = 0.3
#: How far before a number (in characters) a cue word still counts.
CUE_WINDOW = 24
#: Fuzzy matching against real orders needs at least this many digits.
FUZZY_MIN_DIGITS = 6

_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af]")
_SPACE = re.compile(r"\s+")
_NON_DIGIT = re.compile(r"\D")


@dataclass(frozen=True)
class Prefill:
    """What the transcript so far suggests for the ticket.

    ``known_orders`` is the subset of ``order_numbers`` that are the caller's real orders;
    they come first in ``order_numbers``.
    """

    ticket_type: str | None = None
    confidence: float = 0.0
    order_numbers: tuple[str, ...] = ()
    phone_numbers: tuple[str, ...] = ()
    known_orders: tuple[str, ...] = ()

    def merge(self, later: Prefill) -> Prefill:
        """Fold a later result into this one.

        The type is replaced when the later one is the same type (fresher confidence) or
        more confident. Numbers are never dropped, except that a later number *extending*
        an earlier unverified one (the caller finished reading it) replaces it; real
        orders always stay and stay first.
        """
        if later.ticket_type is None:
            ttype, conf = self.ticket_type, self.confidence
        elif later.ticket_type == self.ticket_type or later.confidence > self.confidence:
            ttype, conf = later.ticket_type, later.confidence
        else:
            ttype, conf = self.ticket_type, self.confidence
        known = _union(self.known_orders, later.known_orders, frozenset())
        orders = _union(self.order_numbers, later.order_numbers, frozenset(known))
        orders = [o for o in known] + [o for o in orders if o not in known]
        phones = _union(self.phone_numbers, later.phone_numbers, frozenset())
        return Prefill(ttype, conf, tuple(orders), tuple(phones), tuple(known))

    def to_event(self, call_id: str) -> messages.TicketPrefill:
        """The ``ticket_prefill`` websocket message (DESIGN.md), plus ``known_orders``."""
        return messages.ticket_prefill(
            call_id=call_id, ticket_type=self.ticket_type,
            confidence=round(self.confidence, 3), order_numbers=list(self.order_numbers),
            phone_numbers=list(self.phone_numbers), known_orders=list(self.known_orders))


def _union(old: Sequence[str], new: Sequence[str], keep: frozenset[str]) -> list[str]:
    out = list(old)
    for value in new:
        if value in out:
            continue
        bare = _NON_DIGIT.sub("", value)
        for i, prev in enumerate(out):
            pbare = _NON_DIGIT.sub("", prev)
            if (
                prev not in keep
                and len(bare) > len(pbare) > 0
                and (bare.startswith(pbare) or bare.endswith(pbare))
            ):
                out[i] = value
                break
        else:
            out.append(value)
    # An extension may have produced duplicates (two fragments of one number).
    return list(dict.fromkeys(out))


@dataclass(frozen=True)
class _Phrase:
    type_key: str
    text: str
    pattern: re.Pattern[str] | None  # Latin phrases: word-boundary regex
    weight: float


@dataclass
class Extractor:
    """Extraction rules compiled from one call's context. Build once, apply often."""

    context: CallContext = field(default_factory=CallContext)

    def __post_init__(self) -> None:
        ctx = self.context
        self._phrases: list[_Phrase] = []
        for type_key, by_lang in ctx.ticket_types.items():
            for phrases in by_lang.values():
                for phrase in phrases:
                    p = phrase.strip().lower()
                    if not p:
                        continue
                    # Longer phrases are more specific evidence than a single short word.
                    weight = 1.0 + 0.25 * min(len(p.split()) - 1, 2)
                    if _CJK.search(p):
                        self._phrases.append(_Phrase(type_key, _SPACE.sub("", p), None, weight))
                    else:
                        words = r"\s+".join(re.escape(w) for w in p.split())
                        rx = re.compile(rf"\b{words}(?:s|es|ed|ing)?\b", re.IGNORECASE)
                        self._phrases.append(_Phrase(type_key, p, rx, weight))
        self._patterns: list[re.Pattern[str]] = []
        for p in ctx.order_patterns:
            try:
                self._patterns.append(re.compile(rf"(?<![0-9])(?:{p})(?![0-9])", re.IGNORECASE))
            except re.error as exc:
                # A deployment's typo must not cost the call its transcript.
                log.warning("order pattern %r ignored: %s", p, exc)
        self._known = {o: _NON_DIGIT.sub("", o) for o in ctx.known_orders}
        self._known_compact = {_compact(o): o for o in ctx.known_orders}
        self._order_cues = [_compact(c) for c in ctx.order_cues if c.strip()]
        self._phone_cues = [_compact(c) for c in ctx.phone_cues if c.strip()]

    # -- ticket type ---------------------------------------------------------------------

    def classify(self, text: str) -> tuple[str | None, float]:
        """The most likely ticket type and a confidence in [0, 1].

        Confidence grows with the evidence for the winner (1 - e^-score) and shrinks with
        evidence for other types (share of the total): one "refund" gives 0.63, two
        refund phrases 0.86, "refund" plus "broken" 0.32.
        """
        lowered = text.lower()
        compact = _SPACE.sub("", lowered)
        scores: dict[str, float] = {}
        for ph in self._phrases:
            if ph.pattern is not None:
                hits = len(ph.pattern.findall(lowered))
            else:
                hits = compact.count(ph.text)
            if hits:
                # Repeating one word is weaker evidence than saying two different ones.
                scores[ph.type_key] = scores.get(ph.type_key, 0.0) + ph.weight * min(hits, 2)
        if not scores:
            return None, 0.0
        best_type, best = max(scores.items(), key=lambda kv: (kv[1], kv[0]))
        total = sum(scores.values())
        confidence = (1.0 - math.exp(-best)) * (best / total)
        if confidence < MIN_TYPE_CONFIDENCE:
            return None, round(confidence, 3)
        return best_type, round(confidence, 3)

    # -- numbers -------------------------------------------------------------------------

    def numbers(self, text: str) -> tuple[list[str], list[str], list[str]]:
        """``(order_numbers, phone_numbers, known_orders)`` found in ``text``.

        1. the caller's real orders; 2. pattern matches; 3. leftover digit runs, each
        decided by the cue before it and phone validity. A span is used once.
        """
        norm, spans = _normalize_runs(text)
        used: list[tuple[int, int]] = []
        compact_map = _compact_with_index(norm)
        known = self._known_orders(compact_map, spans, used)
        candidates = self._candidates(norm, compact_map, spans, used)
        orders, phones = self._decide(norm, candidates, used)
        known = list(dict.fromkeys(known))
        orders = known + [o for o in dict.fromkeys(orders) if o not in known]
        return orders, list(dict.fromkeys(phones)), known

    def _known_orders(self, compact_map: tuple[str, list[int]],
                      spans: list[tuple[int, int, str]],
                      used: list[tuple[int, int]]) -> list[str]:
        """The caller's real orders, written with letters or not (marks their spans used)."""
        known: list[str] = []
        compact, index = compact_map
        lowered = compact.lower()
        for bare, original in self._known_compact.items():
            idx = lowered.find(bare)
            if len(bare) >= MIN_NUMBER_DIGITS and idx >= 0:
                known.append(original)
                used.append((index[idx], index[idx + len(bare) - 1] + 1))
        for s, e, digits in spans:
            if _overlaps(used, s, e):
                continue
            match = self._match_known(digits)
            if match is not None:
                known.append(match)
                used.append((s, e))
        return known

    def _candidates(self, norm: str, compact_map: tuple[str, list[int]],
                    spans: list[tuple[int, int, str]],
                    used: list[tuple[int, int]]) -> list[tuple[int, int, str, bool]]:
        """Pattern matches, then leftover runs: ``(start, end, value, is_pattern)``, sorted."""
        candidates: list[tuple[int, int, str, bool]] = []
        # Patterns see the transcript without spaces, so "SO 2024 0007" matches SO\d{8}.
        compact, index = compact_map
        for rx in self._patterns:
            for m in rx.finditer(compact):
                if m.end() == m.start():
                    continue  # a pattern that can match nothing finds nothing
                s, e = index[m.start()], index[m.end() - 1] + 1
                if not _overlaps(used, s, e):
                    value = "".join(norm[i] for i in index[m.start() : m.end()])
                    candidates.append((s, e, value, True))
        for s, e, digits in spans:
            if not _overlaps(used, s, e) and not any(
                c[0] <= s and e <= c[1] for c in candidates
            ):
                candidates.append((s, e, digits, False))
        candidates.sort()
        return candidates

    def _decide(self, norm: str, candidates: list[tuple[int, int, str, bool]],
                used: list[tuple[int, int]]) -> tuple[list[str], list[str]]:
        """Each candidate an order, a phone number or nothing: ``(orders, phones)``."""
        orders: list[str] = []
        phones: list[str] = []
        for s, e, value, is_pattern in candidates:
            if _overlaps(used, s, e):
                continue
            cue = self._cue_before(norm, s)
            digits = _NON_DIGIT.sub("", value)
            phone = (try_normalize(digits, self.context.default_region)
                     if digits == value else None)
            if cue == "phone" and phone:
                phones.append(phone)
            elif cue == "order" and is_pattern:
                orders.append(value)
            elif phone and _is_valid_phone(phone):
                phones.append(phone)
            elif is_pattern:
                orders.append(value)
            else:
                continue
            used.append((s, e))
        return orders, phones

    def _match_known(self, digits: str) -> str | None:
        """A real order whose digits are in ``digits``, or uniquely one digit off it."""
        for original, bare in self._known.items():
            if len(bare) >= MIN_NUMBER_DIGITS and bare in digits:
                return original
        if len(digits) < FUZZY_MIN_DIGITS:
            return None
        close = [
            original
            for original, bare in self._known.items()
            if len(bare) == len(digits) and _hamming(bare, digits) == 1
        ]
        return close[0] if len(close) == 1 else None

    def _cue_before(self, norm: str, start: int) -> str | None:
        """``"order"``, ``"phone"`` or ``None``: the nearest cue word before a number."""
        window = _compact(norm[max(0, start - CUE_WINDOW) : start])
        best: tuple[int, str] | None = None
        for kind, cues in (("order", self._order_cues), ("phone", self._phone_cues)):
            for cue in cues:
                idx = window.rfind(cue)
                if idx >= 0 and (best is None or idx + len(cue) > best[0]):
                    best = (idx + len(cue), kind)
        return best[1] if best else None

    # -- everything ----------------------------------------------------------------------

    def extract(self, text: str) -> Prefill:
        """The prefill ``text`` supports on its own (merge it into the call's prefill)."""
        ttype, conf = self.classify(text)
        orders, phones, known = self.numbers(text)
        return Prefill(ttype, conf, tuple(orders), tuple(phones), tuple(known))


def extract(text: str, context: CallContext | None = None) -> Prefill:
    """One-off extraction (tests, IVR messages); calls reuse an :class:`Extractor`."""
    return Extractor(context or CallContext()).extract(text)


def _compact(text: str) -> str:
    return re.sub(r"[\s\-_./]+", "", text.lower())


def _normalize_runs(text: str) -> tuple[str, list[tuple[int, int, str]]]:
    """``text`` with its spoken digit runs written as digits, and where each run landed:
    ``(normalized, [(start, end, digits)])``."""
    parts: list[str] = []
    spans: list[tuple[int, int, str]] = []
    pos = 0
    length = 0
    for run in find_digit_runs(text, MIN_NUMBER_DIGITS):
        chunk = text[pos : run.start]
        parts.append(chunk)
        length += len(chunk)
        spans.append((length, length + len(run.digits), run.digits))
        parts.append(run.digits)
        length += len(run.digits)
        pos = run.end
    parts.append(text[pos:])
    return "".join(parts), spans


def _compact_with_index(text: str) -> tuple[str, list[int]]:
    """``text`` without spaces and separators, and per remaining char its index in ``text``."""
    chars: list[str] = []
    index: list[int] = []
    for i, ch in enumerate(text):
        if ch.isspace() or ch in "-_./":
            continue
        chars.append(ch)
        index.append(i)
    return "".join(chars), index


def _overlaps(spans: Iterable[tuple[int, int]], s: int, e: int) -> bool:
    return any(s < ue and us < e for us, ue in spans)


def _hamming(a: str, b: str) -> int:
    return sum(x != y for x, y in zip(a, b, strict=True))


def _is_valid_phone(e164: str) -> bool:
    try:
        return phonenumbers.is_valid_number(phonenumbers.parse(e164, None))
    except phonenumbers.NumberParseException:
        return False
