"""A million 384-d vectors: exact (flat) versus IVF, build time, memory, p50 search, recall@10.

Synthetic unit vectors drawn around 10,000 centres (embeddings cluster by topic; uniform random
vectors would be an unrealistically hard case); queries are perturbed database vectors.

    python bench/scale.py [--n 1000000] [--queries 200]
"""

from __future__ import annotations

import argparse
import time

import faiss
import numpy as np
from common import percentile, write_section

from rag.faiss_index import FaissIndex, ivf_params


def synthetic(n: int, dim: int, spread: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((10000, dim)).astype("float32")
    out = np.empty((n, dim), dtype="float32")
    step = 100_000
    for s in range(0, n, step):
        m = min(step, n - s)
        out[s : s + m] = centres[rng.integers(0, len(centres), m)] + spread * rng.standard_normal((m, dim)).astype("float32")
    faiss.normalize_L2(out)
    return out


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        return next(int(l.split()[1]) for l in f if l.startswith("VmRSS")) / 1024


def timed_search(index: FaissIndex, queries: np.ndarray, k: int = 10) -> tuple[np.ndarray, list[float]]:
    ids, lat = [], []
    for q in queries:
        t0 = time.perf_counter()
        _, i = index.search(q[None, :], k)
        lat.append((time.perf_counter() - t0) * 1000)
        ids.append(i[0])
    return np.array(ids), lat


def recall(found: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean([len(set(f) & set(t)) / len(t) for f, t in zip(found, truth)]))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--spread", type=float, default=1.0, help="noise around each of 10,000 centres (1.0: as far as the centres)")
    args = ap.parse_args()
    dim = 384
    xb = synthetic(args.n, dim, args.spread)
    rng = np.random.default_rng(1)
    noise = rng.standard_normal((args.queries, dim)) * (1.2 / np.sqrt(dim))
    xq = np.ascontiguousarray(xb[rng.integers(0, args.n, args.queries)] + noise, dtype="float32")
    faiss.normalize_L2(xq)
    ids = np.arange(args.n, dtype="int64")
    rows = []

    base = rss_mb()
    t0 = time.perf_counter()
    flat = FaissIndex(dim)
    flat.add(ids, xb)
    build = time.perf_counter() - t0
    truth, lat = timed_search(flat, xq)
    rows.append(f"| exact (flat IP) | {build:.1f} | {rss_mb() - base:.0f} | {percentile(lat, 50):.2f} | {percentile(lat, 95):.2f} | 1.000 |")
    del flat

    nlist, nprobes = ivf_params(args.n)
    base = rss_mb()
    t0 = time.perf_counter()
    ivf = FaissIndex.ivf(dim, xb, ids, nlist)
    build = time.perf_counter() - t0
    mem = rss_mb() - base
    for nprobe in nprobes:
        ivf.nprobe = nprobe
        found, lat = timed_search(ivf, xq)
        rows.append(
            f"| IVF-Flat nlist={nlist} nprobe={nprobe} | {build:.1f} | {mem:.0f} | {percentile(lat, 50):.2f} | "
            f"{percentile(lat, 95):.2f} | {recall(found, truth):.3f} |"
        )
    md = (
        f"{args.n:,} synthetic unit vectors of {dim} dimensions around 10,000 centres (spread {args.spread}), "
        f"{args.queries} queries (perturbed database vectors), k=10, one query at a time.\n\n"
        "| index | build s | memory MB | p50 search ms | p95 search ms | recall@10 vs exact |\n"
        "| --- | --- | --- | --- | --- | --- |\n" + "\n".join(rows)
    )
    write_section("Scale: one million vectors", md, f"python bench/scale.py --n {args.n} --spread {args.spread}")


if __name__ == "__main__":
    main()
