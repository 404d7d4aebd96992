"""Cost of one small write into a big index: a 1-page upload (5 chunks) into an index of N vectors,
time and bytes written (the process's write() bytes, /proc/self/io `wchar`), through the Store.

Run it once per code version, e.g. the release before delta writes and this tree, and compare:

    PYTHONPATH=/tmp/base python bench/write_cost.py --label before --sizes 100000 1000000
    python bench/write_cost.py --label after --sizes 100000 1000000 --write
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from rag.models import Chunk, Document
from rag.store import DocumentWrite, IndexSpec, Store

DIM = 384
SPEC = IndexSpec("bench-model", 160, 32, True)
RESULTS = Path(__file__).with_name("write_cost.json")


def wchar() -> int:
    with open("/proc/self/io") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("wchar"))


def synthetic(doc: str, n_chunks: int, rng: np.random.Generator) -> tuple[DocumentWrite, dict[str, np.ndarray]]:
    text = " ".join(f"w{i}" for i in range(n_chunks))
    chunks = [Chunk(f"{doc}:{i}", doc, i, f"w{i}", i, i + 1, 1, 1, "", 1, None) for i in range(n_chunks)]
    keys = [f"{doc}:{i}" for i in range(n_chunks)]
    vecs = rng.standard_normal((n_chunks, DIM)).astype("float32")
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    d = Document(doc_id=doc, title=doc, source=doc, text=text, sha256="0", metadata={}, path=None, line_points=[(0, 1)], page_points=[])
    return DocumentWrite(d, chunks, keys), dict(zip(keys, vecs))


def measure(n: int, repeats: int) -> dict:
    tmp = Path(tempfile.mkdtemp())
    rng = np.random.default_rng(0)
    store = Store(tmp / "index", SPEC)
    t0 = time.perf_counter()
    per_doc = 1000
    for start in range(0, n, 100 * per_doc):  # bulk load in commits of 100k vectors
        writes, vectors = [], {}
        for d in range(start // per_doc, min(n, start + 100 * per_doc) // per_doc):
            w, v = synthetic(f"d{d}", per_doc, rng)
            writes.append(w)
            vectors.update(v)
        store.apply([], writes, vectors)
    build_s = time.perf_counter() - t0
    times, written = [], []
    for r in range(repeats):
        w, v = synthetic(f"upload{r}", 5, rng)
        before, t1 = wchar(), time.perf_counter()
        store.apply([], [w], v)
        times.append(time.perf_counter() - t1)
        written.append(wchar() - before)
    shutil.rmtree(tmp)
    return {"vectors": n, "build_s": round(build_s, 1), "upload_s": times, "upload_bytes": written}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--label", required=True)
    ap.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--write", action="store_true", help="write the docs/BENCHMARKS.md section from all recorded labels")
    args = ap.parse_args()
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    results[args.label] = [measure(n, args.repeats) for n in args.sizes]
    RESULTS.write_text(json.dumps(results, indent=1))
    print(json.dumps(results[args.label], indent=1))
    if args.write:
        from common import write_section

        rows = []
        for label, runs in results.items():
            for r in runs:
                t, b = sorted(r["upload_s"]), sorted(r["upload_bytes"])
                mid = len(t) // 2
                rows.append(f"| {label} | {r['vectors']:,} | {t[mid] * 1000:.1f} | {t[-1] * 1000:.1f} | {b[mid] / 1e6:.3f} | {b[-1] / 1e6:.3f} |")
        md = (
            "One 1-page upload (5 chunks, 384-dim vectors) into an index of N vectors through `Store.apply`, "
            f"{args.repeats} uploads each, after a bulk load in commits of 100k. Bytes: what the process passed to write() "
            "(/proc/self/io wchar: SQLite, vector files). *before*: the release before this change (every write cloned the "
            "in-memory index and wrote it whole); *after*: a delta file per write, folded into a snapshot once the deltas pass "
            "a quarter of it (the max column shows a write that compacts, if any did).\n\n"
            "| code | vectors | median ms | max ms | median MB written | max MB written |\n| --- | --- | --- | --- | --- | --- |\n" + "\n".join(rows)
        )
        write_section("Write cost in a large index", md, "python bench/write_cost.py --label <name> --sizes 100000 1000000")


if __name__ == "__main__":
    main()
