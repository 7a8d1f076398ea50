"""Rendering a notification: Jinja2 templates per event kind and language (pure).

``templates/<lang>/<kind>.txt`` holds three blocks — ``subject``, ``body`` (plain text) and
``sms`` (short) — rendered without escaping (they are text, never HTML). The HTML part of an
email is ``templates/email.html``, rendered by an autoescaping environment from the plain
body, so nothing a customer or agent wrote can become markup. Templates are loaded once
per process and cached by Jinja2; a value the event's ``data`` lacks renders empty.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape

from tickets.notify.policy import TicketFacts

LANGUAGES = ("zh", "en")
_DIR = Path(__file__).resolve().parent / "templates"
_TEXT = Environment(loader=FileSystemLoader(_DIR), autoescape=False)
_HTML = Environment(loader=FileSystemLoader(_DIR), autoescape=select_autoescape(["html"]))

_STATUS = {
    "zh": {"new": "新建", "open": "处理中", "in_progress": "处理中", "pending_customer": "等待客户",
           "pending": "挂起", "resolved": "已解决", "closed": "已关闭", "reopened": "已重开",
           "assigned": "已分派"},
    "en": {"pending_customer": "waiting for you", "in_progress": "in progress"},
}
_PRIORITY = {"zh": {"urgent": "紧急", "high": "高", "normal": "普通", "low": "低"}, "en": {}}
_TARGET = {"zh": {"first_response": "首次响应", "resolution": "解决", "supervision": "督办"},
           "en": {"first_response": "first-response", "resolution": "resolution",
                  "supervision": "supervision"}}


@dataclass(frozen=True)
class Rendered:
    subject: str
    body: str
    sms: str
    html: str


def language(value: str | None) -> str:
    """A recipient's language among :data:`LANGUAGES` (``en-US`` → ``en``; else ``zh``)."""
    lang = (value or "").lower()[:2]
    return lang if lang in LANGUAGES else "zh"


def render(kind: str, lang: str, ticket: TicketFacts | None, data: dict[str, Any],
           name: str | None = None, *, html: bool = True, pin: str | None = None) -> Rendered:
    """The message of ``kind`` in ``lang`` about ``ticket`` (``data``: the event's);
    ``html=False``: no HTML part (``""``; only email has one). ``pin``: the ticket's PIN,
    for the ticket's own customer only (the customer-facing texts then say it). Raises
    ``jinja2.TemplateNotFound`` for an unknown kind."""
    lang = language(lang)
    facts = ticket or TicketFacts(0, "", str(data.get("title") or ""), "", "", None, None, None)
    status = str(data.get("status") or facts.status)
    context = {
        "ticket": facts, "data": data, "lang": lang, "pin": pin or "",
        "name_suffix": ((" " if lang == "en" else "") + name) if name else "",
        "status": _STATUS[lang].get(status, status),
        "priority": _PRIORITY[lang].get(facts.priority, facts.priority),
        "target": _TARGET[lang].get(str(data.get("target") or ""), str(data.get("target") or "")),
    }
    template = _TEXT.get_template(f"{lang}/{kind}.txt")
    blocks = {name_: "".join(template.blocks[name_](template.new_context(context))).strip()
              for name_ in ("subject", "body", "sms")}
    subject = " ".join(blocks["subject"].split())[:250]
    page = ""
    if html:
        paragraphs = [p.splitlines() for p in blocks["body"].split("\n\n") if p.strip()]
        page = _HTML.get_template("email.html").render(lang=lang, subject=subject,
                                                       paragraphs=paragraphs, ticket=facts)
    return Rendered(subject=subject, body=blocks["body"], sms=blocks["sms"], html=page)
