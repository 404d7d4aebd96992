"""Documents and chunks in SQLite: what every vector backend shares. One connection per thread;
writes go through a connection inside the caller's transaction."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np

from .models import Chunk, Document, SourcePoints
from .sqlite_files import connect_shared

DB_NAME = "rag.sqlite"

SCHEMA = """
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
CREATE INDEX IF NOT EXISTS chunks_key ON chunks(embed_key);
CREATE TABLE IF NOT EXISTS retired(doc_id TEXT PRIMARY KEY, at REAL);
"""

_CHUNK_COLS = (
    "c.id, c.chunk_id, c.doc_id, c.ordinal, c.text, c.char_start, c.char_end, c.line_start, "
    "c.line_end, c.section, c.n_tokens, c.page, d.title, d.source"
)
_FROM_CHUNKS = f"SELECT {_CHUNK_COLS} FROM chunks c JOIN documents d ON d.doc_id = c.doc_id"


@dataclass
class DocumentWrite:
    """One document to insert, with its chunks and each chunk's embedding key."""

    document: Document
    chunks: list[Chunk]
    embed_keys: list[str]


@dataclass(frozen=True)
class StoredChunk:
    """A chunk as inserted: its rowid (the key of every index), embedding key and indexed fields."""

    rowid: int
    embed_key: str
    title: str
    section: str
    text: str


class Catalog:
    """The SQLite file of an index; ``schemas`` are the extra tables other parts keep in it."""

    def __init__(self, path: Path, schemas: Iterable[str] = ()) -> None:
        self.path = Path(path)
        self._local = threading.local()
        conn = self.conn()
        conn.executescript(SCHEMA + "".join(schemas))
        conn.commit()

    def conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = connect_shared(self.path, timeout_s=30)
            conn.execute("PRAGMA synchronous=NORMAL")
            self._local.conn = conn
        return conn

    def truncate_log(self) -> None:
        """Copy the write-ahead log into the database and empty its file (when no reader needs it): after a
        write failed for want of room, the log may hold megabytes of frames that are already in the database
        or were never committed."""
        self.conn().execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()

    def close(self) -> None:
        """Close the calling thread's connection (each thread has its own)."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    # -- meta
    def meta_int(self, key: str) -> int:
        row = self.conn().execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return int(row[0]) if row and row[0] else 0

    def meta_text(self, key: str) -> str | None:
        row = self.conn().execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return row[0] if row else None

    def meta_ints(self, *keys: str) -> dict[str, int | None]:
        """Several meta values read in one statement (one consistent snapshot); None when absent."""
        rows = dict(self.conn().execute(f"SELECT key, value FROM meta WHERE key IN ({','.join('?' * len(keys))})", keys).fetchall())
        return {k: int(rows[k]) if rows.get(k) is not None else None for k in keys}

    @staticmethod
    def set_meta(conn: sqlite3.Connection, values: dict[str, Any]) -> None:
        conn.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", [(k, str(v)) for k, v in values.items()])

    # -- reads
    def counts(self) -> tuple[int, int]:
        c = self.conn()
        return c.execute("SELECT COUNT(*) FROM documents").fetchone()[0], c.execute("SELECT COUNT(*) FROM chunks").fetchone()[0]

    def documents(self) -> list[dict[str, Any]]:
        rows = self.conn().execute("SELECT doc_id, title, source, metadata, sha256, n_chunks, path FROM documents ORDER BY doc_id")
        return [
            {"doc_id": r[0], "title": r[1], "source": r[2], "metadata": json.loads(r[3] or "{}"), "sha256": r[4], "n_chunks": r[5], "path": r[6]}
            for r in rows
        ]

    def document(self, doc_id: str) -> Document | None:
        sql = "SELECT doc_id, title, source, text, sha256, metadata, path, line_points, page_points FROM documents WHERE doc_id=?"
        r = self.conn().execute(sql, (doc_id,)).fetchone()
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
        r = self.conn().execute("SELECT doc_id, source, path FROM documents WHERE doc_id=?", (doc_id,)).fetchone()
        return {"doc_id": r[0], "source": r[1], "path": r[2]} if r else None

    def source_points(self, doc_id: str) -> SourcePoints:
        """A document's (offset, source line) and (offset, page) maps, without loading its text."""
        row = self.conn().execute("SELECT line_points, page_points FROM documents WHERE doc_id=?", (doc_id,)).fetchone()
        if not row:
            return SourcePoints()
        return SourcePoints([tuple(p) for p in json.loads(row[0] or "[]")], [tuple(p) for p in json.loads(row[1] or "[]")])

    def documents_by_path(self) -> dict[str, tuple[str, str, dict[str, Any]]]:
        """path -> (doc_id, sha256, metadata) for documents that came from files."""
        rows = self.conn().execute("SELECT path, doc_id, sha256, metadata FROM documents WHERE path IS NOT NULL")
        return {r[0]: (r[1], r[2], json.loads(r[3] or "{}")) for r in rows}

    def has_document(self, doc_id: str) -> bool:
        return self.conn().execute("SELECT 1 FROM documents WHERE doc_id=?", (doc_id,)).fetchone() is not None

    def id_taken(self, doc_id: str) -> bool:
        """Whether ``doc_id`` names a document now or did once: deleted ids are never handed out
        again, so a retried DELETE cannot remove a newer document."""
        sql = "SELECT 1 FROM documents WHERE doc_id=? UNION ALL SELECT 1 FROM retired WHERE doc_id=?"
        return self.conn().execute(sql, (doc_id, doc_id)).fetchone() is not None

    def sources(self) -> set[str]:
        return {r[0] for r in self.conn().execute("SELECT source FROM documents")}

    def chunks_by_rowid(self, rowids: Iterable[int]) -> dict[int, tuple[Chunk, str, str]]:
        """rowid -> (chunk, document title, document source); missing ids are simply absent."""
        ids = [int(i) for i in rowids if i is not None and int(i) >= 0]
        if not ids:
            return {}
        q = f"{_FROM_CHUNKS} WHERE c.id IN ({','.join('?' * len(ids))})"
        return {r[0]: (Chunk(*r[1:12]), r[12], r[13]) for r in self.conn().execute(q, ids)}

    def chunk(self, chunk_id: str) -> tuple[Chunk, str, str] | None:
        r = self.conn().execute(f"{_FROM_CHUNKS} WHERE c.chunk_id=?", (chunk_id,)).fetchone()
        return (Chunk(*r[1:12]), r[12], r[13]) if r else None

    def all_chunks(self) -> Iterator[tuple[Chunk, str, str]]:
        """(chunk, title, source) of every chunk, in rowid order."""
        for r in self.conn().execute(f"{_FROM_CHUNKS} ORDER BY c.id"):
            yield Chunk(*r[1:12]), r[12], r[13]

    def chunk_rowids(self, doc_ids: Iterable[str]) -> np.ndarray:
        ids = list(doc_ids)
        if not ids:
            return np.zeros(0, dtype="int64")
        rows = self.conn().execute(f"SELECT id FROM chunks WHERE doc_id IN ({','.join('?' * len(ids))})", ids).fetchall()
        return np.array([r[0] for r in rows], dtype="int64")

    # -- writes, inside the caller's transaction
    @staticmethod
    def delete(conn: sqlite3.Connection, doc_ids: list[str], retire: bool) -> tuple[np.ndarray, list[str]]:
        """Remove documents and their chunks; returns the chunks' rowids and embedding keys.
        ``retire``: a deletion (the ids are never handed out again), not a replacement."""
        if not doc_ids:
            return np.zeros(0, dtype="int64"), []
        marks = ",".join("?" * len(doc_ids))
        rows = conn.execute(f"SELECT id, embed_key FROM chunks WHERE doc_id IN ({marks})", doc_ids).fetchall()
        ids = np.array([r[0] for r in rows], dtype="int64")
        conn.execute(f"DELETE FROM chunks WHERE doc_id IN ({marks})", doc_ids)
        conn.execute(f"DELETE FROM documents WHERE doc_id IN ({marks})", doc_ids)
        if retire:
            conn.executemany("INSERT OR REPLACE INTO retired VALUES (?, ?)", [(d, time.time()) for d in doc_ids])
        return ids, [r[1] for r in rows]

    @staticmethod
    def insert(conn: sqlite3.Connection, writes: list[DocumentWrite]) -> list[StoredChunk]:
        out: list[StoredChunk] = []
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
                out.append(StoredChunk(cast(int, cur.lastrowid), key, d.title, c.section, c.text))
        return out
