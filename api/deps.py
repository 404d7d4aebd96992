"""Dependencies: the engine (waits briefly while its worker starts, then 503) and API-key checks.

They are ``async`` so that FastAPI runs them on the event loop instead of handing each to a thread."""

from __future__ import annotations

import asyncio
import re
import secrets
import time
from typing import Annotated

from fastapi import Depends, HTTPException, Path, Request
from fastapi.exceptions import RequestValidationError
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from rag import Engine, Settings
from rag.collections import DEFAULT, NAME_PATTERN, Collections
from rag.errors import NotFoundError

from .auth import check_key

# With several workers, one may answer /ready while another still loads its model (about a second):
# a query that reaches the late one waits this long for it instead of failing.
STARTUP_WAIT_S = 10.0

CollectionPath = Annotated[str, Path(pattern=NAME_PATTERN, description="The collection (`default`: the routes without a prefix).")]
bearer = HTTPBearer(auto_error=False, description="The service's API key (RAG_API_KEY).")
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]


async def get_settings(request: Request) -> Settings:
    return request.app.state.settings


async def get_engine(request: Request) -> Engine:
    """The engine of the request's collection (the path's ``{collection}``, else ``default``)."""
    state = request.app.state
    deadline = time.monotonic() + STARTUP_WAIT_S
    while not state.ready and state.error is None and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    engine = getattr(state, "engine", None)
    if engine is None or not state.ready:
        raise HTTPException(503, "index is still loading; retry when GET /ready answers 200", headers={"Retry-After": "2"})
    name = request.path_params.get("collection", DEFAULT)
    if name == DEFAULT:
        return engine
    if not re.match(NAME_PATTERN, name):  # FastAPI resolves every dependency before it reports the guard's 422
        raise RequestValidationError(
            [{"loc": ("path", "collection"), "msg": f"String should match pattern '{NAME_PATTERN}'", "type": "string_pattern_mismatch"}]
        )
    collections: Collections = state.collections
    return await run_in_threadpool(collections.engine, name)  # opening one reads its vectors: not on the loop


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


async def require_key(request: Request, credentials: Credentials) -> None:
    """The API key; the app factory attaches this only to the routes its settings protect."""
    settings: Settings = request.app.state.settings
    if settings.api_key:
        check_key(credentials, settings.api_key, _client(request), request.app.state.auth_limiter)


def _collection_guard(write: bool):
    async def guard(request: Request, collection: CollectionPath, credentials: Credentials) -> None:
        """A collection with its own key takes that key or the service's; any other follows the
        service's rules (reads open unless RAG_PROTECT_READS, writes behind RAG_API_KEY)."""
        state = request.app.state
        settings: Settings = state.settings
        collections: Collections = state.collections
        client = _client(request)
        try:
            protected = collections.protected(collection)
        except NotFoundError:  # the key is checked first: whether a collection exists is not for everyone
            protected = False
        if protected:
            token = credentials.credentials.strip() if credentials else ""
            if token and not state.auth_limiter.retry_after(client) and collections.key_matches(collection, token):
                return
            # Else only the service's key will do; without one, any key fails (and counts as a guess).
            check_key(credentials, settings.api_key or secrets.token_hex(32), client, state.auth_limiter)
        elif settings.api_key and (write or settings.protect_reads):
            check_key(credentials, settings.api_key, client, state.auth_limiter)

    return guard


collection_read = _collection_guard(write=False)
collection_write = _collection_guard(write=True)


EngineDep = Annotated[Engine, Depends(get_engine)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
