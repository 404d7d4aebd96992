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


def raw_rate(engine: Engine) -> float:
    """Encode exactly the texts the index embedded, straight through the model."""
    rows = engine.store._conn().execute(
        "SELECT d.title, c.text FROM chunks c JOIN documents d ON d.doc_id = c.doc_id").fetchall()
    from rag.ingest import embed_text

    texts = [embed_text(t, c, engine.settings.embed_title) for t, c in rows]
    t0 = time.perf_counter()
    engine.embedder.model.encode(texts, batch_size=engine.settings.batch_size, normalize_embeddings=True)
    return len(texts) / (time.perf_counter() - t0)


def measure(label: str, index_fn) -> str:
    tmp = Path(tempfile.mkdtemp())
    engine = Engine(Settings(index_dir=tmp / "index"))
    engine.embedder.encode(["warm up"])  # model load is not ingestion
    t0 = time.perf_counter()
    n = index_fn(engine)
    ours = n / (time.perf_counter() - t0)
    raw = raw_rate(engine)
    shutil.rmtree(tmp)
    return f"| {label} | {n} | {ours:.1f} | {raw:.1f} | {ours / raw:.2f} |"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scifact", type=Path, default=ROOT.parent / "shared" / "data" / "scifact")
    ap.add_argument("--scifact-docs", type=int, default=1000)
    args = ap.parse_args()
    rows = [measure("seed corpus (5 papers)", lambda e: e.sync([ROOT / "corpus"]).chunks_embedded)]
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

        rows.append(measure(f"SciFact, first {len(docs)} abstracts", add))
    md = ("Chunks per second from reading files to a committed index (normalize, chunk, embed, SQLite, FAISS), "
          "beside `SentenceTransformer.encode` on exactly the same texts in the same run.\n\n"
          "| corpus | chunks | ours chunks/s | raw encode chunks/s | ratio |\n| --- | --- | --- | --- | --- |\n"
          + "\n".join(rows))
    write_section("Ingestion", md, f"python bench/ingest.py --scifact-docs {args.scifact_docs}")


if __name__ == "__main__":
    main()
