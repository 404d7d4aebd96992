"""Throughput under load: concurrent async clients for a fixed time against `rag serve` (seeds).

    python bench/load.py [--seconds 30] [--clients 8 32 64]
"""
from __future__ import annotations

import argparse
import asyncio
import shutil
import tempfile
import time
from pathlib import Path

import httpx
from common import QUERIES, ROOT, Server, percentile, write_section

from rag import Engine, Settings


async def run(base: str, clients: int, seconds: float) -> tuple[int, int, list[float]]:
    lat: list[float] = []
    errors = 0
    stop = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30) as client:
        async def worker(w: int) -> None:
            nonlocal errors
            i = w
            while time.perf_counter() < stop:
                t0 = time.perf_counter()
                try:
                    r = await client.post("/search", json={"query": QUERIES[i % len(QUERIES)], "top_k": 5})
                    if r.status_code != 200:
                        errors += 1
                except httpx.HTTPError:
                    errors += 1
                lat.append((time.perf_counter() - t0) * 1000)
                i += clients
        await asyncio.gather(*(worker(w) for w in range(clients)))
    return len(lat), errors, lat


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=30)
    ap.add_argument("--clients", type=int, nargs="+", default=[8, 32, 64])
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp())
    Engine(Settings(index_dir=tmp / "index")).sync([ROOT / "corpus"])
    rows = []
    with Server(tmp / "index") as s:
        asyncio.run(run(s.base, 4, 3))  # warm-up
        for c in args.clients:
            n, errors, lat = asyncio.run(run(s.base, c, args.seconds))
            rows.append(f"| {c} | {args.seconds:.0f} | {n} | {n / args.seconds:.0f} | {percentile(lat, 50):.0f} | "
                        f"{percentile(lat, 99):.0f} | {errors} |")
    shutil.rmtree(tmp)
    md = ("Hybrid `POST /search`, top_k 5, 14 rotating queries; the load generator (httpx, asyncio) runs on "
          "the same 2 cores as the server.\n\n| clients | seconds | requests | req/s | p50 ms | p99 ms | errors |\n"
          "| --- | --- | --- | --- | --- | --- | --- |\n" + "\n".join(rows))
    write_section("Throughput under load", md, f"python bench/load.py --seconds {args.seconds:.0f}")


if __name__ == "__main__":
    main()
