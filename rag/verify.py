"""Checking a generated answer, sentence by sentence, against the passages it cites.

A sentence's support score is ``0.5 * coverage + 0.5 * similarity``:

- coverage: share of its content words (stemmed) and numbers found in the cited passages;
- similarity: cosine similarity of its embedding with the best sentence of the cited passages.

Names, numbers and dates of the sentence that occur in none of the cited passages are listed in
``unsupported_terms``; any such term makes the sentence unsupported, whatever its score. A sentence
that cites nothing (or only markers that name no passage) is checked against all the passages.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .answer import candidate_sentences, cite, fold
from .highlight import stem
from .lexical import STOPWORDS
from .models import Hit, SourcePoints
from .sentences import sentence_spans
from .shapes import Claim

COVERAGE_WEIGHT = 0.5
_MARKERS = re.compile(r"\s*\[(\d+(?:\s*[,;]\s*\d+)*)\]")
_WORD = re.compile(r"[^\W_]+(?:[’'.\-][^\W_]+)*")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_LEADING = re.compile(r"^(?:\s*\[\d+(?:\s*[,;]\s*\d+)*\][.,;:]?)+")
_PUNCT_ONLY = re.compile(r"^[\W_]*$")


@dataclass
class Sentence:
    """A sentence of the answer: its text as written, without markers, and the markers it carries."""

    written: str
    text: str
    markers: list[int]


def split_claims(answer: str) -> list[Sentence]:
    """The answer's sentences with their [n] markers; markers that open a sentence ("... Mexico. [2] The
    next ...") belong to the sentence before."""
    out: list[Sentence] = []
    for s, e in sentence_spans(answer):
        written = answer[s:e].strip()
        lead = _LEADING.match(written)
        if lead and out:
            out[-1].markers = list(dict.fromkeys(out[-1].markers + _numbers(lead.group())))
            out[-1].written += " " + lead.group().strip()
            written = written[lead.end() :].strip()
        text = _MARKERS.sub("", written).strip()
        if not _PUNCT_ONLY.match(text):
            out.append(Sentence(written, text, _numbers(written)))
    return out


def _numbers(markers: str) -> list[int]:
    return list(dict.fromkeys(int(n) for m in _MARKERS.finditer(markers) for n in re.split(r"[,;]", m.group(1))))


def content_words(text: str) -> set[str]:
    """Stems of the words that carry meaning (stopwords and one-letter words left out)."""
    return {stem(w) for w in (fold(x) for x in _WORD.findall(text)) if len(w) > 1 and w not in STOPWORDS}


def key_terms(text: str, common: frozenset[str] | set[str] = frozenset()) -> list[str]:
    """Names, numbers and dates: the words a fabricated sentence gets wrong. A capitalized word counts
    as a name unless it is a stopword; the sentence's first word also not when ``common`` (words the
    passages use in lower case) holds it, so an opening 'About' or 'Because' is no name. Hyphenated
    words count part by part ('1994-2004', 'Chilean-style')."""
    out = []
    for i, whole in enumerate(_WORD.findall(text)):
        for w in re.sub(r"[’']s$", "", whole).rstrip(".").split("-"):
            if any(ch.isdigit() for ch in w) or w[:1].isupper() and len(w) > 1 and fold(w) not in STOPWORDS and not (i == 0 and w.lower() in common):
                out.append(w)
    return list(dict.fromkeys(out))


def _number_key(w: str) -> str:
    return w.replace(",", "")


def _vocabulary(text: str) -> tuple[set[str], set[str], str]:
    tokens = [fold(x) for x in _WORD.findall(text)]
    words = tokens + [part.strip(".") for t in tokens if "-" in t for part in t.split("-")]
    words += [w.replace(".", "") for w in words if "." in w]  # "U.S." and "US" are one name
    return {stem(w) for w in words}, {_number_key(w) for w in words if _NUMBER.fullmatch(w)}, " " + " ".join(words) + " "


class Verifier:
    """Scores each sentence of an answer against its cited passages; embeddings come from ``embed``'s
    caller in one batch (``texts()`` then ``judge(vectors)``), so the model runs once per answer."""

    def __init__(self, answer: str, hits: list[Hit], threshold: float, points_of: Callable[[str], SourcePoints]):
        self.claims = split_claims(answer)
        self.hits = hits
        self.sentences = candidate_sentences(hits)  # for similarity and the support span
        self.threshold = threshold
        self.points_of = points_of
        self._vocab = [_vocabulary(f"{h.title} {h.chunk.text}") for h in hits]
        self._common = {w for h in hits for w in _WORD.findall(h.chunk.text) if w.islower()}

    def texts(self) -> list[str]:
        """Texts to embed: the claims, then the evidence sentences."""
        return [c.text for c in self.claims] + [s.text for s in self.sentences]

    def judge(self, vectors: np.ndarray | None) -> list[Claim]:
        """Each claim with its score, verdict and supporting span; ``vectors`` are unit vectors of ``texts()``."""
        n = len(self.claims)
        sims = vectors[:n] @ vectors[n:].T if vectors is not None and len(self.sentences) else np.zeros((n, 0))
        return [self._judge(c, sims[i]) for i, c in enumerate(self.claims)]

    def _judge(self, c: Sentence, sims: np.ndarray) -> Claim:
        valid = sorted({m for m in c.markers if 1 <= m <= len(self._vocab)})
        cited = [m - 1 for m in valid] or list(range(len(self._vocab)))
        stems = set().union(*(self._vocab[j][0] for j in cited)) if cited else set()
        numbers = set().union(*(self._vocab[j][1] for j in cited)) if cited else set()
        phrases = " ".join(self._vocab[j][2] for j in cited)
        words = content_words(c.text)
        coverage = sum(w in stems for w in words) / len(words) if words else 0.0
        missing = [t for t in key_terms(c.text, self._common) if not _occurs(t, numbers, phrases)]
        best, similarity = None, 0.0
        for k, s in enumerate(self.sentences):
            if s.hit in cited and (best is None or sims[k] > similarity):
                best, similarity = s, float(sims[k])
        score = max(0.0, min(1.0, COVERAGE_WEIGHT * coverage + (1 - COVERAGE_WEIGHT) * max(similarity, 0.0)))
        return {
            "text": c.written,
            "markers": valid,
            "supported": not missing and bool(words) and score >= self.threshold,
            "score": round(score, 4),
            "coverage": round(coverage, 4),
            "similarity": round(similarity, 4),
            "unsupported_terms": missing,
            "source": cite(self.hits, best, similarity, self.points_of) if best is not None else None,
        }


def _occurs(term: str, numbers: set[str], phrases: str) -> bool:
    if _NUMBER.fullmatch(term):
        return _number_key(term) in numbers
    folded = fold(term).replace(".", "")
    return f" {folded} " in phrases or f" {stem(folded)}" in phrases
