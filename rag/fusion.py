"""Fusion of several rankings: reciprocal rank fusion and z-score convex combination."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Hashable, Sequence

import numpy as np


def rrf(rankings: Sequence[Sequence[Hashable]], k: int = 60, weights: Sequence[float] | None = None) -> list[tuple[Hashable, float]]:
    """Fuse ranked id lists: score(d) = sum_i w_i / (k + rank_i(d)), ranks starting at 1."""
    weights = weights or [1.0] * len(rankings)
    scores: dict[Hashable, float] = defaultdict(float)
    for ranking, w in zip(rankings, weights):
        for rank, item in enumerate(ranking, start=1):
            scores[item] += w / (k + rank)
    return sorted(scores.items(), key=lambda kv: (-kv[1], str(kv[0])))


def zscore_fusion(
    score_lists: Sequence[Sequence[tuple[Hashable, float]]], weights: Sequence[float] | None = None, limit: int | None = None
) -> list[tuple[Hashable, float]]:
    """Convex combination of per-query z-normalized scores; an item missing from a list gets that
    list's lowest normalized score. Beat RRF on SciFact train (docs/EVALUATION.md). Ties are broken
    by ``str(id)``; ``limit`` keeps only the best items."""
    weights = weights or [1.0] * len(score_lists)
    ids = list(dict.fromkeys(i for lst in score_lists for i, _ in lst))
    if not ids:
        return []
    slot = {i: n for n, i in enumerate(ids)}
    fused = np.zeros(len(ids))
    for lst, w in zip(score_lists, weights):
        if lst:
            fused += w * _zscore_column(lst, slot, len(ids))
    order = np.lexsort((np.array([str(i) for i in ids]), -fused))[:limit]
    return [(ids[n], s) for n, s in zip(order.tolist(), fused[order].tolist())]


def _zscore_column(lst: Sequence[tuple[Hashable, float]], slot: dict[Hashable, int], size: int) -> np.ndarray:
    """One list's z-scores placed at each item's slot; absent items get the list's minimum."""
    values = np.fromiter((s for _, s in lst), dtype=float, count=len(lst))
    sd = values.std()
    z = (values - values.mean()) / sd if sd > 1e-9 else np.zeros(len(values))
    col = np.full(size, z.min())
    col[[slot[i] for i, _ in lst]] = z
    return col
