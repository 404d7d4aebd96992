"""Sentence spans inside a passage that best match the query, for a front end to mark."""
from __future__ import annotations

import math
from functools import lru_cache
import re
from typing import Any

from .lexical import terms
from .sentences import sentence_spans

_SUFFIXES = ("ations", "ation", "ings", "ing", "ies", "ied", "es", "ed", "ly", "s")


@lru_cache(maxsize=100_000)
def stem(word: str) -> str:
    """A light suffix stripper: enough to match 'travel'/'traveled', 'policy'/'policies'."""
    for suf in _SUFFIXES:
        if len(word) > len(suf) + 2 and word.endswith(suf):
            return word[: -len(suf)]
    return word


def highlights(query: str, text: str, limit: int = 2) -> list[dict[str, Any]]:
    """Up to ``limit`` sentences of ``text`` that share the most (rarer, longer) query terms."""
    q = {stem(t) for t in terms(query)}
    if not q:
        return []
    scored = []
    for s, e in sentence_spans(text):
        words = {stem(w) for w in re.findall(r"\w+", text[s:e].lower())}
        hit = q & words
        score = sum(math.log(1 + len(t)) for t in hit) / math.sqrt(1 + len(words) / 25)
        if score > 0:
            scored.append((score, s, e))
    if not scored:
        return []
    best = max(sc for sc, _, _ in scored)
    top = sorted([x for x in scored if x[0] >= 0.5 * best], reverse=True)[:limit]
    return [{"start": s, "end": e, "text": text[s:e], "score": round(sc / best, 3)}
            for sc, s, e in sorted(top, key=lambda x: x[1])]
