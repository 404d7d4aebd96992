"""Uploaded files read in a process of their own: pypdf holds the GIL for seconds, so reading a PDF in a server
thread slowed that worker's searches (p50 6 -> 26 ms, max 209 ms); and a file that takes too long to read
can be stopped there, which a thread cannot be."""

from __future__ import annotations

import multiprocessing
import threading
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING

from .errors import UnavailableError
from .loaders import Extracted, LoadError, load_bytes

if TYPE_CHECKING:
    from multiprocessing.context import ForkServerContext, SpawnContext

# Each reader is forked from one clean server process that has the parsers loaded: quick to start, and safe
# (a fork of a worker would copy its threads' locks).
_CONTEXT: ForkServerContext | SpawnContext
if "forkserver" in multiprocessing.get_all_start_methods():
    _CONTEXT = multiprocessing.get_context("forkserver")
    _CONTEXT.set_forkserver_preload(["rag.loaders", "pypdf", "docx"])
else:  # Windows: each reader starts afresh
    _CONTEXT = multiprocessing.get_context("spawn")
PARALLEL = 2  # files read at once per server worker; more wait for a turn


class FileReader:
    """Reads files with ``load_bytes`` in a child process, at most ``parallel`` at once, each for at most
    ``timeout_s`` seconds; a file waits at most ``wait_s`` for its turn (default: ``timeout_s``)."""

    def __init__(self, timeout_s: float, parallel: int = PARALLEL, wait_s: float | None = None) -> None:
        self.timeout_s = timeout_s
        self.wait_s = timeout_s if wait_s is None else wait_s
        self.reading = 0  # files being read now
        self._turns = threading.BoundedSemaphore(parallel)
        self._count = threading.Lock()

    def load(self, data: bytes, name: str, max_chars: int) -> Extracted:
        """The file's text, as ``load_bytes`` gives it; LoadError when it cannot be read, takes too long or
        kills its reader; UnavailableError when no turn comes within ``wait_s``."""
        if not self._turns.acquire(timeout=self.wait_s):
            raise UnavailableError("too many files are being read; retry shortly", retry_after=5)
        self._add(1)
        try:
            return self._read(data, name, max_chars)
        finally:
            self._add(-1)
            self._turns.release()

    def _add(self, n: int) -> None:
        with self._count:
            self.reading += n

    def _read(self, data: bytes, name: str, max_chars: int) -> Extracted:
        receive, send = _CONTEXT.Pipe(duplex=False)
        reader = _CONTEXT.Process(target=_read_into, args=(send, data, name, max_chars), daemon=True)
        reader.start()
        send.close()
        try:
            if not receive.poll(self.timeout_s):
                raise LoadError(f"reading the file took longer than {self.timeout_s:g} s (RAG_PARSE_TIMEOUT_S)")
            kind, value = receive.recv()
        except EOFError:
            reader.join(5)
            raise LoadError(f"the process reading the file ended without an answer (exit code {reader.exitcode}): too large to read?") from None
        finally:
            receive.close()
            if reader.is_alive():
                reader.kill()
            reader.join()
        if kind == "ok":
            return value
        if kind == "refused":
            raise LoadError(value)
        raise RuntimeError(f"reading {name!r} failed: {value}")


def _read_into(send: Connection, data: bytes, name: str, max_chars: int) -> None:
    try:
        send.send(("ok", load_bytes(data, name, max_chars)))
    except LoadError as e:
        send.send(("refused", str(e)))
    except Exception as e:  # a bug, not a bad file: the caller raises it as one
        send.send(("failed", f"{type(e).__name__}: {e}"))
    finally:
        send.close()
