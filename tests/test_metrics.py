import math

import pytest

from rag.metrics import evaluate, first_relevant_rank, mrr_at_k, ndcg_at_k, recall_at_k


def test_hand_computed_cases():
    ranked = ["a", "b", "c", "d"]
    qrels = {"b": 1, "d": 2, "z": 1}
    dcg = 1 / math.log2(3) + 2 / math.log2(5)
    idcg = 2 / math.log2(2) + 1 / math.log2(3) + 1 / math.log2(4)
    assert ndcg_at_k(ranked, qrels, 10) == pytest.approx(dcg / idcg)
    assert mrr_at_k(ranked, qrels, 10) == 0.5
    assert mrr_at_k(ranked, qrels, 1) == 0.0
    assert recall_at_k(ranked, qrels, 2) == pytest.approx(1 / 3)
    assert recall_at_k(ranked, qrels, 100) == pytest.approx(2 / 3)
    assert first_relevant_rank(ranked, qrels) == 2
    assert ndcg_at_k(["x"], {"x": 0}, 10) == 0.0


@pytest.mark.slow  # ranx compiles with numba on first use
def test_agrees_with_ranx():
    ranx = pytest.importorskip("ranx")
    qrels = {"q1": {"a": 1, "c": 2}, "q2": {"x": 1}, "q3": {"m": 1, "n": 1, "o": 1}}
    run = {"q1": ["b", "c", "a", "d"], "q2": ["y", "z"], "q3": ["n", "p", "m"] + [f"f{i}" for i in range(120)] + ["o"]}
    ours = evaluate(run, qrels)
    r = ranx.Run({q: {d: 1000.0 - i for i, d in enumerate(ds)} for q, ds in run.items()})
    theirs = ranx.evaluate(ranx.Qrels(qrels), r, ["ndcg@10", "mrr@10", "recall@1", "recall@5", "recall@10", "recall@100"])
    for k, v in theirs.items():
        assert ours[k] == pytest.approx(v, abs=1e-9), k
