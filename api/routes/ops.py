"""Health, readiness, statistics and Prometheus metrics."""

from __future__ import annotations

import os
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from ..deps import EngineDep
from ..metrics import CONTENT_TYPE
from ..schemas import Health, Ready, Stats, errors

router = APIRouter(tags=["operations"])  # always open
protected = APIRouter(tags=["operations"])  # behind the read key when RAG_PROTECT_READS is set


# health and ready are async and touch nothing but memory: they answer while every thread is busy.
@router.get("/health", response_model=Health, summary="Liveness: answers while the index is still loading")
async def health(request: Request) -> dict[str, Any]:
    return {"status": "ok", "ready": request.app.state.ready, "error": request.app.state.error, "worker_pid": os.getpid()}


@router.get(
    "/ready",
    response_model=Ready,
    summary="200 once this worker can serve searches, else 503 with the reason",
    responses={503: {"model": Ready, "description": "Not ready; `error` says why."}},
)
async def ready(request: Request) -> dict[str, Any]:
    state = request.app.state
    problem = state.error if not state.ready else state.engine.health()
    if state.ready and problem is None:
        return {"ready": True, "worker_pid": os.getpid()}
    return JSONResponse({"ready": False, "error": problem, "worker_pid": os.getpid()}, status_code=503)  # type: ignore[return-value]


@protected.get("/stats", response_model=Stats, responses=errors(503))
def stats(engine: EngineDep) -> dict[str, Any]:
    return engine.stats()


@protected.get(
    "/metrics",
    summary="Prometheus text: every worker's counters",
    response_class=Response,
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}, "description": "Prometheus text format 0.0.4."}},
)
def metrics(request: Request) -> Response:
    state = request.app.state
    engine = getattr(state, "engine", None)
    gauges = {"ready": int(state.ready)}
    if engine is not None and state.ready:
        s = engine.stats()
        gauges.update(index_documents=s["documents"], index_chunks=s["chunks"], index_generation=s["generation"])
    return Response(state.metrics.render(gauges, state.settings.server_workers()), media_type=CONTENT_TYPE)
