"""The lexical side: any user text made a safe FTS5 query (quoted terms joined by OR, never a syntax
error), and the BM25 index it runs against."""

from __future__ import annotations

import math
import re
import sqlite3
from collections.abc import Iterable
from typing import Literal

import numpy as np

STOPWORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "been",
        "being",
        "but",
        "by",
        "can",
        "could",
        "did",
        "do",
        "does",
        "for",
        "from",
        "had",
        "has",
        "have",
        "how",
        "i",
        "if",
        "in",
        "into",
        "is",
        "it",
        "its",
        "of",
        "on",
        "or",
        "our",
        "she",
        "should",
        "so",
        "than",
        "that",
        "the",
        "their",
        "them",
        "then",
        "there",
        "these",
        "they",
        "this",
        "those",
        "to",
        "was",
        "we",
        "were",
        "what",
        "when",
        "where",
        "which",
        "while",
        "who",
        "whom",
        "why",
        "will",
        "with",
        "would",
        "you",
        "your",
        "he",
        "his",
        "her",
        "not",
        "no",
    ]
)  # noqa: E501
MAX_TERMS = 64
_WORD = re.compile(r"\w+", re.UNICODE)


def terms(text: str) -> list[str]:
    """Lower-cased word terms, stopwords dropped unless nothing else is left."""
    words = [w for w in _WORD.findall(text.lower()) if w.strip("_")]
    content = [w for w in words if w not in STOPWORDS]
    return list(dict.fromkeys(content or words))[:MAX_TERMS]


def fts_query(text: str) -> str | None:
    """An FTS5 MATCH expression for ``text``, or None when it holds no searchable word."""
    ts = terms(text)
    # Each term is quoted, so FTS5 operators (AND, NEAR, *, -, :) in user text stay plain words.
    return " OR ".join(f'"{t}"' for t in ts) if ts else None


# -- the BM25 index: an FTS5 table in the catalog's SQLite file, keyed by chunk rowid

FTS_SCHEMA = """
CREATE VIRTUAL TABLE IF NOT EXISTS chunks_fts USING fts5(
  title, section, text, tokenize='porter unicode61 remove_diacritics 2');
"""


IDF = Literal["smoothed", "fts5"]
_PHRASE = re.compile(r'"([^"]*)"')


def bm25_search(
    conn: sqlite3.Connection,
    match: str,
    k: int,
    weights: tuple[float, float, float],
    allowed: np.ndarray | None = None,
    idf: IDF = "smoothed",
) -> list[tuple[int, float]]:
    """Top-k (rowid, BM25 score; higher is better) for an FTS5 MATCH expression (``fts_query``).

    ``idf="fts5"`` is FTS5's own ``bm25()``: idf = max(1e-6, ln((N - n + 0.5) / (n + 0.5))).
    ``idf="smoothed"`` is Lucene's and Qdrant's idf = ln(1 + (N - n + 0.5) / (n + 0.5)), which keeps
    terms found in half the chunks or more from weighing nothing (docs/EVALUATION.md, round 2)."""
    restrict = ""
    if allowed is not None:
        restrict = f" AND rowid IN ({','.join(str(int(i)) for i in allowed) or 'NULL'})"
    rank = f"bm25(chunks_fts, {weights[0]}, {weights[1]}, {weights[2]})"
    if idf == "fts5":
        sql = f"SELECT rowid, {rank} AS s FROM chunks_fts WHERE chunks_fts MATCH ?{restrict} ORDER BY s LIMIT ?"
        return [(r[0], -r[1]) for r in conn.execute(sql, [match, k])]
    return _smoothed_search(conn, [f'"{p}"' for p in _PHRASE.findall(match)], k, rank, restrict)


def _smoothed_search(
    conn: sqlite3.Connection, phrases: list[str], k: int, rank: str, restrict: str, boosts: list[float] | None = None
) -> list[tuple[int, float]]:
    """BM25 is a sum over phrases of idf x a term-frequency part, and a one-phrase ``bm25()`` is that
    phrase's term alone: each is rescaled from FTS5's idf to the smoothed one (times its ``boosts``
    entry, default 1), then summed in SQL."""
    if not phrases:
        return []
    if conn.in_transaction:
        return _smoothed_in_snapshot(conn, phrases, k, rank, restrict, boosts)
    # One read snapshot for the counts and the scores: a write committed between them would skew the rescaling.
    conn.execute("BEGIN")
    try:
        return _smoothed_in_snapshot(conn, phrases, k, rank, restrict, boosts)
    finally:
        conn.rollback()


def _smoothed_in_snapshot(
    conn: sqlite3.Connection, phrases: list[str], k: int, rank: str, restrict: str, boosts: list[float] | None
) -> list[tuple[int, float]]:
    total = _row_count(conn)
    hits = conn.execute("SELECT " + ",".join(["(SELECT count(*) FROM chunks_fts WHERE chunks_fts MATCH ?)"] * len(phrases)), phrases).fetchone()
    parts, args = [], []
    for phrase, n, boost in zip(phrases, hits, boosts or [1.0] * len(phrases)):
        if n:
            x = (total - n + 0.5) / (n + 0.5)
            scale = boost * math.log1p(x) / max(1e-6, math.log(x))
            # LIMIT -1 keeps SQLite from flattening the subquery, which would put bm25() in an aggregate.
            parts.append(f"SELECT * FROM (SELECT rowid, {rank} * {-scale!r} AS s FROM chunks_fts WHERE chunks_fts MATCH ?{restrict} LIMIT -1)")
            args.append(phrase)
    if not parts:
        return []
    sql = f"SELECT rowid, SUM(s) AS t FROM ({' UNION ALL '.join(parts)}) GROUP BY rowid ORDER BY t DESC, rowid LIMIT ?"
    return [(r[0], r[1]) for r in conn.execute(sql, [*args, k])]


def _row_count(conn: sqlite3.Connection) -> int:
    """N, the rows FTS5's bm25() counts: the first varint of its averages record (id 1 of the
    ``_data`` table), read in O(1); a full count only if the record is missing."""
    row = conn.execute("SELECT block FROM chunks_fts_data WHERE id = 1").fetchone()
    if not row or not row[0]:
        return int(conn.execute("SELECT count(*) FROM chunks_fts").fetchone()[0])
    return _varint(bytes(row[0]))


def _varint(blob: bytes) -> int:
    """SQLite's varint: 7 bits a byte, high bit = more follows; a ninth byte gives all 8 bits."""
    value = 0
    for i, byte in enumerate(blob[:9]):
        if i == 8:
            return (value << 8) | byte
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            break
    return value


def index_chunks(conn: sqlite3.Connection, rows: Iterable[tuple[int, str, str, str]]) -> None:
    """Add (rowid, title, section, text) rows to the BM25 index, inside the caller's transaction."""
    conn.executemany("INSERT INTO chunks_fts(rowid, title, section, text) VALUES (?,?,?,?)", rows)


def unindex_chunks(conn: sqlite3.Connection, rowids: np.ndarray) -> None:
    if len(rowids):
        conn.execute(f"DELETE FROM chunks_fts WHERE rowid IN ({','.join(str(int(i)) for i in rowids)})")
