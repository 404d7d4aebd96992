"""Dependencies: the engine (waits briefly while its worker starts, then 503) and API-key checks.

They are ``async`` so that FastAPI runs them on the event loop instead of handing each to a thread."""
from __future__ import annotations

import asyncio
import hmac
import time
from typing import Annotated

from fastapi import Depends, HTTPException, Request

from rag import Engine, Settings

# With several workers, one may answer /ready while another still loads its model (about a second):
# a query that reaches the late one waits this long for it instead of failing.
STARTUP_WAIT_S = 10.0


async def get_settings(request: Request) -> Settings:
    return request.app.state.settings


async def get_engine(request: Request) -> Engine:
    state = request.app.state
    deadline = time.monotonic() + STARTUP_WAIT_S
    while not state.ready and state.error is None and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    engine = getattr(state, "engine", None)
    if engine is None or not state.ready:
        raise HTTPException(503, "index is still loading; retry when GET /ready answers 200")
    return engine


def _check_key(request: Request, settings: Settings) -> None:
    if not settings.api_key:
        return
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), settings.api_key.encode()):
        raise HTTPException(401, "missing or wrong API key (Authorization: Bearer <key>)",
                            headers={"WWW-Authenticate": "Bearer"})


async def require_write(request: Request, settings: Annotated[Settings, Depends(get_settings)]) -> None:
    _check_key(request, settings)


async def require_read(request: Request, settings: Annotated[Settings, Depends(get_settings)]) -> None:
    if settings.protect_reads:
        _check_key(request, settings)


EngineDep = Annotated[Engine, Depends(get_engine)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
WriteAuth = Depends(require_write)
ReadAuth = Depends(require_read)
