"""What only the Qdrant store has: one round trip per hybrid search, repair after a crash between
the catalog's commit and Qdrant's write, and BM25 from sparse vectors that ranks like FTS5's."""

from __future__ import annotations

import pytest

from rag import NewDocument, Settings
from rag.qdrant_store import QdrantStore
from tests.helpers import engine_at
from tests.invariants import check_index

DOCS = [
    NewDocument(title="Jaguars", text="Jaguars hunt in the Lacandon forest of Chiapas."),
    NewDocument(title="Tapirs", text="Tapirs crossed the Usumacinta river at dawn."),
]


def qdrant_engine(path, embedder):
    return engine_at(path, embedder, store="qdrant")


def test_hybrid_search_is_one_query_batch_points_call(tmp_path, embedder, monkeypatch):
    e = qdrant_engine(tmp_path, embedder)
    e.add_documents(DOCS)
    calls = []
    real = e.store.client.query_batch_points
    monkeypatch.setattr(e.store.client, "query_batch_points", lambda *a, **k: calls.append(k or a) or real(*a, **k))
    monkeypatch.setattr(e.store.client, "query_points", lambda *a, **k: pytest.fail("a second round trip"))
    hits = e.search("Where do tapirs cross the river?", top_k=2).hits
    assert len(calls) == 1 and hits[0].title == "Tapirs"
    assert hits[0].dense_rank == 1 and hits[0].lexical_rank == 1
    e.close()


def test_a_write_that_dies_before_qdrant_is_repaired_on_the_next_open(tmp_path, embedder, monkeypatch):
    e = qdrant_engine(tmp_path, embedder)
    e.add_documents(DOCS[:1])

    def crash(*a, **k):
        raise OSError("killed between the catalog's commit and Qdrant's write")

    with monkeypatch.context() as m:
        m.setattr(QdrantStore, "_upsert", crash)
        with pytest.raises(OSError):
            e.add_documents(DOCS[1:])
    assert e.store.vectors.ntotal == 1  # Qdrant is behind the catalog
    e.close()
    again = qdrant_engine(tmp_path, embedder)
    assert again.stats()["vectors"] == again.stats()["chunks"] == 2
    assert again.search("tapirs river", top_k=1).hits[0].title == "Tapirs"
    check_index(tmp_path)
    again.close()


def test_points_of_deleted_documents_never_come_back_as_hits(tmp_path, embedder, monkeypatch):
    e = qdrant_engine(tmp_path, embedder)
    docs = e.add_documents(DOCS)

    def crash(*a, **k):
        raise OSError("killed before Qdrant deleted the points")

    with monkeypatch.context() as m:  # the catalog forgets the document, Qdrant keeps its point
        m.setattr("rag.qdrant_store.QdrantVectors.remove", crash)
        with pytest.raises(OSError):
            e.delete_document(docs[1].doc_id)
    assert e.document(docs[1].doc_id) is None
    assert e.store.vectors.ntotal == 2
    assert [h.title for h in e.search("tapirs river", top_k=5).hits] == ["Jaguars"]
    e.add_documents([NewDocument(title="Okapis", text="Okapis do not live in Chiapas.")])  # the next write repairs
    assert e.store.vectors.ntotal == 2
    check_index(tmp_path)
    e.close()


def test_bm25_from_sparse_vectors_ranks_like_fts5(store_seed_index, seed_index):
    engine, _ = store_seed_index
    if engine.settings.store != "qdrant":
        pytest.skip("compares the Qdrant store with the FAISS one")
    faiss_engine, _ = seed_index
    queries = [
        "When did Tillerson travel to Mexico City?",
        "Merida Initiative helicopters",
        "Guatemalan refugees in Mexico",
        "drug trafficking organizations violence",
        "NAFTA renegotiation",
        "Mexican army human rights",
    ]
    for q in queries:
        ours = engine.lexical_candidates(q, top_k=10)
        theirs = faiss_engine.lexical_candidates(q, top_k=10)
        chunk_ids = lambda e, pairs: [e.store.chunks_by_rowid([r])[r][0].chunk_id for r, _ in pairs]  # noqa: E731
        a, b = chunk_ids(engine, ours)[:10], chunk_ids(faiss_engine, theirs)[:10]
        assert a[0] == b[0], q
        assert len(set(a) & set(b)) >= 6, (q, a, b)


def test_embedded_qdrant_runs_one_server_worker():
    assert Settings(store="qdrant", workers=4).server_workers() == 1
    assert Settings(store="qdrant", qdrant_url="http://qdrant:6333", workers=4).server_workers() == 4
