"""The index on disk, as one object: the catalog (SQLite documents and chunks), the BM25 index and
the embedding cache in the same SQLite file, vector files per generation, and a manifest.

Crash safety: SQLite commits atomically; vectors are written to a new generation file before the
commit that points at it, so a crash at any moment leaves a consistent (old or new) index.
Other processes' commits are picked up by ``refresh`` (server workers share an index)."""

from __future__ import annotations

import logging
import shutil
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from . import embedding_cache, lexical, manifest, token_cache
from .catalog import DB_NAME, Catalog, DocumentWrite
from .diskspace import is_disk_full
from .errors import BadInputError
from .lexical import IDF
from .locking import ReadWriteLock
from .manifest import IndexMismatchError, IndexSpec
from .models import Chunk, Document, SourcePoints
from .vector_files import Delta, VectorFiles
from .vectors import VectorIndex, get_backend

__all__ = ["STORES", "DocumentWrite", "IndexMismatchError", "IndexSpec", "Store", "destroy_index", "open_store"]
log = logging.getLogger(__name__)
MAX_DELTAS = 256  # delta files before they are folded into a snapshot
MIN_COMPACT_BYTES = 4 << 20  # below this much delta data a small index is not rewritten
STORES = ("faiss", "qdrant")  # RAG_STORE: where vectors and the BM25 index live


class Store:
    """Reads are thread-safe; writes must be serialized by the caller (the engine holds a lock)."""

    one_call_hybrid = False  # True when ``hybrid_candidates`` fetches both lists in one round trip
    in_memory = True  # searches read this process's memory (cheap enough for an event loop)

    def __init__(self, index_dir: Path, spec: IndexSpec, backend: str = "faiss") -> None:
        self.dir = Path(index_dir)
        self.spec = spec
        self.files = VectorFiles(self.dir, get_backend(backend))
        self._reload_lock = threading.Lock()  # one refresher at a time
        self._rw = ReadWriteLock()  # searches versus in-place updates of ``vectors``
        self.last_write: dict[str, int] = {}  # bytes the last write put in a delta and a snapshot
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
            manifest.check(self.dir, spec)
            self.catalog = Catalog(self.dir / DB_NAME, [embedding_cache.SCHEMA, lexical.FTS_SCHEMA, token_cache.SCHEMA])
        except (OSError, sqlite3.Error) as e:
            raise BadInputError(f"cannot open the index in {self.dir}: {e}") from e
        state = self._state()
        self.generation, self.base, self.dim = state["generation"], state["base"], state["dim"] or None
        self.vectors = self._load_vectors()

    # -- vectors
    def _state(self) -> dict[str, int]:
        """The committed generation, its snapshot's generation and the dimension, read together."""
        m = self.catalog.meta_ints("generation", "base", "dim")
        generation = m["generation"] or 0
        # Indexes written before deltas existed have no base: every generation was a full snapshot.
        return {"generation": generation, "base": generation if m["base"] is None else m["base"], "dim": m["dim"] or 0}

    def _load_vectors(self) -> VectorIndex | None:
        if not self.dim:
            return None
        n_chunks = self.catalog.counts()[1]
        try:
            index = self.files.load(self.base, self.generation, self.dim)
            if index.ntotal == n_chunks:
                return index
        except OSError:
            pass
        log.warning("vector files of generation %d missing or stale; rebuilding from the embedding cache", self.generation)
        index = self.files.backend.create(self.dim)
        ids, vectors = embedding_cache.chunk_vectors(self.catalog.conn())
        index.add(ids, vectors)
        return index.upgraded()

    def search_vectors(self, queries: np.ndarray, k: int, allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Top-k (scores, rowids) per query; safe while a write updates the vectors in place."""
        with self._rw.read():
            if self.vectors is None:
                n = len(queries)
                return np.zeros((n, 0), dtype="float32"), np.zeros((n, 0), dtype="int64")
            return self.vectors.search(queries, k, allowed)

    def refresh(self) -> None:
        """Catch up with generations another process committed: apply their deltas in place, or
        load the newest snapshot when the deltas were folded into it meanwhile."""
        if self.catalog.meta_int("generation") == self.generation:
            return
        with self._reload_lock:
            for _ in range(5):
                state = self._state()
                if state["generation"] == self.generation:
                    return
                try:
                    self._catch_up(state)
                    return
                except OSError:  # files compacted away while we read: read the state again
                    continue
            state = self._state()
            self.generation, self.base, self.dim = state["generation"], state["base"], state["dim"] or None
            self.vectors = self._load_vectors()

    def _catch_up(self, state: dict[str, int]) -> None:
        dim = state["dim"] or None
        if self.vectors is not None and dim == self.dim and state["base"] <= self.generation:
            deltas = self.files.read_deltas(self.generation, state["generation"])  # disk reads outside the lock
            with self._rw.write():
                for delta in deltas:
                    delta.apply(self.vectors)
                self.generation, self.base = state["generation"], state["base"]
            return
        vectors = self.files.load(state["base"], state["generation"], dim) if dim else None
        with self._rw.write():
            self.generation, self.base, self.dim, self.vectors = state["generation"], state["base"], dim, vectors

    # -- reads (the catalog's, plus BM25 and the cache)
    def stats(self) -> dict[str, Any]:
        documents, chunks = self.catalog.counts()
        return {
            "documents": documents,
            "chunks": chunks,
            "vectors": self.vectors.ntotal if self.vectors else 0,
            "vector_index": self.vectors.kind if self.vectors else None,
            "model": self.spec.model,
            "dim": self.dim,
            "generation": self.generation,
            "index_dir": str(self.dir),
        }

    def documents(self) -> list[dict[str, Any]]:
        return self.catalog.documents()

    def document(self, doc_id: str) -> Document | None:
        return self.catalog.document(doc_id)

    def document_info(self, doc_id: str) -> dict[str, Any] | None:
        return self.catalog.document_info(doc_id)

    def source_points(self, doc_id: str) -> SourcePoints:
        return self.catalog.source_points(doc_id)

    def documents_by_path(self) -> dict[str, tuple[str, str, dict[str, Any]]]:
        return self.catalog.documents_by_path()

    def has_document(self, doc_id: str) -> bool:
        return self.catalog.has_document(doc_id)

    def id_taken(self, doc_id: str) -> bool:
        return self.catalog.id_taken(doc_id)

    def sources(self) -> set[str]:
        return self.catalog.sources()

    def chunks_by_rowid(self, rowids: Iterable[int]) -> dict[int, tuple[Chunk, str, str]]:
        return self.catalog.chunks_by_rowid(rowids)

    def chunk(self, chunk_id: str) -> tuple[Chunk, str, str] | None:
        return self.catalog.chunk(chunk_id)

    def all_chunks(self) -> Iterator[tuple[Chunk, str, str]]:
        return self.catalog.all_chunks()

    def chunk_rowids(self, doc_ids: Iterable[str]) -> np.ndarray:
        return self.catalog.chunk_rowids(doc_ids)

    def cached_embeddings(self, keys: list[str]) -> dict[str, np.ndarray]:
        """Stored vectors for those embedding keys that are known."""
        return embedding_cache.get(self.catalog.conn(), keys)

    def lexical(
        self, match: str, k: int, weights: tuple[float, float, float], allowed: np.ndarray | None = None, idf: IDF = "smoothed"
    ) -> list[tuple[int, float]]:
        """Top-k (rowid, BM25 score; higher is better) for an FTS5 MATCH expression."""
        return lexical.bm25_search(self.catalog.conn(), match, k, weights, allowed, idf)

    def hybrid_candidates(
        self,
        queries: np.ndarray,
        matches: list[str | None],
        k: int,
        weights: tuple[float, float, float],
        allowed: np.ndarray | None = None,
        idf: IDF = "smoothed",
    ) -> tuple[list[list[tuple[int, float]]], list[list[tuple[int, float]]]]:
        """Dense and BM25 (rowid, score) lists of each query (``matches``: FTS5 expressions)."""
        scores, ids = self.search_vectors(queries, k, allowed)
        dense = [[(i, s) for s, i in zip(srow, irow) if i >= 0] for srow, irow in zip(scores.tolist(), ids.tolist())]
        return dense, [self.lexical(m, k, weights, allowed, idf) if m else [] for m in matches]

    def close(self) -> None:
        self.catalog.close()

    # -- writes
    def apply(self, deletes: list[str], writes: list[DocumentWrite], new_vectors: dict[str, np.ndarray]) -> None:
        """Delete and insert documents in one transaction. The vectors' change is saved as a small
        delta file before the commit, then applied in place; now and then the deltas are folded
        into a new snapshot (``_compact``)."""
        if not deletes and not writes:
            return
        conn = self.catalog.conn()
        try:
            conn.execute("BEGIN IMMEDIATE")
            self.refresh()  # another process may have written since we last looked
            gone_ids, gone_keys = Catalog.delete(conn, deletes, retire=True)
            replaced_ids, replaced_keys = Catalog.delete(conn, [w.document.doc_id for w in writes], retire=False)
            removed = np.concatenate([gone_ids, replaced_ids])
            lexical.unindex_chunks(conn, removed)
            embedding_cache.put(conn, new_vectors)
            stored = Catalog.insert(conn, writes)
            lexical.index_chunks(conn, ((s.rowid, s.title, s.section, s.text) for s in stored))
            cached = embedding_cache.get(conn, [s.embed_key for s in stored])
            dim = self.dim or (len(cached[stored[0].embed_key]) if stored else None)
            add = np.vstack([cached[s.embed_key] for s in stored]) if stored else np.zeros((0, dim or 0), dtype="float32")
            delta = Delta(np.array([s.rowid for s in stored], dtype="int64"), add, removed)
            embedding_cache.drop_unused(conn, gone_keys + replaced_keys)
            generation = self.generation + 1
            delta_bytes = self.files.write_delta(generation, delta)
            Catalog.set_meta(conn, {"generation": generation, "base": self.base, "dim": dim or 0})
            conn.commit()
        except BaseException:
            conn.rollback()
            raise
        try:
            # A reader's refresh() may have applied this committed generation already: applying a
            # delta twice would add its vectors twice, so both sides go through _reload_lock.
            with self._reload_lock, self._rw.write():
                if self.generation < generation:
                    if self.vectors is None and dim:
                        self.vectors = self.files.backend.create(dim)
                    if self.vectors is not None:
                        delta.apply(self.vectors)
                    self.generation, self.dim = generation, dim
                upgraded = self.vectors.upgraded() if self.vectors is not None else None
                changed_kind = upgraded is not self.vectors
                self.vectors = upgraded
        except BaseException:  # the commit stands; rebuild the in-memory vectors from disk
            self.generation = -1
            self.refresh()
            raise
        self.last_write = {"delta_bytes": delta_bytes, "snapshot_bytes": 0}
        try:
            if changed_kind or self._compaction_due():
                self.last_write["snapshot_bytes"] = self._compact()
            manifest.write(self.dir, self.spec, dim=self.dim, generation=generation)
        except Exception as e:
            # The write is committed: a disk too full to fold the deltas into a snapshot must not report
            # it as failed (the deltas serve as they are; the next write tries again).
            if not is_disk_full(e):
                raise
            log.warning("index written, but no room to fold its deltas into a snapshot (%s): will try on the next write", e)
        self.files.remove_stale(self.base, self.generation)

    def _compaction_due(self) -> bool:
        """Fold the deltas once they are many, or weigh more than a quarter of the snapshot (so
        the full rewrite is paid once per that much change: amortized, proportional to writes)."""
        if self.generation - self.base >= MAX_DELTAS:
            return True
        snapshot = self.files.snapshot_path(self.base)
        size = snapshot.stat().st_size if self.base and snapshot.exists() else 0
        return self.files.delta_bytes(self.base, self.generation) > max(MIN_COMPACT_BYTES, size // 4)

    def _compact(self) -> int:
        """Save the current vectors as the snapshot of this generation (searches go on meanwhile;
        the caller holds the write lock), then point the index at it."""
        if self.vectors is None:
            return 0
        with self._rw.read():
            written = self.files.save_snapshot(self.vectors, self.generation)
        conn = self.catalog.conn()
        try:
            conn.execute("BEGIN IMMEDIATE")
            Catalog.set_meta(conn, {"base": self.generation})
            conn.commit()
        except BaseException:
            conn.rollback()
            raise
        self.base = self.generation
        return written

    def remove_stale_files(self) -> list[Path]:
        """Delete vector files the committed state does not need; call under the write lock.
        A reader still loading an old file retries with the current state (``refresh``)."""
        state = self._state()
        return self.files.remove_stale(state["base"], state["generation"])

    @staticmethod
    def destroy(index_dir: Path) -> None:
        """Remove an index's files (used by --rebuild); uploads are kept."""
        d = Path(index_dir)
        for p in list(d.glob("vectors-*")) + list(d.glob("delta-*")) + [d / manifest.MANIFEST] + list(d.glob(DB_NAME + "*")):
            p.unlink(missing_ok=True)
        shutil.rmtree(d / "qdrant", ignore_errors=True)  # the Qdrant store's embedded mode


def open_store(index_dir: Path, spec: IndexSpec, store: str = "faiss", qdrant_url: str | None = None, qdrant_api_key: str | None = None) -> Store:
    """The store called ``store``: ``qdrant`` (vectors and BM25 in a Qdrant collection: at
    ``qdrant_url``, else embedded in the folder), or files in the folder with the vector backend of
    that name (``faiss``; BadInputError for an unknown one)."""
    if store == "qdrant":
        from .qdrant_store import QdrantStore

        return QdrantStore(index_dir, spec, qdrant_url, qdrant_api_key)
    return Store(index_dir, spec, store)


def destroy_index(index_dir: Path, store: str = "faiss", qdrant_url: str | None = None, qdrant_api_key: str | None = None) -> None:
    """Remove an index: what its store keeps outside the folder (a Qdrant collection), then its files
    (uploads are kept)."""
    if store == "qdrant":
        from .qdrant_store import QdrantStore

        QdrantStore.drop_collection_of(index_dir, qdrant_url, qdrant_api_key)
    Store.destroy(index_dir)
