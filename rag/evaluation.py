"""`rag eval`: retrieval quality on BEIR folders and on evidence-quote question files."""

from __future__ import annotations

import csv
import json
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .engine import Engine, NewDocument
from .errors import BadInputError
from .ingest import doc_id_for, sha256_bytes
from .metrics import evaluate, first_relevant_rank
from .models import Hit
from .retrieval import Mode

REL = "__relevant__"
DOC_DEPTH = 100


@dataclass
class EvalReport:
    """Mean metrics per mode, and each query's rank of its first relevant hit."""

    dataset: str
    split: str | None
    queries: int
    modes: dict[str, dict[str, float]] = field(default_factory=dict)
    first_ranks: dict[str, dict[str, int | None]] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "split": self.split,
            "queries": self.queries,
            "modes": {m: {k: round(v, 4) for k, v in s.items()} for m, s in self.modes.items()},
            "timings": {k: round(v, 2) for k, v in self.timings.items()},
            "notes": self.notes,
        }


class DatasetError(BadInputError):
    """The dataset path is not a BEIR folder or an evidence JSON Lines file, or is malformed."""


def _read_jsonl(path: Path) -> Iterable[dict[str, Any]]:
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, start=1):
            if line.strip():
                try:
                    yield json.loads(line)
                except json.JSONDecodeError as e:
                    raise DatasetError(f"{path}:{n}: not JSON ({e.msg})") from e


# -- BEIR
def load_beir(folder: Path, split: str) -> tuple[list[NewDocument], dict[str, str], dict[str, dict[str, int]]]:
    """Documents, queries (only those judged in ``split``) and graded qrels of a BEIR folder."""
    qrels_path = folder / "qrels" / f"{split}.tsv"
    for p in (folder / "corpus.jsonl", folder / "queries.jsonl", qrels_path):
        if not p.is_file():
            raise DatasetError(f"BEIR folder {folder} lacks {p.relative_to(folder)}")
    qrels: dict[str, dict[str, int]] = {}
    with open(qrels_path, encoding="utf-8") as f:
        for row in csv.reader(f, delimiter="\t"):
            if len(row) >= 3 and row[2].lstrip("-").isdigit():
                qrels.setdefault(row[0], {})[row[1]] = int(row[2])
    queries = {str(q["_id"]): q["text"] for q in _read_jsonl(folder / "queries.jsonl") if str(q["_id"]) in qrels}
    docs = [
        NewDocument(title=d.get("title") or "", text=d.get("text") or "", doc_id=str(d["_id"]), source=f"corpus.jsonl#{d['_id']}")
        for d in _read_jsonl(folder / "corpus.jsonl")
    ]
    return docs, queries, qrels


def ensure_indexed(engine: Engine, docs: list[NewDocument], progress: bool) -> int:
    """Add the documents the index lacks or holds in another version; returns how many."""
    have = {d.doc_id: d.sha256 for d in engine.documents()}
    todo = [d for d in docs if d.doc_id is None or have.get(d.doc_id) != sha256_bytes(d.text.replace("\r\n", "\n").encode())]
    if todo:
        engine.add_documents(todo, progress=progress)
    return len(todo)


def doc_ranking(hits: list[Hit], depth: int = DOC_DEPTH) -> list[str]:
    """Chunk hits collapsed to documents, best chunk first."""
    return list(dict.fromkeys(h.chunk.doc_id for h in hits))[:depth]


def eval_beir(engine: Engine, folder: Path, split: str, modes: list[Mode], progress: bool = False) -> EvalReport:
    t0 = time.perf_counter()
    docs, queries, qrels = load_beir(folder, split)
    added = ensure_indexed(engine, docs, progress)
    report = EvalReport(folder.name, split, len(queries))
    report.timings["index_s"] = time.perf_counter() - t0
    report.notes.append(f"{len(docs)} documents, {added} (re)indexed this run")
    qids = list(queries)
    for mode in modes:
        t1 = time.perf_counter()
        results = engine.search_many([queries[q] for q in qids], top_k=3 * DOC_DEPTH, mode=mode, highlights=False)
        run = {q: doc_ranking(hits) for q, hits in zip(qids, results)}
        report.timings[f"{mode}_s"] = time.perf_counter() - t1
        report.modes[mode] = evaluate(run, {q: qrels[q] for q in qids})
        report.first_ranks[mode] = {q: first_relevant_rank(run[q], qrels[q]) for q in qids}
    return report


# -- evidence questions
def normalize_quote(text: str) -> str:
    """Whitespace, hyphenation and quote normalization, for matching evidence to passages."""
    text = re.sub(r"(\w)-\s*\n\s*(\w)", r"\1\2", text)
    for a, b in (("\u2019", "'"), ("\u2018", "'"), ("\u201c", '"'), ("\u201d", '"'), ("\u00a0", " ")):
        text = text.replace(a, b)
    return re.sub(r"\s+", " ", text).strip().lower()


def eval_evidence(engine: Engine, path: Path, modes: list[Mode]) -> EvalReport:
    """Each question's hits are relevant when from its ``doc`` and holding an evidence quote.

    All relevant chunks count as one target, so Recall@k is success@k and nDCG has one ideal hit."""
    rows = list(_read_jsonl(path))
    for n, r in enumerate(rows, start=1):
        if not r.get("question") or not r.get("doc") or not isinstance(r.get("evidence"), list):
            raise DatasetError(f"{path}: row {n} needs 'question', 'doc' and a list 'evidence'")
    report = EvalReport(path.name, None, len(rows))
    ids = [str(r.get("id", n)) for n, r in enumerate(rows)]
    qrels = {i: {REL: 1} for i in ids}
    for mode in modes:
        t1 = time.perf_counter()
        results = engine.search_many([r["question"] for r in rows], top_k=DOC_DEPTH, mode=mode, highlights=False)
        run = {i: _mark_relevant(hits, r) for i, r, hits in zip(ids, rows, results)}
        report.timings[f"{mode}_s"] = time.perf_counter() - t1
        report.modes[mode] = evaluate(run, qrels)
        report.first_ranks[mode] = {i: first_relevant_rank(run[i], qrels[i]) for i in ids}
    return report


def _mark_relevant(hits: list[Hit], row: dict[str, Any]) -> list[str]:
    want = doc_id_for(Path(row["doc"]).name)
    quotes = [normalize_quote(q) for q in row["evidence"] if q.strip()]
    out: list[str] = []
    for h in hits:
        text = normalize_quote(h.chunk.text)
        relevant = h.chunk.doc_id == want and any(q in text for q in quotes)
        out.append(REL if relevant else h.chunk.chunk_id)
    return list(dict.fromkeys(out))


def run_eval(engine_for_beir, engine: Engine | None, dataset: Path, split: str, modes: list[Mode], progress: bool = False) -> EvalReport:
    """Pick the evaluation by the dataset's shape: a BEIR folder or an evidence .jsonl file."""
    if dataset.is_dir():
        return eval_beir(engine_for_beir(dataset), dataset, split, modes, progress)
    if dataset.is_file():
        if engine is None:
            raise DatasetError(f"{dataset} is an evidence file: it needs an engine over its corpus")
        return eval_evidence(engine, dataset, modes)
    raise DatasetError(f"no such dataset: {dataset}")
