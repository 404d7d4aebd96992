"""API-key checks (Bearer, constant-time) with a per-client limit on failed attempts."""

from __future__ import annotations

import hmac
import threading
import time
from collections import OrderedDict, deque

from fastapi import HTTPException
from fastapi.security import HTTPAuthorizationCredentials

WINDOW_S = 60.0
MAX_CLIENTS = 10_000  # remembered clients; the oldest are forgotten first


class FailureLimiter:
    """Counts failed key attempts per client over a sliding minute; past ``limit`` the client gets
    429 until its oldest failure ages out (per worker process)."""

    def __init__(self, limit: int, window_s: float = WINDOW_S) -> None:
        self.limit = limit
        self.window = window_s
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def retry_after(self, client: str) -> float:
        """Seconds this client must wait (0 when it may try)."""
        with self._lock:
            times = self._recent(client)
            return 0.0 if len(times) < self.limit else max(0.1, times[0] + self.window - time.monotonic())

    def fail(self, client: str) -> None:
        with self._lock:
            self._recent(client).append(time.monotonic())
            while len(self._failures) > MAX_CLIENTS:
                self._failures.popitem(last=False)

    def _recent(self, client: str) -> deque[float]:
        times = self._failures.setdefault(client, deque())
        self._failures.move_to_end(client)
        cutoff = time.monotonic() - self.window
        while times and times[0] < cutoff:
            times.popleft()
        return times


def check_key(credentials: HTTPAuthorizationCredentials | None, api_key: str, client: str, limiter: FailureLimiter) -> None:
    """Raise 401 for a missing or wrong key, 429 once the client has sent too many wrong keys."""
    wait = limiter.retry_after(client)
    if wait:
        raise HTTPException(429, f"too many failed API-key attempts; retry in {wait:.0f} s", headers={"Retry-After": str(max(1, round(wait)))})
    token = credentials.credentials.strip() if credentials else ""
    if not hmac.compare_digest(token.encode(), api_key.encode()):
        if credentials:  # a wrong key is a guess; a missing one is not
            limiter.fail(client)
        raise HTTPException(401, "missing or wrong API key (Authorization: Bearer <key>)", headers={"WWW-Authenticate": "Bearer"})
