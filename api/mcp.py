"""The Model Context Protocol at /mcp (Streamable HTTP, official ``mcp`` SDK): tools ``search``,
``fetch`` and ``ask`` with structured output, for MCP clients (Claude, ChatGPT connectors, IDEs)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import HTTPException
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.streamable_http_manager import StreamableHTTPASGIApp, StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecuritySettings
from pydantic import BaseModel, Field

from rag import Engine, __version__
from rag.collections import DEFAULT, NAME_PATTERN
from rag.errors import RagError
from rag.llm import Sampling
from rag.shapes import Citation, Claim

from .auth import FailureLimiter, check_key
from .schemas import MaxTokens, Temperature


class SearchItem(BaseModel):
    id: str = Field(description="Chunk id; pass it to fetch.")
    title: str
    url: str = Field(description="The passage in this service's API (GET /chunks/{id}).")
    text: str
    doc_id: str
    source: str
    section: str
    line_start: int
    line_end: int
    page: int | None
    score: float


class SearchResults(BaseModel):
    results: list[SearchItem]


class Fetched(BaseModel):
    id: str
    title: str
    text: str
    url: str
    metadata: dict[str, Any] = Field(description="Provenance: doc_id, source, section, page, line and character span.")


class AskResult(BaseModel):
    answer: str
    grounded: bool
    mode: str
    citations: list[Citation]
    claims: list[Claim]


class KeyGate:
    """The API key in front of an ASGI app (the MCP endpoint is not a FastAPI route, so it gets the
    same check and the same failed-attempt limit this way)."""

    def __init__(self, app: Any, api_key: str, limiter: FailureLimiter) -> None:
        self.app, self.api_key, self.limiter = app, api_key, limiter

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        header = dict(scope.get("headers") or []).get(b"authorization", b"").decode("latin-1")
        scheme, _, token = header.partition(" ")
        creds = HTTPAuthorizationCredentials(scheme=scheme, credentials=token) if scheme.lower() == "bearer" and token else None
        client = scope["client"][0] if scope.get("client") else "unknown"
        try:
            check_key(creds, self.api_key, client, self.limiter)
        except HTTPException as e:
            return await JSONResponse({"detail": e.detail}, status_code=e.status_code, headers=e.headers)(scope, receive, send)
        await self.app(scope, receive, send)


# The collection a tool reads; one with its own key needs that key (or the service's) as the bearer token.
CollectionArg = Annotated[str, Field(pattern=NAME_PATTERN, description="The collection to read (default: `default`, the index folder itself).")]
EngineOf = Callable[
    [str, str, str], Awaitable[Engine]
]  # (collection, bearer token, client) -> its engine; raises RuntimeError, RagError, PermissionError


def build_mcp(engine_of: EngineOf, public_url: str, host: str) -> tuple[MCPServer, StreamableHTTPSessionManager, StreamableHTTPASGIApp]:
    """The MCP server, its session manager (to run in the app's lifespan) and its ASGI endpoint."""
    server: MCPServer = MCPServer("grounded-rag", version=__version__, instructions="Search a document collection; every result carries its source.")
    base = public_url.rstrip("/")

    async def engine(ctx: Context, collection: str) -> Engine:
        scheme, _, token = ((ctx.headers or {}).get("authorization") or "").partition(" ")
        peer = getattr(getattr(ctx.request_context.request, "client", None), "host", None) or "unknown"
        try:
            return await engine_of(collection, token.strip() if scheme.lower() == "bearer" else "", peer)
        except (RuntimeError, RagError, PermissionError) as e:
            raise ToolError(str(e)) from e

    @server.tool(description="Ranked passages for a query, each with its document, section and lines.")
    async def search(query: str, ctx: Context, top_k: int = 5, collection: CollectionArg = DEFAULT) -> SearchResults:
        e = await engine(ctx, collection)
        try:
            hits = (await e.asearch(query, top_k=max(1, min(top_k, 50)))).hits
        except RagError as e:
            raise ToolError(str(e)) from e
        return SearchResults(
            results=[
                SearchItem(
                    id=h.chunk.chunk_id,
                    title=h.title,
                    url=f"{base}/chunks/{h.chunk.chunk_id}",
                    text=h.chunk.text,
                    doc_id=h.chunk.doc_id,
                    source=h.source,
                    section=h.chunk.section,
                    line_start=h.chunk.line_start,
                    line_end=h.chunk.line_end,
                    page=h.chunk.page,
                    score=round(h.score, 6),
                )
                for h in hits
            ]
        )

    @server.tool(description="The full text of a passage (a chunk id from search) or of a whole document (a doc id), with provenance.")
    async def fetch(id: str, ctx: Context, collection: CollectionArg = DEFAULT) -> Fetched:
        e = await engine(ctx, collection)
        view = e.chunk(id)
        if view is not None:
            d = view.to_dict()
            chunk_meta = {k: d[k] for k in ("doc_id", "source", "section", "page", "line_start", "line_end", "char_start", "char_end")}
            return Fetched(id=id, title=d["title"], text=d["text"], url=f"{base}/chunks/{id}", metadata=chunk_meta)
        doc = e.document(id)
        if doc is None:
            raise ToolError(f"no passage or document with id {id!r}")
        meta: dict[str, Any] = {
            "doc_id": doc.doc_id,
            "source": doc.source,
            "metadata": doc.metadata,
            "line_start": 1,
            "line_end": doc.line_points[-1][1] if doc.line_points else None,
            "char_start": 0,
            "char_end": len(doc.text),
        }
        return Fetched(id=id, title=doc.title, text=doc.text, url=f"{base}/documents/{id}", metadata=meta)

    @server.tool(description="An answer with [n] citations to the sources; every sentence is checked against them.")
    async def ask(
        question: str,
        ctx: Context,
        top_k: int = 5,
        temperature: Temperature = None,
        max_tokens: MaxTokens = None,
        collection: CollectionArg = DEFAULT,
    ) -> AskResult:
        e = await engine(ctx, collection)
        try:
            a = await e.aask(question, top_k=max(1, min(top_k, 20)), sampling=Sampling(max_tokens, temperature))
        except RagError as e:
            raise ToolError(str(e)) from e
        return AskResult(answer=a.answer, grounded=a.grounded, mode=a.mode, citations=a.citations, claims=a.claims)

    local = host in ("127.0.0.1", "localhost", "::1")
    # Behind a public host name the Host header is the proxy's business; locally, refuse DNS rebinding.
    security = TransportSecuritySettings(
        enable_dns_rebinding_protection=local,
        allowed_hosts=["127.0.0.1:*", "localhost:*", "[::1]:*"],
        allowed_origins=["http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*"],
    )
    server.streamable_http_app(streamable_http_path="/mcp", stateless_http=True, json_response=True, transport_security=security, host=host)
    manager = server.session_manager
    return server, manager, StreamableHTTPASGIApp(manager)
