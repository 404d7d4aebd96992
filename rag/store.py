"""The index on disk, as one object: the catalog (SQLite documents and chunks), the BM25 index and
the embedding cache in the same SQLite file, vector files per generation, and a manifest.

Crash safety: SQLite commits atomically; vectors are written to a new generation file before the
commit that points at it, so a crash at any moment leaves a consistent (old or new) index.
Other processes' commits are picked up by ``refresh`` (server workers share an index)."""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from . import embedding_cache, lexical, manifest
from .catalog import DB_NAME, Catalog, DocumentWrite
from .errors import BadInputError
from .manifest import IndexMismatchError, IndexSpec
from .models import Chunk, Document
from .vector_files import VectorFiles
from .vectors import VectorIndex, get_backend

__all__ = ["DocumentWrite", "IndexMismatchError", "IndexSpec", "Store"]
log = logging.getLogger(__name__)


class Store:
    """Reads are thread-safe; writes must be serialized by the caller (the engine holds a lock)."""

    def __init__(self, index_dir: Path, spec: IndexSpec, backend: str = "faiss") -> None:
        self.dir = Path(index_dir)
        self.spec = spec
        self.files = VectorFiles(self.dir, get_backend(backend))
        self._reload_lock = threading.Lock()
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
            manifest.check(self.dir, spec)
            self.catalog = Catalog(self.dir / DB_NAME, [embedding_cache.SCHEMA, lexical.FTS_SCHEMA])
        except (OSError, sqlite3.Error) as e:
            raise BadInputError(f"cannot open the index in {self.dir}: {e}") from e
        self.generation = self.catalog.meta_int("generation")
        self.dim = self.catalog.meta_int("dim") or None
        self.vectors = self._load_vectors()

    # -- vectors
    def _load_vectors(self) -> VectorIndex | None:
        if not self.dim:
            return None
        n_chunks = self.catalog.counts()[1]
        try:
            index = self.files.load(self.generation, self.dim)
            if index.ntotal == n_chunks:
                return index
        except OSError:
            pass
        log.warning("vector file of generation %d missing or stale; rebuilding it from the embedding cache", self.generation)
        index = self.files.backend.create(self.dim)
        ids, vectors = embedding_cache.chunk_vectors(self.catalog.conn())
        index.add(ids, vectors)
        return index.upgraded()

    def refresh(self) -> None:
        """Load the vectors of a generation another process committed."""
        if self.catalog.meta_int("generation") == self.generation:
            return
        with self._reload_lock:
            for _ in range(5):
                generation = self.catalog.meta_int("generation")
                if generation == self.generation:
                    return
                self.dim = self.catalog.meta_int("dim") or None
                try:
                    # A writer removes a generation's file only after committing the next one:
                    # if it vanished in between, read the generation again.
                    vectors = self.files.load(generation, self.dim) if self.dim else None
                except OSError:
                    continue
                self.generation, self.vectors = generation, vectors
                return
            self.generation = self.catalog.meta_int("generation")
            self.vectors = self._load_vectors()

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

    def line_points(self, doc_id: str) -> list[tuple[int, int]]:
        return self.catalog.line_points(doc_id)

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

    def lexical(self, match: str, k: int, weights: tuple[float, float, float], allowed: np.ndarray | None = None) -> list[tuple[int, float]]:
        """Top-k (rowid, bm25 score; higher is better) for an FTS5 MATCH expression."""
        return lexical.bm25_search(self.catalog.conn(), match, k, weights, allowed)

    def close(self) -> None:
        self.catalog.close()

    # -- writes
    def apply(self, deletes: list[str], writes: list[DocumentWrite], new_vectors: dict[str, np.ndarray]) -> None:
        """Delete and insert documents in one transaction, then swap in the new vectors."""
        if not deletes and not writes:
            return
        conn = self.catalog.conn()
        try:
            conn.execute("BEGIN IMMEDIATE")
            self.refresh()  # another process may have written since we last looked
            vectors = self.vectors.copy() if self.vectors is not None else None
            removed = np.concatenate(
                [Catalog.delete(conn, deletes, retire=True), Catalog.delete(conn, [w.document.doc_id for w in writes], retire=False)]
            )
            lexical.unindex_chunks(conn, removed)
            embedding_cache.put(conn, new_vectors)
            stored = Catalog.insert(conn, writes)
            lexical.index_chunks(conn, ((s.rowid, s.title, s.section, s.text) for s in stored))
            cached = embedding_cache.get(conn, [s.embed_key for s in stored])
            if vectors is None and stored:
                self.dim = self.dim or len(cached[stored[0].embed_key])
                vectors = self.files.backend.create(self.dim)
            if vectors is not None:
                vectors.remove(removed)
                if stored:
                    vectors.add(np.array([s.rowid for s in stored]), np.vstack([cached[s.embed_key] for s in stored]))
                vectors = vectors.upgraded()
            embedding_cache.drop_unused(conn)
            generation = self.generation + 1
            if vectors is not None:
                self.files.save(vectors, generation)
            Catalog.set_meta(conn, {"generation": generation, "dim": self.dim or 0})
            conn.commit()
        except BaseException:
            conn.rollback()
            raise
        with self._reload_lock:  # a reader's refresh() may already have loaded this generation
            if generation >= self.generation:
                self.generation, self.vectors = generation, vectors
        manifest.write(self.dir, self.spec, dim=self.dim, generation=generation)
        self.files.remove_stale(generation)

    def remove_stale_files(self, current: int | None = None) -> list[Path]:
        """Delete vector files of older generations and half-written ones; call under the write lock.
        A reader still loading an old file retries with the current generation (``refresh``)."""
        return self.files.remove_stale(self.catalog.meta_int("generation") if current is None else current)

    @staticmethod
    def destroy(index_dir: Path) -> None:
        """Remove an index's files (used by --rebuild); uploads are kept."""
        d = Path(index_dir)
        for p in list(d.glob("vectors-*")) + [d / manifest.MANIFEST] + list(d.glob(DB_NAME + "*")):
            p.unlink(missing_ok=True)
