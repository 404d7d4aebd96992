"""Late interaction (token-level maxsim with the fast model's own token vectors): the formula on hand-made
vectors, int8 storage, the vectors' life cycle with the index (written with the chunks, pruned with them,
never written from the read path), and its effect on the bundled paraphrase questions."""

from __future__ import annotations

import shutil
import sqlite3

import numpy as np
import pytest

from rag import Engine, Settings, token_cache
from rag.engine import NewDocument
from rag.evaluation import eval_evidence, run_eval
from rag.ingest import embed_text
from rag.late import LateScorer, content_rows, maxsim, maxsim_many, pooled
from rag.token_cache import dequantize, quantize
from rag.token_codec import MIN_TRAIN, SUB_DIMS, ProductCodec
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
    # `rag eval` on an evidence-quote file stores missing ones before it searches, as `rag index` and a server start do.
    engine.late.store.catalog.conn().execute("DELETE FROM token_vectors")
    questions = tmp_path / "questions.jsonl"  # those about the two papers indexed here (others are refused)
    questions.write_text("".join(line + "\n" for line in PARAPHRASES.read_text().splitlines() if '"001_' in line or '"002_' in line))
    run_eval(None, engine, questions, "test", ["hybrid"])
    assert _stored(engine) == chunks

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


def test_a_large_index_keeps_its_token_vectors_as_product_codes(seed_index, embedder, tmp_path):
    """The seed corpus holds more than ``MIN_TRAIN`` token vectors: with compression on, a codebook is learnt
    from them and every row is stored as product codes; maxsim from the codes stays close to maxsim from the
    model's vectors."""
    shutil.copytree(seed_index[0].settings.index_dir, tmp_path / "ix")
    engine = Engine(Settings(index_dir=tmp_path / "ix", late_compression=True), embedder=embedder)
    assert engine.warm_late() == 0  # nothing to encode: the int8 rows are converted in place
    conn = engine.store.catalog.conn()
    assert conn.execute("SELECT COUNT(*) FROM token_codecs").fetchone()[0] == 1
    assert dict(conn.execute("SELECT codec, COUNT(*) FROM token_vectors GROUP BY codec").fetchall()) == {1: engine.stats()["chunks"]}
    cold = LateScorer(engine.embedder, engine.store)  # a new process: reads the codes
    rows = engine.store.chunks_by_rowid([int(r[0]) for r in conn.execute("SELECT id FROM chunks ORDER BY id LIMIT 12")])
    texts = [embed_text(title, c.text, engine.settings.embed_title) for c, title, _ in rows.values()]
    stored = cold.matrices(texts)
    fresh = cold.tokens(texts)
    # 96 bytes per word piece (384 components, 4 per byte), one row per content word piece
    blobs = dict(conn.execute("SELECT key, length(vectors) FROM token_vectors").fetchall())
    assert [blobs[cold._key(t)] for t in texts] == [384 // SUB_DIMS * len(f) for f in fresh]
    question = cold.tokens(["Which branch of Mexico's armed forces seemed open to closer work with U.S. forces?"])[0]
    exact = maxsim_many(question, fresh)
    coded = maxsim_many(question / 127, [stored[t] for t in texts])
    assert max(abs(a - b) for a, b in zip(exact, coded)) < 0.03, (exact, coded)
    assert int(np.argmax(exact)) == int(np.argmax(coded))  # the best stays the best


def test_a_codebook_from_real_token_vectors_reconstructs_unseen_ones(seed_index):
    """Learnt from the first MIN_TRAIN word pieces of the seed corpus (10 k-means iterations, BLAS
    distances), the codes of the rest decode to within a small angle of the model's vectors; faiss's
    process-wide BLAS setting is given back."""
    import faiss

    engine, _ = seed_index
    rows = engine.store.chunks_by_rowid(list(range(1, engine.stats()["chunks"] + 1)))
    texts = [embed_text(title, c.text, engine.settings.embed_title) for c, title, _ in rows.values()]
    vectors = np.concatenate(LateScorer(engine.embedder, engine.store).tokens(texts))
    assert len(vectors) > MIN_TRAIN + 5000
    before = faiss.cvar.distance_compute_blas_threshold
    codec = ProductCodec.train(vectors[:MIN_TRAIN])
    assert faiss.cvar.distance_compute_blas_threshold == before
    unseen = vectors[MIN_TRAIN:]
    cosine = (codec.decode(codec.encode(unseen)) * unseen).sum(axis=1)
    assert len(codec.encode(unseen)) == len(unseen) * 384 // SUB_DIMS
    assert cosine.mean() > 0.95 and np.percentile(cosine, 5) > 0.93, (cosine.mean(), np.percentile(cosine, 5))


def test_an_int8_index_is_compressed_in_place_while_a_reader_has_it_open(tmp_path, embedder, monkeypatch):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    shutil.copy(CORPUS / "001_e0cea56afaaf3c59.txt", corpus)
    engine = Engine(Settings(index_dir=tmp_path / "ix", late_compression=False), embedder=embedder)
    engine.sync([corpus])
    conn = engine.store.catalog.conn()
    assert conn.execute("SELECT DISTINCT codec FROM token_vectors").fetchall() == [(token_cache.INT8,)]
    keys = [k for (k,) in conn.execute("SELECT key FROM token_vectors")]
    before = token_cache.get(conn, keys)
    reader = LateScorer(engine.embedder, engine.store)  # opened before the codebook exists
    assert token_cache.codec(conn, reader._codecs) == (token_cache.INT8, None)
    stored = lambda: conn.execute("SELECT SUM(LENGTH(vectors)) FROM token_vectors").fetchone()[0]  # noqa: E731
    int8_bytes = stored()

    monkeypatch.setattr(token_cache, "MIN_TRAIN", 2_000)  # this one paper holds fewer than the default
    assert token_cache.compress(conn, {}) == len(keys)
    assert conn.execute("SELECT DISTINCT codec FROM token_vectors").fetchall() == [(1,)]
    assert token_cache.compress(conn, {}) == 0  # nothing left to do
    assert stored() * SUB_DIMS == int8_bytes  # 96 bytes a word piece instead of 384
    after = token_cache.get(conn, keys, reader._codecs)  # each row says which codebook reads it
    assert [after[k].shape for k in keys] == [before[k].shape for k in keys]
    cos = [float(np.mean(np.sum(after[k].astype("float32") * before[k] / 127**2, axis=1))) for k in keys]
    assert min(cos) > 0.9, min(cos)
    # Writes after it use the codebook.
    engine.settings = engine.settings.model_copy(update={"late_compression": True})
    engine.late = LateScorer(engine.embedder, engine.store, compress=True)
    engine.add_documents([NewDocument(title="Tapirs", text="Tapirs cross the Usumacinta river at night in Chiapas.")])
    assert conn.execute("SELECT DISTINCT codec FROM token_vectors").fetchall() == [(1,)]


def test_a_catalog_from_before_codecs_gains_the_column_and_reads_as_before(tmp_path):
    conn = sqlite3.connect(tmp_path / "old.sqlite")
    conn.execute("CREATE TABLE token_vectors(key TEXT PRIMARY KEY, dim INTEGER, vectors BLOB)")  # the old table
    v = np.eye(3, 384, dtype="float32")
    conn.execute("INSERT INTO token_vectors VALUES ('k', 384, ?)", (quantize(v),))
    conn.commit()
    conn.executescript(token_cache.SCHEMA)  # what opening the catalog runs: the old table stays as it was
    token_cache.migrate(conn)
    token_cache.migrate(conn)  # twice (another process): harmless
    assert np.array_equal(token_cache.get(conn, ["k"])["k"], token_cache.to_int8(v))
    assert token_cache.compress(conn, {}) == 0  # three vectors: far too few for a codebook


def test_rows_of_gives_remembered_rows_and_computes_the_rest_in_one_pass(seed_index):
    engine, _ = seed_index
    scorer = LateScorer(engine.embedder, engine.store)
    asked = "Which branch of Mexico's armed forces seemed open to closer work with U.S. forces?"
    scorer.remember_queries([asked], engine.embedder.encode_tokens([asked]))
    passes: list[list[str]] = []
    tokens = scorer.tokens
    scorer.tokens = lambda texts: passes.append(texts) or tokens(texts)  # type: ignore[method-assign]
    others = ["The navy trains with the U.S. Navy.", "The army keeps its distance."]
    rows = scorer.rows_of([asked, *others, others[0]])
    assert passes == [others]  # one pass, only for the texts not remembered
    assert rows[0] is scorer.query_rows(asked)
    assert all(np.allclose(r, t, atol=1e-5) for r, t in zip(rows[1:3], tokens(others)))
