"""The chat front-end kit over real HTTP: a `rag serve` process whose LLM is the scripted double,
used through the official ``openai`` and ``mcp`` clients and a raw SSE reader."""

from __future__ import annotations

import asyncio
import http.client
import json
import re
import shutil
import time

import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from openai import OpenAI

from tests.llm_double import Double, script
from tests.server import Server

QUESTION = "What did the Merida Initiative fund?"
KEY = "chat-key"


@pytest.fixture(scope="module")
def double():
    with Double() as d:
        yield d


def _index_copy(seed_index, tmp_path_factory):
    engine, _ = seed_index
    target = tmp_path_factory.mktemp("chat") / "index"
    shutil.copytree(engine.settings.index_dir, target)
    return target


@pytest.fixture(scope="module")
def server(seed_index, tmp_path_factory, double):
    env = {"RAG_LLM_BASE_URL": double.base_url, "RAG_LLM_MODEL": "fabricate"}
    with Server(_index_copy(seed_index, tmp_path_factory), env=env) as s:
        yield s


def read_sse(url: str, path: str, body: dict, headers: dict | None = None, stop_after: int | None = None) -> list[tuple[str | None, str]]:
    """(event name, data) pairs of a streamed response; with ``stop_after``, hang up after that many."""
    host, port = url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    conn.request("POST", path, json.dumps(body), {"Content-Type": "application/json", **(headers or {})})
    r = conn.getresponse()
    assert r.status == 200, r.read()
    assert r.getheader("Content-Type", "").startswith("text/event-stream")
    events: list[tuple[str | None, str]] = []
    name: str | None = None
    while True:
        line = r.fp.readline()
        if not line:
            break
        line = line.decode().rstrip("\n")
        if line.startswith("event: "):
            name = line[7:]
        elif line.startswith("data: "):
            events.append((name, line[6:]))
            name = None
            if stop_after and len(events) >= stop_after:
                conn.close()
                break
    return events


def test_ask_streams_passages_tokens_claims_done(server, double):
    events = read_sse(server.url, "/ask", {"question": QUESTION, "stream": True})
    names = [n for n, _ in events]
    assert names[0] == "passages" and names[-2:] == ["claims", "done"] and set(names[1:-2]) == {"token"}
    passages = json.loads(events[0][1])["passages"]
    streamed = "".join(json.loads(d)["text"] for n, d in events if n == "token")
    done = json.loads(events[-1][1])
    assert streamed == script("fabricate", double.log[-1]["messages"])
    assert done["mode"] == "generated" and done["grounded"] and done["passages"] == passages
    assert [c["supported"] for c in done["claims"]] == [True, False]
    assert done["answer"] == done["claims"][0]["text"]


def test_ask_without_stream_is_verified_json(server):
    status, body = server.call("/ask", {"question": QUESTION})
    assert status == 200 and body["mode"] == "generated"
    assert [c["supported"] for c in body["claims"]] == [True, False]
    assert body["citations"] and all(c["text"] for c in body["citations"])
    status, body = server.call("/ask", {"question": QUESTION, "generate": False})
    assert status == 200 and body["mode"] == "extractive" and all(c["supported"] for c in body["claims"])


def test_bad_streamed_question_gets_its_status_before_the_stream(server):
    status, _ = server.call("/ask", {"question": "Merida", "stream": True, "filters": {"colour": "red"}})
    assert status == 400


def test_openai_client_non_streaming(server):
    client = OpenAI(base_url=server.url + "/v1", api_key="anything")
    assert [m.id for m in client.models.list().data] == ["grounded-rag"]
    r = client.chat.completions.create(model="grounded-rag", messages=[{"role": "user", "content": QUESTION}])
    extra = r.model_extra or {}
    content = r.choices[0].message.content or ""
    assert r.choices[0].finish_reason == "stop" and "[1]" in content
    assert r.usage is not None and r.usage.completion_tokens > 0 and r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens
    assert extra["grounded"] and extra["citations"] and {"title", "doc_id", "line_start", "char_start", "text"} <= set(extra["citations"][0])
    assert [c["supported"] for c in extra["claims"]] == [True, False]


def test_openai_client_streaming_ends_with_citations(server):
    client = OpenAI(base_url=server.url + "/v1", api_key="anything")
    chunks = list(client.chat.completions.create(model="grounded-rag", messages=[{"role": "user", "content": QUESTION}], stream=True))
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    last = chunks[-1]
    extra = last.model_extra or {}
    assert last.choices[0].finish_reason == "stop" and "[1]" in text
    assert extra["citations"] and last.usage is not None and last.usage.completion_tokens > 0
    # the fabricated sentence was streamed as written, so the reader is told it is unsupported
    assert "Not supported by the sources" in text


def test_openai_client_conversation_uses_a_standalone_query(server):
    client = OpenAI(base_url=server.url + "/v1", api_key="anything")
    messages = [
        {"role": "user", "content": QUESTION},
        {"role": "assistant", "content": "It funded equipment [1]."},
        {"role": "user", "content": [{"type": "text", "text": "And who proposed it?"}]},
    ]
    r = client.chat.completions.create(model="grounded-rag", messages=messages)  # type: ignore[arg-type]
    assert (r.model_extra or {})["query"] == "standalone: And who proposed it?"


def test_request_temperature_and_max_tokens_reach_the_llm(server, double):
    """OpenAI's sampling fields are passed on; max_tokens is capped by RAG_LLM_MAX_TOKENS (400)."""
    client = OpenAI(base_url=server.url + "/v1", api_key="anything")
    asked = [{"role": "user", "content": QUESTION}]

    def last_answer_call():
        return double.log[-1]  # one user turn: no rewrite call, the last call wrote the answer

    client.chat.completions.create(model="grounded-rag", messages=asked, temperature=0.7, max_tokens=50)  # type: ignore[arg-type]
    assert (last_answer_call()["temperature"], last_answer_call()["max_tokens"]) == (0.7, 50)
    list(client.chat.completions.create(model="grounded-rag", messages=asked, stream=True, max_completion_tokens=100_000))  # type: ignore[arg-type]
    assert last_answer_call()["stream"] and last_answer_call()["max_tokens"] == 400
    client.chat.completions.create(model="grounded-rag", messages=asked)  # type: ignore[arg-type]
    assert (last_answer_call()["temperature"], last_answer_call()["max_tokens"]) == (0.0, 400)  # the service's settings
    status, body = server.call("/v1/chat/completions", {"messages": asked, "temperature": 3})
    assert status == 422 and "temperature" in json.dumps(body)
    status, body = server.call("/ask", {"question": QUESTION, "temperature": 1.1, "max_tokens": 64})  # our own /ask too
    assert status == 200 and (last_answer_call()["temperature"], last_answer_call()["max_tokens"]) == (1.1, 64)

    async def mcp_ask(arguments):
        async with _mcp(server.url) as c:
            return await c.call_tool("ask", {"question": QUESTION, **arguments})

    assert not asyncio.run(mcp_ask({"temperature": 0.3, "max_tokens": 32})).is_error  # and the MCP ask tool
    assert (last_answer_call()["temperature"], last_answer_call()["max_tokens"]) == (0.3, 32)
    refused = asyncio.run(mcp_ask({"temperature": 5}))
    assert refused.is_error and "temperature" in str(refused.content)


def test_metrics_count_answers_and_verdicts(server):
    status, body = server.call("/ask", {"question": QUESTION})
    assert status == 200
    reply = server.call("/metrics")
    text = reply.body if isinstance(reply.body, str) else str(reply.body)
    generated = re.search(r'rag_answers_total\{grounded="true",mode="generated"\} (\d+)', text)
    unsupported = re.search(r'rag_claims_total\{supported="false"\} (\d+)', text)
    assert generated and int(generated.group(1)) >= 1, text[-2000:]
    assert unsupported and int(unsupported.group(1)) >= 1


def _mcp(url: str, headers: dict | None = None) -> Client:
    return Client(streamable_http_client(url + "/mcp", http_client=create_mcp_http_client(headers=headers)))


def test_mcp_tools_search_fetch_ask(server):
    async def run():
        async with _mcp(server.url) as c:
            tools = {t.name: t for t in (await c.list_tools()).tools}
            assert set(tools) == {"search", "fetch", "ask"}
            assert all(t.output_schema for t in tools.values())
            found = (await c.call_tool("search", {"query": "Merida Initiative", "top_k": 3})).structured_content
            fetched = (await c.call_tool("fetch", {"id": found["results"][0]["id"]})).structured_content
            answer = (await c.call_tool("ask", {"question": QUESTION})).structured_content
            missing = await c.call_tool("fetch", {"id": "no-such-id"})
            return found, fetched, answer, missing

    found, fetched, answer, missing = asyncio.run(run())
    first = found["results"][0]
    assert len(found["results"]) == 3 and first["url"] == f"{server.url}/chunks/{first['id']}"
    status, chunk = server.call(f"/chunks/{first['id']}")
    assert status == 200 and chunk["text"] == first["text"] == fetched["text"]
    assert fetched["metadata"]["line_start"] == chunk["line_start"] and fetched["metadata"]["doc_id"] == chunk["doc_id"]
    assert answer["mode"] == "generated" and [c["supported"] for c in answer["claims"]] == [True, False]
    assert missing.is_error


def test_mcp_and_chat_need_the_key_when_reads_are_protected(seed_index, tmp_path_factory, double):
    env = {"RAG_API_KEY": KEY, "RAG_PROTECT_READS": "true"}
    with Server(_index_copy(seed_index, tmp_path_factory), env=env) as s:

        async def tools(headers):
            async with _mcp(s.url, headers) as c:
                return [t.name for t in (await c.list_tools()).tools]

        refused: Exception | None = None
        try:
            asyncio.run(tools({"Authorization": "Bearer wrong"}))
        except Exception as e:  # the SDK wraps the HTTP 401 in an exception group
            refused = e
        assert refused is not None and "Server returned an error response" in repr(getattr(refused, "exceptions", refused))
        assert sorted(asyncio.run(tools({"Authorization": f"Bearer {KEY}"}))) == ["ask", "fetch", "search"]
        assert s.call("/mcp", {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}).status == 401
        assert s.call("/v1/models").status == 401
        models = OpenAI(base_url=s.url + "/v1", api_key=KEY).models.list()
        assert [m.id for m in models.data] == ["grounded-rag"]


def test_client_that_leaves_stops_the_llm_stream(seed_index, tmp_path_factory, double):
    env = {"RAG_LLM_BASE_URL": double.base_url, "RAG_LLM_MODEL": "slow"}
    with Server(_index_copy(seed_index, tmp_path_factory), env=env) as s:
        events = read_sse(s.url, "/ask", {"question": QUESTION, "stream": True}, stop_after=4)
        assert [n for n, _ in events] == ["passages", "token", "token", "token"]
        entry = double.log[-1]
        deadline = time.monotonic() + 10
        while "cancelled" not in entry and time.monotonic() < deadline:
            time.sleep(0.05)
        # 400 words at 50 ms each would take 20 s: the double saw its client (our server) go away
        assert entry.get("cancelled") and not entry["finished"]
