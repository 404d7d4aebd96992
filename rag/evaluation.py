"""`rag eval`: retrieval quality on BEIR folders and on evidence-quote question files."""

from __future__ import annotations

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
    # For saved runs and reports: scored rankings per mode (ranx's {query: {doc: score}}), the
    # judgments, the query texts, and each query's top passages per mode.
    runs: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict, repr=False)
    qrels: dict[str, dict[str, int]] = field(default_factory=dict, repr=False)
    texts: dict[str, str] = field(default_factory=dict, repr=False)
    tops: dict[str, dict[str, list[dict[str, Any]]]] = field(default_factory=dict, repr=False)

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
    for _, row in _numbered_jsonl(path):
        yield row


def _numbered_jsonl(path: Path) -> Iterable[tuple[int, dict[str, Any]]]:
    """(line number, object) of each non-blank line; DatasetError names a line that is not a JSON object."""
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, start=1):
            if line.strip():
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as e:
                    raise DatasetError(f"{path}:{n}: not JSON ({e.msg})") from e
                if not isinstance(row, dict):
                    raise DatasetError(f"{path}:{n}: not a JSON object")
                yield n, row


# -- BEIR
def read_qrels(path: Path, known_docs: set[str] | None = None) -> tuple[dict[str, dict[str, int]], dict[str, int]]:
    """Judgments from BEIR TSV (query-id, corpus-id, score; a header line allowed) or TREC qrels
    (query 0 doc relevance), and the line each query first appears on. A malformed line or a document
    the corpus lacks raises DatasetError with its line number."""
    qrels: dict[str, dict[str, int]] = {}
    lines: dict[str, int] = {}
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, start=1):
            if not line.strip():
                continue
            parts = [p.strip() for p in (line.split("\t") if "\t" in line else line.split())]
            if len(parts) not in (3, 4):
                raise DatasetError(f"{path}:{n}: expected 'query doc relevance' (BEIR) or 'query 0 doc relevance' (TREC), got {len(parts)} fields")
            qid, doc, rel = (parts[0], parts[1], parts[2]) if len(parts) == 3 else (parts[0], parts[2], parts[3])
            if not rel.lstrip("-").isdigit():
                if n == 1 and not qrels:
                    continue  # BEIR's header: query-id corpus-id score
                raise DatasetError(f"{path}:{n}: relevance {rel!r} is not an integer")
            if known_docs is not None and doc not in known_docs:
                raise DatasetError(f"{path}:{n}: document {doc!r} is not in the corpus")
            qrels.setdefault(qid, {})[doc] = int(rel)
            lines.setdefault(qid, n)
    if not qrels:
        raise DatasetError(f"{path}: no judgments")
    return qrels, lines


def load_beir(folder: Path, split: str, qrels_path: Path | None = None) -> tuple[list[NewDocument], dict[str, str], dict[str, dict[str, int]]]:
    """Documents, queries (only those judged) and graded qrels of a BEIR folder; ``qrels_path`` (BEIR
    TSV or TREC) replaces ``qrels/<split>.tsv``."""
    qrels_path = qrels_path or folder / "qrels" / f"{split}.tsv"
    for p in (folder / "corpus.jsonl", folder / "queries.jsonl", qrels_path):
        if not p.is_file():
            raise DatasetError(f"BEIR folder {folder} lacks {p}" if p.is_relative_to(folder) else f"no such qrels file: {p}")
    docs = []
    for n, d in enumerate(_read_jsonl(folder / "corpus.jsonl"), start=1):
        if "_id" not in d:
            raise DatasetError(f"{folder / 'corpus.jsonl'}: document {n} has no '_id'")
        docs.append(NewDocument(title=d.get("title") or "", text=d.get("text") or "", doc_id=str(d["_id"]), source=f"corpus.jsonl#{d['_id']}"))
    qrels, lines = read_qrels(qrels_path, {d.doc_id for d in docs if d.doc_id})
    queries = {str(q["_id"]): q["text"] for q in _read_jsonl(folder / "queries.jsonl") if str(q.get("_id")) in qrels}
    missing = sorted(set(qrels) - set(queries), key=lines.__getitem__)
    if missing:
        raise DatasetError(f"{qrels_path}:{lines[missing[0]]}: query {missing[0]!r} is not in queries.jsonl ({len(missing)} such queries)")
    return docs, queries, qrels


def ensure_indexed(engine: Engine, docs: list[NewDocument], progress: bool) -> int:
    """Add the documents the index lacks or holds in another version; returns how many."""
    have = {d.doc_id: d.sha256 for d in engine.documents()}
    todo = [d for d in docs if d.doc_id is None or have.get(d.doc_id) != sha256_bytes(d.text.replace("\r\n", "\n").encode())]
    if todo:
        engine.add_documents(todo, progress=progress)
    engine.warm_late(progress)  # an index built before late interaction: its token vectors, once
    return len(todo)


def doc_ranking(hits: list[Hit], depth: int = DOC_DEPTH) -> list[str]:
    """Chunk hits collapsed to documents, best chunk first."""
    return list(dict.fromkeys(h.chunk.doc_id for h in hits))[:depth]


def scored(ids: list[str]) -> dict[str, float]:
    """A ranking as ranx scores: strictly decreasing, so every tool reads the same order back."""
    return {d: float(len(ids) - i) for i, d in enumerate(ids)}


def top_passages(hits: list[Hit], n: int = 3) -> list[dict[str, Any]]:
    """The first passages of a ranking, for reports."""
    return [
        {"doc_id": h.chunk.doc_id, "title": h.title, "lines": [h.chunk.line_start, h.chunk.line_end], "text": h.chunk.text[:400]} for h in hits[:n]
    ]


def eval_beir(engine: Engine, folder: Path, split: str, modes: list[Mode], progress: bool = False, qrels_path: Path | None = None) -> EvalReport:
    t0 = time.perf_counter()
    docs, queries, qrels = load_beir(folder, split, qrels_path)
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
        report.runs[mode] = {q: scored(run[q]) for q in qids}
        report.tops[mode] = {q: top_passages(hits) for q, hits in zip(qids, results)}
    report.qrels = {q: qrels[q] for q in qids}
    report.texts = {q: queries[q] for q in qids}
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
    numbered = list(_numbered_jsonl(path))
    for n, r in numbered:
        evidence = r.get("evidence")
        if not r.get("question") or not r.get("doc") or not isinstance(evidence, list) or not all(isinstance(q, str) for q in evidence):
            raise DatasetError(f"{path}:{n}: needs 'question', 'doc' and a list 'evidence' of quotes (strings)")
    docs_by_line = check_evidence(engine, path, numbered)
    rows = [r for _, r in numbered]
    report = EvalReport(path.name, None, len(rows))
    ids = [str(r.get("id", n)) for n, r in enumerate(rows)]
    qrels = {i: {REL: 1} for i in ids}
    docs = {i: docs_by_line[n] for i, (n, _) in zip(ids, numbered)}
    for mode in modes:
        t1 = time.perf_counter()
        results = engine.search_many([r["question"] for r in rows], top_k=DOC_DEPTH, mode=mode, highlights=False)
        run = {i: _mark_relevant(hits, r, docs[i]) for i, r, hits in zip(ids, rows, results)}
        report.timings[f"{mode}_s"] = time.perf_counter() - t1
        report.modes[mode] = evaluate(run, qrels)
        report.first_ranks[mode] = {i: first_relevant_rank(run[i], qrels[i]) for i in ids}
        report.runs[mode] = {i: scored(run[i]) for i in ids}
        report.tops[mode] = {i: top_passages(hits) for i, hits in zip(ids, results)}
    report.qrels = qrels
    report.texts = {i: r["question"] for i, r in zip(ids, rows)}
    return report


def evidence_doc(engine: Engine, doc: str) -> str | None:
    """The index's id for an evidence row's ``doc``: its path under the corpus folder ("reports/a.txt") or
    its file name alone; None when the index holds neither."""
    for candidate in dict.fromkeys([doc_id_for(doc), doc_id_for(Path(doc).name)]):
        if engine.store.has_document(candidate):
            return candidate
    return None


def check_evidence(engine: Engine, path: Path, numbered: list[tuple[int, dict[str, Any]]], shown: int = 10) -> dict[int, str]:
    """Each line's document id in the index. Raise DatasetError naming each line whose document the index
    lacks, or none of whose quotes any passage of that document contains (a typo, or a quote longer than a
    passage): such a question could never be found, and would pull every metric down unnoticed."""
    texts: dict[str, list[str]] = {}
    problems = []
    docs: dict[int, str] = {}
    for n, r in numbered:
        doc = evidence_doc(engine, str(r["doc"]))
        if doc is None:
            problems.append(f"{path}:{n}: document {r['doc']!r} is not in the index")
            continue
        docs[n] = doc
        if doc not in texts:
            chunks = engine.store.chunks_by_rowid(engine.store.chunk_rowids([doc]).tolist())
            texts[doc] = [normalize_quote(chunk.text) for chunk, _, _ in chunks.values()]
        quotes = [normalize_quote(q) for q in r["evidence"] if q.strip()]
        if not any(q in t for q in quotes for t in texts[doc]):
            problems.append(f"{path}:{n}: no passage of {r['doc']!r} contains any of its evidence quotes (a typo, or a quote longer than a passage?)")
    if problems:
        more = f"\n... and {len(problems) - shown} more" if len(problems) > shown else ""
        raise DatasetError("\n".join(problems[:shown]) + more)
    return docs


def _mark_relevant(hits: list[Hit], row: dict[str, Any], want: str) -> list[str]:
    quotes = [normalize_quote(q) for q in row["evidence"] if q.strip()]
    out: list[str] = []
    for h in hits:
        text = normalize_quote(h.chunk.text)
        relevant = h.chunk.doc_id == want and any(q in text for q in quotes)
        out.append(REL if relevant else h.chunk.chunk_id)
    return list(dict.fromkeys(out))


def run_eval(
    engine_for_beir, engine: Engine | None, dataset: Path, split: str, modes: list[Mode], progress: bool = False, qrels: Path | None = None
) -> EvalReport:
    """Pick the evaluation by the dataset's shape: a BEIR folder (with its own or a TREC qrels file)
    or an evidence .jsonl file."""
    if dataset.is_dir():
        return eval_beir(engine_for_beir(dataset), dataset, split, modes, progress, qrels)
    if dataset.is_file():
        if engine is None:
            raise DatasetError(f"{dataset} is an evidence file: it needs an engine over its corpus")
        engine.warm_late(progress)  # an index built before late interaction: store its token vectors once
        return eval_evidence(engine, dataset, modes)
    raise DatasetError(f"no such dataset: {dataset}")
