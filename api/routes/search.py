"""POST /search, /ask, /context."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

from fastapi import APIRouter, HTTPException
from fastapi.responses import JSONResponse

from rag.filters import FilterError

from ..deps import EngineDep, ReadAuth
from ..schemas import AskRequest, AskResponse, ContextRequest, ContextResponse, SearchRequest, SearchResponse

router = APIRouter(dependencies=[ReadAuth])

# Responses are the engine's dicts, which already have the declared shape (tests check it):
# skipping FastAPI's re-validation of every passage saves a large share of per-request CPU under load.


@contextmanager
def _filter_errors() -> Iterator[None]:
    try:
        yield
    except FilterError as e:
        raise HTTPException(400, str(e)) from e


@router.post("/search", response_model=SearchResponse, summary="Ranked passages with provenance")
async def search(req: SearchRequest, engine: EngineDep):
    # Async: a request waiting for its query embedding holds no thread (docs/BENCHMARKS.md).
    with _filter_errors():
        result = await engine.asearch(req.query, req.top_k, req.mode, req.filters)
    return JSONResponse(result.to_dict())


@router.post("/ask", response_model=AskResponse, summary="Extractive answer with [n] citations")
def ask(req: AskRequest, engine: EngineDep):
    with _filter_errors():
        return JSONResponse(engine.ask(req.question, req.top_k, req.filters).to_dict())


@router.post("/context", response_model=ContextResponse, summary="Numbered passages within a token budget")
async def context(req: ContextRequest, engine: EngineDep):
    with _filter_errors():
        block = await engine.acontext(req.query, req.max_tokens, req.top_k, req.filters)
    return JSONResponse(block.to_dict())
