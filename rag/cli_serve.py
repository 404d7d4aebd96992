"""`rag serve` and `rag ask`: CLI shells over the service and rag.Engine."""
from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from .config import Settings


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from api.app import create_app

    overrides = {k: v for k, v in {"host": args.host, "port": args.port, "model": args.model,
                                   "index_dir": Path(args.index_dir) if args.index_dir else None}.items() if v}
    settings = Settings(**overrides)
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s",
                        force=True)
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_level="warning")
    return 0


def cmd_ask(args: argparse.Namespace) -> int:
    from .cli import _engine

    answer = _engine(args).ask(args.question, top_k=args.top_k)
    if args.json:
        print(json.dumps(answer.to_dict(), ensure_ascii=False, indent=2))
        return 0
    print(answer.answer)
    for c in answer.citations:
        print(f"  [{c['marker']}] {c['title']} — {c['source']}:{c['line_start']}-{c['line_end']}")
    return 0


def register(sub, common) -> None:
    sp = sub.add_parser("serve", help="run the HTTP service (indexes the bundled corpus on first start)")
    sp.add_argument("--host", help="bind address (default 127.0.0.1)")
    sp.add_argument("--port", type=int, help="port (default 8000)")
    common(sp, json_flag=False)
    sp.set_defaults(func=cmd_serve)

    sp = sub.add_parser("ask", help="an extractive answer with [n] citations")
    sp.add_argument("question")
    sp.add_argument("--top-k", type=int, default=5)
    common(sp)
    sp.set_defaults(func=cmd_ask)
