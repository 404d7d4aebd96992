"""Grid-search the hybrid fusion on a BEIR train split (never on test): RRF k, retriever weights,
BM25 column weights. Dense and lexical candidate lists are computed once per BM25 setting.

    python bench/tune_fusion.py ../shared/data/scifact --split train
"""

from __future__ import annotations

import argparse
import itertools
import re
from pathlib import Path

from rag import Engine, Settings
from rag.evaluation import ensure_indexed, load_beir
from rag.fusion import rrf
from rag.metrics import evaluate


def doc_run(engine: Engine, ranked_rowids: list[int], depth: int = 100) -> list[str]:
    return list(dict.fromkeys(engine.doc_ids_of(ranked_rowids[:300])))[:depth]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("dataset", type=Path)
    ap.add_argument("--split", default="train")
    args = ap.parse_args()
    base = Settings()
    engine = Engine(base.model_copy(update={"index_dir": base.index_dir / "eval" / re.sub(r"[^\w.-]+", "_", args.dataset.resolve().name)}))
    docs, queries, qrels = load_beir(args.dataset, args.split)
    ensure_indexed(engine, docs, progress=True)
    qids = list(queries)
    texts = [queries[q] for q in qids]
    dense, _ = engine.candidates(texts, 300)
    dense_ids = dict(zip(qids, dense))
    print(f"dense ndcg@10 {evaluate({q: doc_run(engine, dense_ids[q]) for q in qids}, qrels)['ndcg@10']:.4f}")
    for bm25 in [(1.0, 0.5, 1.0), (2.0, 0.5, 1.0), (0.5, 0.0, 1.0), (1.0, 0.0, 1.0)]:
        lex_ids = dict(zip(qids, engine.candidates(texts, 300, bm25)[1]))
        lex = evaluate({q: doc_run(engine, lex_ids[q]) for q in qids}, qrels)["ndcg@10"]
        print(f"bm25 weights {bm25}: lexical ndcg@10 {lex:.4f}")
        for k, wl in itertools.product([10, 30, 60, 100], [0.7, 1.0, 1.3, 1.6]):
            run = {q: doc_run(engine, [i for i, _ in rrf([dense_ids[q], lex_ids[q]], k, [1.0, wl])]) for q in qids}
            m = evaluate(run, qrels)
            print(f"  rrf k={k:<3} lexical weight {wl:.1f}: hybrid ndcg@10 {m['ndcg@10']:.4f} recall@100 {m['recall@100']:.4f}")


if __name__ == "__main__":
    main()
