"""A real `rag serve` process for tests: start, wait until ready, talk HTTP, stop or kill."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path
from typing import Any


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def port_free(port: int) -> bool:
    """Whether a new server could listen on ``port`` now (as uvicorn does: SO_REUSEADDR, so the
    client side's TIME_WAIT connections do not count)."""
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        s.bind(("127.0.0.1", port))
        s.listen()
        return True
    except OSError:
        return False
    finally:
        s.close()


class Reply:
    """Status, parsed JSON body (or text), headers and how long the request took."""

    def __init__(self, status: int, body: Any, headers: dict[str, str], seconds: float) -> None:
        self.status, self.body, self.headers, self.seconds = status, body, headers, seconds

    def __iter__(self):  # allows `status, body = reply`
        return iter((self.status, self.body))


def request(
    url: str, body: Any = None, *, method: str | None = None, headers: dict[str, str] | None = None, timeout: float = 30, raw: bytes | None = None
) -> Reply:
    """One HTTP request; JSON in and out. Raises OSError (socket.timeout included) on network errors.
    A server that answers early (413) and closes while the body is still being sent is read anyway."""
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    hdrs = {"Content-Type": "application/json", **(headers or {})}
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    t0 = time.perf_counter()
    try:
        try:
            conn.request(method or ("POST" if data is not None else "GET"), parts.path or "/", body=data, headers=hdrs)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the response may already be there
        r = conn.getresponse()
        status, payload, h = r.status, r.read(), dict(r.getheaders())
    except http.client.HTTPException as e:
        raise ConnectionError(f"bad HTTP response: {e!r}") from e
    finally:
        conn.close()
    try:
        parsed: Any = json.loads(payload) if payload else {}
    except ValueError:
        parsed = payload.decode(errors="replace")
    return Reply(status, parsed, h, time.perf_counter() - t0)


class Server:
    """`rag serve` in its own session (so a kill reaches every worker)."""

    def __init__(self, index_dir: Path, workers: int = 1, env: dict[str, str] | None = None) -> None:
        self.index_dir = Path(index_dir)
        self.workers = workers
        self.env = {**os.environ, "RAG_CORPUS_DIR": str(self.index_dir / "no-corpus"), **(env or {})}
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None
        # A file, not a pipe: nobody reads a pipe while a test runs, and a full pipe blocks the server.
        self._log = tempfile.TemporaryFile()

    def start(self) -> Server:
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "rag.cli",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--index-dir",
                str(self.index_dir),
                "--workers",
                str(self.workers),
            ],
            env=self.env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        return self

    def __enter__(self) -> Server:
        return self.start().wait_ready()

    def __exit__(self, *exc) -> None:
        self.kill()

    def log(self, tail: int | None = 3000) -> str:
        """What the server printed (its last ``tail`` characters; None: all)."""
        self._log.seek(0)
        text = self._log.read().decode(errors="replace")
        return text[-tail:] if tail else text

    def wait_ready(self, timeout: float = 300) -> Server:
        deadline = time.time() + timeout
        while time.time() < deadline:
            assert self.proc is not None and self.proc.poll() is None, f"rag serve exited:\n{self.log()}"
            try:
                if request(self.url + "/ready", timeout=5).status == 200:
                    return self
            except OSError:
                pass
            time.sleep(0.2)
        raise AssertionError("rag serve never became ready")

    def call(self, path: str, body: Any = None, **kw) -> Reply:
        return request(self.url + path, body, **kw)

    def upload(self, name: str, content: str | bytes, headers: dict[str, str] | None = None, timeout: float = 10) -> Reply:
        """POST /documents with a file as multipart form data, as a browser sends it."""
        boundary = "----ragtest7d3f"
        data = content.encode() if isinstance(content, str) else content
        head = f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\nContent-Type: application/octet-stream\r\n\r\n'
        body = head.encode() + data + f"\r\n--{boundary}--\r\n".encode()
        form = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
        return self.call("/documents", raw=body, timeout=timeout, headers={**(headers or {}), **form})

    def worker_pids(self, tries: int = 400) -> set[int]:
        """The pids of the workers that answer (each connection may reach another)."""
        pids: set[int] = set()
        for n in range(tries):
            t0 = time.monotonic()
            try:
                pids.add(self.call("/health", timeout=5).body["worker_pid"])
            except OSError as e:  # say what the server was doing, not only that a call timed out
                took = time.monotonic() - t0
                raise AssertionError(f"/health call {n + 1} failed after {took:.1f} s ({e!r}); pids so far {pids}; log:\n{self.log()}") from e
            if len(pids) == self.workers:
                break
        return pids

    def terminate(self, timeout: float = 30) -> float:
        """SIGTERM to the server (as `kill PID` would); returns the seconds it took to exit."""
        assert self.proc is not None
        t0 = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout)
        return time.monotonic() - t0

    def kill(self) -> None:
        """SIGKILL to the server and every process of its session."""
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait(30)


def session_pids(sid: int) -> list[int]:
    """Live processes of a session (the server and its workers)."""
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                if os.getsid(int(d.name)) == sid and (d / "stat").read_text().split()[2] != "Z":
                    out.append(int(d.name))
            except (ProcessLookupError, PermissionError, FileNotFoundError):
                continue
    return out
