"""Ranking metrics over one query: a ranked list of ids and graded relevance judgments.

Conventions follow trec_eval/ranx: linear gains for nDCG, MRR of the first relevant item,
Recall = relevant retrieved / relevant judged. Ids judged 0 are not relevant."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence


def _relevant(qrels: Mapping[str, int]) -> dict[str, int]:
    return {d: r for d, r in qrels.items() if r > 0}


def ndcg_at_k(ranked: Sequence[str], qrels: Mapping[str, int], k: int) -> float:
    """Normalized discounted cumulative gain of the top k."""
    rel = _relevant(qrels)
    if not rel:
        return 0.0
    dcg = sum(rel.get(d, 0) / math.log2(i + 2) for i, d in enumerate(ranked[:k]))
    ideal = sum(g / math.log2(i + 2) for i, g in enumerate(sorted(rel.values(), reverse=True)[:k]))
    return dcg / ideal


def mrr_at_k(ranked: Sequence[str], qrels: Mapping[str, int], k: int) -> float:
    """Reciprocal rank of the first relevant item within the top k, else 0."""
    rank = first_relevant_rank(ranked, qrels)
    return 1.0 / rank if rank is not None and rank <= k else 0.0


def recall_at_k(ranked: Sequence[str], qrels: Mapping[str, int], k: int) -> float:
    """Share of the relevant items found in the top k."""
    rel = _relevant(qrels)
    if not rel:
        return 0.0
    return len(set(ranked[:k]) & set(rel)) / len(rel)


def first_relevant_rank(ranked: Sequence[str], qrels: Mapping[str, int]) -> int | None:
    """1-based rank of the first relevant item, or None."""
    rel = _relevant(qrels)
    return next((i + 1 for i, d in enumerate(ranked) if d in rel), None)


METRICS = {
    "ndcg@10": lambda r, q: ndcg_at_k(r, q, 10),
    "mrr@10": lambda r, q: mrr_at_k(r, q, 10),
    "recall@1": lambda r, q: recall_at_k(r, q, 1),
    "recall@5": lambda r, q: recall_at_k(r, q, 5),
    "recall@10": lambda r, q: recall_at_k(r, q, 10),
    "recall@100": lambda r, q: recall_at_k(r, q, 100),
}


def evaluate(run: Mapping[str, Sequence[str]], qrels: Mapping[str, Mapping[str, int]]) -> dict[str, float]:
    """Mean of every metric over the judged queries (a query with no results scores 0)."""
    qids = [q for q in qrels if _relevant(qrels[q])]
    if not qids:
        return {name: 0.0 for name in METRICS}
    return {name: sum(f(run.get(q, []), qrels[q]) for q in qids) / len(qids) for name, f in METRICS.items()}
