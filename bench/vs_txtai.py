"""Side by side with txtai: same model (bundled all-MiniLM-L6-v2), same passages, one run.

txtai lives in its own environment (`make bench-txtai-env` creates /tmp/txtai-venv); this script
runs its half there as a subprocess and compares. Indexing: our full pipeline on the seed corpus
(normalize, chunk, embed, store) versus txtai indexing our resulting passages; querying: in-process
search, 14 queries x 20 rounds, each side warmed up first.

    python bench/vs_txtai.py [--txtai-python /tmp/txtai-venv/bin/python]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from common import QUERIES, ROOT, percentile, write_section

from rag import Engine, Settings
from rag.embedding import resolve_model_path

TXTAI_SIDE = r"""
import json, sys, time
from txtai import Embeddings
data = json.load(open(sys.argv[1]))
t0 = time.perf_counter()
emb = Embeddings({"path": data["model"], "content": True, "backend": "faiss"})
load = time.perf_counter() - t0
t0 = time.perf_counter()
emb.index([(i, t, None) for i, t in enumerate(data["texts"])])
index_s = time.perf_counter() - t0
for q in data["queries"]:
    emb.search(q, 5)
lat = []
for _ in range(data["rounds"]):
    for q in data["queries"]:
        t1 = time.perf_counter(); emb.search(q, 5); lat.append((time.perf_counter() - t1) * 1000)
print(json.dumps({"load_s": load, "index_s": index_s, "lat": lat, "n": len(data["texts"])}))
"""


def ours_round(rounds: int) -> tuple[float, dict[str, float], list[str], str]:
    """Index the seed corpus into a fresh index, then time in-process queries per mode."""
    tmp = Path(tempfile.mkdtemp())
    engine = Engine(Settings(index_dir=tmp / "index"))
    engine.embedder.encode(["warm up"])  # model load is not indexing (txtai's load is not timed either)
    t0 = time.perf_counter()
    engine.sync([ROOT / "corpus"])
    index_s = time.perf_counter() - t0
    texts = [v.chunk.text for v in engine.chunks()]
    p50 = {}
    for mode in ("dense", "hybrid"):
        for q in QUERIES:
            engine.search(q, 5, mode)
        lat = []
        for _ in range(rounds):
            for q in QUERIES:
                t1 = time.perf_counter()
                engine.search(q, 5, mode)
                lat.append((time.perf_counter() - t1) * 1000)
        p50[mode] = percentile(lat, 50)
    shutil.rmtree(tmp)
    return index_s, p50, texts, engine.embedder.backend


def txtai_round(python: str, texts: list[str], rounds: int) -> dict:
    tmp = Path(tempfile.mkdtemp())
    spec = tmp / "job.json"
    spec.write_text(json.dumps({"model": resolve_model_path(Settings().model), "texts": texts, "queries": QUERIES, "rounds": rounds}))
    script = tmp / "txtai_side.py"
    script.write_text(TXTAI_SIDE)
    out = subprocess.run(
        [python, str(script), str(spec)],
        capture_output=True,
        text=True,
        env={"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "PATH": "/usr/bin:/bin"},
        check=True,
    )
    shutil.rmtree(tmp)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--txtai-python", default="/tmp/txtai-venv/bin/python")
    ap.add_argument("--rounds", type=int, default=20, help="query passes per side and repetition")
    ap.add_argument("--reps", type=int, default=2, help="alternating repetitions of both sides (best indexing time)")
    args = ap.parse_args()
    ours_index, theirs_index, ours_p50, theirs_p50 = [], [], {"dense": [], "hybrid": []}, []
    for _ in range(args.reps):
        index_s, p50, texts, backend = ours_round(args.rounds)
        ours_index.append(index_s)
        for mode in p50:
            ours_p50[mode].append(p50[mode])
        theirs = txtai_round(args.txtai_python, texts, args.rounds)
        theirs_index.append(theirs["index_s"])
        theirs_p50.append(percentile(theirs["lat"], 50))
    oi, ti = min(ours_index), min(theirs_index)
    od, oh, td = (sorted(v)[len(v) // 2] for v in (ours_p50["dense"], ours_p50["hybrid"], theirs_p50))
    md = (
        f"{len(texts)} passages of the seed corpus; same model files; ours: {backend} runtime, full pipeline from "
        f"files (normalize, chunk, embed, SQLite + FTS5 + FAISS); txtai: its default (PyTorch), indexing our "
        f"passages with content storage. Sides alternate, {args.reps} repetitions: best indexing time, median of "
        f"the per-repetition query p50s ({len(QUERIES)} queries x {args.rounds} passes, after a warm-up).\n\n"
        "| figure | ours | txtai | txtai ÷ ours |\n| --- | --- | --- | --- |\n"
        f"| indexing s | {oi:.1f} | {ti:.1f} | {ti / oi:.2f} |\n"
        f"| p50 query ms, dense | {od:.2f} | {td:.2f} | {td / od:.2f} |\n"
        f"| p50 query ms, ours hybrid vs txtai dense | {oh:.2f} | {td:.2f} | {td / oh:.2f} |"
    )
    write_section("Side by side with txtai", md, f"python bench/vs_txtai.py --reps {args.reps}")


if __name__ == "__main__":
    main()
