"""Generated answers through the engine, against the scripted OpenAI-compatible double (a real HTTP
server), so the exact text the "LLM" wrote is known: verification, policies, fallbacks."""

from __future__ import annotations

import asyncio

import pytest

from rag import Engine, Settings
from rag.answer import NOT_FOUND
from tests.llm_double import FAKE_NAME, Double, script

QUESTION = "What did the Merida Initiative fund?"


@pytest.fixture(scope="module")
def double():
    with Double() as d:
        yield d


def engine_with(seed_index, embedder, double: Double, model: str, **kw) -> Engine:
    engine, _ = seed_index
    settings = Settings(index_dir=engine.settings.index_dir, llm_base_url=double.base_url, llm_model=model, **kw)
    return Engine(settings, embedder=embedder)


def _document_slice(engine: Engine, citation) -> str:
    doc = engine.document(citation["doc_id"])
    assert doc is not None
    return doc.text[citation["char_start"] : citation["char_end"]]


def test_generated_answer_is_verified_and_cites_exact_spans(seed_index, embedder, double):
    engine = engine_with(seed_index, embedder, double, "echo")
    a = engine.ask(QUESTION)
    written = double.log[-1]
    assert a.mode == "generated" and a.grounded and a.model == "echo"
    assert a.completion is not None and a.answer == a.completion.text and a.answer.endswith("[1]")
    assert "Question: " + QUESTION in written["messages"][-1]["content"]
    assert [c["supported"] for c in a.claims] == [True]
    for c in a.citations:
        assert _document_slice(engine, c) == c["text"]
    assert a.usage() == {"prompt_tokens": a.completion.prompt_tokens, "completion_tokens": len(a.answer.split())}
    # again from a new event loop (each sync call runs one): the engine makes a client for it
    assert engine.ask(QUESTION).mode == "generated"


def test_fabricated_sentence_leaves_the_answer_but_stays_in_claims(seed_index, embedder, double):
    a = engine_with(seed_index, embedder, double, "fabricate").ask(QUESTION)
    assert a.mode == "generated" and a.grounded
    assert len(a.claims) == 2
    good, bad = a.claims
    assert good["supported"] and not bad["supported"] and bad["unsupported_terms"]
    assert bad["text"] not in a.answer and good["text"] in a.answer
    assert FAKE_NAME not in a.answer or FAKE_NAME in bad["text"]


def test_refuse_mode_refuses_an_answer_with_any_unsupported_sentence(seed_index, embedder, double):
    extractive = seed_index[0].ask(QUESTION)
    a = engine_with(seed_index, embedder, double, "fabricate", verify_mode="refuse").ask(QUESTION)
    assert a.mode == "fallback" and a.grounded == extractive.grounded is True
    assert a.answer == extractive.answer and a.citations == extractive.citations and len(a.claims) == 2


def test_abstain_fallback(seed_index, embedder, double):
    a = engine_with(seed_index, embedder, double, "fabricate", verify_mode="refuse", llm_fallback="abstain").ask(QUESTION)
    assert a.answer == NOT_FOUND and a.citations == [] and not a.grounded


def test_llm_that_abstains_is_not_overruled(seed_index, embedder, double):
    a = engine_with(seed_index, embedder, double, "abstain", llm_fallback="abstain").ask(QUESTION)
    assert a.answer == NOT_FOUND and not a.grounded and a.mode == "fallback"


def test_broken_or_unreachable_llm_falls_back_to_the_extractive_answer(seed_index, embedder, double):
    extractive = seed_index[0].ask(QUESTION)
    for kw in ({"llm_model": "broken"}, {"llm_base_url": "http://127.0.0.1:9/v1"}):
        engine, _ = seed_index
        settings = Settings(index_dir=engine.settings.index_dir, **{"llm_base_url": double.base_url, **kw})
        a = Engine(settings, embedder=embedder).ask(QUESTION)
        assert a.mode == "fallback" and a.answer == extractive.answer and a.citations == extractive.citations and a.grounded


def test_unanswerable_question_is_refused_without_calling_the_llm(seed_index, embedder, double):
    before = len(double.log)
    a = engine_with(seed_index, embedder, double, "echo").ask("Which team won the 1998 FIFA World Cup final?")
    assert not a.grounded and a.answer == NOT_FOUND and len(double.log) == before


def test_generate_false_keeps_the_extractive_answer(seed_index, embedder, double):
    engine = engine_with(seed_index, embedder, double, "echo")
    before = len(double.log)
    a = asyncio.run(engine.aask(QUESTION, generate=False))
    assert a.mode == "extractive" and len(double.log) == before


def test_stream_events_in_order(seed_index, embedder, double):
    engine = engine_with(seed_index, embedder, double, "fabricate")

    async def collect():
        return [e async for e in engine.astream_ask(QUESTION)]

    events = asyncio.run(collect())
    kinds = [e.kind for e in events]
    assert kinds[0] == "passages" and kinds[-2:] == ["claims", "done"] and set(kinds[1:-2]) == {"token"}
    streamed = "".join(e.data["text"] for e in events if e.kind == "token")
    done = events[-1].data
    assert streamed == script("fabricate", double.log[-1]["messages"])
    assert done["mode"] == "generated" and done["usage"]["completion_tokens"] == len(streamed.split())
    assert [c["supported"] for c in done["claims"]] == [True, False]


def test_conversation_query_rewritten_by_the_llm_or_taken_from_user_turns(seed_index, embedder, double):
    history = [
        {"role": "user", "content": "What is the Merida Initiative?"},
        {"role": "assistant", "content": "A security cooperation plan [1]."},
        {"role": "user", "content": "Who funded it?"},
    ]
    with_llm = asyncio.run(engine_with(seed_index, embedder, double, "echo").rewrite_question(history))
    assert with_llm == "standalone: Who funded it?"
    without = asyncio.run(seed_index[0].rewrite_question(history))
    assert without == "What is the Merida Initiative? Who funded it?"
    assert asyncio.run(seed_index[0].rewrite_question(history[:1])) == "What is the Merida Initiative?"
    # /ask's history does the same before retrieval
    followed = asyncio.run(seed_index[0].aask("Who funded it?", history=history[:2]))
    assert followed.question == "What is the Merida Initiative? Who funded it?"


def test_stream_with_a_failing_llm_reports_the_error_then_falls_back(seed_index, embedder, double):
    engine = engine_with(seed_index, embedder, double, "broken")

    async def collect():
        return [e async for e in engine.astream_ask(QUESTION)]

    events = asyncio.run(collect())
    assert [e.kind for e in events] == ["passages", "error", "claims", "done"]
    assert "scripted failure" in events[1].data["detail"]
    assert events[-1].data["mode"] == "fallback" and events[-1].data["answer"] == seed_index[0].ask(QUESTION).answer


def test_llm_calls_in_flight_are_bounded(seed_index, embedder, double):
    engine = engine_with(seed_index, embedder, double, "sleepy", llm_max_concurrency=2)

    async def burst():
        return await asyncio.gather(*(engine.aask(QUESTION) for _ in range(5)))

    answers = asyncio.run(burst())
    assert all(a.mode == "generated" for a in answers)
    assert double.app.state.max_inflight == 2
