"""Chunk embeddings kept by key (model + text) in the catalog's SQLite file: a changed document
re-embeds only its changed chunks, and lost vector files can be rebuilt without the model."""

from __future__ import annotations

import sqlite3

import numpy as np

SCHEMA = "CREATE TABLE IF NOT EXISTS embeddings(key TEXT PRIMARY KEY, vector BLOB);"
_BATCH = 500  # SQLite's bound-parameter limit is 999 on old builds


def get(conn: sqlite3.Connection, keys: list[str]) -> dict[str, np.ndarray]:
    """Stored vectors for those keys that are known."""
    out: dict[str, np.ndarray] = {}
    uniq = list(dict.fromkeys(keys))
    for i in range(0, len(uniq), _BATCH):
        part = uniq[i : i + _BATCH]
        q = f"SELECT key, vector FROM embeddings WHERE key IN ({','.join('?' * len(part))})"
        out.update({k: np.frombuffer(v, dtype="float32") for k, v in conn.execute(q, part)})
    return out


def put(conn: sqlite3.Connection, vectors: dict[str, np.ndarray]) -> None:
    conn.executemany("INSERT OR REPLACE INTO embeddings VALUES (?, ?)", [(k, np.asarray(v, dtype="float32").tobytes()) for k, v in vectors.items()])


def drop_unused(conn: sqlite3.Connection, keys: list[str]) -> None:
    """Forget those of ``keys`` (the removed chunks') no chunk refers to any more; cost follows the
    write, not the index (inside the write's transaction)."""
    uniq = list(dict.fromkeys(keys))
    for i in range(0, len(uniq), _BATCH):
        part = uniq[i : i + _BATCH]
        conn.execute(
            f"DELETE FROM embeddings WHERE key IN ({','.join('?' * len(part))}) "
            "AND NOT EXISTS (SELECT 1 FROM chunks WHERE chunks.embed_key = embeddings.key)",
            part,
        )


def keep_only(conn: sqlite3.Connection, keep: list[str]) -> int:
    """Forget every vector that is neither in ``keep`` nor a chunk's own (a second model's vectors of
    texts no chunk holds any more); returns how many went. Run under the index's write lock."""
    conn.execute("CREATE TEMP TABLE IF NOT EXISTS keep_keys(key TEXT PRIMARY KEY)")
    conn.execute("DELETE FROM keep_keys")
    conn.executemany("INSERT OR IGNORE INTO keep_keys VALUES (?)", [(k,) for k in keep])
    gone = conn.execute(
        "DELETE FROM embeddings WHERE key NOT IN (SELECT key FROM keep_keys) "
        "AND NOT EXISTS (SELECT 1 FROM chunks WHERE chunks.embed_key = embeddings.key)"
    ).rowcount
    conn.execute("DELETE FROM keep_keys")
    return gone


def chunk_vectors(conn: sqlite3.Connection) -> tuple[np.ndarray, np.ndarray]:
    """(rowids, vectors) of every chunk, from the cache: enough to rebuild a vector index."""
    rows = conn.execute("SELECT c.id, e.vector FROM chunks c JOIN embeddings e ON e.key = c.embed_key").fetchall()
    if not rows:
        return np.zeros(0, dtype="int64"), np.zeros((0, 0), dtype="float32")
    return np.array([r[0] for r in rows], dtype="int64"), np.vstack([np.frombuffer(r[1], dtype="float32") for r in rows])
