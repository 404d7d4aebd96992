"""Reciprocal rank fusion of several rankings."""
from __future__ import annotations

from collections import defaultdict
from typing import Hashable, Sequence


def rrf(rankings: Sequence[Sequence[Hashable]], k: int = 60, weights: Sequence[float] | None = None) -> list[tuple[Hashable, float]]:
    """Fuse ranked id lists: score(d) = sum_i w_i / (k + rank_i(d)), ranks starting at 1."""
    weights = weights or [1.0] * len(rankings)
    scores: dict[Hashable, float] = defaultdict(float)
    for ranking, w in zip(rankings, weights):
        for rank, item in enumerate(ranking, start=1):
            scores[item] += w / (k + rank)
    return sorted(scores.items(), key=lambda kv: (-kv[1], str(kv[0])))


def zscore_fusion(score_lists: Sequence[Sequence[tuple[Hashable, float]]],
                  weights: Sequence[float] | None = None) -> list[tuple[Hashable, float]]:
    """Convex combination of per-query z-normalized scores; an item missing from a list gets that
    list's lowest normalized score. Beat RRF on SciFact train (docs/EVALUATION.md)."""
    weights = weights or [1.0] * len(score_lists)
    normed = [_zscores(lst) for lst in score_lists]
    items = {i for n in normed for i in n}
    floors = [min(n.values(), default=0.0) for n in normed]
    fused = {i: sum(w * n.get(i, lo) for n, w, lo in zip(normed, weights, floors)) for i in items}
    return sorted(fused.items(), key=lambda kv: (-kv[1], str(kv[0])))


def _zscores(lst: Sequence[tuple[Hashable, float]]) -> dict[Hashable, float]:
    if not lst:
        return {}
    values = [s for _, s in lst]
    mean = sum(values) / len(values)
    sd = (sum((v - mean) ** 2 for v in values) / len(values)) ** 0.5
    return {i: (s - mean) / sd if sd > 1e-9 else 0.0 for i, s in lst}
