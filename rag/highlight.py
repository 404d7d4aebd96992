"""Sentence spans inside a passage that best match the query, for a front end to mark."""

from __future__ import annotations

import math
import re
from functools import lru_cache

from .lexical import terms
from .sentences import sentence_spans
from .shapes import Highlight

_SUFFIXES = ("ations", "ation", "ings", "ing", "ies", "ied", "es", "ed", "ly", "s")
_WORD = re.compile(r"\w+")


@lru_cache(maxsize=100_000)
def stem(word: str) -> str:
    """A light suffix stripper: enough to match 'travel'/'traveled', 'policy'/'policies'."""
    for suf in _SUFFIXES:
        if len(word) > len(suf) + 2 and word.endswith(suf):
            return word[: -len(suf)]
    return word


@lru_cache(maxsize=4096)
def _sentence_stems(text: str) -> tuple[tuple[int, int, frozenset[str]], ...]:
    # Passages repeat across queries; splitting and stemming them once takes most of the cost away.
    return tuple((s, e, frozenset(stem(w) for w in _WORD.findall(text[s:e].lower()))) for s, e in sentence_spans(text))


def highlights(query: str, text: str, limit: int = 2) -> list[Highlight]:
    """Up to ``limit`` sentences of ``text`` that share the most (rarer, longer) query terms."""
    q = {stem(t) for t in terms(query)}
    if not q:
        return []
    scored = []
    for s, e, words in _sentence_stems(text):
        hit = q & words
        if hit:
            score = sum(math.log(1 + len(t)) for t in hit) / math.sqrt(1 + len(words) / 25)
            scored.append((score, s, e))
    if not scored:
        return []
    best = max(sc for sc, _, _ in scored)
    top = sorted([x for x in scored if x[0] >= 0.5 * best], reverse=True)[:limit]
    return [{"start": s, "end": e, "text": text[s:e], "score": round(sc / best, 3)} for sc, s, e in sorted(top, key=lambda x: x[1])]
