"""A real `rag serve` process on a free port, over HTTP; concurrency against the engine."""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

from rag import NewDocument
from tests.conftest import CORPUS, engine_at


def _free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def _get(url: str, body: dict | None = None):
    req = urllib.request.Request(url, data=json.dumps(body).encode() if body else None,
                                 headers={"Content-Type": "application/json"}, method="POST" if body else "GET")
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


def _delete(url: str) -> int:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, method="DELETE"), timeout=30) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


@contextmanager
def _serve(index_dir, env: dict | None = None, args: tuple[str, ...] = ()):
    """`rag serve` in its own process group; yields (base URL, process) and stops it afterwards."""
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "rag.cli", "serve", "--host", "127.0.0.1", "--port", str(port),
                             "--index-dir", str(index_dir), *args], env={**os.environ, **(env or {})},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        yield f"http://127.0.0.1:{port}", proc
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(30)


def _wait_ready(base: str, proc) -> bool:
    """Poll until /ready answers 200; returns whether /health answered on the way."""
    saw_health = False
    deadline = time.time() + 300
    while time.time() < deadline:
        assert proc.poll() is None, proc.stdout.read().decode()[-2000:]
        try:
            saw_health = saw_health or _get(base + "/health")[0] == 200
            if _get(base + "/ready")[0] == 200:
                return saw_health
        except OSError:
            pass
        time.sleep(0.3)
    raise AssertionError("rag serve never became ready")


def test_rag_serve_indexes_empty_index_then_serves(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    shutil.copy(CORPUS / "001_e0cea56afaaf3c59.txt", corpus)
    with _serve(tmp_path / "ix", {"RAG_CORPUS_DIR": str(corpus)}) as (base, proc):
        assert _wait_ready(base, proc)
        st, r = _get(base + "/search", {"query": "When did Tillerson travel to Mexico City?", "top_k": 2})
        assert st == 200 and r["results"][0]["line_start"] <= 6 <= r["results"][0]["line_end"]
        assert _get(base + "/stats")[1]["documents"] == 1


def test_workers_share_one_index_and_see_each_others_writes(tmp_path, seed_index):
    seed, _ = seed_index
    index = tmp_path / "index"
    shutil.copytree(seed.settings.index_dir, index)
    with _serve(index, {"RAG_CORPUS_DIR": str(tmp_path / "none")}, ("--workers", "2")) as (base, proc):
        _wait_ready(base, proc)
        with ThreadPoolExecutor(16) as pool:
            pids: set[int] = set()
            for _ in range(10):  # the kernel picks which worker accepts a connection
                pids |= set(pool.map(lambda _: _get(base + "/health")[1]["worker_pid"], range(64)))
                if len(pids) == 2:
                    break
            assert len(pids) == 2, "both workers should answer"
            # Same title at once through both workers: every upload keeps its own document.
            names = ["Alvarado", "Bustamante", "Cienfuegos", "Dominguez", "Echeverria", "Figueroa"]
            notes = [{"title": "Field note", "text": f"The harbour pilot {n} logged the tanker."} for n in names]
            uploads = list(pool.map(lambda d: _get(base + "/documents", d), notes))
            assert all(st == 201 for st, _ in uploads), uploads
            ids = [r["doc_id"] for _, r in uploads]
            assert len(set(ids)) == 6
            for name, doc_id in zip(names, ids):
                found = pool.map(lambda _: _get(base + "/search", {"query": f"pilot {name} tanker",
                                                                    "top_k": 1})[1]["results"][0]["doc_id"], range(16))
                assert set(found) == {doc_id}
            assert {r[1]["documents"] for r in pool.map(lambda _: _get(base + "/stats"), range(16))} == {11}
            for doc_id in ids:
                assert _delete(base + f"/documents/{doc_id}") == 200
            hits = pool.map(lambda _: _get(base + "/search", {"query": "harbour pilot tanker", "top_k": 3})[1],
                            range(16))
            assert all(h["doc_id"] != "Field_note" and not h["doc_id"].startswith("Field_note-")
                       for r in hits for h in r["results"])


def test_concurrent_searches_during_writes(tmp_path, embedder, seed_index):
    _, corpus = seed_index
    engine = engine_at(tmp_path, embedder)
    engine.sync([corpus])
    engine.enable_batching()
    errors, counts = [], []

    def reader():
        try:
            for _ in range(15):
                counts.append(len(engine.search("border security cooperation", top_k=5).hits))
        except Exception as e:  # any error fails the test
            errors.append(repr(e))

    threads = [threading.Thread(target=reader) for _ in range(6)]
    for t in threads:
        t.start()
    for i in range(4):
        d = engine.add_documents([NewDocument(title=f"Note {i}", text=f"Border security cooperation note number {i}.")])[0]
        engine.delete_document(d.doc_id)
    for t in threads:
        t.join()
    assert not errors and all(c == 5 for c in counts)
    assert engine._batcher.batches < 90  # some concurrent queries shared a model call
    assert engine.stats()["documents"] == 5
