"""`rag serve` and `rag ask`: CLI shells over the service and rag.Engine."""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
from pathlib import Path

from .collections import Collections
from .config import Settings


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    overrides = {
        k: v
        for k, v in {
            "host": args.host,
            "port": args.port,
            "model": args.model,
            "workers": args.workers,
            "index_dir": Path(args.index_dir).resolve() if args.index_dir else None,
        }.items()
        if v is not None
    }
    settings = Settings(**overrides)
    problem = settings.service_problem()
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    workers = settings.server_workers()
    single = Collections(settings).one_process_only() if workers > 1 else []
    if single:
        print(f"note: collections {', '.join(single)} use Qdrant's embedded mode, which admits one process: serving with one worker", file=sys.stderr)
        workers = 1
    # Worker processes build their own Settings from the environment: hand the command line down.
    os.environ.update({f"RAG_{k.upper()}": str(v) for k, v in overrides.items()})
    os.environ["RAG_WORKERS"] = str(workers)
    if not settings.threads:
        os.environ["RAG_THREADS"] = str(max(1, (os.cpu_count() or 1) // workers))
    with tempfile.TemporaryDirectory(prefix="rag-metrics-") as metrics_dir, tempfile.TemporaryDirectory(prefix="rag-shared-") as shared:
        # Set before any worker imports prometheus_client: every worker then writes its counters here.
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
        os.environ.setdefault("RAG_SHARED_DIR", shared)  # failed API-key counts, one for all workers
        uvicorn.run(
            "api.app:create_app_from_env",
            factory=True,
            host=settings.host,
            port=settings.port,
            workers=workers,
            log_level="warning",
            limit_concurrency=settings.max_concurrency,
            backlog=settings.backlog,
            timeout_graceful_shutdown=math.ceil(settings.shutdown_timeout_s),
        )
    return 0


def cmd_ask(args: argparse.Namespace) -> int:
    from .cli import _engine

    answer = _engine(args).ask(args.question, top_k=args.top_k, generate=not args.extractive)
    if args.json:
        print(json.dumps(answer.to_dict(), ensure_ascii=False, indent=2))
        return 0
    print(answer.answer)
    for c in answer.citations:
        page = f", page {c['page']}" if c["page"] is not None else ""
        section = f"  §{c['section']}" if c["section"] else ""
        print(f"  [{c['marker']}] {c['title']} — {c['source']}:{c['line_start']}-{c['line_end']}{page}{section}")
    for claim in answer.claims:
        if not claim["supported"]:
            why = ", ".join(claim["unsupported_terms"]) or f"support {claim['score']:.2f}"
            print(f"  not supported by the sources ({why}): {claim['text']}")
    return 0


def register(sub, common) -> None:
    sp = sub.add_parser("serve", help="run the HTTP service (indexes the bundled corpus on first start)")
    sp.add_argument("--host", help="bind address (default 127.0.0.1)")
    sp.add_argument("--port", type=int, help="port (default 8000)")
    sp.add_argument("--workers", type=int, help="server processes sharing the index (default: one per core, at most 4)")
    common(sp, json_flag=False, collection=False)
    sp.set_defaults(func=cmd_serve)

    sp = sub.add_parser("ask", help="an answer with [n] citations: extractive, or by the LLM at RAG_LLM_BASE_URL, verified")
    sp.add_argument("question")
    sp.add_argument("--top-k", type=int, default=5)
    sp.add_argument("--extractive", action="store_true", help="quote the sources even when an LLM is configured")
    common(sp)
    sp.set_defaults(func=cmd_ask)
