"""What only the Qdrant store has: one round trip per hybrid search, repair after a crash between
the catalog's commit and Qdrant's write, and BM25 from sparse vectors that ranks like FTS5's."""

from __future__ import annotations

import pytest

from rag import NewDocument, Settings
from rag.qdrant_store import LOCAL_DIR, QdrantStore, _local_clients
from tests.helpers import engine_at
from tests.invariants import check_index
from tests.server import Server

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


def test_fts5_idf_on_the_qdrant_store_is_a_clear_error(tmp_path, embedder):
    from rag.errors import BadInputError

    with pytest.raises(BadInputError, match="RAG_BM25_IDF=fts5 needs the faiss store"):
        engine_at(tmp_path, embedder, store="qdrant", bm25_idf="fts5")
    assert not (tmp_path / LOCAL_DIR).exists()  # refused before anything was opened


def test_embedded_qdrant_runs_one_server_worker():
    assert Settings(store="qdrant", workers=4).server_workers() == 1
    assert Settings(store="qdrant", qdrant_url="http://qdrant:6333", workers=4).server_workers() == 4


def test_rebuild_drops_the_collection_and_a_lost_one_is_rewritten(tmp_path, embedder):
    e = qdrant_engine(tmp_path, embedder)
    e.add_documents(DOCS)
    name = e.store.collection
    e.close()
    assert QdrantStore.drop_collection_of(tmp_path, None, None)
    client = _local_clients.open(tmp_path / LOCAL_DIR)
    assert not client.collection_exists(name)
    _local_clients.release(tmp_path / LOCAL_DIR)
    # Opened again on the same catalog, a lost collection is written anew from it.
    again = qdrant_engine(tmp_path, embedder)
    assert again.stats()["vectors"] == 2 and again.search("tapirs river", top_k=1).hits[0].title == "Tapirs"
    again.close()


@pytest.mark.slow
def test_rag_serve_on_the_qdrant_store(tmp_path, seed_index):
    seed, corpus = seed_index
    with Server(tmp_path / "ix", env={"RAG_STORE": "qdrant", "RAG_API_KEY": "k", "RAG_CORPUS_DIR": str(corpus)}) as server:
        assert server.worker_pids() and len(server.worker_pids(tries=20)) == 1  # embedded mode: one process
        stats = server.call("/stats").body
        assert stats["vector_index"] == "qdrant" and stats["documents"] == 5 and stats["vectors"] == stats["chunks"]
        key = {"Authorization": "Bearer k"}
        up = server.call("/documents", {"title": "Tapirs", "text": "Tapirs crossed the Usumacinta river at dawn."}, headers=key)
        assert up.status == 201
        hits = server.call("/search", {"query": "Where did the tapirs cross?", "top_k": 3}).body["results"]
        assert hits[0]["title"] == "Tapirs" and hits[0]["line_start"] == 1
        answer = server.call("/ask", {"question": "When did Tillerson travel to Mexico City?"}).body
        assert answer["grounded"] and answer["citations"]
        assert server.call(f"/documents/{up.body['doc_id']}", method="DELETE", headers=key).status == 200
        hits = server.call("/search", {"query": "Where did the tapirs cross?", "top_k": 5}).body["results"]
        assert all(h["title"] != "Tapirs" for h in hits)
