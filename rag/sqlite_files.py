"""SQLite files that several processes open at once (server workers, `rag index` beside a server)."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any


def connect_shared(path: Path, timeout_s: float, **kwargs: Any) -> sqlite3.Connection:
    """A connection to ``path`` in WAL mode (readers never wait for a writer), waiting up to ``timeout_s`` for
    other processes' locks. SQLite does not wait on its busy handler while a new file is switched to WAL, so
    workers starting together on a fresh file got "database is locked" (16 of 120 in a test of four at once,
    a worker lost each time): the switch is retried until the timeout."""
    conn = sqlite3.connect(path, timeout=timeout_s, check_same_thread=False, **kwargs)
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            return conn
        except sqlite3.OperationalError as e:
            if "locked" not in str(e) or time.monotonic() >= deadline:
                conn.close()
                raise
            time.sleep(0.01)
