"""API-key checks (Bearer, constant-time) with a per-client limit on failed attempts."""

from __future__ import annotations

import hmac
import logging
import sqlite3
import threading
import time
from collections import OrderedDict, deque
from pathlib import Path

from fastapi import HTTPException
from fastapi.security import HTTPAuthorizationCredentials

from rag.sqlite_files import connect_shared

log = logging.getLogger(__name__)
WINDOW_S = 60.0
MAX_CLIENTS = 10_000  # remembered clients; the oldest are forgotten first


class FailureLimiter:
    """Counts failed key attempts per client over a sliding minute; past ``limit`` the client gets
    429 until its oldest failure ages out. With ``path`` the counts live in a SQLite file that all of
    a server's worker processes share (``rag serve`` gives them one), so more workers do not mean more
    guesses; without it, in this process's memory."""

    def __init__(self, limit: int, window_s: float = WINDOW_S, path: Path | None = None, busy_timeout_s: float = 2.0) -> None:
        self.limit = limit
        self.window = window_s
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()
        self._db = _open(path, busy_timeout_s) if path is not None else None

    def retry_after(self, client: str) -> float:
        """Seconds this client must wait (0 when it may try)."""
        with self._lock:
            count, oldest = self._local(client)
            if self._db is not None:
                count, oldest = self._shared(client, count, oldest)
        return 0.0 if count < self.limit else max(0.1, oldest + self.window - time.monotonic())

    def fail(self, client: str) -> None:
        # time.monotonic is CLOCK_MONOTONIC on Linux: one clock for all processes of the machine.
        now = time.monotonic()
        with self._lock:
            if self._db is not None:
                try:
                    self._db.execute("INSERT INTO auth_failures(client, at) VALUES (?, ?)", (client, now))
                    self._db.execute("DELETE FROM auth_failures WHERE at < ?", (now - self.window,))
                    return
                except sqlite3.Error as e:  # kept in this process instead: a check must not become a 500
                    log.warning("shared failed-key table not written (%s); counting in this worker", e)
            self._recent(client).append(now)
            while len(self._failures) > MAX_CLIENTS:
                self._failures.popitem(last=False)

    def _shared(self, client: str, count: int, oldest: float) -> tuple[int, float]:
        """All workers' failures of this client, plus those only this worker holds (``count``, ``oldest``:
        kept here while the table could not be written)."""
        assert self._db is not None
        q = "SELECT count(*), min(at) FROM auth_failures WHERE client = ? AND at >= ?"
        try:
            shared, first = self._db.execute(q, (client, time.monotonic() - self.window)).fetchone()
        except sqlite3.Error as e:
            log.warning("shared failed-key table not read (%s); using this worker's counts", e)
            return count, oldest
        return count + shared, min((t for t in (oldest, first) if t), default=0.0)

    def _local(self, client: str) -> tuple[int, float]:
        if client not in self._failures:  # a check alone remembers nothing: only failures take memory
            return 0, 0.0
        times = self._recent(client)
        return len(times), times[0] if times else 0.0

    def _recent(self, client: str) -> deque[float]:
        times = self._failures.setdefault(client, deque())
        self._failures.move_to_end(client)
        cutoff = time.monotonic() - self.window
        while times and times[0] < cutoff:
            times.popleft()
        return times


def _open(path: Path, busy_timeout_s: float) -> sqlite3.Connection:
    """The shared failure table (autocommit, WAL: a check reads while another worker writes). It is
    checked on the event loop, so no write waits for the disk (the counts only matter while the server
    runs), nor long for another worker's lock."""
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = connect_shared(path, busy_timeout_s, isolation_level=None)
    conn.execute("PRAGMA synchronous=OFF")
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
