"""The FastAPI app factory: loads (and on first start builds) the index in the background."""
from __future__ import annotations

import json
import logging
import threading
import time
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import FileResponse, JSONResponse

from rag import Engine, Settings

from .metrics import Metrics
from .routes import documents, ops, search

log = logging.getLogger("rag.api")
STATIC = Path(__file__).parent / "static"


def _start_engine(app: FastAPI, settings: Settings) -> None:
    """Open the index, index the bundled corpus if it is empty, warm the model, then mark ready."""
    try:
        engine = Engine(settings)
        if settings.corpus_dir.is_dir():
            report = engine.index_if_empty([settings.corpus_dir])
            if report is not None:
                log.info("empty index: indexed the bundled corpus %s: %s", settings.corpus_dir,
                         json.dumps(report.to_dict()))
        engine.embed_queries(["warm up"])
        engine.enable_batching()
        app.state.engine = engine
        app.state.ready = True
        log.info("ready: %s", json.dumps(engine.stats()))
    except Exception as e:  # surfaced by /health and /ready instead of a dead process
        app.state.error = f"{type(e).__name__}: {e}"
        log.error("startup failed: %s", app.state.error)


class ObserveMiddleware:
    """Per-request metrics and one structured log line; plain ASGI (cheaper than BaseHTTPMiddleware)."""

    def __init__(self, app, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        t0 = time.perf_counter()
        status = 500

        async def send_wrapper(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            seconds = time.perf_counter() - t0
            self.metrics.observe(scope["method"], route, status, seconds)
            if log.isEnabledFor(logging.INFO):
                log.info(json.dumps({"event": "request", "method": scope["method"], "route": route,
                                     "status": status, "ms": round(seconds * 1000, 2)}))


def create_app(settings: Settings | None = None, engine: Engine | None = None) -> FastAPI:
    """Build the app; with ``engine`` given it is ready at once (tests), else it loads in a thread."""
    settings = settings or (engine.settings if engine else Settings())

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        if engine is None:
            threading.Thread(target=_start_engine, args=(app, settings), daemon=True).start()
        yield

    app = FastAPI(title="grounded-rag", version="0.1.0", lifespan=lifespan,
                  description="Ranked passages with exact provenance, cited extractive answers, LLM context.")
    app.state.settings = settings
    app.state.engine = engine
    app.state.ready = engine is not None
    app.state.error = None
    app.state.metrics = Metrics()
    if settings.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=settings.cors_origins, allow_methods=["*"],
                           allow_headers=["*"])

    app.add_middleware(ObserveMiddleware, metrics=app.state.metrics)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError):
        errors = [{"loc": e.get("loc"), "msg": e.get("msg"), "type": e.get("type")} for e in exc.errors()]
        return JSONResponse({"detail": errors}, status_code=422)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception):
        log.exception("unhandled error on %s", request.url.path)
        return JSONResponse({"detail": "internal error"}, status_code=500)

    app.include_router(ops.router)
    app.include_router(search.router)
    app.include_router(documents.router)

    @app.get("/", include_in_schema=False)
    def home():
        return FileResponse(STATIC / "index.html")

    return app


def create_app_from_env() -> FastAPI:
    """The app with settings from ``RAG_*`` variables: what each `rag serve` worker process runs."""
    settings = Settings()
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s",
                        force=True)
    return create_app(settings)
