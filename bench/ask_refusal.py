"""How often /ask refuses near-topic questions the papers do not answer, and how often it still
grounds the answerable ones (extractive answers; issue 12's target: 8/8 refused, >= 95 % grounded).

    python bench/ask_refusal.py ../shared/data/seed_unanswerable_dev.jsonl examples/eval/seed_qa_dev.jsonl examples/eval/seed_qa_paraphrase_dev.jsonl
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rag import Engine, Settings  # noqa: E402
from rag.answer import best_sentences, coverage  # noqa: E402


def rows(path: str) -> list[dict]:
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]


def signals(engine: Engine, question: str) -> tuple[float, float]:
    """The two refusal signals: best sentence similarity (top 5) and salient-term coverage (the
    ``ask_evidence_passages`` the check reads)."""
    evidence = engine.search(question, top_k=max(5, engine.settings.ask_evidence_passages), highlights=False).hits
    ranked = best_sentences(question, evidence[:5], engine.embed_queries)
    return (ranked[0][0] if ranked else 0.0), coverage(question, evidence)


def main(unanswerable: str, *answerable: str) -> None:
    engine = Engine(Settings())  # RAG_INDEX_DIR, RAG_RESCORE_MODEL, ... from the environment
    una = rows(unanswerable)
    ans = [r for path in answerable for r in rows(path)]
    refused = [not engine.ask(r["question"], generate=False).grounded for r in una]
    grounded = [engine.ask(r["question"], generate=False).grounded for r in ans]
    s = engine.settings
    print(f"threshold {s.ask_threshold}, min coverage {s.ask_min_coverage} over {s.ask_evidence_passages} passages")
    print(f"unanswerable refused {sum(refused)}/{len(una)}; answerable grounded {sum(grounded)}/{len(ans)} = {sum(grounded) / len(ans):.3f}")
    for r, ok in zip(una, refused):
        if not ok:
            sim, cov = signals(engine, r["question"])
            print(f"  answered, should refuse: sim {sim:.3f} cov {cov:.2f}  {r['question']}")
    for r, ok in zip(ans, grounded):
        if not ok:
            sim, cov = signals(engine, r["question"])
            print(f"  refused, should answer:  sim {sim:.3f} cov {cov:.2f}  {r['question']}")


if __name__ == "__main__":
    main(*sys.argv[1:])
