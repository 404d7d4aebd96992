"""Micro-batching: concurrent callers' texts are embedded together in one model call."""
from __future__ import annotations

import queue
import threading
from concurrent.futures import Future
from typing import Callable

import numpy as np


class MicroBatcher:
    """Collects requests for up to ``max_wait_ms`` (or ``max_batch`` texts) and runs ``fn`` once."""

    def __init__(self, fn: Callable[[list[str]], np.ndarray], max_batch: int = 64, max_wait_ms: float = 0.0) -> None:
        self.fn = fn
        self.max_batch = max_batch
        self.max_wait = max_wait_ms / 1000
        self._queue: queue.Queue[tuple[list[str], Future]] = queue.Queue()
        self.batches = 0
        threading.Thread(target=self._loop, name="embed-batcher", daemon=True).start()

    def __call__(self, texts: list[str]) -> np.ndarray:
        return self.submit(texts).result()

    def submit(self, texts: list[str]) -> Future:
        """Queue ``texts`` without waiting; the future resolves to their vectors."""
        fut: Future = Future()
        self._queue.put((texts, fut))
        return fut

    def _loop(self) -> None:
        while True:
            items = [self._queue.get()]
            n = len(items[0][0])
            # Take what is already waiting, without sleeping: a lone query runs at once, and
            # queries that arrive while the model is busy form the next batch by themselves.
            try:
                while n < self.max_batch:
                    item = self._queue.get_nowait() if self.max_wait <= 0 else self._queue.get(timeout=self.max_wait)
                    items.append(item)
                    n += len(item[0])
            except queue.Empty:
                pass
            self._run(items)

    def _run(self, items: list[tuple[list[str], Future]]) -> None:
        texts = [t for ts, _ in items for t in ts]
        try:
            vecs = self.fn(texts)
        except BaseException as e:  # hand the failure to every waiting caller
            for _, fut in items:
                fut.set_exception(e)
            return
        self.batches += 1
        pos = 0
        for ts, fut in items:
            fut.set_result(vecs[pos:pos + len(ts)])
            pos += len(ts)
