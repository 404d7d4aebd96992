"""Dependencies: the engine (503 until ready) and API-key checks."""
from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, HTTPException, Request

from rag import Engine, Settings


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_engine(request: Request) -> Engine:
    engine = getattr(request.app.state, "engine", None)
    if engine is None or not request.app.state.ready:
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


def require_write(request: Request, settings: Annotated[Settings, Depends(get_settings)]) -> None:
    _check_key(request, settings)


def require_read(request: Request, settings: Annotated[Settings, Depends(get_settings)]) -> None:
    if settings.protect_reads:
        _check_key(request, settings)


EngineDep = Annotated[Engine, Depends(get_engine)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
WriteAuth = Depends(require_write)
ReadAuth = Depends(require_read)
