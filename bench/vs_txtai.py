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

TXTAI_SIDE = r'''
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
'''


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--txtai-python", default="/tmp/txtai-venv/bin/python")
    ap.add_argument("--rounds", type=int, default=20)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp())
    engine = Engine(Settings(index_dir=tmp / "index"))
    engine.embedder.encode(["warm up"])
    t0 = time.perf_counter()
    report = engine.sync([ROOT / "corpus"])
    ours_index = time.perf_counter() - t0
    texts = [r[0] for r in engine.store._conn().execute("SELECT text FROM chunks ORDER BY id")]
    ours = {}
    for mode in ("dense", "hybrid"):
        for q in QUERIES:
            engine.search(q, 5, mode)
        lat = []
        for _ in range(args.rounds):
            for q in QUERIES:
                t1 = time.perf_counter()
                engine.search(q, 5, mode)
                lat.append((time.perf_counter() - t1) * 1000)
        ours[mode] = percentile(lat, 50)
    spec = tmp / "job.json"
    spec.write_text(json.dumps({"model": resolve_model_path(engine.settings.model), "texts": texts,
                                "queries": QUERIES, "rounds": args.rounds}))
    script = tmp / "txtai_side.py"
    script.write_text(TXTAI_SIDE)
    out = subprocess.run([args.txtai_python, str(script), str(spec)], capture_output=True, text=True,
                         env={"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "PATH": "/usr/bin:/bin"}, check=True)
    theirs = json.loads(out.stdout.strip().splitlines()[-1])
    shutil.rmtree(tmp)
    t50 = percentile(theirs["lat"], 50)
    md = (f"{report.chunks_embedded} passages of the seed corpus; backend: ours {engine.embedder.backend}, "
          f"txtai default (PyTorch).\n\n"
          "| figure | ours | txtai | txtai ÷ ours |\n| --- | --- | --- | --- |\n"
          f"| indexing s (ours: files to index; txtai: passages to index) | {ours_index:.1f} | {theirs['index_s']:.1f} | {theirs['index_s'] / ours_index:.2f} |\n"
          f"| p50 query ms, dense | {ours['dense']:.2f} | {t50:.2f} | {t50 / ours['dense']:.2f} |\n"
          f"| p50 query ms, ours hybrid vs txtai dense | {ours['hybrid']:.2f} | {t50:.2f} | {t50 / ours['hybrid']:.2f} |")
    write_section("Side by side with txtai", md, "python bench/vs_txtai.py")


if __name__ == "__main__":
    main()
