"""A/B of the default query path: this tree against another checkout of the project (e.g. the
previous release), alternating in one run on the same machine, so the figures compare as ratios.

    git worktree add /tmp/base <commit>
    python bench/ab_serve.py --base-tree /tmp/base [--rounds 3] [--seconds 15]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT, Server, bench_queries, percentile, write_section
from load import LUA, run_wrk

from rag import Engine, Settings


def one_client_p50(s: Server, queries: list[str]) -> float:
    for q in queries[:20]:  # warm-up
        s.post("/search", {"query": q})
    lat = []
    for q in queries:
        t0 = time.perf_counter()
        s.post("/search", {"query": q, "top_k": 5, "mode": "hybrid"})
        lat.append((time.perf_counter() - t0) * 1000)
    return percentile(lat, 50)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--base-tree", type=Path, required=True, help="another checkout of this project")
    ap.add_argument("--label", default="previous", help="name of the base in the table")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=15)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp())
    Engine(Settings(index_dir=tmp / "index")).sync([ROOT / "corpus"])
    queries = bench_queries(300)
    script = tmp / "q.lua"
    script.write_text(LUA % ", ".join(json.dumps(json.dumps({"query": q, "top_k": 5})) for q in bench_queries(500)))
    sides = {args.label: args.base_tree.resolve(), "this tree": ROOT}
    for name, tree in sides.items():  # each side must run its own tree's code (`python -m` reads the working directory first)
        where = subprocess.run([sys.executable, "-c", "import rag; print(rag.__file__)"], cwd=tree, capture_output=True, text=True, check=True)
        assert Path(where.stdout.strip()).is_relative_to(tree), (name, where.stdout)
    results: dict[str, dict[str, list[float]]] = {k: {"p50": [], "rps": [], "p99": [], "errors": []} for k in sides}
    for r in range(args.rounds):
        for name in list(sides) if r % 2 == 0 else list(sides)[::-1]:
            index = tmp / f"ix-{r}-{name.replace(' ', '_')}"
            shutil.copytree(tmp / "index", index)
            with Server(index, tree=sides[name]) as s:
                results[name]["p50"].append(one_client_p50(s, queries))
                run_wrk(s.base, 32, 3, script)  # warm-up of every worker
                n, errors, _, p99 = run_wrk(s.base, 32, args.seconds, script)
                results[name]["rps"].append(n / args.seconds)
                results[name]["p99"].append(p99)
                results[name]["errors"].append(errors)
            print(name, {k: round(v[-1], 1) for k, v in results[name].items()}, flush=True)
    shutil.rmtree(tmp)
    med = {k: {m: statistics.median(v) for m, v in res.items()} for k, res in results.items()}
    a, b = med[args.label], med["this tree"]
    rows = [f"| {k} | {v['p50']:.1f} | {v['rps']:.0f} | {v['p99']:.0f} | {sum(results[k]['errors']):.0f} |" for k, v in med.items()]
    rows.append(f"| ratio this / {args.label} | {b['p50'] / a['p50']:.2f} | {b['rps'] / a['rps']:.2f} | {b['p99'] / a['p99']:.2f} | |")
    md = (
        f"Default `rag serve` (all workers), seed corpus, hybrid `POST /search`. {args.rounds} rounds alternating the two "
        f"sides; medians. One client: 300 distinct queries over one kept-alive connection. Load: wrk, 32 connections, "
        f"{args.seconds:.0f} s, 500 distinct queries, after a 3 s warm-up.\n\n"
        "| side | one-client p50 ms | 32 clients req/s | p99 ms | errors |\n| --- | --- | --- | --- | --- |\n" + "\n".join(rows)
    )
    write_section(
        "Default path A/B", md, f"python bench/ab_serve.py --base-tree <checkout of {args.label}> --rounds {args.rounds} --seconds {args.seconds:.0f}"
    )


if __name__ == "__main__":
    main()
