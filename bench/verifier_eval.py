"""How well the citation verifier catches fabricated claims, and how often it flags correct ones.

For every question of the dev files, the top-5 passages are retrieved. Correct claims are (a) the
sentences of the extractive answer and (b) the first quotable sentence of each of passages 1-3, each
cited with its own marker; (c) the file's reference answer, a human paraphrase, cited to the
passage that holds its evidence (reported apart: a paraphrase may legitimately drop a name).
Injected claims are the same sentences with one fact made wrong by the fabricating test double
(tests/llm_double.py): a year moved, a number changed, a name replaced by an invented one, or a
name swapped for one that appears in another passage (harder: it exists in the retrieved text,
just not in the cited passage); and true sentences of another document cited to the wrong
passage. Every claim is verified on its own.

    python bench/verifier_eval.py ../shared/data/seed_qa_dev.jsonl ../shared/data/seed_qa_paraphrase_dev.jsonl
"""

from __future__ import annotations

import json
import re
import sys
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rag import Engine, Settings  # noqa: E402
from rag.config import bundled_corpus  # noqa: E402
from rag.models import Hit  # noqa: E402
from rag.verify import Verifier, key_terms  # noqa: E402
from tests.llm_double import fabricate, first_sentence  # noqa: E402

THRESHOLDS = (0.40, 0.45, 0.50, 0.55, 0.60, 0.65, 0.70)
_NAME = re.compile(r"(?<=\s)[A-Z][a-záéíóúñ]{3,}\b")


def swap_name(sentence: str, cited: str, others: str) -> str | None:
    """``sentence`` with a name replaced by a name from ``others`` that ``cited`` does not contain."""
    m = _NAME.search(sentence)
    if not m:
        return None
    for candidate in key_terms(others):
        if candidate[:1].isupper() and not any(ch.isdigit() for ch in candidate) and candidate not in cited and len(candidate) > 3:
            return sentence[: m.start()] + candidate + sentence[m.end() :]
    return None


def claims_for(engine: Engine, row: dict) -> tuple[list[Hit], list[tuple[str, int, str]]]:
    """The passages, and (kind, marker, text) claims: correct ones and injected ones."""
    answer = engine.ask(row["question"], generate=False)
    hits = answer.passages
    out: list[tuple[str, int, str]] = []
    # The file's reference answer is a human paraphrase: cite it to the passage holding its evidence.
    evidence = [" ".join(e.split()).lower() for e in row.get("evidence", [])]
    holder = next((i for i, h in enumerate(hits) if any(e in " ".join(h.chunk.text.split()).lower() for e in evidence)), None)
    if row.get("answer") and holder is not None:
        out.append(("reference answer (human paraphrase)", holder + 1, row["answer"]))
    correct = [(c["marker"], c["text"]) for c in answer.citations]
    correct += [(i + 1, first_sentence(h.chunk.text)) for i, h in enumerate(hits[:3])]
    for marker, text in dict.fromkeys(correct):
        out.append(("correct", marker, text))
        cited = hits[marker - 1].chunk.text
        for kind in ("date", "number", "name"):
            wrong = fabricate(text, cited, kind)
            if wrong and wrong != text:
                out.append((f"wrong {kind}", marker, wrong))
        others = " ".join(h.chunk.text for j, h in enumerate(hits) if j != marker - 1)
        swapped = swap_name(text, cited, others)
        if swapped:
            out.append(("name from another passage", marker, swapped))
        # a true sentence of another document, cited to this passage: a wrong citation
        elsewhere = [h for h in hits if h.chunk.doc_id != hits[marker - 1].chunk.doc_id]
        if elsewhere:
            out.append(("sentence of another document", marker, first_sentence(elsewhere[0].chunk.text)))
    return hits, out


def main(*paths: str) -> None:
    settings = Settings(index_dir=Path("index"))
    engine = Engine(settings)
    engine.index_if_empty([bundled_corpus()])
    scores: dict[str, list[tuple[float, bool]]] = defaultdict(list)  # kind -> (score, no unsupported terms)
    for path in paths:
        for line in Path(path).read_text().splitlines():
            if not line.strip():
                continue
            hits, claims = claims_for(engine, json.loads(line))
            for kind, marker, text in claims:
                v = Verifier(f"{text} [{marker}]", hits, 0.0, engine.store.source_points)
                [c] = v.judge(engine.embed_queries(v.texts()))
                scores[kind].append((c["score"], not c["unsupported_terms"]))
    print(f"questions from {', '.join(paths)}; default threshold {settings.verify_threshold}")
    header = "| claims | n | " + " | ".join(f"flagged @ {t:.2f}" for t in THRESHOLDS) + " |"
    print(header)
    print("|" + "---|" * (len(THRESHOLDS) + 2))
    for kind in sorted(scores, key=lambda k: (k != "correct", not k.startswith("reference"), k)):
        rows = scores[kind]
        flagged = [sum(not (ok and s >= t) for s, ok in rows) / len(rows) for t in THRESHOLDS]
        print(f"| {kind} | {len(rows)} | " + " | ".join(f"{x:.3f}" for x in flagged) + " |")
    t = settings.verify_threshold
    injected = [r for k, rs in scores.items() if k != "correct" and not k.startswith("reference") for r in rs]
    caught = sum(not (ok and s >= t) for s, ok in injected)
    false_flags = sum(not (ok and s >= t) for s, ok in scores["correct"])
    print(f"\nat {t}: recall on injected {caught}/{len(injected)} = {caught / len(injected):.3f}; ", end="")
    print(f"precision {caught}/{caught + false_flags} = {caught / max(1, caught + false_flags):.3f}; ", end="")
    print(f"correct flagged {false_flags}/{len(scores['correct'])} = {false_flags / len(scores['correct']):.3f}")


if __name__ == "__main__":
    main(*sys.argv[1:])
