"""The re-scoring option with late interaction kept: five lists (dense, BM25, the stronger model on the chunk and
on its best sentence, token maxsim) fused by z-score, weights searched on a grid over the paraphrase dev set with
the seed dev set as a guard; other sets are only reported.

    RAG_RESCORE_MODEL=models/all-mpnet-base-v2 RAG_INDEX_DIR=<index> python bench/tune_rescore_late.py \
        examples/eval/seed_qa_paraphrase_dev.jsonl examples/eval/seed_qa_dev.jsonl bench/data/paraphrase_fresh.jsonl

Each question's five lists are computed once; the grid only re-fuses them.
"""

from __future__ import annotations

import itertools
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rag import Engine, Settings  # noqa: E402
from rag.config import RESCORE_WEIGHTS  # noqa: E402
from rag.evaluation import evidence_doc, normalize_quote  # noqa: E402
from rag.fusion import zscore_fusion  # noqa: E402
from rag.retrieval import fts_query  # noqa: E402

GRID = [0.0, 0.1, 0.2, 0.3, 0.4]


def lists_of(engine: Engine, question: str) -> list[list[tuple[int, float]]]:
    """dense, BM25, whole, sentence, maxsim (rowid, score) lists of one question."""
    r, p = engine.retriever, engine.retriever.params
    depth = r._depth(100)
    dense = r._dense(engine.embed_queries([question]), depth, None)[0]
    lexical = r._lexical(question, depth, None) if fts_query(question) else []
    first = [c.rowid for c in r._combine(dense, lexical, "hybrid", p.rescore_depth)]
    assert engine.rescorer is not None and engine.late is not None, "needs RAG_RESCORE_MODEL and late interaction"
    whole, sentence = engine.rescorer.score(question, first)
    return [dense, lexical, whole, sentence, engine.late.score(question, first)]


def relevant_rowids(engine: Engine, row: dict) -> set[int]:
    doc = evidence_doc(engine, row["doc"])
    rowids = engine.store.chunk_rowids([doc]).tolist() if doc else []
    quotes = [normalize_quote(q) for q in row["evidence"]]
    chunks = engine.store.chunks_by_rowid(rowids)
    return {rid for rid, (chunk, _, _) in chunks.items() if any(q in normalize_quote(chunk.text) for q in quotes)}


def metrics(cases: list[tuple[list, set[int]]], weights: list[float]) -> tuple[float, float]:
    """Recall@5 and MRR@10 of the fused lists."""
    r5 = mrr = 0.0
    for lists, rel in cases:
        order = [rid for rid, _ in zscore_fusion(lists, weights, 10)]
        rank = next((i + 1 for i, rid in enumerate(order) if rid in rel), None)
        r5 += rank is not None and rank <= 5
        mrr += 1 / rank if rank else 0.0
    return r5 / len(cases), mrr / len(cases)


def main(*paths: str) -> None:
    engine = Engine(Settings())
    engine.warm_rescorer(True)
    sets = {}
    for path in paths:
        rows = [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]
        sets[Path(path).name] = [(lists_of(engine, r["question"]), relevant_rowids(engine, r)) for r in rows]
    tune = list(sets)[0]  # the second set is the guard: read its column
    print("weights (dense, BM25, whole, sentence, maxsim) | " + " | ".join(f"{n} R@5 / MRR@10" for n in sets))
    rows_out = []
    for w in itertools.product(GRID, GRID, GRID, GRID, [0.0, 0.2, 0.4, 0.6]):
        if not 0.99 < sum(w) < 1.01:
            continue
        scores = {n: metrics(cases, list(w)) for n, cases in sets.items()}
        rows_out.append((scores[tune][0] + scores[tune][1], w, scores))
    rows_out.sort(key=lambda t: -t[0])
    for _, w, scores in rows_out[:15]:
        print(f"{w} | " + " | ".join(f"{r5:.3f} / {mrr:.3f}" for r5, mrr in scores.values()))
    print("today's four weights, with maxsim taking a share m of the whole (m = 0: the option today)")
    for m in (0.0, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7):
        w = [round(x * (1 - m), 3) for x in RESCORE_WEIGHTS] + [m]
        scores = {n: metrics(cases, w) for n, cases in sets.items()}
        print(f"m={m} {tuple(w)} | " + " | ".join(f"{r5:.3f} / {mrr:.3f}" for r5, mrr in scores.values()))


if __name__ == "__main__":
    main(*sys.argv[1:])
