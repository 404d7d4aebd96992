"""Re-scoring with a second model (RAG_RESCORE_MODEL). The bundled model stands in for the stronger
one here: the mechanism is under test (caching, fusion, fresh uploads), not the quality gain, which
docs/EVALUATION.md measures with all-mpnet-base-v2."""

from __future__ import annotations

import shutil

from rag import Engine, Settings
from rag.config import BUNDLED_MODEL
from rag.engine import NewDocument
from tests.helpers import CORPUS


def _count(engine: Engine) -> int:
    return engine.store.catalog.conn().execute("SELECT COUNT(*) FROM embeddings").fetchone()[0]


def test_rescore_caches_at_index_time_and_reranks(tmp_path, embedder):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    shutil.copy(CORPUS / "001_e0cea56afaaf3c59.txt", corpus)
    engine = Engine(Settings(index_dir=tmp_path / "ix", rescore_model=BUNDLED_MODEL, embed_title=True), embedder=embedder)
    assert engine.rescorer is not None
    engine.sync([corpus])
    cached = _count(engine)
    assert engine.warm_rescorer() == 0  # sync already cached every chunk's and sentence's vector
    question = "What guidelines did President Calderon's national strategy follow?"
    hits = engine.search(question, top_k=3).hits
    assert hits and "guidelines" in hits[0].chunk.text
    rowids = [int(r[0]) for r in engine.store.catalog.conn().execute("SELECT id FROM chunks LIMIT 5").fetchall()]
    whole, best = engine.rescorer.score(question, rowids)
    assert [s for _, s in whole] == sorted((s for _, s in whole), reverse=True) and {r for r, _ in best} == set(rowids)
    # a fresh upload is not in the cache: scored from memory, nothing written from the read path
    engine.add_documents([NewDocument(title="Tapirs", text="Tapirs cross the Usumacinta river at night in Chiapas.")])
    before = _count(engine)
    top = engine.search("Which animals cross the Usumacinta at night?", top_k=1).hits[0]
    assert top.title == "Tapirs" and _count(engine) == before
    assert engine.rescorer._memory  # the upload's vectors were computed by the re-scoring path
    assert before >= cached
    plain = Engine(Settings(index_dir=tmp_path / "ix"), embedder=embedder)
    assert plain.rescorer is None and plain.search(question, top_k=1).hits[0].chunk.chunk_id == hits[0].chunk.chunk_id


def test_rag_index_drops_vectors_of_texts_no_chunk_holds(tmp_path, embedder):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    paper = corpus / "paper.txt"
    paper.write_text((CORPUS / "001_e0cea56afaaf3c59.txt").read_text()[:4000])
    other = corpus / "other.txt"
    other.write_text("Tapirs cross the Usumacinta river at night. They feed on fruit fallen from the ceiba trees of Chiapas.")
    engine = Engine(Settings(index_dir=tmp_path / "ix", rescore_model=BUNDLED_MODEL, embed_title=True), embedder=embedder)
    engine.sync([corpus])
    conn = engine.store.catalog.conn()
    assert engine.rescorer is not None

    def stale() -> int:
        live = set(engine.rescorer._keys(engine.rescorer._all_units())) | {k for (k,) in conn.execute("SELECT embed_key FROM chunks")}
        return sum(k not in live for (k,) in conn.execute("SELECT key FROM embeddings"))

    assert stale() == 0
    paper.write_text(paper.read_text().replace("Mexico", "Mejico"))  # every sentence naming Mexico changes
    other.unlink()
    engine.sync([corpus])
    assert stale() == 0 and _count(engine) > 0
    assert "Tapirs" not in " ".join(t for (t,) in conn.execute("SELECT text FROM chunks"))
    question = "What guidelines did President Calderon's national strategy follow?"
    assert engine.search(question, top_k=1).hits  # what is left still re-scores from the cache
    assert engine.warm_rescorer() == 0


def test_rescoring_keeps_late_interaction_as_a_fifth_list(tmp_path, embedder):
    """With late interaction on, token maxsim takes ``rescore_late_share`` of the re-scoring fusion: at 1 it
    alone orders the candidates, at 0 the four re-scoring lists do, as before."""
    from dataclasses import replace

    from rag.fusion import zscore_fusion

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    shutil.copy(CORPUS / "001_e0cea56afaaf3c59.txt", corpus)
    engine = Engine(Settings(index_dir=tmp_path / "ix", rescore_model=BUNDLED_MODEL, embed_title=True), embedder=embedder)
    engine.sync([corpus])
    r = engine.retriever
    assert r.rescorer is not None and r.late is not None and r.params.rescore_late_share == 0.4
    question = "Which Mexican ministers did the two U.S. secretaries plan to meet?"
    dense = r._dense(engine.embed_queries([question]), 100, None)[0]
    lexical = r._lexical(question, 100, None)
    first = [c.rowid for c in r._combine(dense, lexical, "hybrid", r.params.rescore_depth)]
    maxsim = engine.late.score(question, first)
    whole, sentence = engine.rescorer.score(question, first)
    r.params = replace(r.params, rescore_late_share=1.0)
    assert [c.rowid for c in r._rescore(question, dense, lexical, 5)] == [rid for rid, _ in maxsim[:5]]
    r.params = replace(r.params, rescore_late_share=0.0)
    four = zscore_fusion([dense, lexical, whole, sentence], list(r.params.rescore_weights), 5)
    assert [c.rowid for c in r._rescore(question, dense, lexical, 5)] == [rid for rid, _ in four]
    assert [rid for rid, _ in four] != [rid for rid, _ in maxsim[:5]]  # the two orders differ, so the share matters
