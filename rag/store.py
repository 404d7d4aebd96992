"""The index on disk: SQLite (documents, chunks, FTS5, embedding cache), FAISS vectors, a manifest.

Crash safety: SQLite commits atomically; vectors are written to a new generation file before the
commit that points at it, so a crash at any moment leaves a consistent (old or new) index."""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np

from .errors import BadInputError, ConflictError
from .models import Chunk, Document
from .vectors import FaissIndex

log = logging.getLogger(__name__)
FORMAT_VERSION = 1
DB_NAME = "rag.sqlite"
MANIFEST = "manifest.json"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS documents(
  doc_id TEXT PRIMARY KEY, title TEXT, source TEXT, path TEXT, metadata TEXT, text TEXT,
  sha256 TEXT, line_points TEXT, page_points TEXT, n_chunks INTEGER, added_at REAL);
CREATE INDEX IF NOT EXISTS documents_path ON documents(path);
CREATE TABLE IF NOT EXISTS chunks(
  id INTEGER PRIMARY KEY AUTOINCREMENT, chunk_id TEXT UNIQUE, doc_id TEXT, ordinal INTEGER,
  text TEXT, char_start INTEGER, char_end INTEGER, line_start INTEGER, line_end INTEGER,
  page INTEGER, section TEXT, n_tokens INTEGER, embed_key TEXT);
CREATE INDEX IF NOT EXISTS chunks_doc ON chunks(doc_id);
CREATE TABLE IF NOT EXISTS embeddings(key TEXT PRIMARY KEY, vector BLOB);
CREATE TABLE IF NOT EXISTS retired(doc_id TEXT PRIMARY KEY, at REAL);
CREATE VIRTUAL TABLE IF NOT EXISTS chunks_fts USING fts5(
  title, section, text, tokenize='porter unicode61 remove_diacritics 2');
"""


class IndexMismatchError(ConflictError):
    """The index on disk was built with another model or other chunking settings."""


@dataclass(frozen=True)
class IndexSpec:
    """What must match between an index on disk and the settings that open it."""

    model: str
    chunk_tokens: int
    chunk_overlap: int
    embed_title: bool

    def differences(self, other: dict[str, Any]) -> list[str]:
        return [f"{k}: index has {other.get(k)!r}, settings ask for {v!r}" for k, v in asdict(self).items() if other.get(k) != v]


@dataclass
class DocumentWrite:
    """One document to insert, with its chunks and each chunk's embedding key."""

    document: Document
    chunks: list[Chunk]
    embed_keys: list[str]


class Store:
    """Reads are thread-safe; writes must be serialized by the caller (the engine holds a lock)."""

    def __init__(self, index_dir: Path, spec: IndexSpec) -> None:
        self.dir = Path(index_dir)
        self.spec = spec
        self._local = threading.local()
        self._reload_lock = threading.Lock()
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
            self._check_manifest()
            with self._conn() as c:
                c.executescript(_SCHEMA)
        except (OSError, sqlite3.Error) as e:
            raise BadInputError(f"cannot open the index in {self.dir}: {e}") from e
        self.generation = int(self._meta("generation") or 0)
        self.dim = int(self._meta("dim") or 0) or None
        self.vectors = self._load_vectors()

    # -- connections and metadata
    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.dir / DB_NAME, timeout=30, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            self._local.conn = conn
        return conn

    def _meta(self, key: str) -> str | None:
        row = self._conn().execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return row[0] if row else None

    def _check_manifest(self) -> None:
        path = self.dir / MANIFEST
        if not path.exists():
            return
        try:
            manifest = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as e:
            raise IndexMismatchError(f"index manifest {path} is unreadable ({e}); rebuild with `rag index --rebuild --index-dir {self.dir}`") from e
        diffs = self.spec.differences(manifest)
        if diffs:
            raise IndexMismatchError(
                f"the index in {self.dir} was built with different settings ({'; '.join(diffs)}). "
                f"Rebuild it with `rag index --rebuild --index-dir {self.dir}`, or use another --index-dir."
            )

    def manifest(self) -> dict[str, Any]:
        return {**asdict(self.spec), "dim": self.dim, "generation": self.generation, "format_version": FORMAT_VERSION}

    def _write_manifest(self) -> None:
        path = self.dir / MANIFEST
        tmp = path.with_name(MANIFEST + ".tmp")
        tmp.write_text(json.dumps(self.manifest(), indent=2))
        os.replace(tmp, path)

    # -- vectors
    def _vector_path(self, generation: int) -> Path:
        return self.dir / f"vectors-{generation}.faiss"

    def _load_vectors(self) -> FaissIndex | None:
        if not self.dim:
            return None
        path = self._vector_path(self.generation)
        n_chunks = self._conn().execute("SELECT COUNT(*) FROM chunks").fetchone()[0]
        if path.exists():
            index = FaissIndex.load(path, self.dim)
            if index.ntotal == n_chunks:
                return index
        log.warning("vector file %s missing or stale; rebuilding vectors from the embedding table", path.name)
        index = FaissIndex(self.dim)
        rows = self._conn().execute("SELECT c.id, e.vector FROM chunks c JOIN embeddings e ON e.key = c.embed_key").fetchall()
        if rows:
            index.add(np.array([r[0] for r in rows]), np.vstack([np.frombuffer(r[1], dtype="float32") for r in rows]))
        return index.upgraded()

    def refresh(self) -> None:
        """Load the vectors of a generation another process committed (server workers share an index)."""
        if int(self._meta("generation") or 0) == self.generation:
            return
        with self._reload_lock:
            for _ in range(5):
                generation = int(self._meta("generation") or 0)
                if generation == self.generation:
                    return
                self.dim = int(self._meta("dim") or 0) or None
                try:
                    # A writer removes a generation's file only after committing the next one:
                    # if it vanished in between, read the generation again.
                    vectors = FaissIndex.load(self._vector_path(generation), self.dim) if self.dim else None
                except RuntimeError:
                    continue
                self.generation, self.vectors = generation, vectors
                return
            self.generation = int(self._meta("generation") or 0)
            self.vectors = self._load_vectors()

    # -- reads
    def stats(self) -> dict[str, Any]:
        c = self._conn()
        return {
            "documents": c.execute("SELECT COUNT(*) FROM documents").fetchone()[0],
            "chunks": c.execute("SELECT COUNT(*) FROM chunks").fetchone()[0],
            "vectors": self.vectors.ntotal if self.vectors else 0,
            "vector_index": self.vectors.kind if self.vectors else None,
            "model": self.spec.model,
            "dim": self.dim,
            "generation": self.generation,
            "index_dir": str(self.dir),
        }

    def documents(self) -> list[dict[str, Any]]:
        rows = self._conn().execute("SELECT doc_id, title, source, metadata, sha256, n_chunks, path FROM documents ORDER BY doc_id").fetchall()
        return [
            {"doc_id": r[0], "title": r[1], "source": r[2], "metadata": json.loads(r[3] or "{}"), "sha256": r[4], "n_chunks": r[5], "path": r[6]}
            for r in rows
        ]

    def document(self, doc_id: str) -> Document | None:
        r = (
            self._conn()
            .execute("SELECT doc_id, title, source, text, sha256, metadata, path, line_points, page_points FROM documents WHERE doc_id=?", (doc_id,))
            .fetchone()
        )
        if not r:
            return None
        return Document(
            doc_id=r[0],
            title=r[1],
            source=r[2],
            text=r[3],
            sha256=r[4],
            metadata=json.loads(r[5] or "{}"),
            path=r[6],
            line_points=[tuple(p) for p in json.loads(r[7] or "[]")],
            page_points=[tuple(p) for p in json.loads(r[8] or "[]")],
        )

    def document_info(self, doc_id: str) -> dict[str, Any] | None:
        """A document's source and path (no text): enough to decide what deleting it removes."""
        r = self._conn().execute("SELECT doc_id, source, path FROM documents WHERE doc_id=?", (doc_id,)).fetchone()
        return {"doc_id": r[0], "source": r[1], "path": r[2]} if r else None

    def line_points(self, doc_id: str) -> list[tuple[int, int]]:
        """A document's (offset, source line) map, without loading its text."""
        row = self._conn().execute("SELECT line_points FROM documents WHERE doc_id=?", (doc_id,)).fetchone()
        return [tuple(p) for p in json.loads(row[0] or "[]")] if row else []

    def documents_by_path(self) -> dict[str, tuple[str, str, dict[str, Any]]]:
        """path -> (doc_id, sha256, metadata) for documents that came from files."""
        rows = self._conn().execute("SELECT path, doc_id, sha256, metadata FROM documents WHERE path IS NOT NULL")
        return {r[0]: (r[1], r[2], json.loads(r[3] or "{}")) for r in rows}

    def has_document(self, doc_id: str) -> bool:
        return self._conn().execute("SELECT 1 FROM documents WHERE doc_id=?", (doc_id,)).fetchone() is not None

    def id_taken(self, doc_id: str) -> bool:
        """Whether ``doc_id`` names a document now or did once: deleted ids are never handed out
        again, so a retried DELETE cannot remove a newer document."""
        return (
            self._conn().execute("SELECT 1 FROM documents WHERE doc_id=? UNION ALL SELECT 1 FROM retired WHERE doc_id=?", (doc_id, doc_id)).fetchone()
            is not None
        )

    def sources(self) -> set[str]:
        return {r[0] for r in self._conn().execute("SELECT source FROM documents")}

    _CHUNK_COLS = (
        "c.id, c.chunk_id, c.doc_id, c.ordinal, c.text, c.char_start, c.char_end, c.line_start, "
        "c.line_end, c.section, c.n_tokens, c.page, d.title, d.source"
    )

    def chunks_by_rowid(self, rowids: Iterable[int]) -> dict[int, tuple[Chunk, str, str]]:
        """rowid -> (chunk, document title, document source); missing ids are simply absent."""
        ids = [int(i) for i in rowids if i is not None and int(i) >= 0]
        if not ids:
            return {}
        q = f"SELECT {self._CHUNK_COLS} FROM chunks c JOIN documents d ON d.doc_id = c.doc_id WHERE c.id IN ({','.join('?' * len(ids))})"
        return {r[0]: (Chunk(*r[1:12]), r[12], r[13]) for r in self._conn().execute(q, ids)}

    def chunk(self, chunk_id: str) -> tuple[Chunk, str, str] | None:
        r = (
            self._conn()
            .execute(f"SELECT {self._CHUNK_COLS} FROM chunks c JOIN documents d ON d.doc_id = c.doc_id WHERE c.chunk_id=?", (chunk_id,))
            .fetchone()
        )
        return (Chunk(*r[1:12]), r[12], r[13]) if r else None

    def all_chunks(self) -> Iterable[tuple[Chunk, str, str]]:
        """(chunk, title, source) of every chunk, in rowid order."""
        q = f"SELECT {self._CHUNK_COLS} FROM chunks c JOIN documents d ON d.doc_id = c.doc_id ORDER BY c.id"
        for r in self._conn().execute(q):
            yield Chunk(*r[1:12]), r[12], r[13]

    def close(self) -> None:
        """Close the calling thread's connection (each thread has its own)."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    def chunk_rowids(self, doc_ids: Iterable[str]) -> np.ndarray:
        ids = list(doc_ids)
        if not ids:
            return np.zeros(0, dtype="int64")
        rows = self._conn().execute(f"SELECT id FROM chunks WHERE doc_id IN ({','.join('?' * len(ids))})", ids).fetchall()
        return np.array([r[0] for r in rows], dtype="int64")

    def cached_embeddings(self, keys: list[str]) -> dict[str, np.ndarray]:
        """Stored vectors for those embedding keys that are known."""
        return self.cached_embeddings_in(self._conn(), keys)

    def lexical(self, match: str, k: int, weights: tuple[float, float, float], allowed: np.ndarray | None = None) -> list[tuple[int, float]]:
        """Top-k (rowid, bm25 score; higher is better) for an FTS5 MATCH expression."""
        sql = f"SELECT rowid, bm25(chunks_fts, {weights[0]}, {weights[1]}, {weights[2]}) AS s FROM chunks_fts WHERE chunks_fts MATCH ?"
        args: list[Any] = [match]
        if allowed is not None:
            sql += f" AND rowid IN ({','.join(str(int(i)) for i in allowed) or 'NULL'})"
        sql += " ORDER BY s LIMIT ?"
        args.append(k)
        return [(r[0], -r[1]) for r in self._conn().execute(sql, args)]

    # -- writes
    def apply(self, deletes: list[str], writes: list[DocumentWrite], new_vectors: dict[str, np.ndarray]) -> None:
        """Delete and insert documents in one transaction, then swap in the new vectors."""
        if not deletes and not writes:
            return
        conn = self._conn()
        try:
            conn.execute("BEGIN IMMEDIATE")
            self.refresh()  # another process may have written since we last looked
            vectors = self.vectors.copy() if self.vectors is not None else None
            removed = self._delete(conn, deletes + [w.document.doc_id for w in writes])
            conn.executemany("INSERT OR REPLACE INTO retired VALUES (?, ?)", [(d, time.time()) for d in deletes])
            self._store_vectors(conn, new_vectors)
            added_ids, added_keys = self._insert(conn, writes)
            if vectors is None and (new_vectors or added_keys):
                self.dim = self.dim or len(next(iter(new_vectors.values())))
                vectors = FaissIndex(self.dim)
            if vectors is not None:
                vectors.remove(removed)
                if added_ids:
                    vecs = self.cached_embeddings_in(conn, added_keys)
                    vectors.add(np.array(added_ids), np.vstack([vecs[k] for k in added_keys]))
            if vectors is not None:
                vectors = vectors.upgraded()
            conn.execute("DELETE FROM embeddings WHERE key NOT IN (SELECT embed_key FROM chunks)")
            generation = self.generation + 1
            if vectors is not None:
                vectors.save(self._vector_path(generation))
            conn.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", [("generation", str(generation)), ("dim", str(self.dim or 0))])
            conn.commit()
        except BaseException:
            conn.rollback()
            raise
        with self._reload_lock:  # a reader's refresh() may already have loaded this generation
            if generation >= self.generation:
                self.generation, self.vectors = generation, vectors
        self._write_manifest()
        self.remove_stale_files(generation)

    def remove_stale_files(self, current: int | None = None) -> list[Path]:
        """Delete vector files of older generations and half-written ones; call under the write lock.
        A reader still loading an old file retries with the current generation (``refresh``)."""
        current = int(self._meta("generation") or 0) if current is None else current
        stale = [p for p in self.dir.glob("vectors-*.faiss*") if p.name.endswith(".tmp") or p.name != self._vector_path(current).name]
        for p in stale:
            p.unlink(missing_ok=True)
        return stale

    @staticmethod
    def cached_embeddings_in(conn: sqlite3.Connection, keys: list[str]) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        uniq = list(dict.fromkeys(keys))
        for i in range(0, len(uniq), 500):
            part = uniq[i : i + 500]
            q = f"SELECT key, vector FROM embeddings WHERE key IN ({','.join('?' * len(part))})"
            out.update({k: np.frombuffer(v, dtype="float32") for k, v in conn.execute(q, part)})
        return out

    def _delete(self, conn: sqlite3.Connection, doc_ids: list[str]) -> np.ndarray:
        if not doc_ids:
            return np.zeros(0, dtype="int64")
        marks = ",".join("?" * len(doc_ids))
        ids = np.array([r[0] for r in conn.execute(f"SELECT id FROM chunks WHERE doc_id IN ({marks})", doc_ids)], dtype="int64")
        if len(ids):
            conn.execute(f"DELETE FROM chunks_fts WHERE rowid IN ({','.join(map(str, ids))})")
        conn.execute(f"DELETE FROM chunks WHERE doc_id IN ({marks})", doc_ids)
        conn.execute(f"DELETE FROM documents WHERE doc_id IN ({marks})", doc_ids)
        return ids

    @staticmethod
    def _store_vectors(conn: sqlite3.Connection, new_vectors: dict[str, np.ndarray]) -> None:
        conn.executemany(
            "INSERT OR REPLACE INTO embeddings VALUES (?, ?)", [(k, np.asarray(v, dtype="float32").tobytes()) for k, v in new_vectors.items()]
        )

    @staticmethod
    def _insert(conn: sqlite3.Connection, writes: list[DocumentWrite]) -> tuple[list[int], list[str]]:
        ids: list[int] = []
        keys: list[str] = []
        now = time.time()
        for w in writes:
            d = w.document
            conn.execute(
                "INSERT INTO documents VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                (
                    d.doc_id,
                    d.title,
                    d.source,
                    d.path,
                    json.dumps(d.metadata, ensure_ascii=False),
                    d.text,
                    d.sha256,
                    json.dumps(d.line_points),
                    json.dumps(d.page_points),
                    len(w.chunks),
                    now,
                ),
            )
            for c, key in zip(w.chunks, w.embed_keys):
                cur = conn.execute(
                    "INSERT INTO chunks(chunk_id, doc_id, ordinal, text, char_start, char_end, line_start, "
                    "line_end, page, section, n_tokens, embed_key) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                    (c.chunk_id, c.doc_id, c.ordinal, c.text, c.char_start, c.char_end, c.line_start, c.line_end, c.page, c.section, c.n_tokens, key),
                )
                conn.execute("INSERT INTO chunks_fts(rowid, title, section, text) VALUES (?,?,?,?)", (cur.lastrowid, d.title, c.section, c.text))
                ids.append(cast(int, cur.lastrowid))
                keys.append(key)
        return ids, keys

    @staticmethod
    def destroy(index_dir: Path) -> None:
        """Remove an index's files (used by --rebuild); uploads are kept."""
        d = Path(index_dir)
        for p in list(d.glob("vectors-*.faiss*")) + [d / MANIFEST] + list(d.glob(DB_NAME + "*")):
            p.unlink(missing_ok=True)
