"""kill -9 at seeded random moments: of `rag index` mid-run, and of `rag serve` during uploads.
After each kill the index is old-or-new and consistent; a re-run embeds only what is missing;
every acknowledged write survives a restart and nothing is left behind."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from tests.helpers import CORPUS
from tests.invariants import check_index, stale_files, upload_files
from tests.reliability.conftest import record, scale
from tests.server import Server

COMMIT_CHUNKS = "40"  # several commits per run over the seed corpus (310 chunks)


def _index_cmd(corpus: Path, index: Path) -> list[str]:
    return [sys.executable, "-m", "rag.cli", "index", str(corpus), "--index-dir", str(index), "--json", "-q"]


def _env() -> dict[str, str]:
    return {**os.environ, "RAG_COMMIT_CHUNKS": COMMIT_CHUNKS}


def _distinct_keys(index: Path) -> int:
    import sqlite3

    conn = sqlite3.connect(index / "rag.sqlite")
    try:
        return conn.execute("SELECT COUNT(DISTINCT embed_key) FROM chunks").fetchone()[0]
    finally:
        conn.close()


def test_kill_9_of_rag_index_then_rerun_embeds_only_the_rest(tmp_path):
    corpus = tmp_path / "corpus"
    shutil.copytree(CORPUS, corpus)
    t0 = time.monotonic()
    ref = json.loads(subprocess.run(_index_cmd(corpus, tmp_path / "ref"), env=_env(), check=True, capture_output=True, text=True).stdout)
    full_s = time.monotonic() - t0
    want = check_index(tmp_path / "ref")
    rng = random.Random(9)
    trials = []
    for trial in range(scale(2, 20)):
        index = tmp_path / f"ix{trial}"
        at = rng.uniform(0.3, full_s)
        proc = subprocess.Popen(_index_cmd(corpus, index), env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(at)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        after_kill = check_index(index) if (index / "rag.sqlite").exists() else {"chunks": 0, "documents": 0}
        committed = _distinct_keys(index) if after_kill["chunks"] else 0
        rerun = json.loads(subprocess.run(_index_cmd(corpus, index), env=_env(), check=True, capture_output=True, text=True).stdout)
        final = check_index(index)
        trials.append(
            {
                "kill_at_s": round(at, 2),
                "docs_kept": after_kill["documents"],
                "chunks_kept": after_kill["chunks"],
                "rerun_embedded": rerun["chunks_embedded"],
            }
        )
        assert rerun["added"] + rerun["unchanged"] == want["documents"] and not rerun["errors"]
        assert rerun["chunks_embedded"] == ref["chunks_embedded"] - committed, trials[-1]
        assert (final["documents"], final["chunks"], final["vectors"]) == (want["documents"], want["chunks"], want["chunks"])
        assert final["sources"] == want["sources"]
        assert stale_files(index, final["generation"], final["base"]) == []
    record(
        "kill9_rag_index",
        trials=len(trials),
        full_run_s=round(full_s, 1),
        partial=sum(0 < t["chunks_kept"] < want["chunks"] for t in trials),
        data_lost=0,
        runs=trials,
    )


def test_kill_9_of_rag_serve_during_uploads_keeps_every_acknowledged_write(index_copy):
    rng = random.Random(99)
    totals = {"trials": 0, "acked_uploads": 0, "acked_deletes": 0, "lost": 0, "ghosts": 0}
    for trial in range(scale(2, 10)):
        acked: dict[str, str] = {}  # doc_id -> unique word
        deleted: set[str] = set()
        in_flight: set[str] = set()  # deletes sent but not answered before the kill: either outcome is right
        stop = threading.Event()
        server = Server(index_copy, workers=2).start().wait_ready()

        def uploader(worker: int) -> None:
            n = 0
            while not stop.is_set():
                word = f"zq{trial}x{worker}x{n}"
                n += 1
                text = f"The harbour pilot {word} logged the tanker at dawn. " * 3
                try:
                    if n % 3:
                        r = server.call("/documents", {"title": f"Note {n % 4}", "text": text}, timeout=10)
                    else:
                        r = server.upload(f"note {word}.txt", text)
                    if r.status == 201:
                        acked[r.body["doc_id"]] = word
                        if n % 4 == 0:
                            in_flight.add(r.body["doc_id"])
                            if server.call(f"/documents/{r.body['doc_id']}", method="DELETE", timeout=10).status == 200:
                                deleted.add(r.body["doc_id"])
                            in_flight.discard(r.body["doc_id"])
                except OSError:
                    pass

        threads = [threading.Thread(target=uploader, args=(i,)) for i in range(4)]
        for t in threads:
            t.start()
        time.sleep(rng.uniform(1.0, 5.0))
        server.kill()  # SIGKILL to every process: a power cut, as far as the index can tell
        stop.set()
        for t in threads:
            t.join()
        check_index(index_copy)  # consistent right after the crash, before anything cleans up
        with Server(index_copy, workers=2) as again:
            for doc_id in set(acked) - in_flight:
                status = again.call(f"/documents/{doc_id}").status
                totals["lost"] += doc_id not in deleted and status != 200
                totals["ghosts"] += doc_id in deleted and status != 404
            state = check_index(index_copy)
            listed = {d["doc_id"] for d in again.call("/documents").body["documents"]}
            assert stale_files(index_copy, state["generation"], state["base"]) == []
            assert upload_files(index_copy) == {s for s in state["sources"] if s.startswith("uploads/")}
        assert set(acked) - deleted - in_flight <= listed and not (deleted & listed)
        totals["trials"] += 1
        totals["acked_uploads"] += len(acked)
        totals["acked_deletes"] += len(deleted)
    record("kill9_rag_serve_uploads", **totals)
    assert totals["lost"] == 0 and totals["ghosts"] == 0 and totals["acked_uploads"] > 0
