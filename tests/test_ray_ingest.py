"""`rag index --engine ray` on a local Ray with 2 workers: the same index as a plain `rag index`,
and a run killed with SIGKILL resumes without redoing committed documents."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from rag import Engine, Settings, token_cache
from rag.ingest import embed_text
from tests.helpers import CORPUS

pytestmark = pytest.mark.slow  # starts a Ray cluster per run (about 5 s)
pytest.importorskip("ray")


def rag_index(index: Path, corpus: Path, *extra: str, env: dict[str, str] | None = None) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "rag.cli", "index", str(corpus), "--index-dir", str(index), "-q", "--json", *extra]
    # int8 token rows, so the runs' vectors themselves are compared: product codes also depend on which vectors a
    # run stored first, when it learnt its codebook (tests/test_late.py covers the codes).
    env = {**os.environ, "RAG_LATE_COMPRESSION": "false", **(env or {})}
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)


def finished(proc: subprocess.Popen) -> str:
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err[-3000:]
    return out


def snapshot(index: Path, embedder) -> dict[str, tuple]:
    """chunk_id -> (doc_id, text, offsets, lines, page, section, vector, token matrix) of every chunk."""
    with Engine(Settings(index_dir=index), embedder=embedder) as e:
        assert e.late is not None
        conn = e.store.catalog.conn()
        rows = {}
        for view in e.chunks():
            c = view.chunk
            key = conn.execute("SELECT embed_key FROM chunks WHERE chunk_id=?", (c.chunk_id,)).fetchone()[0]
            vec = e.store.cached_embeddings([key])[key]
            token_key = e.late._key(embed_text(view.title, c.text, e.settings.embed_title))
            tokens = token_cache.get(conn, [token_key])[token_key]  # stored by the run, not computed here
            rows[c.chunk_id] = (c.doc_id, c.text, c.char_start, c.char_end, c.line_start, c.line_end, c.page, c.section, view.title, vec, tokens)
        return rows


def assert_same_index(a: dict[str, tuple], b: dict[str, tuple]) -> None:
    assert a.keys() == b.keys() and a
    for chunk_id, row in a.items():
        assert row[:-2] == b[chunk_id][:-2], chunk_id
        np.testing.assert_allclose(row[-2], b[chunk_id][-2], atol=1e-5)
        assert row[-1].shape == b[chunk_id][-1].shape  # token rows: int8 steps, one apart at most (batching)
        assert np.abs(row[-1].astype(int) - b[chunk_id][-1].astype(int)).max() <= 1


def test_ray_builds_the_index_a_plain_run_builds_and_resumes_after_kill_9(tmp_path, embedder):
    corpus = tmp_path / "corpus"
    shutil.copytree(CORPUS, corpus)
    plain, ray_ix = tmp_path / "plain", tmp_path / "ray"
    finished(rag_index(plain, corpus))
    expected = snapshot(plain, embedder)

    # Killed (with its whole local Ray cluster) after its first commit of 40 chunks...
    proc = rag_index(ray_ix, corpus, "--engine", "ray", "--batch-size", "1", env={"RAG_COMMIT_CHUNKS": "40"})
    db = ray_ix / "rag.sqlite"
    deadline = time.time() + 300
    committed = 0
    while time.time() < deadline and proc.poll() is None:
        try:
            with sqlite3.connect(db, timeout=1) as conn:
                committed = conn.execute("SELECT COUNT(*) FROM documents").fetchone()[0]
        except sqlite3.Error:
            pass
        if committed:
            break
        time.sleep(0.05)
    assert 0 < committed < 5, f"{committed} documents committed when the run was killed"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(30)

    # ...then run again: the committed documents are skipped by their hash, the rest are added.
    report = json.loads(finished(rag_index(ray_ix, corpus, "--engine", "ray")))
    assert report["unchanged"] == committed and report["added"] == 5 - committed and not report["errors"]
    assert_same_index(snapshot(ray_ix, embedder), expected)

    # The same sync report as a plain run: an edit and a deletion.
    (corpus / sorted(p.name for p in corpus.glob("*.txt"))[0]).write_text("Tapirs crossed the Usumacinta river.\n")
    (corpus / sorted(p.name for p in corpus.glob("*.txt"))[1]).unlink()
    plain_report = json.loads(finished(rag_index(plain, corpus)))
    ray_report = json.loads(finished(rag_index(ray_ix, corpus, "--engine", "ray")))
    assert ray_report == plain_report and ray_report["updated"] == 1 and ray_report["removed"] == 1
    assert_same_index(snapshot(ray_ix, embedder), snapshot(plain, embedder))


def test_address_needs_the_ray_engine(tmp_path):
    proc = rag_index(tmp_path / "ix", tmp_path, "--address", "127.0.0.1:6379")
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 2 and "--address needs --engine ray" in err
