"""POST /search, /ask, /context."""
from __future__ import annotations

from fastapi import APIRouter, HTTPException
from fastapi.responses import JSONResponse

from rag.filters import FilterError

from ..deps import EngineDep, ReadAuth
from ..schemas import AskRequest, AskResponse, ContextRequest, ContextResponse, SearchRequest, SearchResponse

router = APIRouter(dependencies=[ReadAuth])


def _filter_errors(fn) -> JSONResponse:
    # The engine's dicts already have the declared shape (tests check it): skipping FastAPI's
    # re-validation of every passage saves a large share of per-request CPU under load.
    try:
        return JSONResponse(fn())
    except FilterError as e:
        raise HTTPException(400, str(e)) from e


@router.post("/search", response_model=SearchResponse, summary="Ranked passages with provenance")
def search(req: SearchRequest, engine: EngineDep):
    return _filter_errors(lambda: engine.search(req.query, req.top_k, req.mode, req.filters).to_dict())


@router.post("/ask", response_model=AskResponse, summary="Extractive answer with [n] citations")
def ask(req: AskRequest, engine: EngineDep):
    return _filter_errors(lambda: engine.ask(req.question, req.top_k, req.filters).to_dict())


@router.post("/context", response_model=ContextResponse, summary="Numbered passages within a token budget")
def context(req: ContextRequest, engine: EngineDep):
    return _filter_errors(lambda: engine.context(req.query, req.max_tokens, req.top_k, req.filters).to_dict())
