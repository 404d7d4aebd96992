"""Micro-batching: concurrent callers' texts are embedded together in one model call.

The worker thread must outlive anything a caller does (cancel, time out, vanish): it only ever
resolves futures it has claimed with ``set_running_or_notify_cancel``, and catches every error."""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future

import numpy as np

from .errors import UnavailableError

log = logging.getLogger(__name__)


_STOP: tuple[list[str], Future] = ([], Future())  # sentinel: the thread ends after the batch it is in


class QueueFullError(UnavailableError):
    """Too many texts are already waiting for the model: the caller should shed the request."""


class MicroBatcher:
    """Collects requests for up to ``max_wait_ms`` (or ``max_batch`` texts) and runs ``fn`` once.

    ``max_pending`` bounds the texts waiting in the queue (``submit`` raises QueueFullError beyond it)."""

    def __init__(self, fn: Callable[[list[str]], np.ndarray], max_batch: int = 64, max_wait_ms: float = 0.0, max_pending: int = 4096) -> None:
        self.fn = fn
        self.max_batch = max_batch
        self.max_wait = max_wait_ms / 1000
        self.max_pending = max_pending
        self._queue: queue.Queue[tuple[list[str], Future]] = queue.Queue()
        self._pending = 0
        self._pending_lock = threading.Lock()
        self.batches = 0
        self.skipped = 0  # requests whose caller had gone (cancelled) before the model reached them
        self.busy_since: float | None = None  # monotonic start of the model call in progress
        self._thread = threading.Thread(target=self._loop, name="embed-batcher", daemon=True)
        self._thread.start()

    def __call__(self, texts: list[str]) -> np.ndarray:
        return self.submit(texts).result()

    def submit(self, texts: list[str]) -> Future:
        """Queue ``texts`` without waiting; the future resolves to their vectors."""
        with self._pending_lock:
            if self._pending + len(texts) > self.max_pending:
                raise QueueFullError(f"{self._pending} texts are already waiting for the model")
            self._pending += len(texts)
        fut: Future = Future()
        self._queue.put((texts, fut))
        return fut

    def close(self) -> None:
        """Stop the thread once the work already queued is done."""
        self._queue.put(_STOP)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def stuck_for(self) -> float:
        """Seconds the current model call has been running (0 when idle)."""
        since = self.busy_since
        return 0.0 if since is None else time.monotonic() - since

    def _loop(self) -> None:
        while True:
            try:
                items = self._next_batch()
                stop = any(item is _STOP for item in items)
                self._run([item for item in items if item is not _STOP])
                if stop:
                    return
            except BaseException:  # never let the thread die: every later request would hang
                log.exception("embedding batcher: unexpected error (continuing)")

    def _next_batch(self) -> list[tuple[list[str], Future]]:
        items = [self._queue.get()]
        if items[0] is _STOP:
            return items
        n = len(items[0][0])
        # Take what is already waiting, without sleeping: a lone query runs at once, and
        # queries that arrive while the model is busy form the next batch by themselves.
        try:
            while n < self.max_batch:
                item = self._queue.get_nowait() if self.max_wait <= 0 else self._queue.get(timeout=self.max_wait)
                items.append(item)
                if item is _STOP:
                    break
                n += len(item[0])
        except queue.Empty:
            pass
        with self._pending_lock:
            self._pending -= n
        return items

    def _run(self, items: list[tuple[list[str], Future]]) -> None:
        # Claim each future; a caller that cancelled (timed out, disconnected) costs no model time.
        live = [(ts, fut) for ts, fut in items if fut.set_running_or_notify_cancel()]
        self.skipped += len(items) - len(live)
        if not live:
            return
        texts = [t for ts, _ in live for t in ts]
        self.busy_since = time.monotonic()
        try:
            vecs = self.fn(texts)
            bounds = np.cumsum([0] + [len(ts) for ts, _ in live])
            parts = [vecs[a:b] for a, b in zip(bounds[:-1], bounds[1:])]
        except BaseException as e:  # hand the failure (or a malformed result) to every waiting caller
            for _, fut in live:
                fut.set_exception(e)
            return
        finally:
            self.busy_since = None
        self.batches += 1
        for (_, fut), part in zip(live, parts):
            fut.set_result(part)
