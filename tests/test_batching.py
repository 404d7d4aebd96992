"""Query embeddings of concurrent requests share model calls (the server's async search path)."""

import asyncio
import threading
import time

import numpy as np
import pytest

from rag.batching import MicroBatcher, QueueFullError
from rag.errors import TimedOutError
from rag.filters import FilterError
from tests.helpers import engine_at

QUERIES = [
    "Merida Initiative funding",
    "Who declared the war on drug cartels?",
    "NAFTA and security",
    "Mexican military human rights",
    "border security cooperation with Canada",
    "Posse comitatus",
    "What is the role of the Mexican navy?",
    "Security and Prosperity Partnership",
] * 2


def test_batcher_futures_resolve_to_each_callers_rows():
    calls = []

    def fn(texts):
        calls.append(len(texts))
        return np.array([[len(t)] for t in texts], dtype="float32")

    b = MicroBatcher(fn)
    futures = [b.submit(["a" * i, "b" * (i + 100)]) for i in range(20)]
    for i, f in enumerate(futures):
        assert f.result(5).ravel().tolist() == [i, i + 100]
    assert sum(calls) == 40


def test_batcher_hands_errors_to_every_caller():
    def fn(texts):
        raise ValueError("model failed")

    f = MicroBatcher(fn).submit(["x"])
    try:
        f.result(5)
        raise AssertionError("no error")
    except ValueError as e:
        assert "model failed" in str(e)


def test_async_searches_share_model_calls_and_match_sync(seed_index, embedder):
    seed, _ = seed_index
    engine = engine_at(seed.settings.index_dir, embedder)
    engine.enable_batching()

    async def run():
        return await asyncio.gather(*(engine.asearch(q) for q in QUERIES))

    results = asyncio.run(run())
    assert engine.model_calls < len(QUERIES)
    for q, r in zip(QUERIES, results):
        expected = seed.search(q)
        assert [h.chunk.chunk_id for h in r.hits] == [h.chunk.chunk_id for h in expected.hits]
        assert np.allclose([h.score for h in r.hits], [h.score for h in expected.hits], atol=1e-4)
    before = engine.model_calls
    asyncio.run(engine.asearch("Merida", mode="lexical"))
    assert engine.model_calls == before  # lexical search needs no embedding


def test_async_search_matches_sync_with_filters_in_every_mode(seed_index):
    seed, _ = seed_index  # no batcher: the embedding runs in the default executor
    filters = {"year": {"gte": 2009}}
    for mode in ("dense", "lexical", "hybrid"):
        got = asyncio.run(seed.asearch("Merida Initiative funding", 5, mode, filters)).hits
        want = seed.search("Merida Initiative funding", 5, mode, filters).hits
        assert got and [h.chunk.chunk_id for h in got] == [h.chunk.chunk_id for h in want]
    assert asyncio.run(seed.asearch("Merida", 5, "hybrid", {"year": {"gte": 2100}})).hits == []


def test_cancelled_callers_cost_no_model_time_and_never_stop_the_thread():
    gate = threading.Event()
    seen: list[list[str]] = []

    def fn(texts):
        gate.wait(5)
        seen.append(list(texts))
        return np.ones((len(texts), 1), dtype="float32")

    b = MicroBatcher(fn)
    first = b.submit(["busy"])  # holds the model while the next ones queue up
    time.sleep(0.05)
    gone = [b.submit([f"gone {i}"]) for i in range(5)]
    kept = b.submit(["kept"])
    for f in gone:
        assert f.cancel()
    gate.set()
    assert first.result(5).shape == (1, 1) and kept.result(5).shape == (1, 1)
    assert not any(t.startswith("gone") for batch in seen for t in batch)
    assert b.skipped == 5 and b.alive
    assert b.submit(["after"]).result(5).shape == (1, 1)  # the thread still serves


def test_a_full_queue_sheds_new_work_with_a_clear_error():
    gate = threading.Event()
    b = MicroBatcher(lambda texts: (gate.wait(5), np.zeros((len(texts), 1), dtype="float32"))[1], max_pending=3)
    b.submit(["running"])
    time.sleep(0.05)
    waiting = b.submit(["a", "b", "c"])
    with pytest.raises(QueueFullError):
        b.submit(["one too many"])
    gate.set()
    assert waiting.result(5).shape == (3, 1)
    assert b.submit(["room again"]).result(5).shape == (1, 1)


def test_bad_filter_after_nothing_queued_then_searches_still_work(seed_index, embedder):
    seed, _ = seed_index
    engine = engine_at(seed.settings.index_dir, embedder)
    engine.enable_batching()
    for bad in ({"no_such_field": 1}, {"year": {"between": 1}}):
        with pytest.raises(FilterError):
            asyncio.run(engine.asearch("cartels", filters=bad))
    assert engine.model_calls == 0 and engine.health() is None
    assert asyncio.run(engine.asearch("cartels")).hits


def test_a_stuck_model_gives_a_timeout_and_an_unready_engine(seed_index, embedder):
    seed, _ = seed_index
    engine = engine_at(seed.settings.index_dir, embedder, request_timeout_s=0.3)
    gate = threading.Event()
    stuck = lambda self, texts, progress=False: (gate.wait(10), None)[1]  # noqa: E731
    engine.embedder = type("Stuck", (), {"encode": stuck, "encode_tokens": stuck})()
    engine.enable_batching()
    with pytest.raises(TimedOutError):
        asyncio.run(engine.asearch("cartels"))
    time.sleep(0.4)
    assert "busy" in (engine.health() or "")
    gate.set()


def test_sentences_quoted_again_skip_the_model_and_give_the_same_answer(seed_index, embedder):
    seed, _ = seed_index
    engine = engine_at(seed.settings.index_dir, embedder)
    engine.enable_batching()
    question = "When did Tillerson travel to Mexico City?"
    first = engine.ask(question, generate=False)
    before = engine.model_calls
    again = engine.ask(question, generate=False)
    assert engine.model_calls - before == 1  # the search's query; every candidate sentence was remembered
    assert (again.answer, again.citations) == (first.answer, first.citations) and first.grounded
    other = asyncio.run(engine.aask("Who visited Mexico City in February 2017?", generate=False))
    assert other.grounded and other.citations[0]["text"] == first.citations[0]["text"]  # async path, same memory
