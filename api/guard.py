"""ASGI middleware that protects a worker from its requests: body limits enforced while reading
(before the app parses anything), and requests whose client disconnected are cancelled, so the
model never works for someone who left."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from typing import Any

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

ABANDONED = 499  # nginx's "client closed request": recorded, never sent
WATCH_AFTER_S = 0.02


class BodyTooLarge(Exception):
    pass


class RequestGuard:
    """``limit_for(scope)`` gives the largest body (bytes) a request may send; ``on_abandoned``
    is called for each request cancelled because its client went away."""

    def __init__(self, app: ASGIApp, limit_for: Callable[[Scope], int], on_abandoned: Callable[[Scope], None] = lambda scope: None) -> None:
        self.app = app
        self.limit_for = limit_for
        self.on_abandoned = on_abandoned

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        limit = self.limit_for(scope)
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            return await _reject(send, 413, f"request body larger than {limit} bytes")
        try:
            body, disconnected = await _read_body(receive, limit)
        except BodyTooLarge:
            return await _reject(send, 413, f"request body larger than {limit} bytes")
        if disconnected:
            self.on_abandoned(scope)
            return
        await self._run(scope, receive, send, body)

    async def _run(self, scope: Scope, receive: Receive, send: Send, body: bytes) -> None:
        # The app runs in this task; a watcher task cancels it if the client disconnects first.
        gone = asyncio.Event()
        finished = False
        replayed = False
        task = asyncio.current_task()

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            await gone.wait()
            return {"type": "http.disconnect"}

        async def tracked_send(message: Message) -> None:
            nonlocal finished
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                finished = True
            await send(message)

        if task is None:  # not inside a task: nothing to cancel
            return await self.app(scope, replay, send)
        current: asyncio.Task = task

        async def watch() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass
            gone.set()
            if not finished:
                current.cancel()

        # Most requests finish in a few ms: only those still running after WATCH_AFTER_S get a watcher.
        watcher: list[asyncio.Future] = []
        timer = asyncio.get_running_loop().call_later(WATCH_AFTER_S, lambda: None if finished else watcher.append(asyncio.ensure_future(watch())))
        try:
            await self.app(scope, replay, tracked_send)
        except asyncio.CancelledError:
            if not (gone.is_set() and not finished):
                raise
            if sys.version_info >= (3, 11):
                current.uncancel()
            self.on_abandoned(scope)
        finally:
            timer.cancel()
            for w in watcher:
                w.cancel()


async def _read_body(receive: Receive, limit: int) -> tuple[bytes, bool]:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return b"", True
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks), False


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _reject(send: Send, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), (b"connection", b"close")],
        }
    )
    await send({"type": "http.response.body", "body": body})
