"""A scripted OpenAI-compatible chat server: its answers are built from the passages in the prompt,
so tests know exactly what the "LLM" wrote. The model name picks the script:

- ``echo``: the first sentence of passage [1], cited [1];
- ``fabricate``: that sentence, then a sentence of passage [2] with a wrong date, number or name, cited [2];
- ``uncited``: the first sentence of passage [1] with no marker;
- ``abstain``: the service's own "do not answer" sentence;
- ``slow``: 400 words, one every 50 ms (to test that a client that leaves stops the stream);
- ``sleepy``: ``echo`` after 0.3 s (``max_inflight`` shows how many calls overlapped);
- ``broken``: HTTP 500.

A rewrite request (standalone question) is answered with "standalone: " and the last user turn.
``GET /log`` lists what was asked and whether each stream ran to its end.
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
import time
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse

from rag.answer import NOT_FOUND
from rag.sentences import sentence_spans
from tests.server import free_port

_PASSAGE = re.compile(r"^\[(\d+)\] [^\n]*\n(.*?)(?=\n\n\[\d+\] |\n\nQuestion: |\Z)", re.S | re.M)
_YEAR = re.compile(r"\b(1[6-9]\d\d|20\d\d)\b")
_NUMBER = re.compile(r"(?<![\[\d.,])\d+(?:\.\d+)?\b(?!\])")  # not a footnote like [9]
_NAME = re.compile(r"(?<=\s)[A-Z][a-záéíóúñ]{3,}\b")
FAKE_NAME = "Kowalczyk"


def passages(prompt: str) -> dict[int, str]:
    """The numbered passages of our prompt, by number."""
    return {int(m.group(1)): m.group(2).strip() for m in _PASSAGE.finditer(prompt)}


def first_sentence(text: str, min_chars: int = 40) -> str:
    """The first sentence long enough to be a claim (the whole text if none is)."""
    spans = [text[s:e] for s, e in sentence_spans(text)]
    return next((x for x in spans if len(x) >= min_chars and x[-1] in ".!?"), spans[0] if spans else text)


def fabricate(sentence: str, evidence: str, kind: str = "any") -> str | None:
    """``sentence`` with one fact made wrong: a year moved, a number changed or a name replaced by one
    that ``evidence`` does not hold. None when the sentence has no such fact of ``kind``."""
    if kind in ("any", "date"):
        for m in _YEAR.finditer(sentence):
            for shift in (7, -9, 13):
                wrong = str(int(m.group()) + shift)
                if wrong not in evidence:
                    return sentence[: m.start()] + wrong + sentence[m.end() :]
    if kind in ("any", "number"):
        for m in _NUMBER.finditer(sentence):
            if _YEAR.fullmatch(m.group()):
                continue
            wrong = str(int(float(m.group())) * 3 + 7)
            if wrong not in evidence:
                return sentence[: m.start()] + wrong + sentence[m.end() :]
    if kind in ("any", "name"):
        m = _NAME.search(sentence)
        if m:
            return sentence[: m.start()] + FAKE_NAME + sentence[m.end() :]
    return None


def script(model: str, messages: list[dict[str, Any]]) -> str:
    """What the double answers."""
    if "Rewrite the user's last question" in str(messages[0].get("content", "")):
        last = [line for line in str(messages[-1]["content"]).splitlines() if line.startswith("user: ")][-1]
        return "standalone: " + last.removeprefix("user: ")
    prompt = str(messages[-1]["content"])
    found = passages(prompt)
    one = first_sentence(found.get(1, "nothing here"))
    if model == "abstain":
        return NOT_FOUND
    if model == "uncited":
        return one
    if model == "fabricate":
        two = first_sentence(found.get(2, found.get(1, "")))
        wrong = fabricate(two, prompt) or f"{two} It was signed by {FAKE_NAME} in 1875."
        return f"{one} [1] {wrong} [2]"
    if model == "slow":
        return " ".join(["word"] * 400)
    return f"{one} [1]"  # echo, sleepy


def create_double() -> FastAPI:
    app = FastAPI()
    app.state.log = []
    app.state.inflight = app.state.max_inflight = 0

    @app.get("/v1/models")
    async def models():
        return {
            "object": "list",
            "data": [{"id": m, "object": "model", "owned_by": "tests"} for m in ("echo", "fabricate", "uncited", "abstain", "slow")],
        }

    @app.get("/log")
    async def log():
        return app.state.log

    @app.post("/v1/chat/completions")
    async def chat(request: Request):
        body = await request.json()
        model, messages = body.get("model", "echo"), body["messages"]
        entry: dict[str, Any] = {"model": model, "messages": messages, "stream": bool(body.get("stream")), "finished": False}
        entry.update(max_tokens=body.get("max_tokens"), temperature=body.get("temperature"))
        app.state.log.append(entry)
        if model == "broken":
            return JSONResponse({"error": {"message": "scripted failure"}}, status_code=500)
        if model == "sleepy":
            app.state.inflight += 1
            app.state.max_inflight = max(app.state.max_inflight, app.state.inflight)
            await asyncio.sleep(0.3)
            app.state.inflight -= 1
        text = script(model, messages)
        prompt_tokens = sum(len(str(m.get("content", "")).split()) for m in messages)
        usage = {"prompt_tokens": prompt_tokens, "completion_tokens": len(text.split()), "total_tokens": prompt_tokens + len(text.split())}
        if not body.get("stream"):
            entry["finished"] = True
            message = {"role": "assistant", "content": text}
            return {
                "id": "double-1",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": model,
                "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
                "usage": usage,
            }
        return StreamingResponse(_stream(model, text, usage, entry), media_type="text/event-stream")

    return app


async def _stream(model: str, text: str, usage: dict[str, int], entry: dict[str, Any]):
    def chunk(delta: dict[str, Any], finish: str | None = None, with_usage: bool = False) -> str:
        body = {"id": "double-1", "object": "chat.completion.chunk", "created": int(time.time()), "model": model}
        body["choices"] = [] if with_usage else [{"index": 0, "delta": delta, "finish_reason": finish}]
        if with_usage:
            body["usage"] = usage
        return f"data: {json.dumps(body)}\n\n"

    try:
        yield chunk({"role": "assistant", "content": ""})
        for i, word in enumerate(text.split(" ")):
            if model == "slow":
                await asyncio.sleep(0.05)
            yield chunk({"content": word if i == 0 else " " + word})
        yield chunk({}, "stop")
        yield chunk({}, with_usage=True)
        yield "data: [DONE]\n\n"
        entry["finished"] = True
    except BaseException:  # the client hung up (Starlette cancels the stream)
        entry["cancelled"] = True
        raise


class Double:
    """The double served by a real uvicorn in a thread; ``base_url`` ends in /v1."""

    def __init__(self) -> None:
        self.port = free_port()
        self.app = create_double()
        self.server = uvicorn.Server(uvicorn.Config(self.app, host="127.0.0.1", port=self.port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def log(self) -> list[dict[str, Any]]:
        return self.app.state.log

    def __enter__(self) -> Double:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started and time.monotonic() < deadline:
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(5)
