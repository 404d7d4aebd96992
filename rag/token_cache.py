"""Token vectors of chunks (late interaction) kept by key in the catalog's SQLite file. A small index
keeps them as int8 (a unit vector's components lie in [-1, 1], so 127 steps keep maxsim scores to about
1e-3); once it holds ``token_codec.MIN_TRAIN`` vectors it learns a product-quantization codebook from
them and keeps every row as product codes (``compress``; 96 bytes a word piece, a quarter of int8). Each row names its codec,
so readers in other processes never misread a row converted under them."""

from __future__ import annotations

import logging
import sqlite3

import numpy as np

from .token_codec import MIN_TRAIN, ProductCodec, sub_quantizers

log = logging.getLogger(__name__)
SCHEMA = (
    "CREATE TABLE IF NOT EXISTS token_vectors(key TEXT PRIMARY KEY, dim INTEGER, vectors BLOB, codec INTEGER NOT NULL DEFAULT 0);"
    "CREATE TABLE IF NOT EXISTS token_codecs(id INTEGER PRIMARY KEY, dim INTEGER, m INTEGER, centroids BLOB);"
)
INT8 = 0  # the codec id of int8 rows; product codebooks are numbered from 1
# Vectors a codebook learns from (128 per centroid): learnt from 30,000 rather than 20,000, held-out
# vectors decoded only 0.0003 closer in cosine (docs/EVALUATION.md).
TRAIN_SAMPLE = 32_768
_BATCH = 500  # SQLite's bound-parameter limit is 999 on old builds
Codecs = dict[int, ProductCodec]  # an index's codebooks by id, as one process has read them


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


def migrate(conn: sqlite3.Connection) -> None:
    """Give a table made before codecs its ``codec`` column (every row int8), and index it: the column
    sits after a row's blob, so finding the int8 rows without the index reads every blob. Harmless when
    another process did it first."""
    if "codec" not in {r[1] for r in conn.execute("PRAGMA table_info(token_vectors)")}:
        try:
            with conn:
                conn.execute(f"ALTER TABLE token_vectors ADD COLUMN codec INTEGER NOT NULL DEFAULT {INT8}")
        except sqlite3.OperationalError as e:
            if "duplicate column" not in str(e):
                raise
    with conn:
        conn.execute("CREATE INDEX IF NOT EXISTS token_vectors_codec ON token_vectors(codec)")


def codec(conn: sqlite3.Connection, codecs: Codecs, cid: int | None = None) -> tuple[int, ProductCodec | None]:
    """Codebook ``cid`` (default: the newest, the one writes use), read once into ``codecs``; (INT8, None)
    when the index has none."""
    if cid is None:
        cid = conn.execute("SELECT max(id) FROM token_codecs").fetchone()[0]
        if cid is None:
            return INT8, None
    if cid not in codecs:
        dim, m, centroids = conn.execute("SELECT dim, m, centroids FROM token_codecs WHERE id = ?", (cid,)).fetchone()
        codecs[cid] = ProductCodec(dim, m, np.frombuffer(centroids, dtype="float32"))
    return cid, codecs[cid]


def _matrix(conn: sqlite3.Connection, codecs: Codecs, dim: int, blob: bytes, cid: int) -> np.ndarray:
    if cid == INT8:
        return np.frombuffer(blob, dtype="int8").reshape(-1, dim)
    pq = codec(conn, codecs, cid)[1]
    assert pq is not None
    return to_int8(pq.decode(blob))


def get(conn: sqlite3.Connection, keys: list[str], codecs: Codecs | None = None) -> dict[str, np.ndarray]:
    """Stored token matrices (int8, steps of 1/SCALE) for those keys that are known, whatever codec
    each row was stored with."""
    codecs = {} if codecs is None else codecs
    out: dict[str, np.ndarray] = {}
    uniq = list(dict.fromkeys(keys))
    for i in range(0, len(uniq), _BATCH):
        part = uniq[i : i + _BATCH]
        q = f"SELECT key, dim, vectors, codec FROM token_vectors WHERE key IN ({','.join('?' * len(part))})"
        out.update({k: _matrix(conn, codecs, d, v, c) for k, d, v, c in conn.execute(q, part)})
    return out


def known(conn: sqlite3.Connection, keys: list[str]) -> set[str]:
    """Those of ``keys`` that are stored (without reading their vectors)."""
    out: set[str] = set()
    uniq = list(dict.fromkeys(keys))
    for i in range(0, len(uniq), _BATCH):
        part = uniq[i : i + _BATCH]
        out.update(k for (k,) in conn.execute(f"SELECT key FROM token_vectors WHERE key IN ({','.join('?' * len(part))})", part))
    return out


def put(conn: sqlite3.Connection, matrices: dict[str, np.ndarray], using: tuple[int, ProductCodec | None] = (INT8, None)) -> None:
    """Store unit token matrices by key, as int8 or as ``using``'s codes."""
    cid, pq = using
    rows = [(k, int(m.shape[1]), pq.encode(m) if pq else quantize(m), cid if pq else INT8) for k, m in matrices.items()]
    conn.executemany("INSERT OR REPLACE INTO token_vectors(key, dim, vectors, codec) VALUES (?, ?, ?, ?)", rows)


def compress(conn: sqlite3.Connection, codecs: Codecs, min_vectors: int | None = None, batch: int = 256) -> int:
    """Learn a codebook once int8 rows hold ``min_vectors`` (``MIN_TRAIN``) vectors, then re-store every int8 row as codes
    (batches of ``batch`` rows, each its own transaction); returns how many rows it converted. Safe beside
    readers and other processes doing the same: a row is converted only while it is still int8."""
    cid, pq = codec(conn, codecs)
    if pq is None:
        dim, stored = conn.execute(f"SELECT max(dim), coalesce(sum(length(vectors)), 0) FROM token_vectors WHERE codec = {INT8}").fetchone()
        if not dim or stored // dim < (MIN_TRAIN if min_vectors is None else min_vectors) or sub_quantizers(dim) is None:
            return 0
        log.info("learning a codebook for %d token vectors, then storing them as product codes (once)", stored // dim)
        learnt = ProductCodec.train(_sample(conn, dim))
        with conn:  # the first codebook stored wins; a process that lost the race uses it
            conn.execute(
                "INSERT INTO token_codecs(id, dim, m, centroids) SELECT 1, ?, ?, ? WHERE NOT EXISTS (SELECT 1 FROM token_codecs)",
                (dim, learnt.m, learnt.centroids().tobytes()),
            )
        cid, pq = codec(conn, codecs)
        assert pq is not None
    converted = 0
    while rows := conn.execute(f"SELECT key, dim, vectors FROM token_vectors WHERE codec = {INT8} LIMIT ?", (batch,)).fetchall():
        with conn:
            conn.executemany(
                f"UPDATE token_vectors SET vectors = ?, codec = ? WHERE key = ? AND codec = {INT8}",
                [(pq.encode(dequantize(v, d)), cid, k) for k, d, v in rows],
            )
        converted += len(rows)
    # SQLite keeps the int8 rows' pages for the next writes; the file does not shrink (auto_vacuum with
    # incremental_vacuum did, and broke a catalog open in another connection of the test suite).
    return converted


def _sample(conn: sqlite3.Connection, dim: int) -> np.ndarray:
    """Up to ``TRAIN_SAMPLE`` int8 vectors as float rows, from rows in key order (keys are hashes: spread
    over the documents)."""
    parts, n = [], 0
    for d, v in conn.execute(f"SELECT dim, vectors FROM token_vectors WHERE codec = {INT8} AND dim = ? ORDER BY key", (dim,)):
        parts.append(dequantize(v, d))
        n += len(parts[-1])
        if n >= TRAIN_SAMPLE:
            break
    return np.concatenate(parts)[:TRAIN_SAMPLE]


def drop_orphans(conn: sqlite3.Connection) -> int:
    """Forget every token matrix no chunk's embedding key names (edited or deleted text); returns how many
    went. Run under the index's write lock."""
    return conn.execute("DELETE FROM token_vectors WHERE key NOT IN (SELECT embed_key FROM chunks)").rowcount


def chunks_without(conn: sqlite3.Connection) -> list[int]:
    """Rowids of the chunks whose token matrix is not stored."""
    q = "SELECT c.id FROM chunks c LEFT JOIN token_vectors t ON t.key = c.embed_key WHERE t.key IS NULL"
    return [r[0] for r in conn.execute(q)]
