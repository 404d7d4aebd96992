"""POST /search, /ask, /context."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from rag.generate import Event

from ..deps import EngineDep
from ..schemas import AskRequest, AskResponse, ContextRequest, ContextResponse, SearchRequest, SearchResponse, errors
from ..sse import EVENT_SCHEMA, event, sse_response

router = APIRouter(tags=["search"], responses=errors(400, 413, 503, 504))

# Responses are the engine's dicts, which already have the declared shape (tests check it):
# skipping FastAPI's re-validation of every passage saves a large share of per-request CPU under load.
# All three are async: a request waiting for the model holds no thread, and is cancelled (its
# queued embedding withdrawn) when the client disconnects (api/guard.py).


@router.post("/search", response_model=SearchResponse, summary="Ranked passages with provenance")
async def search(req: SearchRequest, engine: EngineDep):
    result = await engine.asearch(req.query, req.top_k, req.mode, req.filter_dict())
    return JSONResponse(result.to_dict())


ASK_STREAM: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The answer; with `stream: true`, Server-Sent Events `passages`, `token`…, `claims`, `done` (`error` if the LLM fails).",
        "content": {"text/event-stream": {"schema": EVENT_SCHEMA}},
    }
}


@router.post("/ask", response_model=AskResponse, summary="Answer with verified [n] citations (extractive, or by an LLM)", responses=ASK_STREAM)
async def ask(req: AskRequest, engine: EngineDep):
    if req.stream:
        # Retrieval runs before the response starts, so bad filters or an overloaded model still get
        # their own status code rather than an error inside a 200 stream.
        events = engine.astream_ask(req.question, req.top_k, req.filter_dict(), req.generate, req.turns(), req.sampling())
        first = await anext(events)
        return sse_response(_framed(first, events))
    answer = await engine.aask(req.question, req.top_k, req.filter_dict(), req.generate, req.turns(), req.sampling())
    return JSONResponse(answer.to_dict())


async def _framed(first: Event, rest: AsyncIterator[Event]) -> AsyncIterator[str]:
    yield event(first.data, first.kind)
    async for e in rest:
        yield event(e.data, e.kind)


@router.post("/context", response_model=ContextResponse, summary="Numbered passages within a token budget")
async def context(req: ContextRequest, engine: EngineDep):
    block = await engine.acontext(req.query, req.max_tokens, req.top_k, req.filter_dict())
    return JSONResponse(block.to_dict())
