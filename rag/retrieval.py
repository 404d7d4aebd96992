"""Dense, lexical and hybrid (RRF) retrieval over the store, with filters and de-duplication."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Literal, cast

import numpy as np

from .config import (
    BM25_IDF,
    BM25_WEIGHTS,
    CANDIDATES,
    DENSE_WEIGHT,
    FUSION,
    LATE_DEPTH,
    LATE_WEIGHTS,
    LEXICAL_WEIGHT,
    RESCORE_LATE_SHARE,
    RESCORE_WEIGHTS,
    RRF_K,
    Settings,
)
from .errors import BadInputError
from .fusion import rrf, zscore_fusion
from .highlight import highlights
from .lexical import IDF, fts_query
from .models import Chunk, Hit
from .store import Store
from .tokens import count_tokens

if TYPE_CHECKING:
    from .late import LateScorer
    from .rescore import Rescorer

Mode = Literal["dense", "lexical", "hybrid"]
MODES: tuple[str, ...] = ("dense", "lexical", "hybrid")


def check_mode(mode: str) -> None:
    """Raise BadInputError unless ``mode`` is a retriever mode."""
    if mode not in MODES:
        raise BadInputError(f"unknown mode {mode!r}; use one of {', '.join(MODES)}")


@dataclass(frozen=True)
class RetrievalParams:
    """Tuning knobs; defaults were chosen on SciFact train (see docs/EVALUATION.md)."""

    candidates: int = CANDIDATES
    fusion: Literal["zscore", "rrf"] = FUSION
    rrf_k: int = RRF_K
    dense_weight: float = DENSE_WEIGHT
    lexical_weight: float = LEXICAL_WEIGHT
    bm25_weights: tuple[float, float, float] = BM25_WEIGHTS
    bm25_idf: IDF = BM25_IDF
    redundancy: Literal["merge", "drop", "none"] = "merge"  # what to do with overlapping neighbours
    rescore_depth: int = 50
    rescore_weights: tuple[float, float, float, float] = RESCORE_WEIGHTS
    rescore_late_share: float = RESCORE_LATE_SHARE
    late_depth: int = LATE_DEPTH
    late_weights: tuple[float, float, float] = LATE_WEIGHTS

    @classmethod
    def from_settings(cls, s: Settings) -> RetrievalParams:
        return cls(
            candidates=s.candidates,
            fusion=s.fusion,
            rrf_k=s.rrf_k,
            dense_weight=s.dense_weight,
            lexical_weight=s.lexical_weight,
            bm25_idf=s.bm25_idf,
            rescore_depth=s.rescore_depth,
            rescore_weights=s.rescore_weights,
            rescore_late_share=s.rescore_late_share,
            late_depth=s.late_depth,
            late_weights=s.late_weights,
        )


@dataclass
class _Cand:
    rowid: int
    score: float
    dense: tuple[float, int] | None = None
    lexical: tuple[float, int] | None = None


def _candidates(order, dense, lexical) -> list[_Cand]:
    """Fused (rowid, score) pairs, each with both retrievers' own (score, rank)."""
    d = {rid: (s, rank) for rank, (rid, s) in enumerate(dense, start=1)}
    lx = {rid: (s, rank) for rank, (rid, s) in enumerate(lexical, start=1)}
    return [_Cand(rid, float(s), d.get(rid), lx.get(rid)) for rid, s in order]


class Retriever:
    """Ranks chunks for a query; ``embed`` turns query texts into unit vectors."""

    def __init__(
        self,
        store: Store,
        embed: Callable[[list[str]], np.ndarray],
        params: RetrievalParams,
        rescorer: Rescorer | None = None,
        late: LateScorer | None = None,
    ) -> None:
        self.store = store
        self.embed = embed
        self.params = params
        self.rescorer = rescorer
        self.late = late

    def search(
        self,
        query: str,
        top_k: int = 5,
        mode: Mode = "hybrid",
        allowed_docs: set[str] | None = None,
        with_highlights: bool = True,
        vector: np.ndarray | None = None,
        lexical: list[tuple[int, float]] | None = None,
    ) -> list[Hit]:
        """Top-k hits for one query; ``vector`` (its embedding) and ``lexical`` (from
        ``lexical_candidates``) may be computed beforehand."""
        vectors = None if vector is None else np.asarray(vector, dtype="float32").reshape(1, -1)
        return self.search_many([query], top_k, mode, allowed_docs, with_highlights, vectors, None if lexical is None else [lexical])[0]

    def lexical_candidates(self, query: str, top_k: int = 5, allowed_docs: set[str] | None = None) -> list[tuple[int, float]]:
        """The BM25 (rowid, score) list that ``search`` would fuse for this query."""
        allowed = self._allowed_rowids(allowed_docs)
        return self._lexical(query, self._depth(top_k), allowed)

    def candidates(
        self, queries: list[str], depth: int, bm25_weights: tuple[float, float, float] | None = None
    ) -> tuple[list[list[int]], list[list[int]]]:
        """Each query's raw dense and lexical rowid lists, before fusion (for tuning the fusion)."""
        weights = bm25_weights or self.params.bm25_weights
        dense = self._dense(self.embed(queries), depth, None) if queries else []
        lexical = []
        for q in queries:
            match = fts_query(q)
            lexical.append([r for r, _ in self.store.lexical(match, depth, weights, None, self.params.bm25_idf)] if match else [])
        return [[r for r, _ in d] for d in dense], lexical

    def search_many(
        self,
        queries: list[str],
        top_k: int = 5,
        mode: Mode = "hybrid",
        allowed_docs: set[str] | None = None,
        with_highlights: bool = True,
        vectors: np.ndarray | None = None,
        lexical_lists: list[list[tuple[int, float]]] | None = None,
    ) -> list[list[Hit]]:
        """Top-k hits for each query; query embeddings are computed in one batch unless given."""
        check_mode(mode)
        allowed = self._allowed_rowids(allowed_docs)
        if (allowed is not None and len(allowed) == 0) or self.store.vectors is None:
            return [[] for _ in queries]
        depth = self._depth(top_k)
        dense_lists: list[list[tuple[int, float]]] = [[] for _ in queries]
        if mode == "hybrid" and lexical_lists is None and self.store.one_call_hybrid:
            qvecs = self.embed(queries) if vectors is None else vectors
            matches = [fts_query(q) for q in queries]
            dense_lists, lexical_lists = self.store.hybrid_candidates(qvecs, matches, depth, self.params.bm25_weights, allowed, self.params.bm25_idf)
        elif mode != "lexical":
            dense_lists = self._dense(self.embed(queries) if vectors is None else vectors, depth, allowed)
        results = []
        for i, (q, dense) in enumerate(zip(queries, dense_lists)):
            if mode == "dense":
                lexical = []
            else:
                lexical = lexical_lists[i] if lexical_lists is not None else self._lexical(q, depth, allowed)
            # More than top_k: merging neighbours and concurrent deletes can drop some.
            if self.rescorer is not None and mode == "hybrid":
                cands = self._rescore(q, dense, lexical, top_k * 4)
            elif self.late is not None and mode == "hybrid":
                cands = self._late(q, dense, lexical, top_k * 4)
            else:
                cands = self._combine(dense, lexical, mode, top_k * 4)
            results.append(self._hits(q, cands, top_k, with_highlights))
        return results

    def _allowed_rowids(self, allowed_docs: set[str] | None) -> np.ndarray | None:
        return None if allowed_docs is None else self.store.chunk_rowids(sorted(allowed_docs))

    def _depth(self, top_k: int) -> int:
        return max(self.params.candidates, top_k * 3)

    def _dense(self, qvecs: np.ndarray, depth: int, allowed: np.ndarray | None) -> list[list[tuple[int, float]]]:
        vectors = self.store.vectors
        if vectors is None or vectors.ntotal == 0:
            return [[] for _ in qvecs]
        scores, ids = self.store.search_vectors(qvecs, depth, allowed)
        return [[(i, s) for s, i in zip(srow, irow) if i >= 0] for srow, irow in zip(scores.tolist(), ids.tolist())]

    def _lexical(self, query: str, depth: int, allowed: np.ndarray | None) -> list[tuple[int, float]]:
        match = fts_query(query)
        return self.store.lexical(match, depth, self.params.bm25_weights, allowed, self.params.bm25_idf) if match else []

    def _combine(self, dense, lexical, mode: str, limit: int) -> list[_Cand]:
        """The best ``limit`` candidates in fused order, each with both retrievers' (score, rank)."""
        if mode == "dense":
            order = dense[:limit]
        elif mode == "lexical":
            order = lexical[:limit]
        else:
            p = self.params
            weights = [p.dense_weight, p.lexical_weight]
            if p.fusion == "rrf":
                order = rrf([[r for r, _ in dense], [r for r, _ in lexical]], p.rrf_k, weights)[:limit]
            else:
                order = zscore_fusion([dense, lexical], weights, limit)
        return _candidates(order, dense, lexical)

    def _rescore(self, query: str, dense, lexical, limit: int) -> list[_Cand]:
        """The first stage's best ``rescore_depth`` candidates, fused again with the stronger model's
        chunk and best-sentence scores, and their token maxsim when late interaction is on."""
        assert self.rescorer is not None
        p = self.params
        first = [c.rowid for c in self._combine(dense, lexical, "hybrid", p.rescore_depth)]
        whole, sentence = self.rescorer.score(query, first)
        lists, weights = [dense, lexical, whole, sentence], list(p.rescore_weights)
        if self.late is not None and p.rescore_late_share > 0:
            share = p.rescore_late_share
            lists, weights = lists + [self.late.score(query, first)], [w * (1 - share) for w in weights] + [share]
        order = zscore_fusion(lists, weights, limit)
        return _candidates(cast(list[tuple[int, float]], order), dense, lexical)

    def _late(self, query: str, dense, lexical, limit: int) -> list[_Cand]:
        """The first stage's best ``late_depth`` candidates, fused again with their token-level maxsim."""
        assert self.late is not None
        p = self.params
        first = [c.rowid for c in self._combine(dense, lexical, "hybrid", p.late_depth)]
        order = zscore_fusion([dense, lexical, self.late.score(query, first)], list(p.late_weights), limit)
        return _candidates(cast(list[tuple[int, float]], order), dense, lexical)

    def _hits(self, query: str, cands: list[_Cand], top_k: int, with_highlights: bool) -> list[Hit]:
        rows = self.store.chunks_by_rowid(c.rowid for c in cands)
        hits: list[Hit] = []
        for c in cands:
            if c.rowid not in rows:
                continue
            chunk, title, source = rows[c.rowid]
            if self.params.redundancy != "none":
                near = _overlapping(hits, chunk)
                if near is not None:
                    if self.params.redundancy == "merge":
                        _absorb(hits, near, chunk)
                    continue
            hits.append(
                Hit(
                    chunk=chunk,
                    title=title,
                    source=source,
                    rank=len(hits) + 1,
                    score=c.score,
                    dense_score=c.dense[0] if c.dense else None,
                    dense_rank=c.dense[1] if c.dense else None,
                    lexical_score=c.lexical[0] if c.lexical else None,
                    lexical_rank=c.lexical[1] if c.lexical else None,
                )
            )
            if len(hits) == top_k:
                break
        for rank, h in enumerate(hits, start=1):
            h.rank = rank
            if with_highlights:
                h.highlights = highlights(query, h.chunk.text)
        return hits


def _overlapping(hits: list[Hit], chunk: Chunk, skip: Hit | None = None) -> Hit | None:
    return next(
        (
            h
            for h in hits
            if h is not skip and h.chunk.doc_id == chunk.doc_id and chunk.char_start < h.chunk.char_end and h.chunk.char_start < chunk.char_end
        ),
        None,
    )


def _absorb(hits: list[Hit], into: Hit, chunk: Chunk) -> None:
    """Merge ``chunk`` into a higher-ranked hit, then fold in any hit the grown passage now overlaps."""
    into.chunk = merge_chunks(into.chunk, chunk)
    while (other := _overlapping(hits, into.chunk, skip=into)) is not None:
        into.chunk = merge_chunks(into.chunk, other.chunk)
        hits.remove(other)


def merge_chunks(a: Chunk, b: Chunk) -> Chunk:
    """One passage covering two overlapping chunks of a document (still an exact slice of it)."""
    first, second = (a, b) if a.char_start <= b.char_start else (b, a)
    text = first.text + second.text[first.char_end - second.char_start :] if second.char_end > first.char_end else first.text
    return replace(
        a,
        text=text,
        char_start=first.char_start,
        char_end=max(a.char_end, b.char_end),
        line_start=min(a.line_start, b.line_start),
        line_end=max(a.line_end, b.line_end),
        n_tokens=count_tokens(text),
        page=first.page,
    )
