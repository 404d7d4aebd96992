"""The OpenAI chat protocol: POST /v1/chat/completions and GET /v1/models, so any OpenAI-protocol
front end plugs in by setting a base URL. Answers carry [n] markers and a ``citations`` list."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from rag import Engine
from rag.answer import Answer
from rag.llm import Message
from rag.tokens import count_tokens

from ..chat_schemas import MODEL_ID, ChatCompletion, ChatRequest, ModelList, chunk
from ..deps import EngineDep
from ..schemas import errors
from ..sse import EVENT_SCHEMA, event, sse_response

router = APIRouter(prefix="/v1", tags=["openai"], responses=errors(400, 413, 503, 504))

STREAM_DOC: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "With `stream: true`: `chat.completion.chunk` events ending in `[DONE]`.",
        "content": {"text/event-stream": {"schema": EVENT_SCHEMA}},
    }
}


@router.get("/models", response_model=ModelList, summary="The one model this service offers")
async def models():
    return {"object": "list", "data": [{"id": MODEL_ID, "object": "model", "created": 0, "owned_by": "grounded-rag"}]}


@router.post("/chat/completions", response_model=ChatCompletion, summary="Grounded answer to a conversation", responses=STREAM_DOC)
async def chat_completions(req: ChatRequest, engine: EngineDep):
    history: list[Message] = [{"role": m.role, "content": m.text()} for m in req.messages if m.role in ("user", "assistant")]
    query = await engine.rewrite_question(history)
    if not query.strip():
        return JSONResponse({"detail": "the conversation has no user message with text"}, status_code=400)
    cid, created = f"chatcmpl-{uuid.uuid4().hex[:24]}", int(time.time())
    if req.stream:
        events = engine.astream_ask(query, req.top_k, req.filter_dict(), sampling=req.sampling())
        await anext(events)  # the passages: retrieval errors get their status before the stream starts
        return sse_response(_chunks(engine, events, history, query, cid, created))
    answer = await engine.aask(query, req.top_k, req.filter_dict(), sampling=req.sampling())
    return JSONResponse(_completion(answer, history, query, cid, created, engine))


def _model(engine: Engine) -> str:
    """The model named in responses: the LLM's when one writes the answers, else this service's."""
    return engine.settings.llm_model if engine.settings.llm_base_url else MODEL_ID


def _usage(reported: dict[str, int] | None, history: list[Message], content: str) -> dict[str, int]:
    """The LLM server's counts when it wrote the answer, else cl100k counts of what was exchanged."""
    reported = reported or {}
    prompt = reported.get("prompt_tokens") or sum(count_tokens(m["content"]) for m in history)
    completion = reported.get("completion_tokens") or count_tokens(content)
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def _completion(answer: Answer, history: list[Message], query: str, cid: str, created: int, engine: Engine) -> dict:
    finish = answer.completion.finish_reason if answer.completion and answer.mode == "generated" else "stop"
    return {
        "id": cid,
        "object": "chat.completion",
        "created": created,
        "model": answer.model or _model(engine),
        "choices": [{"index": 0, "message": {"role": "assistant", "content": answer.answer}, "finish_reason": finish}],
        "usage": _usage(answer.usage(), history, answer.answer),
        "citations": answer.citations,
        "claims": answer.claims,
        "grounded": answer.grounded,
        "query": query,
    }


def unsupported_note(answer: dict) -> str:
    """Text appended to a streamed answer whose sentences the verifier rejected: the reader of a
    plain chat UI sees the tokens as written, so the verdict must reach them as text too."""
    rejected = [c["text"] for c in answer["claims"] if not c["supported"]]
    if not rejected:
        return ""
    if answer["mode"] == "fallback":
        return "\n\nNot supported by the sources, so replaced by quotes from them:\n\n" + answer["answer"]
    return "\n\nNot supported by the sources: " + " ".join(f"“{t}”" for t in rejected)


async def _chunks(engine: Engine, events: AsyncIterator, history: list[Message], query: str, cid: str, created: int) -> AsyncIterator[str]:
    model = _model(engine)
    yield event(chunk(cid, created, model, {"role": "assistant", "content": ""}))
    written = ""
    async for e in events:
        if e.kind == "token":
            written += e.data["text"]
            yield event(chunk(cid, created, model, {"content": e.data["text"]}))
        elif e.kind == "done":
            answer = e.data
            note = unsupported_note(answer) if answer["mode"] != "extractive" else ""
            if note:
                written += note
                yield event(chunk(cid, created, model, {"content": note}))
            usage = _usage(answer.get("usage"), history, written)
            extra = {"citations": answer["citations"], "claims": answer["claims"], "grounded": answer["grounded"], "query": query, "usage": usage}
            yield event(chunk(cid, created, answer["model"] or model, {}, "stop", **extra))
    yield event("[DONE]")
