"""`rag eval DATASET`: the CLI shell over rag.evaluation."""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

from .config import Settings
from .retrieval import MODES


def cmd_eval(args: argparse.Namespace) -> int:
    from .engine import Engine
    from .evaluation import run_eval

    modes = list(dict.fromkeys(args.mode or ["hybrid"]))
    dataset = Path(args.dataset)
    base = Settings(**({"model": args.model} if args.model else {}))

    def beir_engine(folder: Path) -> Engine:
        name = re.sub(r"[^\w.-]+", "_", folder.resolve().name)
        index_dir = Path(args.index_dir) if args.index_dir else base.index_dir / "eval" / name
        return Engine(base.model_copy(update={"index_dir": index_dir}))

    engine = None
    if dataset.is_file():
        engine = Engine(base.model_copy(update={"index_dir": Path(args.index_dir)} if args.index_dir else {}))
        if engine.stats()["chunks"] == 0:
            engine.sync([base.corpus_dir], progress=sys.stderr.isatty())
    report = run_eval(beir_engine, engine, dataset, args.split, modes, progress=sys.stderr.isatty())
    if args.per_query:
        with open(args.per_query, "w", encoding="utf-8") as f:
            for qid in next(iter(report.first_ranks.values()), {}):
                f.write(json.dumps({"query_id": qid, **{m: report.first_ranks[m][qid] for m in modes}}) + "\n")
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
        return 0
    print(f"{report.dataset}" + (f" [{report.split}]" if report.split else "") + f": {report.queries} queries")
    print(f"{'metric':<12}" + "".join(f"{m:>10}" for m in modes))
    for metric in next(iter(report.modes.values())):
        print(f"{metric:<12}" + "".join(f"{report.modes[m][metric]:>10.4f}" for m in modes))
    print("timings: " + ", ".join(f"{k} {v:.1f}" for k, v in report.timings.items()))
    for note in report.notes:
        print(note)
    return 0


def register(sub, common) -> None:
    sp = sub.add_parser("eval", help="measure retrieval quality on a BEIR folder or an evidence .jsonl file")
    sp.add_argument("dataset", help="BEIR folder (corpus.jsonl, queries.jsonl, qrels/) or evidence .jsonl")
    sp.add_argument("--split", default="test", help="BEIR qrels split (default test)")
    sp.add_argument("--mode", action="append", choices=MODES, help="repeatable; default hybrid")
    sp.add_argument("--per-query", metavar="FILE", help="write each query's first relevant rank (JSON Lines)")
    common(sp)
    sp.set_defaults(func=cmd_eval)
