"""The lexical side: any user text made a safe FTS5 query (quoted terms joined by OR, never a syntax
error), and the BM25 index it runs against."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterable
from typing import Any

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


def bm25_search(
    conn: sqlite3.Connection, match: str, k: int, weights: tuple[float, float, float], allowed: np.ndarray | None = None
) -> list[tuple[int, float]]:
    """Top-k (rowid, bm25 score; higher is better) for an FTS5 MATCH expression (``fts_query``)."""
    sql = f"SELECT rowid, bm25(chunks_fts, {weights[0]}, {weights[1]}, {weights[2]}) AS s FROM chunks_fts WHERE chunks_fts MATCH ?"
    args: list[Any] = [match]
    if allowed is not None:
        sql += f" AND rowid IN ({','.join(str(int(i)) for i in allowed) or 'NULL'})"
    sql += " ORDER BY s LIMIT ?"
    args.append(k)
    return [(r[0], -r[1]) for r in conn.execute(sql, args)]


def index_chunks(conn: sqlite3.Connection, rows: Iterable[tuple[int, str, str, str]]) -> None:
    """Add (rowid, title, section, text) rows to the BM25 index, inside the caller's transaction."""
    conn.executemany("INSERT INTO chunks_fts(rowid, title, section, text) VALUES (?,?,?,?)", rows)


def unindex_chunks(conn: sqlite3.Connection, rowids: np.ndarray) -> None:
    if len(rowids):
        conn.execute(f"DELETE FROM chunks_fts WHERE rowid IN ({','.join(str(int(i)) for i in rowids)})")
