"""API-key checks (Bearer, constant-time) with a per-client limit on failed attempts."""

from __future__ import annotations

import hmac
import sqlite3
import threading
import time
from collections import OrderedDict, deque
from pathlib import Path

from fastapi import HTTPException
from fastapi.security import HTTPAuthorizationCredentials

WINDOW_S = 60.0
MAX_CLIENTS = 10_000  # remembered clients; the oldest are forgotten first


class FailureLimiter:
    """Counts failed key attempts per client over a sliding minute; past ``limit`` the client gets
    429 until its oldest failure ages out. With ``path`` the counts live in a SQLite file that all of
    a server's worker processes share (``rag serve`` gives them one), so more workers do not mean more
    guesses; without it, in this process's memory."""

    def __init__(self, limit: int, window_s: float = WINDOW_S, path: Path | None = None) -> None:
        self.limit = limit
        self.window = window_s
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()
        self._db = _open(path) if path is not None else None

    def retry_after(self, client: str) -> float:
        """Seconds this client must wait (0 when it may try)."""
        with self._lock:
            count, oldest = self._shared(client) if self._db else self._local(client)
        return 0.0 if count < self.limit else max(0.1, oldest + self.window - time.monotonic())

    def fail(self, client: str) -> None:
        # time.monotonic is CLOCK_MONOTONIC on Linux: one clock for all processes of the machine.
        now = time.monotonic()
        with self._lock:
            if self._db is not None:
                self._db.execute("INSERT INTO auth_failures(client, at) VALUES (?, ?)", (client, now))
                self._db.execute("DELETE FROM auth_failures WHERE at < ?", (now - self.window,))
                return
            self._recent(client).append(now)
            while len(self._failures) > MAX_CLIENTS:
                self._failures.popitem(last=False)

    def _shared(self, client: str) -> tuple[int, float]:
        assert self._db is not None
        q = "SELECT count(*), min(at) FROM auth_failures WHERE client = ? AND at >= ?"
        count, oldest = self._db.execute(q, (client, time.monotonic() - self.window)).fetchone()
        return count, oldest or 0.0

    def _local(self, client: str) -> tuple[int, float]:
        times = self._recent(client)
        return len(times), times[0] if times else 0.0

    def _recent(self, client: str) -> deque[float]:
        times = self._failures.setdefault(client, deque())
        self._failures.move_to_end(client)
        cutoff = time.monotonic() - self.window
        while times and times[0] < cutoff:
            times.popleft()
        return times


def _open(path: Path) -> sqlite3.Connection:
    """The shared failure table (autocommit, WAL: a check reads while another worker writes)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, timeout=10, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("CREATE TABLE IF NOT EXISTS auth_failures(client TEXT NOT NULL, at REAL NOT NULL)")
    conn.execute("CREATE INDEX IF NOT EXISTS auth_failures_client ON auth_failures(client, at)")
    conn.execute("CREATE INDEX IF NOT EXISTS auth_failures_at ON auth_failures(at)")
    return conn


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
