"""Query embeddings of concurrent requests share model calls (the server's async search path)."""
import asyncio

import numpy as np

from rag.batching import MicroBatcher
from tests.conftest import engine_at

QUERIES = ["Merida Initiative funding", "Who declared the war on drug cartels?", "NAFTA and security",
           "Mexican military human rights", "border security cooperation with Canada", "Posse comitatus",
           "What is the role of the Mexican navy?", "Security and Prosperity Partnership"] * 2


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
    assert engine._batcher.batches < len(QUERIES)
    for q, r in zip(QUERIES, results):
        expected = seed.search(q)
        assert [h.chunk.chunk_id for h in r.hits] == [h.chunk.chunk_id for h in expected.hits]
        assert np.allclose([h.score for h in r.hits], [h.score for h in expected.hits], atol=1e-4)
    before = engine._batcher.batches
    asyncio.run(engine.asearch("Merida", mode="lexical"))
    assert engine._batcher.batches == before  # lexical search needs no embedding


def test_async_search_matches_sync_with_filters_in_every_mode(seed_index):
    seed, _ = seed_index  # no batcher: the embedding runs in the default executor
    filters = {"year": {"gte": 2009}}
    for mode in ("dense", "lexical", "hybrid"):
        got = asyncio.run(seed.asearch("Merida Initiative funding", 5, mode, filters)).hits
        want = seed.search("Merida Initiative funding", 5, mode, filters).hits
        assert got and [h.chunk.chunk_id for h in got] == [h.chunk.chunk_id for h in want]
    assert asyncio.run(seed.asearch("Merida", 5, "hybrid", {"year": {"gte": 2100}})).hits == []
