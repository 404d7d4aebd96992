"""Scale-out, measured on this machine in one run: ingestion chunks/s of a plain `rag index` versus
`rag index --engine ray` (1 and 2 embedding actors) and into the Qdrant store; then search latency
and quality of the Qdrant store (embedded mode) beside the FAISS store on the seed corpus and SciFact.

    python bench/scaleout.py [--scifact ../shared/data/scifact] [--docs 1000] [--queries 300]

SciFact's Qdrant index is built by `rag eval` into --qdrant-index (first run: about 10 min here).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT, bench_queries, percentile, write_section

from rag import Engine, Settings
from rag.evaluation import load_beir

DATA = ROOT.parent / "shared" / "data"


def run(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, str]:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env={**os.environ, **(env or {})}, capture_output=True, text=True, timeout=7200)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stderr[-3000:]}")
    return time.perf_counter() - t0, proc.stdout


def write_corpus(scifact: Path, n: int, folder: Path) -> None:
    """The first ``n`` SciFact abstracts as text files (a folder `rag index` can read)."""
    folder.mkdir(parents=True)
    with open(scifact / "corpus.jsonl") as f:
        for i, line in enumerate(f):
            if i == n:
                break
            d = json.loads(line)
            (folder / f"{d['_id']}.txt").write_text(f"{d['title']}\n\n{d['text']}\n")


def ingestion(scifact: Path, n: int) -> str:
    tmp = Path(tempfile.mkdtemp())
    write_corpus(scifact, n, tmp / "corpus")
    rag = [sys.executable, "-m", "rag.cli", "index", str(tmp / "corpus"), "-q", "--json"]
    rows = []
    runs = [
        ("plain `rag index` (FAISS store)", [], {}),
        ("plain `rag index`, Qdrant store (embedded)", [], {"RAG_STORE": "qdrant"}),
        ("`--engine ray --concurrency 1`", ["--engine", "ray", "--concurrency", "1"], {}),
        ("`--engine ray --concurrency 2`", ["--engine", "ray", "--concurrency", "2"], {}),
        # One model thread each: what adding workers adds at fixed resources per worker.
        ("plain `rag index`, `RAG_THREADS=1`", [], {"RAG_THREADS": "1"}),
        ("`--engine ray --concurrency 1`, `RAG_THREADS=1`", ["--engine", "ray", "--concurrency", "1"], {"RAG_THREADS": "1"}),
        ("`--engine ray --concurrency 2`, `RAG_THREADS=1`", ["--engine", "ray", "--concurrency", "2"], {"RAG_THREADS": "1"}),
    ]
    base = None
    for i, (label, extra, env) in enumerate(runs):
        seconds, out = run([*rag, "--index-dir", str(tmp / f"ix{i}"), *extra], env)
        chunks = json.loads(out)["chunks_embedded"]
        rate = chunks / seconds
        base = base or rate
        rows.append(f"| {label} | {n} | {chunks} | {seconds:.1f} | {rate:.1f} | {rate / base:.2f} |")
    shutil.rmtree(tmp)
    head = "| run | documents | chunks | seconds (wall, process start included) | chunks/s | ratio to plain |\n|---|---|---|---|---|---|"
    return head + "\n" + "\n".join(rows)


def latency(engine: Engine, queries: list[str]) -> tuple[float, float]:
    for q in queries[:20]:
        engine.search(q)
    times = []
    for q in queries:
        t0 = time.perf_counter()
        engine.search(q, top_k=5, mode="hybrid")
        times.append((time.perf_counter() - t0) * 1000)
    return percentile(times, 50), percentile(times, 99)


def evaluate(dataset: Path, index: Path, store: str) -> dict:
    _, out = run([sys.executable, "-m", "rag.cli", "eval", str(dataset), "--index-dir", str(index), "--json"], {"RAG_STORE": store})
    return json.loads(out)


def metric(report: dict, *names: str) -> str:
    hybrid = report["modes"]["hybrid"]
    return " / ".join(f"{hybrid[n]:.4f}" for n in names)


def search_side_by_side(scifact: Path, n_queries: int, faiss_scifact: Path, qdrant_scifact: Path) -> str:
    tmp = Path(tempfile.mkdtemp())
    rows = []
    seed_q = bench_queries(n_queries)
    _, queries, _ = load_beir(scifact, "test")
    sci_q = list(queries.values())[:n_queries]
    for store in ("faiss", "qdrant"):
        seed_ix = tmp / f"seed-{store}"
        with Engine(Settings(index_dir=seed_ix, store=store)) as e:
            e.sync([ROOT / "corpus"])
            p50, p99 = latency(e, seed_q)
        seed = evaluate(DATA / "seed_qa_dev.jsonl", seed_ix, store)
        para = evaluate(DATA / "seed_qa_paraphrase_dev.jsonl", seed_ix, store)
        rows.append(
            f"| seed corpus | {store} | {p50:.1f} | {p99:.1f} | seed dev R@5 / MRR@10 {metric(seed, 'recall@5', 'mrr@10')}; "
            f"paraphrase dev {metric(para, 'recall@5', 'mrr@10')} |"
        )
        sci_ix = faiss_scifact if store == "faiss" else qdrant_scifact
        sci = evaluate(scifact, sci_ix, store)
        with Engine(Settings(index_dir=sci_ix, store=store)) as e:
            p50, p99 = latency(e, sci_q)
            chunks = e.stats()["chunks"]
        rows.append(f"| SciFact ({chunks} chunks) | {store} | {p50:.1f} | {p99:.1f} | nDCG@10 {metric(sci, 'ndcg@10')} |")
    shutil.rmtree(tmp)
    head = "| corpus | store | hybrid search p50 ms | p99 ms | quality (hybrid) |\n|---|---|---|---|---|"
    note = (
        "In-process `Engine.search`, one caller. The Qdrant rows are its embedded mode, a pure-Python implementation that"
        " scans every point: a trial and test mode, not the latency of a Qdrant server (docs/SCALING.md)."
    )
    return head + "\n" + "\n".join(rows) + "\n\n" + note


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scifact", type=Path, default=DATA / "scifact")
    ap.add_argument("--docs", type=int, default=1000, help="SciFact abstracts to ingest")
    ap.add_argument("--queries", type=int, default=300)
    ap.add_argument("--faiss-index", type=Path, default=ROOT / "index" / "eval" / "scifact")
    ap.add_argument("--qdrant-index", type=Path, default=ROOT / "index" / "eval" / "scifact-qdrant")
    ap.add_argument("--skip-ingestion", action="store_true")
    args = ap.parse_args()
    if not args.skip_ingestion:
        write_section("Scale-out: ingestion", ingestion(args.scifact, args.docs), f"python bench/scaleout.py --docs {args.docs}")
    table = search_side_by_side(args.scifact, args.queries, args.faiss_index, args.qdrant_index)
    write_section("Scale-out: Qdrant store beside FAISS", table, f"python bench/scaleout.py --queries {args.queries}")


if __name__ == "__main__":
    main()
