"""Server-Sent Events: the framing, and a response that stops its producer when the client leaves."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from fastapi.responses import StreamingResponse

# Proxies (nginx) buffer responses unless told not to; a stream that arrives all at once is no stream.
HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def event(data: Any, name: str | None = None) -> str:
    """One SSE event; ``data`` is sent as JSON (a string is sent as is)."""
    body = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)
    return (f"event: {name}\n" if name else "") + f"data: {body}\n\n"


def sse_response(events: AsyncIterator[str]) -> StreamingResponse:
    """Stream already framed events. Starlette cancels the iterator when the client disconnects
    (and api/guard.py cancels the request), which closes the LLM's stream in turn."""
    return StreamingResponse(events, media_type="text/event-stream", headers=HEADERS)


# One event as a schema (what OpenAPI 3.2 calls the item schema of a text/event-stream): its name and
# its data, a JSON document.
EVENT_SCHEMA = {
    "type": "object",
    "properties": {
        "event": {"type": "string"},
        "data": {"type": "string", "contentMediaType": "application/json"},
        "id": {"type": "string"},
        "retry": {"type": "integer"},
    },
    "required": ["data"],
}
