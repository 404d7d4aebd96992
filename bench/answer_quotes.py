"""How often the extractive /ask answer quotes the evidence: for each answerable dev question, whether one of
the sentences it quotes overlaps one of the file's evidence quotes (containment either way, or 50 characters
in common). Grounded answers that quote something else are near misses the refusal bench cannot see.

    python bench/answer_quotes.py examples/eval/seed_qa_dev.jsonl examples/eval/seed_qa_paraphrase_dev.jsonl
"""

from __future__ import annotations

import json
import re
import sys
from difflib import SequenceMatcher
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rag import Engine, Settings  # noqa: E402
from rag.answer import fold  # noqa: E402

COMMON_CHARS = 50


def norm(text: str) -> str:
    return re.sub(r"\s+", " ", fold(text)).strip()


def overlaps(sentence: str, evidence: str) -> bool:
    """The quoted sentence and the evidence quote share the same text (one inside the other, or a long run)."""
    a, b = norm(sentence), norm(evidence)
    if a in b or b in a:
        return True
    m = SequenceMatcher(None, a, b, autojunk=False).find_longest_match(0, len(a), 0, len(b))
    return m.size >= COMMON_CHARS


def main(*paths: str) -> None:
    engine = Engine(Settings())  # RAG_INDEX_DIR, RAG_RESCORE_MODEL, ... from the environment
    rows = [json.loads(line) for p in paths for line in Path(p).read_text().splitlines() if line.strip()]
    grounded = hit = 0
    for r in rows:
        a = engine.ask(r["question"], generate=False)
        ok = a.grounded and any(overlaps(c["text"], e) for c in a.citations for e in r.get("evidence", []))
        grounded += a.grounded
        hit += ok
        if a.grounded and not ok:
            print(f"  quotes no evidence: {r['question']}")
    print(f"{len(rows)} answerable questions: grounded {grounded}, quoting the evidence {hit} = {hit / len(rows):.3f}")


if __name__ == "__main__":
    main(*sys.argv[1:])
