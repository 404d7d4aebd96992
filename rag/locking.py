"""One writer at a time per index, across threads and processes (server workers share an index)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

from .errors import UnavailableError

try:
    import fcntl
except ImportError:  # Windows: threads are still serialized; run one server worker there
    fcntl = None  # type: ignore[assignment]


class IndexLock:
    """Exclusive lock: a thread lock plus ``flock`` on a file in the index folder.

    ``with lock:`` waits as long as it takes; ``with lock.hold(timeout):`` raises UnavailableError
    after ``timeout`` seconds (the API's writes, so a long `rag index` cannot hang requests)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._thread = threading.Lock()
        self._file: BinaryIO | None = None

    def __enter__(self) -> IndexLock:
        self._acquire(None)
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self._release()

    @contextmanager
    def hold(self, timeout: float | None) -> Iterator[IndexLock]:
        self._acquire(timeout)
        try:
            yield self
        finally:
            self._release()

    def _acquire(self, timeout: float | None) -> None:
        deadline = None if timeout is None else time.monotonic() + timeout
        if not self._thread.acquire(timeout=-1 if timeout is None else timeout):
            raise _busy(timeout)
        try:
            self._file = open(self.path, "a+b")
            if fcntl is not None:
                self._flock(deadline, timeout)
        except BaseException:
            self._close()
            self._thread.release()
            raise

    def _flock(self, deadline: float | None, timeout: float | None) -> None:
        if self._file is None or fcntl is None:
            return
        if deadline is None:
            fcntl.flock(self._file.fileno(), fcntl.LOCK_EX)
            return
        while True:
            try:
                fcntl.flock(self._file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise _busy(timeout) from None
                time.sleep(0.02)

    def _release(self) -> None:
        try:
            self._close()  # closing the file releases the flock
        finally:
            self._thread.release()

    def _close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def _busy(timeout: float | None) -> UnavailableError:
    return UnavailableError(f"the index is busy with another write (waited {timeout:g} s); retry later", retry_after=5)


class ReadWriteLock:
    """Many readers or one writer, within a process (searches versus an in-place vector update)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._readers = 0
        self._writing = False

    @contextmanager
    def read(self) -> Iterator[None]:
        with self._cond:
            while self._writing:
                self._cond.wait()
            self._readers += 1
        try:
            yield
        finally:
            with self._cond:
                self._readers -= 1
                if not self._readers:
                    self._cond.notify_all()

    @contextmanager
    def write(self) -> Iterator[None]:
        with self._cond:
            while self._writing:
                self._cond.wait()
            self._writing = True  # new readers wait from here on: a writer is never starved
            while self._readers:
                self._cond.wait()
        try:
            yield
        finally:
            with self._cond:
                self._writing = False
                self._cond.notify_all()
