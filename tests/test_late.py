"""Late interaction (token-level maxsim with the fast model's own token vectors): the formula on hand-made
vectors, int8 storage, the vectors' life cycle with the index (written with the chunks, pruned with them,
never written from the read path), and its effect on the bundled paraphrase questions."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from rag import Engine, Settings
from rag.engine import NewDocument
from rag.evaluation import eval_evidence
from rag.late import LateScorer, content_rows, maxsim, maxsim_many, pooled
from rag.token_cache import dequantize, quantize
from tests.helpers import CORPUS, ROOT

PARAPHRASES = ROOT / "examples/eval/seed_qa_paraphrase_dev.jsonl"


def _stored(engine: Engine) -> int:
    return engine.store.catalog.conn().execute("SELECT COUNT(*) FROM token_vectors").fetchone()[0]


def test_maxsim_by_hand():
    q = np.array([[1.0, 0.0], [0.0, 1.0]])
    d = np.array([[1.0, 0.0], [0.6, 0.8]])
    # query row 1: best of (1.0, 0.6) = 1.0; row 2: best of (0.0, 0.8) = 0.8; mean 0.9
    assert maxsim(q, d) == pytest.approx(0.9)
    assert maxsim(q, d[:0]) == 0.0 and maxsim(q[:0], d) == 0.0
    # Batched: the same per doc, an empty doc scores 0 wherever it sits.
    assert maxsim_many(q, [d[:0], d, d[1:], d[:0]]) == pytest.approx([0.0, 0.9, 0.7, 0.0])  # d[1:]: (0.6 + 0.8) / 2


def test_content_rows_drop_special_tokens_and_punctuation():
    pieces = ["[CLS]", "border", "##s", ",", "?", "##.", "mexico", "[SEP]"]
    vectors = np.arange(1, 8 * 3 + 1, dtype="float32").reshape(8, 3)
    rows = content_rows(pieces, vectors)
    assert rows.shape == (3, 3)  # border, ##s, mexico
    assert np.allclose(rows[0], vectors[1] / np.linalg.norm(vectors[1]))
    assert np.allclose(np.linalg.norm(rows, axis=1), 1)


def test_one_model_pass_gives_the_query_vector_and_its_token_rows(embedder):
    questions = ["When did Tillerson travel to Mexico City?", "utility choppers for the army", "a"]
    vectors = np.stack([pooled(v) for _, v in embedder.encode_tokens(questions)])
    assert np.abs(vectors - embedder.encode(questions)).max() < 1e-5  # the model's own mean pooling


def test_int8_storage_keeps_unit_vectors_to_within_half_a_step():
    rng = np.random.default_rng(0)
    v = rng.normal(size=(50, 384)).astype("float32")
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    back = dequantize(quantize(v), 384)
    assert back.shape == v.shape and np.abs(back - v).max() <= 0.5 / 127 + 1e-7
    assert len(quantize(v)) == 50 * 384  # a byte per component


def test_token_vectors_follow_the_chunks(tmp_path, embedder):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for name in ("001_e0cea56afaaf3c59.txt", "002_1fb43c4be05de09d.txt"):
        shutil.copy(CORPUS / name, corpus)
    engine = Engine(Settings(index_dir=tmp_path / "ix"), embedder=embedder)
    assert engine.late is not None and engine.retriever.late is engine.late
    engine.sync([corpus])
    chunks = engine.stats()["chunks"]
    assert _stored(engine) == chunks and engine.warm_late() == 0  # written with the chunks
    # Stored (int8) and freshly computed matrices give the same maxsim to about 1e-2.
    question = "Which branch of Mexico's armed forces seemed open to closer work with U.S. forces?"
    rowids = [int(r[0]) for r in engine.store.catalog.conn().execute("SELECT id FROM chunks LIMIT 8")]
    stored = dict(engine.late.score(question, rowids))
    engine.late.store.catalog.conn().execute("DELETE FROM token_vectors")
    cold = LateScorer(engine.embedder, engine.store)  # a new process: nothing in memory
    fresh = dict(cold.score(question, rowids))
    assert set(stored) == set(fresh) == set(rowids)
    assert max(abs(stored[r] - fresh[r]) for r in rowids) < 1e-2
    assert _stored(engine) == 0 and len(cold._memory) == 8  # the read path computed, kept in memory, wrote nothing
    assert engine.warm_late() == chunks and _stored(engine) == chunks

    # An upload brings its own; deleting and editing documents leave no stale matrix after the next sync.
    engine.add_documents([NewDocument(title="Tapirs", text="Tapirs cross the Usumacinta river at night in Chiapas.")])
    assert _stored(engine) == chunks + 1 and engine.warm_late() == 0
    (corpus / "002_1fb43c4be05de09d.txt").unlink()
    text = (corpus / "001_e0cea56afaaf3c59.txt").read_text()
    (corpus / "001_e0cea56afaaf3c59.txt").write_text(text.replace("Mexico", "México", 3))
    engine.sync([corpus])
    live = engine.store.catalog.conn().execute("SELECT COUNT(DISTINCT embed_key) FROM chunks").fetchone()[0]
    assert _stored(engine) == live < chunks  # the Tapirs upload is outside the synced folder: dropped too


def test_late_interaction_off_is_the_two_list_fusion(seed_index, embedder):
    engine, _ = seed_index
    off = Engine(Settings(index_dir=engine.settings.index_dir, late_interaction=False), embedder=embedder)
    assert off.late is None
    question = "Why did the United States put all its security work at home under one new department?"
    r = off.retriever
    dense = r._dense(off.embed_queries([question]), r._depth(5), None)[0]
    expected = [c.rowid for c in r._combine(dense, r._lexical(question, r._depth(5), None), "hybrid", 5)]
    rows = off.store.chunks_by_rowid(expected)
    hits = off.search(question, top_k=5, highlights=False).hits
    assert [h.chunk.chunk_id for h in hits] == [rows[r][0].chunk_id for r in expected][: len(hits)]


def test_late_interaction_ranks_paraphrased_questions_better(seed_index, embedder):
    """The bundled paraphrase questions (the users' own words): late interaction must beat the two-list
    fusion on both Recall@5 and MRR@10 (docs/EVALUATION.md has the figures)."""
    engine, _ = seed_index
    off = Engine(Settings(index_dir=engine.settings.index_dir, late_interaction=False), embedder=embedder)
    on = eval_evidence(engine, PARAPHRASES, ["hybrid"]).modes["hybrid"]
    base = eval_evidence(off, PARAPHRASES, ["hybrid"]).modes["hybrid"]
    assert on["recall@5"] > base["recall@5"] and on["mrr@10"] > base["mrr@10"], (on, base)
