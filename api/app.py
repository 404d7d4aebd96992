"""The FastAPI app factory: loads (and on first start builds) the index in the background."""

from __future__ import annotations

import hmac
import json
import logging
import threading
import time
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match, Route
from threadpoolctl import threadpool_limits

from rag import Engine, Settings, __version__
from rag.collections import DEFAULT, Collections
from rag.errors import BadInputError, ConflictError, NotFoundError, RagError, StorageFullError, TimedOutError, UnavailableError

from .auth import FailureLimiter
from .deps import collection_read, collection_write, require_key
from .guard import ABANDONED, RequestGuard
from .mcp import KeyGate, build_mcp
from .metrics import Metrics
from .routes import chat, collections, documents, ops, search
from .schemas import errors

log = logging.getLogger("rag.api")
STATIC = Path(__file__).parent / "static"


def _start_engine(app: FastAPI, settings: Settings) -> None:
    """Open the index, index the bundled corpus if it is empty, warm the model, then mark ready."""
    # Requests are the server's parallelism: a second BLAS thread per worker for the small numpy products of
    # each query (late interaction's maxsim) only oversubscribes the cores (32 clients: 107 vs 174 req/s).
    threadpool_limits(1, user_api="blas")
    try:
        engine = Engine(settings)
        if settings.corpus_dir.is_dir():
            report = engine.index_if_empty([settings.corpus_dir])
            if report is not None:
                log.info("empty index: indexed the bundled corpus %s: %s", settings.corpus_dir, json.dumps(report.to_dict()))
        engine.clean_up()
        engine.warm_rescorer()
        engine.warm_late()
        engine.embed_queries(["warm up"])
        _serving(engine, app.state.metrics)
        app.state.engine = engine
        app.state.collections.adopt(DEFAULT, engine)
        app.state.ready = True
        log.info("ready: %s", json.dumps(engine.stats()))
    except Exception as e:  # surfaced by /health and /ready instead of a dead process
        app.state.error = f"{type(e).__name__}: {e}"
        log.error("startup failed: %s", app.state.error)


def _serving(engine: Engine, metrics: Metrics) -> None:
    """What every engine the server answers from gets: micro-batched, bounded query embedding and
    answer metrics (the default collection's and each other collection's)."""
    engine.enable_batching()
    engine.read_uploads_apart()
    engine.answer_observers.append(metrics.observe_answer)


class ObserveMiddleware:
    """Per-request metrics and one structured log line; plain ASGI (cheaper than BaseHTTPMiddleware)."""

    def __init__(self, app, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        t0 = time.perf_counter()
        status = ABANDONED  # stays so when the guard cancels a request whose client left

        async def send_wrapper(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        except Exception:  # not CancelledError: that is the guard's, and stays 499
            status = 500
            raise
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            seconds = time.perf_counter() - t0
            self.metrics.observe(scope["method"], route, status, seconds)
            if log.isEnabledFor(logging.INFO):
                log.info(
                    json.dumps({"event": "request", "method": scope["method"], "route": route, "status": status, "ms": round(seconds * 1000, 2)})
                )


_STATUS = ((StorageFullError, 507), (TimedOutError, 504), (UnavailableError, 503), (NotFoundError, 404), (ConflictError, 409), (BadInputError, 400))


def create_app(settings: Settings | None = None, engine: Engine | None = None) -> FastAPI:
    """Build the app; with ``engine`` given it is ready at once (tests), else it loads in a thread.
    Raises ValueError for settings the service must not start with."""
    settings = settings or (engine.settings if engine else Settings())
    problem = settings.service_problem()
    if problem:
        raise ValueError(problem)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        app.state.metrics.worker_starts.inc()
        if engine is None:
            threading.Thread(target=_start_engine, args=(app, settings), daemon=True).start()
        async with mcp_sessions.run():
            yield

    # /docs and /openapi.json are routes of our own below, so they follow RAG_PROTECT_READS.
    app = FastAPI(
        title="grounded-rag",
        version=__version__,
        lifespan=lifespan,
        docs_url=None,
        openapi_url=None,
        description="Ranked passages with exact provenance, cited extractive answers, LLM context.",
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.ready = engine is not None
    app.state.error = None
    app.state.metrics = metrics = Metrics()
    app.state.collections = Collections(settings, on_open=lambda e: _serving(e, metrics))
    if engine is not None:
        engine.answer_observers.append(metrics.observe_answer)
        app.state.collections.adopt(DEFAULT, engine)
    shared = settings.shared_dir / "auth-failures.sqlite" if settings.shared_dir else None
    app.state.auth_limiter = FailureLimiter(settings.auth_max_failures, path=shared)
    if settings.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=settings.cors_origins, allow_methods=["*"], allow_headers=["*"])
    app.add_middleware(RequestGuard, limit_for=_body_limit(settings), on_abandoned=lambda scope: metrics.abandoned.inc())
    app.add_middleware(ObserveMiddleware, metrics=metrics)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError):
        metrics.rejected.labels("invalid").inc()
        errors = [{"loc": e.get("loc"), "msg": e.get("msg"), "type": e.get("type")} for e in exc.errors()]
        return JSONResponse({"detail": errors}, status_code=422)

    @app.exception_handler(RagError)
    async def rag_error(request: Request, exc: RagError):
        status = next((code for kind, code in _STATUS if isinstance(exc, kind)), 400)
        headers = {}
        if isinstance(exc, UnavailableError):
            (metrics.timeouts if isinstance(exc, TimedOutError) else metrics.rejected.labels("overloaded")).inc()
            headers["Retry-After"] = str(max(1, round(exc.retry_after)))
        return JSONResponse({"detail": str(exc)}, status_code=status, headers=headers)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        if exc.status_code in (401, 429):
            metrics.rejected.labels("auth").inc()
        headers = dict(exc.headers or {})
        if exc.status_code == 405:  # the path's methods across all its routes, not only the first match
            headers["Allow"] = ", ".join(_allowed_methods(app, request.scope))
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=headers)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception):
        log.exception("unhandled error on %s", request.url.path)
        return JSONResponse({"detail": "internal error"}, status_code=500)

    # Auth is attached per router from the settings, so /openapi.json declares exactly what is enforced.
    reads = [Depends(require_key)] if settings.protect_reads else []
    writes = [Depends(require_key)] if settings.api_key else []
    read_errors, write_errors = (errors(401, 429) if deps else {} for deps in (reads, writes))
    app.include_router(ops.router)
    for router in (ops.protected, search.router, documents.router):
        app.include_router(router, dependencies=reads, responses=read_errors)
    app.include_router(documents.writes, dependencies=writes, responses=write_errors)
    app.include_router(chat.router, dependencies=reads, responses=read_errors)
    app.include_router(collections.reads, dependencies=reads, responses=read_errors)
    app.include_router(collections.writes, dependencies=writes, responses=write_errors)
    # Every collection has the default's routes under its prefix; its own key (if any) or the service's rules guard them.
    scoped = "/collections/{collection}"
    key_errors = errors(401, 404, 429)
    # The chat protocol too: an OpenAI front end reaches a collection by its base URL, `/collections/NAME/v1`, with its key.
    for router in (search.router, documents.router, chat.router):
        app.include_router(router, prefix=scoped, dependencies=[Depends(collection_read)], responses=key_errors)
    app.include_router(documents.writes, prefix=scoped, dependencies=[Depends(collection_write)], responses=key_errors)

    async def mcp_engine(name: str, token: str, client: str) -> Engine:
        """The engine an MCP tool reads: a collection with its own key takes that key or the service's
        (wrong keys count toward the same failed-attempt limit as the HTTP routes')."""
        if not app.state.ready:
            raise RuntimeError("index is still loading; retry when GET /ready answers 200")
        if name == DEFAULT:
            return app.state.engine
        cols: Collections = app.state.collections
        if cols.protected(name):  # NotFoundError (a RagError) for an unknown collection
            limiter: FailureLimiter = app.state.auth_limiter
            wait = limiter.retry_after(client)
            if wait:
                raise PermissionError(f"too many failed API-key attempts; retry in {wait:.0f} s")
            service = bool(settings.api_key) and hmac.compare_digest(token.encode(), (settings.api_key or "").encode())
            if not token or not (service or cols.key_matches(name, token)):
                if token:  # a wrong key is a guess; a missing one is not
                    limiter.fail(client)
                raise PermissionError(f"collection {name!r} needs its API key (or the service's) as the bearer token")
        return await run_in_threadpool(cols.engine, name)  # opening one reads its vectors: not on the loop

    _, mcp_sessions, mcp_endpoint = build_mcp(mcp_engine, settings.base_url(), settings.host)
    gated = KeyGate(mcp_endpoint, settings.api_key, app.state.auth_limiter) if settings.protect_reads and settings.api_key else mcp_endpoint
    app.router.routes.append(Route("/mcp", endpoint=gated, methods=["GET", "POST", "DELETE"], include_in_schema=False))

    generate_openapi = app.openapi

    def openapi_with_optional_keys() -> dict:
        if app.openapi_schema is None:
            _optional_collection_keys(generate_openapi(), settings)
        return app.openapi_schema or {}

    app.openapi = openapi_with_optional_keys  # type: ignore[method-assign]

    @app.get("/openapi.json", include_in_schema=False, dependencies=reads)
    async def openapi():
        return JSONResponse(app.openapi())

    @app.get("/docs", include_in_schema=False, dependencies=reads)
    async def docs():
        return get_swagger_ui_html(openapi_url="/openapi.json", title="grounded-rag API")

    @app.get("/", include_in_schema=False)
    async def home():
        return FileResponse(STATIC / "index.html")

    return app


def _optional_collection_keys(schema: dict, settings: Settings) -> None:
    """A collection's routes take its own key only when it has one: where the service's rules
    leave them open, the schema says the key is optional (an empty security requirement)."""
    for path, operations in schema["paths"].items():
        if not path.startswith("/collections/{collection}"):
            continue
        for method, op in operations.items():
            write = method == "delete" or (method == "post" and path.endswith("/documents"))
            open_without_key = not settings.api_key or (not write and not settings.protect_reads)
            if open_without_key and op.get("security"):
                op["security"].append({})


def _allowed_methods(app: FastAPI, scope) -> list[str]:
    methods: set[str] = set()
    for route in app.router.routes:
        match, _ = route.matches({**scope, "method": "GET"})
        if match != Match.NONE:
            methods |= getattr(route, "methods", None) or set()
    return sorted(methods)


def _body_limit(settings: Settings):
    """Largest body per request: uploads get the upload limit (plus multipart framing), the rest
    the JSON limit."""

    def limit_for(scope) -> int:
        if scope["method"] == "POST" and scope["path"].rstrip("/").endswith("/documents"):
            return int(settings.max_upload_mb * 1024 * 1024) + 64 * 1024
        return settings.max_request_kb * 1024

    return limit_for


def create_app_from_env() -> FastAPI:
    """The app with settings from ``RAG_*`` variables: what each `rag serve` worker process runs."""
    settings = Settings()
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s", force=True)
    return create_app(settings)
