"""Writers and readers at once through different workers of one `rag serve`: every acknowledged
upload is searchable on the next request, every acknowledged delete is gone, nothing else appears,
and no stale file is left."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

from tests.invariants import check_index, stale_files, upload_files
from tests.reliability.conftest import record, scale
from tests.server import Server


def test_concurrent_writers_and_readers_see_exactly_the_acknowledged_writes(index_copy):
    rounds = scale(6, 40)
    live: dict[str, str] = {}  # doc_id -> unique word, acknowledged and not deleted
    deleted: dict[str, str] = {}
    problems: list[str] = []
    reads = [0]
    lock = threading.Lock()
    with Server(index_copy, workers=2) as server:
        base_docs = server.call("/stats").body["documents"]
        stop = threading.Event()

        def writer(w: int) -> None:
            for n in range(rounds):
                word = f"qv{w}y{n}"
                # Same title from every writer at once: each upload must keep its own document.
                r = server.call("/documents", {"title": "Field note", "text": f"The pilot {word} met the tanker."})
                if r.status != 201:
                    problems.append(f"upload {r.status}")
                    continue
                doc_id = r.body["doc_id"]
                found = server.call("/search", {"query": f"pilot {word}", "top_k": 1}).body["results"]
                if not found or found[0]["doc_id"] != doc_id:
                    problems.append(f"{doc_id} not found right after its upload")
                if n % 2:
                    if server.call(f"/documents/{doc_id}", method="DELETE").status != 200:
                        problems.append(f"delete {doc_id} failed")
                        continue
                    hits = server.call("/search", {"query": f"pilot {word}", "top_k": 3}).body["results"]
                    if any(h["doc_id"] == doc_id for h in hits):
                        problems.append(f"{doc_id} found right after its delete")
                    with lock:
                        deleted[doc_id] = word
                else:
                    with lock:
                        live[doc_id] = word

        def reader() -> None:
            while not stop.is_set():
                # Deletes acknowledged before the search was sent: a delete acknowledged while the search
                # is in flight is concurrent with it, and either answer is then correct.
                with lock:
                    gone = set(deleted)
                    reads[0] += 1
                r = server.call("/search", {"query": "pilot tanker", "top_k": 10})
                if r.status != 200:
                    problems.append(f"search {r.status}")
                ghosts = [h["doc_id"] for h in r.body.get("results", []) if h["doc_id"] in gone]
                if ghosts:
                    problems.append(f"ghost hits {ghosts}")

        readers = [threading.Thread(target=reader) for _ in range(4)]
        for t in readers:
            t.start()
        t0 = time.monotonic()
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(writer, range(4)))
        seconds = time.monotonic() - t0
        stop.set()
        for t in readers:
            t.join()
        # Every worker agrees on the final state.
        with ThreadPoolExecutor(8) as pool:
            counts = set(pool.map(lambda _: server.call("/stats").body["documents"], range(32)))
        listed = {d["doc_id"] for d in server.call("/documents").body["documents"]}
        for doc_id, word in live.items():
            hits = server.call("/search", {"query": f"pilot {word}", "top_k": 1}).body["results"]
            if not hits or hits[0]["doc_id"] != doc_id:
                problems.append(f"{doc_id} lost")
        state = check_index(index_copy)
    record(
        "concurrent_writers",
        writers=4,
        readers=4,
        uploads=len(live) + len(deleted),
        deletes=len(deleted),
        searches=reads[0],
        seconds=round(seconds, 1),
        problems=len(problems),
    )
    assert not problems, problems[:10]
    assert counts == {base_docs + len(live)}
    assert set(live) <= listed and not (set(deleted) & listed)
    assert len(set(live) | set(deleted)) == len(live) + len(deleted)  # no id handed out twice
    assert stale_files(index_copy, state["generation"], state["base"]) == []
    assert upload_files(index_copy) == {s for s in state["sources"] if s.startswith("uploads/")}


def test_retried_delete_never_removes_a_newer_document(index_copy):
    with Server(index_copy) as server:
        doc = {"title": "Retry note", "text": "The border working group met in Monterrey."}
        first = server.call("/documents", doc).body["doc_id"]
        assert server.call(f"/documents/{first}", method="DELETE").status == 200
        second = server.call("/documents", doc).body["doc_id"]
        assert second != first  # deleted ids are never handed out again
        assert server.call(f"/documents/{first}", method="DELETE").status == 404  # the retry
        assert server.call(f"/documents/{second}").status == 200
