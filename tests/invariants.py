"""What must hold for an index on disk after any crash: read straight from the files."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import faiss
import numpy as np

from rag.vector_files import VectorFiles
from rag.vectors import get_backend


def check_index(index_dir: Path) -> dict:
    """Counts of the committed index; raises AssertionError naming the first broken invariant."""
    index_dir = Path(index_dir)
    conn = sqlite3.connect(index_dir / "rag.sqlite")
    try:
        q = lambda sql: conn.execute(sql).fetchall()  # noqa: E731
        docs = q("SELECT COUNT(*) FROM documents")[0][0]
        chunks = q("SELECT COUNT(*) FROM chunks")[0][0]
        fts = q("SELECT COUNT(*) FROM chunks_fts")[0][0]
        qdrant = (index_dir / "qdrant").is_dir()  # the Qdrant store keeps BM25 in Qdrant, not FTS5
        assert fts == (0 if qdrant else chunks), f"FTS rows {fts} != chunks {chunks}"
        assert not q("SELECT path FROM documents WHERE path IS NOT NULL GROUP BY path HAVING COUNT(*) > 1"), "a file is indexed twice"
        assert not q("SELECT c.id FROM chunks c LEFT JOIN documents d ON d.doc_id = c.doc_id WHERE d.doc_id IS NULL"), "chunks without a document"
        assert not q("SELECT d.doc_id FROM documents d WHERE n_chunks != (SELECT COUNT(*) FROM chunks c WHERE c.doc_id = d.doc_id)"), (
            "a document's chunk count is wrong"
        )
        assert not q("SELECT c.id FROM chunks c LEFT JOIN embeddings e ON e.key = c.embed_key WHERE e.key IS NULL"), "chunks without an embedding"
        meta = dict(q("SELECT key, value FROM meta"))
        gen, dim = int(meta.get("generation", 0)), int(meta.get("dim", 0))
        base = int(meta.get("base", gen))
        rowids = sorted(r[0] for r in q("SELECT id FROM chunks"))
        sources = {r[0] for r in q("SELECT source FROM documents")}
    finally:
        conn.close()
    vectors = 0
    if qdrant and gen and dim:
        ids = _qdrant_ids(index_dir, meta["qdrant_collection"])
        vectors = len(ids)
        assert ids == rowids, f"Qdrant point ids ({vectors}) differ from chunk rows ({chunks})"
    elif gen and dim:
        # the base snapshot plus every later delta must exist and hold exactly the chunks' rowids
        index = VectorFiles(index_dir, get_backend("faiss")).load(base, gen, dim)
        vectors = index.ntotal
        ids = sorted(faiss.vector_to_array(index.index.id_map).astype(np.int64).tolist())
        assert ids == rowids, f"vector ids ({vectors}) differ from chunk rows ({chunks})"
    return {"generation": gen, "base": base, "documents": docs, "chunks": chunks, "vectors": vectors, "fts": fts, "sources": sources}


def _qdrant_ids(index_dir: Path, collection: str) -> list[int]:
    """Every point id in the embedded Qdrant collection (through the process's shared client)."""
    from rag.qdrant_store import LOCAL_DIR, _local_clients

    client = _local_clients.open(index_dir / LOCAL_DIR)
    try:
        ids, offset = [], None
        while True:
            points, offset = client.scroll(collection, limit=1000, offset=offset, with_payload=False, with_vectors=False)
            ids += [int(p.id) for p in points]
            if offset is None:
                return sorted(ids)
    finally:
        _local_clients.release(index_dir / LOCAL_DIR)


def stale_files(index_dir: Path, generation: int, base: int | None = None) -> list[str]:
    """Vector files the committed state does not need (other snapshots, folded or uncommitted
    deltas), and half-written files."""
    base = generation if base is None else base
    keep = {f"delta-{g}.npz" for g in range(base + 1, generation + 1)} | ({f"vectors-{base}.faiss"} if base else set())
    return sorted(p.name for p in [*Path(index_dir).glob("vectors-*"), *Path(index_dir).glob("delta-*")] if p.name not in keep)


def upload_files(index_dir: Path) -> set[str]:
    d = Path(index_dir) / "uploads"
    return {f"uploads/{p.name}" for p in d.iterdir()} if d.is_dir() else set()
