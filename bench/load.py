"""Throughput under load: wrk (C, light on the shared 2 cores) with N connections for a fixed time
against `rag serve` on the seed corpus; falls back to an asyncio httpx client without wrk.

    python bench/load.py [--seconds 30] [--clients 8 32 64]      # apt-get install wrk
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from common import QUERIES, ROOT, Server, bench_queries, percentile, write_section

from rag import Engine, Settings

LUA = """
local bodies = {%s}
local counter = 0
function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
end
function init(args)
  i = id * 251  -- each wrk thread starts elsewhere in the list: no two send the same query together
end
request = function()
  i = i + 1
  return wrk.format("POST", "/search", {["Content-Type"] = "application/json"}, bodies[(i %% #bodies) + 1])
end
"""


def _ms(value: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", value)
    if m is None:
        raise RuntimeError(f"unexpected wrk latency {value!r}")
    return float(m.group(1)) * {"us": 0.001, "ms": 1, "s": 1000, "m": 60000}[m.group(2)]


def run_wrk(base: str, clients: int, seconds: float, script: Path) -> tuple[int, int, float, float]:
    out = subprocess.run(
        ["wrk", "-t2", f"-c{clients}", f"-d{int(seconds)}s", "--latency", "--timeout", "10s", "-s", str(script), base],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    if not re.search(r"(?m)^\s+99%\s+\S+", out):
        raise RuntimeError(f"unexpected wrk output:\n{out}")
    n = int(re.search(r"(\d+) requests in", out).group(1))
    errors = sum(int(x) for x in re.findall(r"Non-2xx or 3xx responses: (\d+)", out))
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    errors += sum(int(x) for x in sock.groups()) if sock else 0
    # Anchored: a column of the stats table above can also end in "50%".
    p50 = _ms(re.search(r"(?m)^\s+50%\s+(\S+)", out).group(1))
    p99 = _ms(re.search(r"(?m)^\s+99%\s+(\S+)", out).group(1))
    return n, errors, p50, p99


async def run_httpx(base: str, clients: int, seconds: float, queries: list[str]) -> tuple[int, int, float, float]:
    import httpx

    lat: list[float] = []
    errors = 0
    stop = time.perf_counter() + seconds
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:

        async def worker(w: int) -> None:
            nonlocal errors
            i = w
            while time.perf_counter() < stop:
                t0 = time.perf_counter()
                try:
                    r = await client.post("/search", json={"query": queries[i % len(queries)], "top_k": 5})
                    errors += r.status_code != 200
                except httpx.HTTPError:
                    errors += 1
                lat.append((time.perf_counter() - t0) * 1000)
                i += clients

        await asyncio.gather(*(worker(w) for w in range(clients)))
    return len(lat), errors, percentile(lat, 50), percentile(lat, 99)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=30)
    ap.add_argument("--clients", type=int, nargs="+", default=[8, 32, 64])
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp())
    Engine(Settings(index_dir=tmp / "index")).sync([ROOT / "corpus"])
    query_sets = {"500 distinct": bench_queries(500), "14 short": QUERIES}
    scripts = {}
    for name, qs in query_sets.items():
        scripts[name] = tmp / f"{len(qs)}.lua"
        scripts[name].write_text(LUA % ", ".join(json.dumps(json.dumps({"query": q, "top_k": 5})) for q in qs))
    use_wrk = shutil.which("wrk") is not None

    def load(base: str, clients: int, seconds: float, name: str = "500 distinct") -> tuple[int, int, float, float]:
        if use_wrk:
            return run_wrk(base, clients, seconds, scripts[name])
        return asyncio.run(run_httpx(base, clients, seconds, query_sets[name]))

    def row(label: str, name: str, clients: int, result: tuple[int, int, float, float]) -> str:
        n, errors, p50, p99 = result
        return f"| {label} | {name} | {clients} | {args.seconds:.0f} | {n} | {n / args.seconds:.0f} | {p50:.0f} | {p99:.0f} | {errors} |"

    rows = []
    workers = Settings().server_workers()
    for label, extra in ((f"{workers} (default)", ()), ("1", ("--workers", "1"))):
        with Server(tmp / "index", args=extra) as s:
            load(s.base, 32, 3)  # warm-up: every worker has loaded its model and filled its caches
            for c in args.clients if not extra else [32]:
                rows.append(row(label, "500 distinct", c, load(s.base, c, args.seconds)))
            if not extra:
                rows.append(row(label, "14 short", 32, load(s.base, 32, args.seconds, "14 short")))
    shutil.rmtree(tmp)
    tool = "wrk -t2 --latency (2 threads)" if use_wrk else "an asyncio httpx client"
    md = (
        f"Hybrid `POST /search`, top_k 5, against `rag serve` with its default {workers} worker processes and, for "
        f"comparison, with one; load from {tool} on the same cores as the server, after a 3 s warm-up. Queries "
        "rotate through a set: *500 distinct* (bench/common.py: questions and sentence openings) or *14 short* (the "
        'hand-written ones); their lengths and costs are in the section "Query cost by query set". The query embedding is most of the '
        "work, and its cost grows with length.\n\n"
        "| workers | queries | clients | seconds | requests | req/s | p50 ms | p99 ms | errors |\n"
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |\n" + "\n".join(rows)
    )
    write_section("Throughput under load", md, f"python bench/load.py --seconds {args.seconds:.0f}")


if __name__ == "__main__":
    main()
