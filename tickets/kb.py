"""Knowledge-base suggestions: score articles by the words and CJK bigrams they share."""

from __future__ import annotations

import re
from collections import Counter

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tickets.models import KbArticle

_WORD = re.compile(r"[a-z0-9]{2,}|[\u4e00-\u9fff\uac00-\ud7af]+")
_STOP = frozenset({"the", "and", "for", "with", "my", "is", "it", "not", "to", "of", "a", "i"})


def terms(text: str) -> Counter[str]:
    """Latin words, and bigrams of Chinese/Korean runs (they have no spaces between words)."""
    out: Counter[str] = Counter()
    for token in _WORD.findall(text.lower()):
        if token.isascii():
            if token not in _STOP:
                out[token] += 1
        elif len(token) == 1:
            out[token] += 1
        else:
            out.update(token[i:i + 2] for i in range(len(token) - 1))
    return out


def score(query: Counter[str], article: KbArticle, type_key: str | None) -> float:
    title, body = terms(article.title), terms(article.body + " " + " ".join(article.tags))
    value = sum(3.0 * min(n, title[t]) + min(n, body[t]) for t, n in query.items())
    if type_key and article.type_key == type_key:
        value += 2.0
    return value


async def suggest(session: AsyncSession, text: str, *, type_key: str | None = None,
                  limit: int = 5) -> list[KbArticle]:
    # The KB is hundreds of articles, not millions: scoring in Python keeps it backend-neutral.
    query = terms(text)
    articles = (await session.scalars(select(KbArticle))).all()
    ranked = sorted(((score(query, a, type_key), a.id, a) for a in articles),
                    key=lambda item: (-item[0], item[1]))
    return [a for s, _, a in ranked if s > 0][:limit]


async def list_articles(session: AsyncSession) -> list[KbArticle]:
    return list((await session.scalars(select(KbArticle).order_by(KbArticle.id))).all())
