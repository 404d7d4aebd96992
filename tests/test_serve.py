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


def test_rag_serve_indexes_empty_index_then_serves(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    shutil.copy(CORPUS / "001_e0cea56afaaf3c59.txt", corpus)
    port = _free_port()
    env = {**os.environ, "RAG_CORPUS_DIR": str(corpus)}
    proc = subprocess.Popen([sys.executable, "-m", "rag.cli", "serve", "--host", "127.0.0.1", "--port", str(port),
                             "--index-dir", str(tmp_path / "ix")], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        saw_health = False
        deadline = time.time() + 300
        while time.time() < deadline:
            assert proc.poll() is None, proc.stdout.read().decode()[-2000:]
            try:
                st, h = _get(base + "/health")
                saw_health = saw_health or st == 200
                if _get(base + "/ready")[0] == 200:
                    break
            except OSError:
                pass
            time.sleep(0.3)
        assert saw_health
        st, r = _get(base + "/search", {"query": "When did Tillerson travel to Mexico City?", "top_k": 2})
        assert st == 200 and r["results"][0]["line_start"] <= 6 <= r["results"][0]["line_end"]
        assert _get(base + "/stats")[1]["documents"] == 1
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(30)


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
