"""Knowledge base: articles and suggestions for the ticket at hand."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from tickets import kb as service
from tickets.models import KbArticle
from tickets.schemas import KbArticleIn, KbArticleOut
from web.deps import Manager, SessionDep, Staff

router = APIRouter(prefix="/api/v1/kb", tags=["kb"])


@router.get("/suggest", response_model=list[KbArticleOut])
async def suggest(_: Staff, session: SessionDep,
                  q: Annotated[str, Query(min_length=1, max_length=2000)],
                  type: Annotated[str | None, Query(max_length=64)] = None,
                  limit: Annotated[int, Query(ge=1, le=20)] = 5) -> list[KbArticle]:
    return await service.suggest(session, q, type_key=type, limit=limit)


@router.post("/articles", status_code=201, response_model=KbArticleOut)
async def create_article(data: KbArticleIn, _: Manager, session: SessionDep) -> KbArticle:
    article = KbArticle(**data.model_dump())
    session.add(article)
    await session.commit()
    return article


@router.get("/articles", response_model=list[KbArticleOut])
async def list_articles(_: Staff, session: SessionDep) -> list[KbArticle]:
    return await service.list_articles(session)
