"""Ingestion: chunks/s of our indexing beside raw SentenceTransformer.encode on the same texts.

    python bench/ingest.py [--scifact ../shared/data/scifact] [--scifact-docs 1000]
"""
from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

from common import ROOT, write_section

from rag import Engine, NewDocument, Settings
from rag.embedding import resolve_model_path
from rag.ingest import embed_text


def raw_rates(engine: Engine, st_model) -> tuple[float, float]:
    """Encode exactly the texts the index embedded: through our model runtime alone, and through
    SentenceTransformer.encode (PyTorch)."""
    rows = engine.store._conn().execute(
        "SELECT d.title, c.text FROM chunks c JOIN documents d ON d.doc_id = c.doc_id").fetchall()
    texts = [embed_text(t, c, engine.settings.embed_title) for t, c in rows]
    t0 = time.perf_counter()
    engine.embedder.encode(texts)
    runtime = len(texts) / (time.perf_counter() - t0)
    t0 = time.perf_counter()
    st_model.encode(texts, batch_size=engine.settings.batch_size, normalize_embeddings=True)
    return runtime, len(texts) / (time.perf_counter() - t0)


def measure(label: str, index_fn, st_model) -> str:
    tmp = Path(tempfile.mkdtemp())
    engine = Engine(Settings(index_dir=tmp / "index"))
    engine.embedder.encode(["warm up"])  # model load is not ingestion
    t0 = time.perf_counter()
    n = index_fn(engine)
    ours = n / (time.perf_counter() - t0)
    runtime, st = raw_rates(engine, st_model)
    shutil.rmtree(tmp)
    return f"| {label} | {n} | {ours:.1f} | {runtime:.1f} | {ours / runtime:.2f} | {st:.1f} | {ours / st:.2f} |"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scifact", type=Path, default=ROOT.parent / "shared" / "data" / "scifact")
    ap.add_argument("--scifact-docs", type=int, default=1000)
    args = ap.parse_args()
    from sentence_transformers import SentenceTransformer

    st_model = SentenceTransformer(resolve_model_path(Settings().model), device="cpu")
    rows = [measure("seed corpus (5 papers)", lambda e: e.sync([ROOT / "corpus"]).chunks_embedded, st_model)]
    if (args.scifact / "corpus.jsonl").exists():
        docs = []
        with open(args.scifact / "corpus.jsonl") as f:
            for line in f:
                d = json.loads(line)
                docs.append(NewDocument(title=d["title"], text=d["text"], doc_id=d["_id"]))
                if len(docs) == args.scifact_docs:
                    break

        def add(e: Engine) -> int:
            e.add_documents(docs)
            return e.stats()["chunks"]

        rows.append(measure(f"SciFact, first {len(docs)} abstracts", add, st_model))
    md = ("Chunks per second from reading files to a committed index (normalize, chunk, embed, SQLite, FAISS), "
          "beside `SentenceTransformer.encode` on exactly the same texts in the same run.\n\n"
          "Raw runtime = our ONNX encoder called directly on the texts; raw ST = `SentenceTransformer.encode` (PyTorch).\n\n"
          "| corpus | chunks | ours chunks/s | raw runtime chunks/s | ours ÷ runtime | raw ST chunks/s | ours ÷ ST |\n"
          "| --- | --- | --- | --- | --- | --- | --- |\n"
          + "\n".join(rows))
    write_section("Ingestion", md, f"python bench/ingest.py --scifact-docs {args.scifact_docs}")


if __name__ == "__main__":
    main()
