"""One writer at a time per index, across threads and processes (server workers share an index)."""
from __future__ import annotations

import threading
from pathlib import Path
from types import TracebackType

try:
    import fcntl
except ImportError:  # Windows: threads are still serialized; run one server worker there
    fcntl = None  # type: ignore[assignment]


class IndexLock:
    """Exclusive lock: a thread lock plus ``flock`` on a file in the index folder."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._thread = threading.Lock()
        self._file = None

    def __enter__(self) -> "IndexLock":
        self._thread.acquire()
        try:
            self._file = open(self.path, "a+b")
            if fcntl is not None:
                fcntl.flock(self._file.fileno(), fcntl.LOCK_EX)
        except BaseException:
            self._close()
            self._thread.release()
            raise
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        try:
            self._close()  # closing the file releases the flock
        finally:
            self._thread.release()

    def _close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
