"""Dependencies: the engine (waits briefly while its worker starts, then 503) and API-key checks.

They are ``async`` so that FastAPI runs them on the event loop instead of handing each to a thread."""

from __future__ import annotations

import asyncio
import time
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from rag import Engine, Settings

from .auth import check_key

# With several workers, one may answer /ready while another still loads its model (about a second):
# a query that reaches the late one waits this long for it instead of failing.
STARTUP_WAIT_S = 10.0

bearer = HTTPBearer(auto_error=False, description="The service's API key (RAG_API_KEY).")
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]


async def get_settings(request: Request) -> Settings:
    return request.app.state.settings


async def get_engine(request: Request) -> Engine:
    state = request.app.state
    deadline = time.monotonic() + STARTUP_WAIT_S
    while not state.ready and state.error is None and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    engine = getattr(state, "engine", None)
    if engine is None or not state.ready:
        raise HTTPException(503, "index is still loading; retry when GET /ready answers 200", headers={"Retry-After": "2"})
    return engine


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


async def require_key(request: Request, credentials: Credentials) -> None:
    """The API key; the app factory attaches this only to the routes its settings protect."""
    settings: Settings = request.app.state.settings
    if settings.api_key:
        check_key(credentials, settings.api_key, _client(request), request.app.state.auth_limiter)


EngineDep = Annotated[Engine, Depends(get_engine)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
