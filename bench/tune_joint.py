"""Re-tune the hybrid fusion on the paraphrase dev set and SciFact train together (never on test),
with the seed dev set as a guard: each row is one (fusion, dense weight, BM25 idf) setting.

    python bench/tune_joint.py [--scifact-index index/eval/scifact]

Prints paraphrase R@5 / MRR@10, seed R@5 / MRR@10 and SciFact train nDCG@10 per setting.
"""

from __future__ import annotations

import argparse
import itertools
import shutil
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rag import Engine, Settings  # noqa: E402
from rag.evaluation import eval_beir, eval_evidence  # noqa: E402

PARAPHRASE = ROOT / "examples/eval/seed_qa_paraphrase_dev.jsonl"
SEED = ROOT / "examples/eval/seed_qa_dev.jsonl"
SCIFACT = ROOT.parent / "shared/data/scifact"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--index-dir", type=Path, default=ROOT / "index", help="the seed corpus index")
    ap.add_argument("--scifact-index", type=Path, default=ROOT / "index/eval/scifact", help="a built SciFact index (copied, not changed)")
    ap.add_argument("--weights", default="0.4,0.5,0.6,0.7,0.8", help="dense weights to try (lexical = 1 - dense)")
    args = ap.parse_args()
    seed = Engine(Settings(index_dir=args.index_dir))
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "scifact"
        shutil.copytree(args.scifact_index, copy)
        scifact = Engine(Settings(index_dir=copy))
        print("fusion | dense w | idf | paraphrase R@5 | paraphrase MRR@10 | seed R@5 | seed MRR@10 | SciFact train nDCG@10")
        for fusion, idf, w in itertools.product(("zscore", "rrf"), ("smoothed", "fts5"), [float(x) for x in args.weights.split(",")]):
            for engine in (seed, scifact):
                params = replace(engine.retriever.params, fusion=fusion, bm25_idf=idf, dense_weight=w, lexical_weight=round(1 - w, 3))
                engine.retriever.params = params
            par = eval_evidence(seed, PARAPHRASE, ["hybrid"]).modes["hybrid"]
            sd = eval_evidence(seed, SEED, ["hybrid"]).modes["hybrid"]
            sf = eval_beir(scifact, SCIFACT, "train", ["hybrid"]).modes["hybrid"]
            seed_cols = f"{sd['recall@5']:.3f} | {sd['mrr@10']:.3f}"
            print(f"{fusion} | {w:.1f} | {idf} | {par['recall@5']:.3f} | {par['mrr@10']:.3f} | {seed_cols} | {sf['ndcg@10']:.4f}", flush=True)


if __name__ == "__main__":
    main()
