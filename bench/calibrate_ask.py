"""Calibrate the /ask grounding threshold: best-sentence similarity on answerable dev questions
versus near-topic questions the seed papers do not answer. Prints both distributions and the
share of each side at candidate thresholds.

    python bench/calibrate_ask.py ../shared/data/seed_qa_dev.jsonl bench/data/unanswerable.jsonl
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from rag import Engine
from rag.answer import best_sentences, coverage, salient_terms


def best_score(engine: Engine, question: str) -> tuple[float, float]:
    hits = engine.search(question, top_k=5, highlights=False).hits
    ranked = best_sentences(question, hits, engine.embed_queries)
    return (ranked[0][0] if ranked else 0.0), coverage(question, hits)


def main(answerable: str, unanswerable: str) -> None:
    engine = Engine()
    pos = [best_score(engine, json.loads(l)["question"]) for l in Path(answerable).read_text().splitlines() if l.strip()]
    neg_rows = [json.loads(l) for l in Path(unanswerable).read_text().splitlines() if l.strip()]
    neg = [best_score(engine, r["question"]) for r in neg_rows]
    print("answerable (similarity, coverage):  ", " ".join(f"{x:.2f}/{c:.2f}" for x, c in sorted(pos)))
    print("unanswerable (similarity, coverage):", " ".join(f"{x:.2f}/{c:.2f}" for x, c in sorted(neg)))
    for r, (x, c) in zip(neg_rows, neg):
        print(f"  negative {x:.3f} cov {c:.2f} [{r['kind']}] {r['question']}  salient={salient_terms(r['question'])}")
    print(f"{'threshold':>10} {'min coverage':>12} {'answerable grounded':>20} {'unanswerable refused':>21}")
    for cov in (0.0, 0.5, 0.67, 1.0):
        for t in [i / 100 for i in range(30, 66, 5)]:
            ok = lambda x, c: x >= t and c >= cov  # noqa: E731
            print(f"{t:>10.2f} {cov:>12.2f} {sum(ok(*p) for p in pos):>14}/{len(pos)} {sum(not ok(*n) for n in neg):>15}/{len(neg)}")


if __name__ == "__main__":
    main(*sys.argv[1:3])
