"""What one query costs to embed, by query set: the figure that decides throughput under load.

Word pieces per query, CPU per query through the model on one thread in batches of 8 (as server
workers run it under load), and the BM25 search alone.

    python bench/query_cost.py
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

from common import QUERIES, ROOT, bench_queries, write_section

from rag import Engine, Settings


def main() -> None:
    tmp = Path(tempfile.mkdtemp())
    engine = Engine(Settings(index_dir=tmp / "index", threads=1))
    engine.sync([ROOT / "corpus"])
    engine.search("warm up")
    rows = []
    for name, queries in (("14 short (hand-written)", QUERIES * 8), ("500 distinct (bench/common.py)", bench_queries(500))):
        pieces = sum(engine.embedder.count_model_tokens(q) for q in queries) / len(queries)
        c0 = time.process_time()
        for i in range(0, len(queries), 8):
            engine.embedder.encode(queries[i : i + 8])
        embed_ms = (time.process_time() - c0) / len(queries) * 1000
        c0 = time.process_time()
        for q in queries:
            engine.lexical_candidates(q, 5)
        bm25_ms = (time.process_time() - c0) / len(queries) * 1000
        rows.append(f"| {name} | {pieces:.1f} | {embed_ms:.2f} | {bm25_ms:.2f} |")
    shutil.rmtree(tmp)
    md = (
        "| queries | word pieces per query | embedding CPU ms per query (1 thread, batches of 8) | BM25 CPU ms |\n"
        "| --- | --- | --- | --- |\n" + "\n".join(rows)
    )
    write_section("Query cost by query set", md, "python bench/query_cost.py")


if __name__ == "__main__":
    main()
