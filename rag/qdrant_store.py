"""The Qdrant store: chunks with their provenance as payload, dense vectors and BM25 sparse vectors
live in a Qdrant collection, so searches run in Qdrant (a cluster, or its embedded mode inside the
index folder). The SQLite catalog stays the record of documents, their text and the embedding cache:
syncs, uploads and deletes keep their semantics, and a crash between the catalog's commit and
Qdrant's write is repaired on the next open or write (points are keyed by chunk rowid, never reused).

Both candidate lists of a hybrid search come back from one ``query_batch_points`` call and are
fused by the same code as the embedded store's."""

from __future__ import annotations

import atexit
import logging
import re
import sqlite3
import threading
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from . import bm25_sparse, embedding_cache, manifest
from .catalog import Catalog, DocumentWrite, StoredChunk
from .config import BM25_WEIGHTS
from .errors import BadInputError, UnavailableError
from .lexical import IDF
from .manifest import IndexSpec
from .store import Store

if TYPE_CHECKING:
    from qdrant_client import QdrantClient

log = logging.getLogger(__name__)
DENSE, SPARSE = "dense", "bm25"
LOCAL_DIR = "qdrant"  # the embedded mode's folder inside the index
BATCH = 256  # points per upsert
_QUOTED = re.compile(r'"([^"]+)"')


def _models():
    from qdrant_client import models

    return models


def _id_filter(allowed: np.ndarray | None):
    if allowed is None:
        return None
    m = _models()
    return m.Filter(must=[m.HasIdCondition(has_id=[int(i) for i in allowed])])


def _sparse(vector: bm25_sparse.Sparse):
    return _models().SparseVector(indices=vector.indices, values=vector.values)


class _LocalClients:
    """Embedded-mode clients by folder, shared by the engines of one process: Qdrant's embedded
    mode locks its folder against every other client, so a second one would fail."""

    def __init__(self) -> None:
        self._open: dict[Path, list[Any]] = {}  # folder -> [client, users]
        self._lock = threading.Lock()

    def open(self, folder: Path) -> QdrantClient:
        from qdrant_client import QdrantClient

        key = folder.resolve()
        with self._lock:
            if key in self._open:
                self._open[key][1] += 1
                return self._open[key][0]
            key.parent.mkdir(parents=True, exist_ok=True)
            try:
                client = QdrantClient(path=str(key))
            except RuntimeError as e:
                raise UnavailableError(
                    f"the embedded Qdrant collection in {folder} is open in another process ({e}); "
                    "stop that process (one `rag serve` worker at a time), or run a Qdrant server and set RAG_QDRANT_URL",
                    retry_after=5,
                ) from None
            self._open[key] = [client, 1]
            return client

    def release(self, folder: Path) -> None:
        key = folder.resolve()
        with self._lock:
            entry = self._open.get(key)
            if entry is None:
                return
            entry[1] -= 1
            if entry[1] == 0:
                del self._open[key]
                entry[0].close()

    def close_all(self) -> None:
        """Close every client (at exit: the client's own finalizer fails during interpreter shutdown)."""
        with self._lock:
            entries, self._open = list(self._open.values()), {}
        for client, _ in entries:
            client.close()


_local_clients = _LocalClients()
atexit.register(_local_clients.close_all)


class QdrantVectors:
    """The dense side of a Qdrant collection, seen as a VectorIndex (what retrieval and stats read)."""

    def __init__(self, client: QdrantClient, name: str) -> None:
        self.client = client
        self.name = name
        self._count = 0
        self.recount()

    def recount(self) -> None:
        self._count = self.client.count(self.name, exact=True).count

    @property
    def ntotal(self) -> int:
        return self._count

    @property
    def kind(self) -> str:
        return "qdrant"

    def search(self, queries: np.ndarray, k: int, allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        m = _models()
        flt = _id_filter(allowed)
        requests = [m.QueryRequest(query=q.tolist(), using=DENSE, limit=k, filter=flt) for q in np.asarray(queries, dtype="float32")]
        return _as_arrays(self.client.query_batch_points(self.name, requests), k)

    # Writes go through QdrantStore (points carry payload and sparse vectors too).
    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        raise NotImplementedError("QdrantStore writes points itself")

    def remove(self, ids: np.ndarray) -> None:
        self.client.delete(self.name, points_selector=_models().PointIdsList(points=[int(i) for i in ids]), wait=True)

    def upgraded(self) -> QdrantVectors:
        return self

    def save(self, path: Path) -> None:  # Qdrant keeps its own data
        return None


def _as_arrays(responses: list[Any], k: int) -> tuple[np.ndarray, np.ndarray]:
    scores = np.zeros((len(responses), k), dtype="float32")
    ids = np.full((len(responses), k), -1, dtype="int64")
    for row, resp in enumerate(responses):
        for col, p in enumerate(resp.points[:k]):
            scores[row, col], ids[row, col] = p.score, int(p.id)
    return scores, ids


def _pairs(resp: Any) -> list[tuple[int, float]]:
    return [(int(p.id), float(p.score)) for p in resp.points]


class QdrantStore(Store):
    """A Store whose vectors and BM25 index are a Qdrant collection (at ``url``, or embedded in the
    index folder: one process at a time)."""

    one_call_hybrid = True
    in_memory = False  # every search is a Qdrant call (a network round trip on a server)

    def __init__(self, index_dir: Path, spec: IndexSpec, url: str | None = None, api_key: str | None = None) -> None:
        self.url, self.api_key = url, api_key
        self._collection: str | None = None
        self.client = self._connect(Path(index_dir))
        super().__init__(index_dir, spec)

    def _connect(self, index_dir: Path) -> QdrantClient:
        try:
            from qdrant_client import QdrantClient
        except ImportError:
            raise BadInputError("RAG_STORE=qdrant needs qdrant-client: pip install 'grounded-rag[qdrant]'") from None
        if self.url:
            return QdrantClient(url=self.url, api_key=self.api_key, timeout=30)
        return _local_clients.open(index_dir / LOCAL_DIR)

    # -- the collection
    @property
    def collection(self) -> str:
        """The Qdrant collection's name, kept in the catalog (several indexes can share a server);
        read once, since it never changes (searches use it)."""
        if self._collection is None:
            conn = self.catalog.conn()
            conn.execute("BEGIN IMMEDIATE")
            name = self.catalog.meta_text("qdrant_collection") or f"rag-{uuid.uuid4().hex[:16]}"
            Catalog.set_meta(conn, {"qdrant_collection": name})
            conn.commit()
            self._collection = name
        return self._collection

    def _ensure_collection(self, dim: int) -> str:
        m = _models()
        name = self.collection
        if not self.client.collection_exists(name):
            self.client.create_collection(
                name,
                vectors_config={DENSE: m.VectorParams(size=dim, distance=m.Distance.DOT)},  # unit vectors: dot = cosine
                sparse_vectors_config={SPARSE: m.SparseVectorParams(modifier=m.Modifier.IDF)},
            )
            if self.url:  # the embedded mode has no payload indexes (and warns)
                for field in ("doc_id", "source"):
                    self.client.create_payload_index(name, field, m.PayloadSchemaType.KEYWORD)
        return name

    def _load_vectors(self) -> QdrantVectors | None:
        if not self.dim:
            return None
        vectors = QdrantVectors(self.client, self._ensure_collection(self.dim))
        # Behind the catalog after a crash, or lost (a wiped server): write what it lacks.
        if self.catalog.meta_int("qdrant_generation") != self.generation or vectors.ntotal != self.catalog.counts()[1]:
            self._reconcile(vectors)
        return vectors

    def refresh(self) -> None:
        """Another process's writes are already in Qdrant: catch up with the catalog's counters."""
        state = self._state()
        if state["generation"] == self.generation:
            return
        with self._reload_lock:
            self.generation, self.base, self.dim = state["generation"], state["base"], state["dim"] or None
            if self.vectors is None:
                self.vectors = self._load_vectors()
            elif isinstance(self.vectors, QdrantVectors):
                self.vectors.recount()

    def _reconcile(self, vectors: QdrantVectors) -> None:
        """Make the collection hold exactly the catalog's chunks (after a crash between the catalog's
        commit and Qdrant's write): delete points of gone chunks, write the missing ones."""
        have: set[int] = set()
        offset = None
        while True:
            points, offset = self.client.scroll(vectors.name, limit=2048, offset=offset, with_payload=False, with_vectors=False)
            have.update(int(p.id) for p in points)
            if offset is None:
                break
        conn = self.catalog.conn()
        want = {r[0] for r in conn.execute("SELECT id FROM chunks")}
        extra, missing = sorted(have - want), sorted(want - have)
        if extra:
            vectors.remove(np.array(extra, dtype="int64"))
        if missing:
            self._upsert(vectors.name, self._stored(conn, missing))
        if extra or missing:
            log.warning("Qdrant collection %s repaired: %d stale points deleted, %d missing written", vectors.name, len(extra), len(missing))
        self._mark_synced(self.catalog.meta_int("generation"))
        vectors.recount()

    def _mark_synced(self, generation: int) -> None:
        """Record that Qdrant holds the catalog's state as of ``generation``."""
        conn = self.catalog.conn()
        conn.execute("BEGIN IMMEDIATE")
        Catalog.set_meta(conn, {"qdrant_generation": generation})
        conn.commit()

    def _stored(self, conn: sqlite3.Connection, rowids: list[int]) -> list[StoredChunk]:
        out = []
        for i in range(0, len(rowids), 500):
            part = rowids[i : i + 500]
            marks = ",".join("?" * len(part))
            q = f"SELECT c.id, c.embed_key, d.title, c.section, c.text FROM chunks c JOIN documents d USING(doc_id) WHERE c.id IN ({marks})"
            out += [StoredChunk(*row) for row in conn.execute(q, part)]
        return out

    def _upsert(self, name: str, stored: list[StoredChunk]) -> None:
        """Write points for these chunks: dense vector (from the cache), BM25 vector, provenance payload."""
        if not stored:
            return
        m = _models()
        conn = self.catalog.conn()
        avgdl = self._avgdl(stored)
        rows = self.catalog.chunks_by_rowid(s.rowid for s in stored)
        docs: dict[str, dict[str, Any]] = {}
        for i in range(0, len(stored), BATCH):
            part = stored[i : i + BATCH]
            dense = embedding_cache.get(conn, [s.embed_key for s in part])
            sparse = bm25_sparse.document_vectors(((s.rowid, s.title, s.section, s.text) for s in part), BM25_WEIGHTS, avgdl)
            points = []
            for s in part:
                chunk, title, source = rows[s.rowid]
                if chunk.doc_id not in docs:
                    docs[chunk.doc_id] = self.catalog.document_info(chunk.doc_id) or {}
                doc = docs[chunk.doc_id]
                vector: dict[str, Any] = {DENSE: dense[s.embed_key].tolist()}
                if s.rowid in sparse and sparse[s.rowid].indices:
                    vector[SPARSE] = _sparse(sparse[s.rowid])
                payload = {**vars(chunk), "title": title, "source": source, "metadata": doc.get("metadata", {})}
                points.append(m.PointStruct(id=s.rowid, vector=vector, payload=payload))
            self.client.upsert(name, points=points, wait=True)

    def _avgdl(self, stored: list[StoredChunk]) -> float:
        """BM25's average chunk length: measured on the first write, then kept (documents' weights
        stay comparable without rewriting every point as the collection grows)."""
        known = self.catalog.meta_int("bm25_avgdl")
        if known:
            return float(known)
        avgdl = max(1.0, bm25_sparse.mean_length([(s.rowid, s.title, s.section, s.text) for s in stored[:2000]]))
        conn = self.catalog.conn()
        conn.execute("BEGIN IMMEDIATE")
        Catalog.set_meta(conn, {"bm25_avgdl": round(avgdl)})
        conn.commit()
        return float(round(avgdl))

    # -- reads
    def lexical(
        self, match: str, k: int, weights: tuple[float, float, float], allowed: np.ndarray | None = None, idf: IDF = "smoothed"
    ) -> list[tuple[int, float]]:
        """BM25 by Qdrant's sparse index (field weights are fixed at indexing: BM25_WEIGHTS; the
        idf is always Qdrant's, which is ``smoothed``)."""
        query = bm25_sparse.query_vector(" ".join(_QUOTED.findall(match)))
        if query is None or self.vectors is None:
            return []
        resp = self.client.query_points(self.collection, query=_sparse(query), using=SPARSE, limit=k, query_filter=_id_filter(allowed))
        return _pairs(resp)

    def hybrid_candidates(
        self,
        queries: np.ndarray,
        matches: list[str | None],
        k: int,
        weights: tuple[float, float, float],
        allowed: np.ndarray | None = None,
        idf: IDF = "smoothed",
    ) -> tuple[list[list[tuple[int, float]]], list[list[tuple[int, float]]]]:
        """Dense and BM25 (rowid, score) lists of each query, from one ``query_batch_points`` call."""
        if self.vectors is None:
            return [[] for _ in matches], [[] for _ in matches]
        m = _models()
        flt = _id_filter(allowed)
        requests, has_lexical = [], []
        for vector, match in zip(np.asarray(queries, dtype="float32"), matches):
            requests.append(m.QueryRequest(query=vector.tolist(), using=DENSE, limit=k, filter=flt))
            sparse = bm25_sparse.query_vector(" ".join(_QUOTED.findall(match))) if match else None
            has_lexical.append(sparse is not None)
            if sparse is not None:
                requests.append(m.QueryRequest(query=_sparse(sparse), using=SPARSE, limit=k, filter=flt))
        responses = iter(self.client.query_batch_points(self.collection, requests))
        dense, lexical = [], []
        for has in has_lexical:
            dense.append(_pairs(next(responses)))
            lexical.append(_pairs(next(responses)) if has else [])
        return dense, lexical

    def stats(self) -> dict[str, Any]:
        out = super().stats()
        out["qdrant"] = {"collection": self.collection, "url": self.url or f"embedded:{self.dir / LOCAL_DIR}"}
        return out

    def close(self) -> None:
        super().close()
        if self.url:
            self.client.close()
        else:
            _local_clients.release(self.dir / LOCAL_DIR)

    @staticmethod
    def drop_collection_of(index_dir: Path, url: str | None, api_key: str | None) -> bool:
        """Delete the Qdrant collection an index folder points at (``rag index --rebuild``, deleting a
        collection), without opening the index (its settings may no longer match). False when there was none."""
        db = Path(index_dir) / "rag.sqlite"
        if not db.exists():
            return False
        conn = sqlite3.connect(db)
        try:
            row = conn.execute("SELECT value FROM meta WHERE key='qdrant_collection'").fetchone()
        except sqlite3.Error:
            row = None
        finally:
            conn.close()
        if not row:
            return False
        folder = Path(index_dir) / LOCAL_DIR
        if url is None and not folder.is_dir():
            return False
        from qdrant_client import QdrantClient

        client = QdrantClient(url=url, api_key=api_key, timeout=30) if url else _local_clients.open(folder)
        try:
            return bool(client.collection_exists(row[0]) and client.delete_collection(row[0]))
        finally:
            client.close() if url else _local_clients.release(folder)

    # -- writes
    def apply(self, deletes: list[str], writes: list[DocumentWrite], new_vectors: dict[str, np.ndarray]) -> None:
        """Commit the catalog's change, then mirror it into Qdrant; a crash in between is repaired by
        ``_reconcile`` (the catalog records which generation Qdrant has)."""
        if not deletes and not writes:
            return
        conn = self.catalog.conn()
        try:
            conn.execute("BEGIN IMMEDIATE")
            gone_ids, gone_keys = Catalog.delete(conn, deletes, retire=True)
            replaced_ids, replaced_keys = Catalog.delete(conn, [w.document.doc_id for w in writes], retire=False)
            embedding_cache.put(conn, new_vectors)
            stored = Catalog.insert(conn, writes)
            embedding_cache.drop_unused(conn, gone_keys + replaced_keys)
            state = self._state()
            behind = self.catalog.meta_int("qdrant_generation") != state["generation"]  # a crash left Qdrant behind
            dim = state["dim"] or (len(embedding_cache.get(conn, [stored[0].embed_key])[stored[0].embed_key]) if stored else 0)
            generation = state["generation"] + 1
            Catalog.set_meta(conn, {"generation": generation, "base": generation, "dim": dim})
            conn.commit()
        except BaseException:
            conn.rollback()
            raise
        with self._reload_lock:
            self.dim = dim or None
            if self.dim:
                name = self._ensure_collection(self.dim)
                vectors = self.vectors if isinstance(self.vectors, QdrantVectors) else QdrantVectors(self.client, name)
                if behind:
                    self._reconcile(vectors)
                else:
                    removed = np.concatenate([gone_ids, replaced_ids])
                    if len(removed):
                        vectors.remove(removed)
                    self._upsert(name, stored)
                    self._mark_synced(generation)
                    vectors.recount()
                self.vectors = vectors
            self.generation = self.base = generation
        self.last_write = {"delta_bytes": 0, "snapshot_bytes": 0}
        manifest.write(self.dir, self.spec, dim=self.dim, generation=generation, store="qdrant")

    def remove_stale_files(self) -> list[Path]:
        return []
