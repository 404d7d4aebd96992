"""The `rag` command: a thin shell over rag.Engine."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import textwrap
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .collections import DEFAULT, Collections
from .config import Settings
from .errors import BadInputError
from .retrieval import MODES


def _settings(args: argparse.Namespace, create: bool = False) -> Settings:
    """Settings from the environment and the command line; with ``--collection``, that collection's
    (``create``: made first if it does not exist)."""
    overrides: dict[str, Any] = {}
    if getattr(args, "index_dir", None):
        overrides["index_dir"] = Path(args.index_dir)
    if getattr(args, "model", None):
        overrides["model"] = args.model
    settings = Settings(**overrides)
    name = getattr(args, "collection", None)
    if name and name != DEFAULT:
        collections = Collections(settings)
        if create:
            collections.ensure(name)
        settings = collections.settings_for(name)
    return settings


def _engine(args: argparse.Namespace):
    from .engine import Engine

    return Engine(_settings(args))


def _print_json(obj: Any) -> None:
    print(json.dumps(obj, ensure_ascii=False, indent=2))


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be 1 or more")
    return value


def cmd_index(args: argparse.Namespace) -> int:
    settings = _settings(args, create=True)
    if args.rebuild:
        from .store import destroy_index

        destroy_index(settings.index_dir, settings.store, settings.qdrant_url, settings.qdrant_api_key)
    from .engine import Engine

    engine = Engine(settings)
    paths = args.paths or [settings.corpus_dir]
    progress = not args.quiet and sys.stderr.isatty()
    pipeline = None
    if args.engine == "ray":
        from .ray_ingest import RayPipeline

        pipeline = RayPipeline(args.address, args.batch_size, args.concurrency, progress)
    elif args.address:
        raise BadInputError("--address needs --engine ray")
    report = engine.sync(paths, progress=progress, pipeline=pipeline)
    if args.json:
        _print_json(report.to_dict())
    else:
        print(f"indexed {', '.join(map(str, paths))} into {settings.index_dir}")
        print(
            f"  added {report.added}, updated {report.updated}, removed {report.removed}, "
            f"unchanged {report.unchanged}; chunks embedded {report.chunks_embedded}"
        )
        for s in report.skipped:
            print(f"  skipped (unsupported type): {s}")
        for e in report.errors:
            print(f"  error: {e['file']}: {e['error']}", file=sys.stderr)
    return 1 if report.errors and not (report.added or report.updated or report.unchanged) else 0


def cmd_search(args: argparse.Namespace) -> int:
    engine = _engine(args)
    try:
        filters = json.loads(args.filter) if args.filter else None
    except ValueError as e:
        raise BadInputError(f"--filter is not JSON: {e}") from e
    result = engine.search(args.query, top_k=args.top_k, mode=args.mode, filters=filters)
    if args.json:
        _print_json(result.to_dict())
        return 0
    if not result.hits:
        print("no results (is the index empty? run `rag index`)")
    for h in result.hits:
        c = h.chunk
        where = f"{h.source}:{c.line_start}-{c.line_end}" + (f" (page {c.page})" if c.page else "")
        print(f"[{h.rank}] {h.score:.4f}  {h.title}")
        print(f"    {where}" + (f"  §{c.section}" if c.section else ""))
        print(textwrap.indent(textwrap.fill(c.text, 100), "    "))
        print()
    return 0


def cmd_stats(args: argparse.Namespace) -> int:
    _print_json(_engine(args).stats())
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="rag", description="Grounded retrieval: index documents, search them with provenance, answer with citations.")
    p.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    sub = p.add_subparsers(dest="command", required=True)

    def common(sp: argparse.ArgumentParser, json_flag: bool = True, collection: bool = True) -> None:
        sp.add_argument("--index-dir", help="index directory (default: $RAG_INDEX_DIR or ./index)")
        sp.add_argument("--model", help="sentence-transformers model name or path (default: bundled all-MiniLM-L6-v2)")
        if collection:
            sp.add_argument("--collection", help="the collection to use (default: `default`, the index folder itself)")
        if json_flag:
            sp.add_argument("--json", action="store_true", help="print machine-readable JSON")

    sp = sub.add_parser("index", help="make the index match the files under PATHS (default: corpus/)")
    sp.add_argument("paths", nargs="*", type=Path, help="files or folders (.txt .md .html .pdf .docx)")
    sp.add_argument("--rebuild", action="store_true", help="delete the index first and build it anew")
    sp.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    sp.add_argument("--engine", choices=["local", "ray"], default="local", help="where to parse, chunk and embed (default: this process)")
    sp.add_argument("--address", help="Ray cluster to use with --engine ray (default: start a local one for the run)")
    sp.add_argument("--batch-size", type=_positive, default=8, help="documents per Ray Data batch (--engine ray; default 8)")
    sp.add_argument("--concurrency", type=_positive, default=2, help="embedding actors (--engine ray; default 2)")
    common(sp)
    sp.set_defaults(func=cmd_index)

    sp = sub.add_parser("search", help="ranked passages for a question")
    sp.add_argument("query")
    sp.add_argument("--top-k", type=int, default=5, help="number of passages (1-100, default 5)")
    sp.add_argument("--mode", choices=MODES, default="hybrid", help="retriever (default hybrid)")
    sp.add_argument("--filter", help='JSON filters, e.g. \'{"year": {"gte": 2009}, "doc_id": ["a", "b"]}\'')
    common(sp)
    sp.set_defaults(func=cmd_search)

    sp = sub.add_parser("stats", help="documents, chunks, model and generation of the index")
    common(sp, json_flag=False)
    sp.set_defaults(func=cmd_stats)
    _register_extra(sub, common)
    return p


def _register_extra(sub, common: Callable) -> None:
    """Commands kept in their own modules (eval, ask, serve). A broken import is a bug: it must show,
    not silently remove the commands."""
    from . import cli_collections, cli_eval, cli_serve

    for module in (cli_eval, cli_serve, cli_collections):
        module.register(sub, common)


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if getattr(args, "top_k", None) is not None and not 1 <= args.top_k <= 100:
        print("error: --top-k must be between 1 and 100", file=sys.stderr)
        return 2
    from .errors import RagError

    try:
        return args.func(args)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `rag ... | head`: the reader has what it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except RagError as e:  # anything else is a bug and keeps its traceback
        if args.verbose:
            traceback.print_exc()
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
