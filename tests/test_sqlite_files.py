"""Workers that open a fresh SQLite file at the same moment all get a connection in WAL mode."""

from __future__ import annotations

import multiprocessing as mp
from pathlib import Path

import pytest

from api.auth import FailureLimiter
from rag.catalog import Catalog

WORKERS, TRIALS = 4, 10


def _open(kind: str, path: str, barrier, results) -> None:
    barrier.wait()
    try:
        if kind == "catalog":
            Catalog(Path(path))
        else:
            FailureLimiter(5, path=Path(path))
        results.put("ok")
    except Exception as e:  # what a worker would have died of
        results.put(f"{type(e).__name__}: {e}")


@pytest.mark.parametrize("kind", ["catalog", "auth failures"])
def test_workers_opening_a_fresh_file_together_all_get_it(tmp_path, kind):
    ctx = mp.get_context("fork")
    outcomes = []
    for trial in range(TRIALS):  # before the fix, about one trial in two lost a worker
        path = str(tmp_path / f"{trial}.sqlite")
        barrier, results = ctx.Barrier(WORKERS), ctx.Queue()
        procs = [ctx.Process(target=_open, args=(kind, path, barrier, results)) for _ in range(WORKERS)]
        for p in procs:
            p.start()
        for p in procs:
            p.join(60)
        outcomes += [results.get(timeout=5) for _ in procs]
    assert outcomes == ["ok"] * WORKERS * TRIALS, [o for o in outcomes if o != "ok"]
