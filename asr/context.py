"""What extraction needs to know about a call, and the port the ticket core implements.

The ASR server never imports ``web`` or the database: it asks a :class:`PrefillContext`
for a :class:`CallContext` once per call (ticket types and their phrases, the caller's
real orders, language, phone region). ``web`` implements the port over the ticket
services; :class:`StaticPrefillContext` is the in-memory one for tests and for
deployments that configured nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

#: Phrases per ticket type per language. Chosen for what callers actually say, not for
#: the type's name: "坏了" is a repair call, "还没到" a delivery call.
DEFAULT_TICKET_TYPES: dict[str, dict[str, list[str]]] = {
    "refund": {
        "zh": ["退款", "退钱", "退货", "退费", "返款", "把钱退"],
        "en": ["refund", "money back", "reimburse", "reimbursement", "return it", "chargeback"],
        "ko": ["환불", "반품", "돈 돌려", "결제 취소"],
    },
    "repair": {
        "zh": ["维修", "修理", "报修", "坏了", "故障", "不能用", "修一下", "没反应"],
        "en": ["repair", "broken", "fix", "not working", "stopped working",
               "doesn't work", "faulty", "defect"],
        "ko": ["수리", "고장", "작동 안", "안 켜", "에이에스"],
    },
    "delivery": {
        "zh": ["快递", "物流", "配送", "送货", "发货", "还没到", "没收到", "送到"],
        "en": ["delivery", "deliver", "shipping", "shipment", "parcel", "package",
               "tracking", "hasn't arrived", "not arrived", "courier"],
        "ko": ["배송", "택배", "배달", "도착 안", "못 받"],
    },
    "complaint": {
        "zh": ["投诉", "不满意", "态度差", "态度很差", "差评", "太差"],
        "en": ["complaint", "complain", "unhappy", "rude", "terrible service", "supervisor"],
        "ko": ["불만", "항의", "불친절", "민원"],
    },
    "account": {
        "zh": ["账号", "账户", "密码", "登录", "登陆", "注册", "验证码"],
        "en": ["account", "password", "log in", "login", "sign in", "username"],
        "ko": ["계정", "비밀번호", "로그인", "아이디", "회원"],
    },
}

#: Words that announce an order number or a phone number (any language).
DEFAULT_ORDER_CUES: tuple[str, ...] = (
    "订单", "单号", "订单号", "order", "invoice", "주문",
)
DEFAULT_PHONE_CUES: tuple[str, ...] = (
    "电话", "手机", "联系方式", "phone", "mobile", "cell", "call me", "reach me",
    "전화", "휴대폰", "핸드폰", "연락처",
)
#: Default order-number shape: 6 to 20 digits. Deployments set their own (e.g. ``SO\d{8}``).
DEFAULT_ORDER_PATTERNS: tuple[str, ...] = (r"\d{6,20}",)


@dataclass(frozen=True)
class CallContext:
    """Everything extraction needs for one call.

    ``ticket_types``: ``{type_key: {lang: [phrases]}}``; ``known_orders``: the caller's
    real order numbers (a match against them beats any pattern guess); ``order_patterns``:
    regexes an order number must match (applied to the transcript with spoken digits
    already turned into digits); ``grammar``: when set, the recognizer only hears these
    words (vosk grammar mode), which is far more robust for fixed vocabularies.
    """

    ticket_types: Mapping[str, Mapping[str, Sequence[str]]] = field(
        default_factory=lambda: DEFAULT_TICKET_TYPES
    )
    known_orders: Sequence[str] = ()
    language: str = "zh"
    default_region: str = "CN"
    order_patterns: Sequence[str] = DEFAULT_ORDER_PATTERNS
    order_cues: Sequence[str] = DEFAULT_ORDER_CUES
    phone_cues: Sequence[str] = DEFAULT_PHONE_CUES
    grammar: Sequence[str] | None = None


class PrefillContext(Protocol):
    """Port implemented by the ticket core (in ``web``): the context of a linked call."""

    async def for_call(self, call_id: str) -> CallContext: ...


class StaticPrefillContext:
    """The same context for every call, optionally with per-call overrides.

    Used by tests and when no ticket types are configured; ``per_call`` lets a test give
    one call its caller's orders or a grammar without a database.
    """

    def __init__(
        self,
        default: CallContext | None = None,
        per_call: Mapping[str, CallContext] | None = None,
    ) -> None:
        self.default = default or CallContext()
        self.per_call: dict[str, CallContext] = dict(per_call or {})

    async def for_call(self, call_id: str) -> CallContext:
        return self.per_call.get(call_id, self.default)
