"""Health, readiness, statistics and Prometheus metrics."""
from __future__ import annotations

import os

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from ..deps import EngineDep, ReadAuth
from ..metrics import CONTENT_TYPE

router = APIRouter(tags=["operations"])


# health and ready are async and touch nothing but memory: they answer while every thread is busy.
@router.get("/health", summary="Liveness: answers while the index is still loading")
async def health(request: Request):
    return {"status": "ok", "ready": request.app.state.ready, "error": request.app.state.error,
            "worker_pid": os.getpid()}


@router.get("/ready", summary="200 once this worker can serve searches, else 503 with the reason")
async def ready(request: Request):
    state = request.app.state
    problem = state.error if not state.ready else state.engine.health()
    if state.ready and problem is None:
        return {"ready": True}
    return JSONResponse({"ready": False, "error": problem}, status_code=503)


@router.get("/stats", dependencies=[ReadAuth])
def stats(engine: EngineDep):
    return engine.stats()


@router.get("/metrics", dependencies=[ReadAuth], summary="Prometheus text: every worker's counters")
def metrics(request: Request):
    state = request.app.state
    engine = getattr(state, "engine", None)
    gauges = {"ready": int(state.ready)}
    if engine is not None and state.ready:
        s = engine.stats()
        gauges.update(index_documents=s["documents"], index_chunks=s["chunks"], index_generation=s["generation"])
    return Response(state.metrics.render(gauges, state.settings.server_workers()), media_type=CONTENT_TYPE)
