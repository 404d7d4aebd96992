"""Collections: list, create, describe, delete. Each collection's documents, search, ask and
context routes are the default ones under /collections/{collection} (see the app factory)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool

from rag.collections import Collections
from rag.errors import BadInputError

from ..deps import CollectionPath, collection_read, collection_write
from ..schemas import CollectionCreated, CollectionIn, CollectionInfo, CollectionList, Deleted, errors

reads = APIRouter(tags=["collections"], responses=errors(503))
writes = APIRouter(tags=["collections"], responses=errors(400, 409, 503, 507))


def _collections(request: Request) -> Collections:
    return request.app.state.collections


@reads.get("/collections", response_model=CollectionList, summary="Every collection with its settings and counts")
async def list_collections(request: Request) -> dict[str, Any]:
    collections = _collections(request)
    rows = [c.public() for c in map(collections.config, collections.names())]
    return {"collections": rows, "count": len(rows)}


@writes.post("/collections", response_model=CollectionCreated, status_code=201, summary="Create a collection (optionally with its own API key)")
async def create_collection(req: CollectionIn, request: Request) -> dict[str, Any]:
    collections = _collections(request)
    known = {m for m in (collections.settings.model, collections.settings.rescore_model) if m}
    if req.model is not None and req.model not in known:
        # A model named over HTTP could be any path on the server: only those it already has.
        raise BadInputError(f"model {req.model!r} is not one this service has; use one of {sorted(known)} (or `rag collections create`)")
    workers = collections.settings.workers or 1  # `rag serve` sets RAG_WORKERS for its workers; in-process apps are one
    cfg, key = await run_in_threadpool(collections.create, req.name, req.model, req.chunk_tokens, req.chunk_overlap, req.store, req.with_key, workers)
    return {**cfg.public(), "api_key": key}


@reads.get(
    "/collections/{collection}",
    response_model=CollectionInfo,
    dependencies=[Depends(collection_read)],
    responses=errors(401, 404, 429),
    summary="A collection's settings and counts",
)
async def describe_collection(collection: CollectionPath, request: Request) -> dict[str, Any]:
    return await run_in_threadpool(_collections(request).describe, collection)


@reads.delete(
    "/collections/{collection}",
    response_model=Deleted,
    dependencies=[Depends(collection_write)],
    responses=errors(400, 401, 404, 429),
    summary="Delete a collection and all its documents (needs its key or the service's)",
)
async def delete_collection(collection: CollectionPath, request: Request) -> dict[str, Any]:
    await run_in_threadpool(_collections(request).delete, collection)
    return {"deleted": collection}
