"""Health, readiness, statistics and Prometheus metrics."""
from __future__ import annotations

import os

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse

from ..deps import EngineDep, ReadAuth

router = APIRouter()


@router.get("/health", summary="Liveness: answers while the index is still loading")
def health(request: Request):
    return {"status": "ok", "ready": request.app.state.ready, "error": request.app.state.error,
            "worker_pid": os.getpid()}


@router.get("/ready", summary="200 once queries can be served, else 503")
def ready(request: Request):
    if request.app.state.ready:
        return {"ready": True}
    return JSONResponse({"ready": False, "error": request.app.state.error}, status_code=503)


@router.get("/stats", dependencies=[ReadAuth])
def stats(engine: EngineDep):
    return engine.stats()


@router.get("/metrics", response_class=PlainTextResponse)
def metrics(request: Request):
    engine = getattr(request.app.state, "engine", None)
    gauges = {"ready": int(request.app.state.ready)}
    if engine is not None and request.app.state.ready:
        s = engine.stats()
        gauges.update(index_documents=s["documents"], index_chunks=s["chunks"], index_generation=s["generation"])
    return Response(request.app.state.metrics.render(gauges), media_type="text/plain; version=0.0.4")
