"""Turn any user text into a safe FTS5 query: quoted terms joined by OR, never a syntax error."""

from __future__ import annotations

import re

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
