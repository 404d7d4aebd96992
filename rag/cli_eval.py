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
    qrels = Path(args.qrels) if args.qrels else None
    report = run_eval(beir_engine, engine, dataset, args.split, modes, progress=sys.stderr.isatty(), qrels=qrels)
    if args.save_run:
        save_runs(report, Path(args.save_run), engine.settings if engine else base, modes)
    if args.report:
        from .report import html_report

        Path(args.report).write_text(html_report(report, "rag " + " ".join(sys.argv[1:])), encoding="utf-8")
        print(f"report written to {args.report}", file=sys.stderr)
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


def save_runs(report, target: Path, settings: Settings, modes: list[str]) -> None:
    from .runs import SavedRun, config_of, now, run_paths

    for mode, path in run_paths(target, modes).items():
        run = SavedRun(path.stem, report.dataset, report.split, mode, config_of(settings), report.qrels, report.runs[mode], now())
        written = run.save(path)
        print(f"run saved to {written[0]} (and {written[1].name})", file=sys.stderr)


def cmd_compare(args: argparse.Namespace) -> int:
    from .compare import compare_runs
    from .runs import SavedRun

    a, b = SavedRun.load(Path(args.run_a)), SavedRun.load(Path(args.run_b))
    result = compare_runs(a, b, args.metric, args.test)
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
        return 0
    print(f"{'metric':<12}{result.a[:18]:>20}{result.b[:18]:>20}{'B - A':>10}{'p (' + result.stat_test + ')':>14}")
    for m in result.metrics:
        x, y = result.scores[result.a][m], result.scores[result.b][m]
        star = " *" if result.p_values[m] < 0.05 else ""
        print(f"{m:<12}{x:>20.4f}{y:>20.4f}{y - x:>+10.4f}{result.p_values[m]:>14.4f}{star}")
    first = result.metrics[0]
    print(f"\n* p < 0.05. {len(result.better)} queries better and {len(result.worse)} worse on {first} (B vs A):")
    for label, rows in (("better", result.better), ("worse", result.worse)):
        for r in rows[: args.show]:
            print(f"  {label:<7}{r['query']:<24}{r['a']:.4f} -> {r['b']:.4f}")
    return 0


def register(sub, common) -> None:
    sp = sub.add_parser("eval", help="measure retrieval quality on a BEIR folder or an evidence .jsonl file")
    sp.add_argument("dataset", help="BEIR folder (corpus.jsonl, queries.jsonl, qrels/) or evidence .jsonl")
    sp.add_argument("--split", default="test", help="BEIR qrels split (default test)")
    sp.add_argument("--mode", action="append", choices=MODES, help="repeatable; default hybrid")
    sp.add_argument("--per-query", metavar="FILE", help="write each query's first relevant rank (JSON Lines)")
    sp.add_argument("--qrels", metavar="FILE", help="judgments for a BEIR folder in BEIR TSV or TREC format (instead of qrels/SPLIT.tsv)")
    sp.add_argument("--save-run", metavar="FILE", help="save the ranking (ranx JSON with its config, and TREC) as FILE[-mode].json/.trec")
    sp.add_argument("--report", metavar="FILE", help="write a self-contained HTML report (metrics, Recall@k, ranks, worst queries)")
    common(sp)
    sp.set_defaults(func=cmd_eval)

    sp = sub.add_parser("compare", help="compare two saved runs: metric deltas, a paired significance test, queries better/worse")
    sp.add_argument("run_a", help="baseline run (from rag eval --save-run)")
    sp.add_argument("run_b", help="run to compare against it")
    sp.add_argument("--metric", action="append", help="repeatable, ranx names (default ndcg@10, mrr@10, recall@5, recall@10)")
    sp.add_argument("--test", default="student", choices=["student", "fisher", "tukey"], help="ranx statistical test (default paired t-test)")
    sp.add_argument("--show", type=int, default=10, help="queries listed per direction (default 10)")
    sp.add_argument("--json", action="store_true", help="print machine-readable JSON")
    sp.set_defaults(func=cmd_compare)
