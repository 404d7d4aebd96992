"""The generation protocol against a real OpenAI-compatible server: llama.cpp with SmolLM2-135M.
That model is far too small to answer well, so these tests assert the protocol (events, chunks,
finish reasons, usage, markers parsed, verifier run), never its wording. `make test-llm` runs them."""

from __future__ import annotations

import asyncio
import json
import re
import shutil

import pytest
from openai import OpenAI

from rag import Settings
from tests.llm_server import ALIAS, LlamaServer, llama_missing
from tests.server import Server
from tests.test_chat_http import QUESTION, _mcp, read_sse

pytestmark = [pytest.mark.llm, pytest.mark.skipif(bool(llama_missing()), reason=llama_missing() or "")]
THRESHOLD = Settings().verify_threshold
MARKER = re.compile(r"\[(\d+)\]")


@pytest.fixture(scope="module")
def llama():
    with LlamaServer() as server:
        yield server


@pytest.fixture(scope="module")
def server(seed_index, tmp_path_factory, llama):
    engine, _ = seed_index
    index = tmp_path_factory.mktemp("llama") / "index"
    shutil.copytree(engine.settings.index_dir, index)
    env = {"RAG_LLM_BASE_URL": llama.base_url, "RAG_LLM_MODEL": ALIAS, "RAG_LLM_MAX_TOKENS": "48", "RAG_LLM_CONTEXT_TOKENS": "700"}
    with Server(index, env=env) as s:
        yield s


def _plain(text: str) -> str:
    return " ".join(MARKER.sub(" ", text).split())


def _claims_belong_to(text: str, claims: list[dict], n_passages: int) -> None:
    """Every claim is a sentence of what the LLM wrote, its markers parsed, its verdict the rule's."""
    for c in claims:
        assert _plain(c["text"]) in _plain(text)
        assert all(1 <= m <= n_passages for m in c["markers"])
        assert c["supported"] == (not c["unsupported_terms"] and c["score"] >= THRESHOLD)


def test_streamed_ask(server):
    events = read_sse(server.url, "/ask", {"question": QUESTION, "stream": True})
    names = [n for n, _ in events]
    assert names[0] == "passages" and names[-1] == "done" and "claims" in names
    streamed = "".join(json.loads(d)["text"] for n, d in events if n == "token")
    done = json.loads(events[-1][1])
    assert done["mode"] in ("generated", "fallback") and done["model"] == ALIAS
    assert done["usage"]["completion_tokens"] > 0 and done["usage"]["prompt_tokens"] > 0
    if streamed.strip():
        assert done["claims"], "the verifier ran on what the LLM wrote"
    _claims_belong_to(streamed, done["claims"], len(done["passages"]))
    if done["mode"] == "generated":
        assert done["grounded"] and all(c["supported"] for c in done["claims"] if c["text"] in done["answer"])


def test_ask_json(server):
    status, body = server.call("/ask", {"question": QUESTION}, timeout=120)
    assert status == 200 and body["mode"] in ("generated", "fallback") and body["model"] == ALIAS
    assert body["passages"] and isinstance(body["claims"], list)


def test_openai_client_against_llama(server):
    client = OpenAI(base_url=server.url + "/v1", api_key="x", timeout=120)
    r = client.chat.completions.create(model="grounded-rag", messages=[{"role": "user", "content": QUESTION}])
    assert r.choices[0].finish_reason in ("stop", "length")
    assert r.usage is not None and r.usage.prompt_tokens > 0 and r.usage.completion_tokens > 0
    assert "claims" in (r.model_extra or {}) and "citations" in (r.model_extra or {})
    chunks = list(client.chat.completions.create(model="grounded-rag", messages=[{"role": "user", "content": QUESTION}], stream=True))
    assert len(chunks) >= 3 and chunks[0].choices[0].delta.role == "assistant"
    last = chunks[-1]
    assert last.choices[0].finish_reason == "stop" and last.usage is not None and last.usage.completion_tokens > 0
    assert "citations" in (last.model_extra or {}) and "claims" in (last.model_extra or {})
    short = client.chat.completions.create(model="grounded-rag", messages=[{"role": "user", "content": QUESTION}], max_tokens=8)
    assert short.usage is not None and 0 < short.usage.completion_tokens <= 8  # the request's limit reached llama.cpp


def test_mcp_against_llama(server):
    async def run():
        async with _mcp(server.url) as c:
            found = (await c.call_tool("search", {"query": "Merida Initiative"})).structured_content
            fetched = (await c.call_tool("fetch", {"id": found["results"][0]["id"]})).structured_content
            answer = (await c.call_tool("ask", {"question": QUESTION})).structured_content
            return found, fetched, answer

    found, fetched, answer = asyncio.run(run())
    assert found["results"] and fetched["text"] == found["results"][0]["text"]
    assert answer["mode"] in ("generated", "fallback") and isinstance(answer["claims"], list)
