"""POST /search, /ask, /context."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from ..deps import EngineDep
from ..schemas import AskRequest, AskResponse, ContextRequest, ContextResponse, SearchRequest, SearchResponse, errors

router = APIRouter(tags=["search"], responses=errors(400, 413, 503, 504))

# Responses are the engine's dicts, which already have the declared shape (tests check it):
# skipping FastAPI's re-validation of every passage saves a large share of per-request CPU under load.
# All three are async: a request waiting for the model holds no thread, and is cancelled (its
# queued embedding withdrawn) when the client disconnects (api/guard.py).


@router.post("/search", response_model=SearchResponse, summary="Ranked passages with provenance")
async def search(req: SearchRequest, engine: EngineDep):
    result = await engine.asearch(req.query, req.top_k, req.mode, req.filter_dict())
    return JSONResponse(result.to_dict())


@router.post("/ask", response_model=AskResponse, summary="Extractive answer with [n] citations")
async def ask(req: AskRequest, engine: EngineDep):
    return JSONResponse((await engine.aask(req.question, req.top_k, req.filter_dict())).to_dict())


@router.post("/context", response_model=ContextResponse, summary="Numbered passages within a token budget")
async def context(req: ContextRequest, engine: EngineDep):
    block = await engine.acontext(req.query, req.max_tokens, req.top_k, req.filter_dict())
    return JSONResponse(block.to_dict())
