"""`rag collections`: create, list, show and delete collections."""

from __future__ import annotations

import argparse
import json

from .collections import Collections


def _collections(args: argparse.Namespace) -> Collections:
    from .cli import _settings

    return Collections(_settings(args))


def cmd_list(args: argparse.Namespace) -> int:
    collections = _collections(args)
    rows = [collections.describe(name) for name in collections.names()]
    if args.json:
        print(json.dumps({"collections": rows}, indent=2))
        return 0
    for r in rows:
        lock = "  (own key)" if r["protected"] else ""
        print(f"{r['name']:<24} {r['documents']:>6} documents {r['chunks']:>8} chunks  {r['store']:<7} {r['model']}{lock}")
    return 0


def cmd_create(args: argparse.Namespace) -> int:
    cfg, key = _collections(args).create(args.name, args.model, args.chunk_tokens, args.chunk_overlap, args.store, args.with_key)
    if args.json:
        print(json.dumps({**cfg.public(), "api_key": key}, indent=2))
        return 0
    print(f"created collection {cfg.name!r} (model {cfg.model}, store {cfg.store}, {cfg.chunk_tokens}-token chunks)")
    if key:
        print(f"its API key (shown this once): {key}")
    print(f"add documents with: rag index PATHS --collection {cfg.name}")
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    print(json.dumps(_collections(args).describe(args.name), indent=2))
    return 0


def cmd_delete(args: argparse.Namespace) -> int:
    _collections(args).delete(args.name)
    print(f"deleted collection {args.name!r}")
    return 0


def register(sub, common) -> None:
    sp = sub.add_parser("collections", help="create, list, show and delete collections (each with its own documents and settings)")
    verbs = sp.add_subparsers(dest="verb", required=True)

    v = verbs.add_parser("list", help="every collection with its counts")
    common(v, collection=False)
    v.set_defaults(func=cmd_list)

    v = verbs.add_parser("create", help="a new, empty collection")
    v.add_argument("name", help="1-63 of a-z 0-9 - _")
    v.add_argument("--store", choices=["faiss", "qdrant"], help="vector store (default: $RAG_STORE or faiss)")
    v.add_argument("--chunk-tokens", type=int, help="chunk size in cl100k tokens (default: $RAG_CHUNK_TOKENS)")
    v.add_argument("--chunk-overlap", type=int, help="chunk overlap in tokens (default: $RAG_CHUNK_OVERLAP)")
    v.add_argument("--with-key", action="store_true", help="give the collection its own API key (printed once)")
    common(v, collection=False)
    v.set_defaults(func=cmd_create)

    v = verbs.add_parser("show", help="one collection's settings and counts")
    v.add_argument("name")
    common(v, json_flag=False, collection=False)
    v.set_defaults(func=cmd_show)

    v = verbs.add_parser("delete", help="remove a collection with all its documents")
    v.add_argument("name")
    common(v, json_flag=False, collection=False)
    v.set_defaults(func=cmd_delete)
