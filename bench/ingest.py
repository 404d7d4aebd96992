"""Ingestion: chunks/s of our indexing beside raw encoding of exactly the same texts, in one run.

Three passes, interleaved and repeated (best of ``--reps``, since the machine is shared): our full
pipeline into a fresh index (normalize, chunk, embed, SQLite, FAISS); our ONNX encoder alone on the
texts the index embedded; `SentenceTransformer.encode` (PyTorch, its default batch size) on them.

    python bench/ingest.py [--scifact ../shared/data/scifact] [--scifact-docs 500] [--reps 2]
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from common import ROOT, write_section

from rag import Engine, NewDocument, Settings
from rag.embedding import Embedder, resolve_model_path
from rag.ingest import embed_text


def ours(index_fn: Callable[[Engine], int], embedder: Embedder) -> tuple[float, list[str]]:
    """Seconds to index into a fresh index, and the texts it embedded."""
    tmp = Path(tempfile.mkdtemp())
    engine = Engine(Settings(index_dir=tmp / "index"), embedder=embedder)
    t0 = time.perf_counter()
    index_fn(engine)
    seconds = time.perf_counter() - t0
    rows = [(v.title, v.chunk.text) for v in engine.chunks()]
    shutil.rmtree(tmp)
    return seconds, [embed_text(t, c, engine.settings.embed_title) for t, c in rows]


def timed(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def measure(label: str, index_fn: Callable[[Engine], int], embedder: Embedder, st_model, reps: int) -> str:
    best = {"ours": float("inf"), "runtime": float("inf"), "st": float("inf")}
    for _ in range(reps):
        seconds, texts = ours(index_fn, embedder)
        best["ours"] = min(best["ours"], seconds)
        best["runtime"] = min(best["runtime"], timed(lambda: embedder.encode(texts)))
        best["st"] = min(best["st"], timed(lambda: st_model.encode(texts, normalize_embeddings=True)))
    rate = {k: len(texts) / v for k, v in best.items()}
    return (
        f"| {label} | {len(texts)} | {rate['ours']:.1f} | {rate['runtime']:.1f} | {rate['ours'] / rate['runtime']:.2f} "
        f"| {rate['st']:.1f} | {rate['ours'] / rate['st']:.2f} |"
    )


def scifact_docs(folder: Path, n: int) -> list[NewDocument]:
    docs = []
    with open(folder / "corpus.jsonl") as f:
        for line in f:
            d = json.loads(line)
            docs.append(NewDocument(title=d["title"], text=d["text"], doc_id=d["_id"]))
            if len(docs) == n:
                break
    return docs


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scifact", type=Path, default=ROOT.parent / "shared" / "data" / "scifact")
    ap.add_argument("--scifact-docs", type=int, default=500)
    ap.add_argument("--reps", type=int, default=2)
    args = ap.parse_args()
    from sentence_transformers import SentenceTransformer

    settings = Settings()
    embedder = Embedder.from_settings(settings)
    embedder.encode(["warm up"])  # model load is not ingestion
    st_model = SentenceTransformer(resolve_model_path(settings.model), device="cpu")
    st_model.encode(["warm up"])
    rows = [measure("seed corpus (5 papers)", lambda e: e.sync([ROOT / "corpus"]).chunks_embedded, embedder, st_model, args.reps)]
    if (args.scifact / "corpus.jsonl").exists():
        docs = scifact_docs(args.scifact, args.scifact_docs)
        rows.append(measure(f"SciFact, first {len(docs)} abstracts", lambda e: len(e.add_documents(docs)), embedder, st_model, args.reps))
    md = (
        "Chunks per second from reading files (seeds) or texts (SciFact) to a committed index (normalize, "
        "chunk, embed, SQLite, FAISS), beside encoding exactly the texts the index embedded: with our ONNX "
        f"encoder alone (raw runtime) and with `SentenceTransformer.encode` (raw ST, PyTorch). Passes interleaved, "
        f"best of {args.reps} each.\n\n"
        "| corpus | chunks | ours chunks/s | raw runtime chunks/s | ours ÷ runtime | raw ST chunks/s | ours ÷ ST |\n"
        "| --- | --- | --- | --- | --- | --- | --- |\n" + "\n".join(rows)
    )
    write_section("Ingestion", md, f"python bench/ingest.py --scifact-docs {args.scifact_docs} --reps {args.reps}")


if __name__ == "__main__":
    main()
