"""`rag compare`: two saved runs side by side, with a paired significance test (ranx's ``compare``)
and the queries that got better or worse."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .errors import BadInputError
from .runs import SavedRun

DEFAULT_METRICS = ("ndcg@10", "mrr@10", "recall@5", "recall@10")


@dataclass
class Comparison:
    """Mean per metric of runs A and B, B - A, the paired test's p-value, and per-query changes."""

    a: str
    b: str
    metrics: list[str]
    scores: dict[str, dict[str, float]]
    p_values: dict[str, float]
    stat_test: str
    better: list[dict[str, Any]] = field(default_factory=list)
    worse: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in ("a", "b", "metrics", "scores", "p_values", "stat_test", "better", "worse")}


def compare_runs(a: SavedRun, b: SavedRun, metrics: list[str] | None = None, stat_test: str = "student") -> Comparison:
    """Compare run ``b`` against run ``a`` on the judgments they share (they must be the same)."""
    from ranx import Qrels, Run, compare, evaluate

    if a.qrels != b.qrels:
        raise BadInputError(f"{a.name} and {b.name} were not made on the same judgments (dataset {a.dataset!r} vs {b.dataset!r})")
    metrics = list(metrics or DEFAULT_METRICS)
    names = (a.name, b.name) if a.name != b.name else (f"{a.name} (A)", f"{b.name} (B)")
    qrels = Qrels(a.qrels)
    runs = []
    for name, saved in zip(names, (a, b)):
        run = Run({q: saved.run.get(q, {}) or {"__none__": 0.0} for q in a.qrels}, name=name)
        runs.append(run)
    try:
        report = compare(qrels, runs, metrics, stat_test=stat_test, max_p=0.05, rounding_digits=4)
    except (ValueError, KeyError) as e:
        raise BadInputError(f"ranx cannot compare these runs: {e}") from e
    d = report.to_dict()
    scores = {n: {m: float(d[n]["scores"][m]) for m in metrics} for n in names}
    p_values = {m: float(d[names[1]]["comparisons"][names[0]][m]) for m in metrics}
    first = metrics[0]
    for run in runs:  # keeps each query's score in run.scores[first]
        evaluate(qrels, run, first, save_results_in_run=True)
    per_a, per_b = runs[0].scores[first], runs[1].scores[first]
    deltas = [(q, float(per_a[q]), float(per_b[q])) for q in a.qrels if per_a[q] != per_b[q]]
    better = [_change(q, x, y, first) for q, x, y in sorted(deltas, key=lambda t: t[1] - t[2]) if y > x]
    worse = [_change(q, x, y, first) for q, x, y in sorted(deltas, key=lambda t: t[2] - t[1]) if y < x]
    return Comparison(names[0], names[1], metrics, scores, p_values, stat_test, better, worse)


def _change(query: str, before: float, after: float, metric: str) -> dict[str, Any]:
    return {"query": query, "metric": metric, "a": round(before, 4), "b": round(after, 4)}
