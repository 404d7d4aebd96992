"""Token vectors of chunks (late interaction) kept by key in the catalog's SQLite file, quantized to
int8: a unit vector's components lie in [-1, 1], so 127 steps keep maxsim scores to about 1e-3 and the
ranking of the dev sets unchanged (docs/EVALUATION.md), at a quarter of float32's size."""

from __future__ import annotations

import sqlite3

import numpy as np

SCHEMA = "CREATE TABLE IF NOT EXISTS token_vectors(key TEXT PRIMARY KEY, dim INTEGER, vectors BLOB);"
_BATCH = 500  # SQLite's bound-parameter limit is 999 on old builds


SCALE = 127  # int8 steps per unit


def to_int8(vectors: np.ndarray) -> np.ndarray:
    """Unit token vectors (n, dim) in int8 steps of 1/SCALE."""
    return np.clip(np.round(np.asarray(vectors, dtype="float32") * SCALE), -SCALE, SCALE).astype("int8")


def quantize(vectors: np.ndarray) -> bytes:
    """Unit token vectors (n, dim) as int8 bytes."""
    return to_int8(vectors).tobytes()


def dequantize(blob: bytes, dim: int) -> np.ndarray:
    """The (n, dim) float32 matrix ``quantize`` stored."""
    return np.frombuffer(blob, dtype="int8").reshape(-1, dim).astype("float32") / SCALE


def get(conn: sqlite3.Connection, keys: list[str]) -> dict[str, np.ndarray]:
    """Stored token matrices (int8, steps of 1/SCALE) for those keys that are known."""
    out: dict[str, np.ndarray] = {}
    uniq = list(dict.fromkeys(keys))
    for i in range(0, len(uniq), _BATCH):
        part = uniq[i : i + _BATCH]
        q = f"SELECT key, dim, vectors FROM token_vectors WHERE key IN ({','.join('?' * len(part))})"
        out.update({k: np.frombuffer(v, dtype="int8").reshape(-1, d) for k, d, v in conn.execute(q, part)})
    return out


def known(conn: sqlite3.Connection, keys: list[str]) -> set[str]:
    """Those of ``keys`` that are stored (without reading their vectors)."""
    out: set[str] = set()
    uniq = list(dict.fromkeys(keys))
    for i in range(0, len(uniq), _BATCH):
        part = uniq[i : i + _BATCH]
        out.update(k for (k,) in conn.execute(f"SELECT key FROM token_vectors WHERE key IN ({','.join('?' * len(part))})", part))
    return out


def put(conn: sqlite3.Connection, matrices: dict[str, np.ndarray]) -> None:
    conn.executemany("INSERT OR REPLACE INTO token_vectors VALUES (?, ?, ?)", [(k, int(m.shape[1]), quantize(m)) for k, m in matrices.items()])


def drop_orphans(conn: sqlite3.Connection) -> int:
    """Forget every token matrix no chunk's embedding key names (edited or deleted text); returns how many
    went. Run under the index's write lock."""
    return conn.execute("DELETE FROM token_vectors WHERE key NOT IN (SELECT embed_key FROM chunks)").rowcount


def chunks_without(conn: sqlite3.Connection) -> list[int]:
    """Rowids of the chunks whose token matrix is not stored."""
    q = "SELECT c.id FROM chunks c LEFT JOIN token_vectors t ON t.key = c.embed_key WHERE t.key IS NULL"
    return [r[0] for r in conn.execute(q)]
