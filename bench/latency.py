"""Query latency over HTTP (one client, sequential) and cold start, against `rag serve` on the seeds.

python bench/latency.py [--n 500]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from common import QUERIES, ROOT, Server, bench_queries, percentile, write_section

from rag import Engine, Settings


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=500)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp())
    Engine(Settings(index_dir=tmp / "index")).sync([ROOT / "corpus"])
    rows = []
    starts = []
    for _ in range(3):
        with Server(tmp / "index") as s:
            starts.append(s.ready_s)
    queries = bench_queries(args.n)
    with Server(tmp / "index") as s:
        for mode in ("hybrid", "dense", "lexical"):
            for q in QUERIES:  # warm-up
                s.post("/search", {"query": q, "mode": mode})
            lat = []
            for i in range(args.n):
                t0 = time.perf_counter()
                s.post("/search", {"query": queries[i % len(queries)], "top_k": 5, "mode": mode})
                lat.append((time.perf_counter() - t0) * 1000)
            rows.append(f"| POST /search ({mode}) | {args.n} | {percentile(lat, 50):.1f} | {percentile(lat, 95):.1f} | {percentile(lat, 99):.1f} |")
    shutil.rmtree(tmp)
    md = (
        f"One client over one kept-alive connection, {len(queries)} distinct queries per mode (bench/common.py), "
        "top_k 5, after a warm-up.\n\n| request | n | p50 ms | p95 ms | p99 ms |\n| --- | --- | --- | --- | --- |\n"
        + "\n".join(rows)
        + "\n\nCold start (process start to `GET /ready` = 200, index already built), 3 runs: "
        + ", ".join(f"{x:.1f} s" for x in starts)
        + f" (median {sorted(starts)[1]:.1f} s)."
    )
    write_section("Query latency and cold start", md, f"python bench/latency.py --n {args.n}")


if __name__ == "__main__":
    main()
