"""A real `rag serve` process on a free port, over HTTP; concurrency against the engine."""

import shutil
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from rag import NewDocument
from tests.helpers import CORPUS, engine_at
from tests.server import Server, request

pytestmark = pytest.mark.slow  # real server processes


def _get(url: str, body: dict | None = None):
    r = request(url, body)
    return r.status, r.body


def _delete(url: str) -> int:
    return request(url, method="DELETE").status


def test_rag_serve_indexes_empty_index_then_serves(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    shutil.copy(CORPUS / "001_e0cea56afaaf3c59.txt", corpus)
    server = Server(tmp_path / "ix", env={"RAG_CORPUS_DIR": str(corpus)}).start()
    try:
        deadline = time.time() + 120
        while time.time() < deadline:  # /health answers while the corpus is still being indexed
            assert server.proc.poll() is None, server.log()
            try:
                assert request(server.url + "/health", timeout=5).status == 200
                break
            except OSError:
                time.sleep(0.1)
        server.wait_ready()
        base = server.url
        st, r = _get(base + "/search", {"query": "When did Tillerson travel to Mexico City?", "top_k": 2})
        assert st == 200 and r["results"][0]["line_start"] <= 6 <= r["results"][0]["line_end"]
        assert _get(base + "/stats")[1]["documents"] == 1
    finally:
        server.kill()


def test_workers_share_one_index_and_see_each_others_writes(tmp_path, seed_index):
    seed, _ = seed_index
    index = tmp_path / "index"
    shutil.copytree(seed.settings.index_dir, index)
    with Server(index, workers=2) as server:
        base = server.url
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
                found = pool.map(
                    lambda _: _get(base + "/search", {"query": f"pilot {name} tanker", "top_k": 1})[1]["results"][0]["doc_id"], range(16)
                )
                assert set(found) == {doc_id}
            assert {r[1]["documents"] for r in pool.map(lambda _: _get(base + "/stats"), range(16))} == {11}
            for doc_id in ids:
                assert _delete(base + f"/documents/{doc_id}") == 200
            hits = pool.map(lambda _: _get(base + "/search", {"query": "harbour pilot tanker", "top_k": 3})[1], range(16))
            assert all(h["doc_id"] != "Field_note" and not h["doc_id"].startswith("Field_note-") for r in hits for h in r["results"])


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
    assert engine.model_calls < 90  # some concurrent queries shared a model call
    assert engine.stats()["documents"] == 5


def test_failed_keys_are_counted_across_workers(tmp_path, seed_index):
    """Wrong keys sent to a two-worker server count once for the client, whichever worker took them:
    after the limit every request gets 429, the right key too, on both workers."""
    seed, _ = seed_index
    index = tmp_path / "index"
    shutil.copytree(seed.settings.index_dir, index)
    env = {"RAG_API_KEY": "right-key", "RAG_PROTECT_READS": "true", "RAG_AUTH_MAX_FAILURES": "6"}
    with Server(index, workers=2, env=env) as server:
        base = server.url
        with ThreadPoolExecutor(8) as pool:
            pids: set[int] = set()
            for _ in range(10):
                pids |= set(pool.map(lambda _: _get(base + "/health")[1]["worker_pid"], range(64)))
                if len(pids) == 2:
                    break
            assert len(pids) == 2, "both workers should answer"
            wrong = {"Authorization": "Bearer guess"}
            assert [request(base + "/stats", headers=wrong).status for _ in range(6)] == [401] * 6
            right = {"Authorization": "Bearer right-key"}
            statuses = list(pool.map(lambda _: request(base + "/stats", headers=right).status, range(48)))
            assert statuses == [429] * 48, statuses
