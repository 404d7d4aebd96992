"""BM25 as sparse vectors, for engines that score them (Qdrant's IDF modifier): each chunk's terms
weighted by BM25's saturated, length-normalized term frequency; the engine multiplies by IDF at
query time. Terms come from SQLite's own FTS5 tokenizer, so both stores see the same words."""

from __future__ import annotations

import sqlite3
import threading
import zlib
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from .lexical import FTS_SCHEMA, terms

K1, B = 1.2, 0.75  # FTS5's bm25() constants
FIELDS = ("title", "section", "text")
_local = threading.local()


@dataclass(frozen=True)
class Sparse:
    """A sparse vector: term ids (32-bit hashes of the stemmed terms) and their weights."""

    indices: list[int]
    values: list[float]


def _scratch() -> sqlite3.Connection:
    """A private in-memory FTS5 table per thread, used only as a tokenizer."""
    conn = getattr(_local, "conn", None)
    if conn is None:
        conn = sqlite3.connect(":memory:")
        conn.executescript(FTS_SCHEMA + "CREATE VIRTUAL TABLE chunks_vocab USING fts5vocab(chunks_fts, 'instance');")
        _local.conn = conn
    return conn


def term_id(term: str) -> int:
    return zlib.crc32(term.encode()) & 0x7FFFFFFF


def field_counts(rows: Iterable[tuple[int, str, str, str]]) -> dict[int, dict[str, list[int]]]:
    """rowid -> stemmed term -> counts in (title, section, text), as FTS5 tokenizes them."""
    conn = _scratch()
    out: dict[int, dict[str, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0, 0]))
    try:
        conn.executemany("INSERT INTO chunks_fts(rowid, title, section, text) VALUES (?,?,?,?)", rows)
        for doc, col, term, n in conn.execute("SELECT doc, col, term, count(*) FROM chunks_vocab GROUP BY doc, col, term"):
            out[doc][term][FIELDS.index(col)] = n
    finally:
        conn.execute("DELETE FROM chunks_fts")
    return out


def document_vectors(rows: Iterable[tuple[int, str, str, str]], weights: tuple[float, float, float], avgdl: float) -> dict[int, Sparse]:
    """Each (rowid, title, section, text) as a sparse vector of BM25 term weights, with FTS5's
    column weights and a fixed average length ``avgdl`` (in tokens)."""
    out = {}
    for rowid, counts in field_counts(rows).items():
        length = sum(sum(c) for c in counts.values())
        norm = K1 * (1 - B + B * length / avgdl)
        ids, values = [], []
        for term, c in counts.items():
            f = sum(w * n for w, n in zip(weights, c))
            if f > 0:
                ids.append(term_id(term))
                values.append(f * (K1 + 1) / (f + norm))
        out[rowid] = Sparse(ids, values)
    return out


def mean_length(rows: list[tuple[int, str, str, str]]) -> float:
    """Average tokens per chunk (all fields) of ``rows``."""
    counts = field_counts(rows)
    return sum(sum(sum(c) for c in t.values()) for t in counts.values()) / max(1, len(counts))


def query_vector(query: str) -> Sparse | None:
    """The query's distinct stemmed terms, weight 1 each (an OR of terms, as the FTS5 query is)."""
    words = terms(query)
    if not words:
        return None
    stems = field_counts([(1, "", "", " ".join(words))]).get(1, {})
    ids = sorted({term_id(t) for t in stems})
    return Sparse(ids, [1.0] * len(ids)) if ids else None
