"""Helpers shared by the benchmark scripts: a real `rag serve`, percentiles, the report file."""

from __future__ import annotations

import http.client
import json
import os
import platform
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REPORT = ROOT / "docs" / "BENCHMARKS.md"


def machine() -> str:
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    return f"{os.cpu_count()} cores ({cpu}), Python {platform.python_version()}, {platform.system()}"


def percentile(values: list[float], p: float) -> float:
    s = sorted(values)
    if not s:
        return float("nan")
    i = min(len(s) - 1, max(0, round(p / 100 * (len(s) - 1))))
    return s[i]


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Server:
    """`rag serve` in its own process group; ``ready_s`` is process start to GET /ready = 200."""

    def __init__(self, index_dir: Path, env: dict | None = None, args: tuple[str, ...] = (), tree: Path = ROOT) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        t0 = time.perf_counter()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "rag.cli", "serve", "--host", "127.0.0.1", "--port", str(self.port), "--index-dir", str(index_dir), *args],
            env={**os.environ, **(env or {})},
            cwd=tree,  # `python -m` puts the working directory first on sys.path: it picks the tree whose code runs
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError("rag serve exited")
            try:
                with urllib.request.urlopen(self.base + "/ready", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.perf_counter() - t0 > 600:
                raise RuntimeError("rag serve never became ready")
            time.sleep(0.05)
        self.ready_s = time.perf_counter() - t0

    def post(self, path: str, body: dict) -> dict:
        """POST over one kept-alive connection, as a chatbot backend's HTTP client would."""
        if getattr(self, "_conn", None) is None:
            self._conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        self._conn.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})
        r = self._conn.getresponse()
        data = r.read()
        if r.status != 200:
            raise RuntimeError(f"{path}: HTTP {r.status}: {data[:200]!r}")
        return json.loads(data)

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(30)

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.stop()


def write_section(name: str, markdown: str, command: str) -> None:
    """Replace (or add) the section ``name`` of docs/BENCHMARKS.md."""
    REPORT.parent.mkdir(exist_ok=True)
    text = REPORT.read_text() if REPORT.exists() else "# Benchmarks\n\nEach section: the command, the machine, the figures.\n"
    body = f"<!-- {name} -->\n## {name}\n\n`{command}` — {time.strftime('%Y-%m-%d')}, {machine()}\n\n{markdown.strip()}\n<!-- /{name} -->"
    pattern = re.compile(rf"<!-- {re.escape(name)} -->.*?<!-- /{re.escape(name)} -->", re.S)
    text = pattern.sub(lambda _: body, text) if pattern.search(text) else text.rstrip() + "\n\n" + body + "\n"
    REPORT.write_text(text)
    print(markdown)


QUERIES = [
    "When did Tillerson travel to Mexico City?",
    "Who declared the war on drug cartels?",
    "Merida Initiative funding",
    "Mexican military human rights",
    "North American security perimeter",
    "drug trafficking organizations violence",
    "Fox government foreign policy United Nations",
    "What is the role of the Mexican navy?",
    "border security cooperation with Canada",
    "Security and Prosperity Partnership",
    "Calderón deployment of the armed forces",
    "Why are US-Mexico defense relations strained?",
    "NAFTA and security",
    "Posse comitatus",
]


def bench_queries(n: int = 500) -> list[str]:
    """``n`` distinct queries: the hand-written ones, the unanswerable set, then the openings (6 to 12
    words) of corpus sentences in a fixed shuffled order, so no cache can serve repeats."""
    import random

    out = list(QUERIES)
    with open(ROOT / "bench" / "data" / "unanswerable.jsonl") as f:
        out += [json.loads(line)["question"] for line in f if line.strip()]
    sentences = []
    for path in sorted((ROOT / "corpus").glob("*.txt")):
        text = re.sub(r"\s+", " ", re.sub(r"[#*]+", " ", path.read_text(encoding="utf-8")))
        sentences += [s.split() for s in re.split(r"(?<=[.?!])\s+", text) if len(s.split()) >= 8]
    rng = random.Random(0)
    rng.shuffle(sentences)
    seen = set(out)
    for i, words in enumerate(sentences):
        q = " ".join(words[: 6 + i % 7]).strip(" ,;:")
        if q not in seen and len(out) < n:
            seen.add(q)
            out.append(q)
    return out[:n]
