"""A full disk under a real two-worker `rag serve`: writes that do not fit are refused with 507 and leave nothing
behind, reads go on, the writes acknowledged before stay, and once there is room again writes work. The index
lives on a small tmpfs, so mounting one must be allowed (root); elsewhere the test is skipped."""

from __future__ import annotations

import random
import shutil
import sqlite3
import string
import subprocess
import sys
from contextlib import closing, contextmanager
from pathlib import Path

import pytest

from tests.invariants import check_index, stale_files, upload_files
from tests.reliability.conftest import record
from tests.server import Server

KEY = "disk-full-key"
AUTH = {"Authorization": f"Bearer {KEY}"}
HEADROOM = 1_500_000  # bytes free on the disk after the index is copied there


@pytest.fixture
def small_disk(tmp_path: Path, index_copy: Path):
    """The seed index, as a server leaves it (its write-ahead log folded in), on a tmpfs with ``HEADROOM`` bytes
    to spare."""
    with closing(sqlite3.connect(index_copy / "rag.sqlite")) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    size = sum(p.stat().st_size for p in index_copy.rglob("*") if p.is_file()) + HEADROOM
    with _tmpfs(tmp_path / "disk", size) as mount:
        shutil.copytree(index_copy, mount / "index")
        yield mount


@contextmanager
def _tmpfs(mount: Path, size: int):
    """A tmpfs of ``size`` bytes at ``mount`` (skips the test where mounting is not allowed)."""
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mount)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def _words(n: int, seed: int) -> str:
    rng = random.Random(seed)
    return " ".join("".join(rng.choices(string.ascii_lowercase, k=rng.randint(3, 10))) for _ in range(n))


def _fill(disk: Path) -> Path:
    """Take every byte left on ``disk``."""
    filler = disk / "filler"
    with open(filler, "wb") as f:
        try:
            while True:
                f.write(b"\0" * 65536)
                f.flush()
        except OSError:
            pass
    return filler


def test_a_full_disk_refuses_writes_with_507_and_keeps_reads_and_acknowledged_writes(small_disk: Path):
    index = small_disk / "index"
    acked: list[str] = []
    with Server(index, workers=2, env={"RAG_API_KEY": KEY}) as server:
        big = server.upload("big.txt", _words(20_000, seed=1), AUTH, timeout=120)  # a few MB of index: more than the room left
        assert big.status == 507, (big.status, big.body, server.log())
        assert "no room to write the index" in big.body["detail"]
        assert server.call("/search", {"query": "border security cooperation"}).status == 200
        for i in range(5):  # the failed write gave its room back: small ones fit
            r = server.upload(f"okapi{i}.txt", f"Okapi sighting number {i} near the Usumacinta river.", AUTH)
            assert r.status == 201, (r.status, r.body)
            acked.append(r.body["doc_id"])
        filler = _fill(small_disk)
        refused = server.upload("late.txt", "An okapi report that finds the disk full.", AUTH)
        assert refused.status == 507 and "no room" in refused.body["detail"]
        for query in ("okapi sighting Usumacinta", "Merida Initiative funding"):
            assert server.call("/search", {"query": query}).status == 200
        assert server.call("/ask", {"question": "When did Tillerson travel to Mexico City?"}).status == 200
        assert server.call("/ready").body["ready"] is True
        assert "Traceback" not in server.log()
    state = check_index(index)
    assert stale_files(index, state["generation"], state["base"]) == []
    assert upload_files(index) == {s for s in state["sources"] if s.startswith("uploads/")}
    assert all(not p.name.endswith(".tmp") for p in (index / "uploads").iterdir())
    filler.unlink()
    with Server(index, workers=2, env={"RAG_API_KEY": KEY}) as again:  # room again: nothing was lost, writes work
        listed = {d["doc_id"] for d in again.call("/documents").body["documents"]}
        assert set(acked) <= listed and not {"big", "late"} & listed
        assert again.upload("after.txt", "An okapi seen after the disk was cleared.", AUTH).status == 201
    record("disk_full", acked=len(acked), refused=2, documents=len(listed) + 1)


def test_rag_index_on_a_full_disk_says_so_and_a_rerun_with_room_finishes(tmp_path: Path):
    corpus = tmp_path / "docs"
    corpus.mkdir()
    for i in range(3):
        (corpus / f"field-notes-{i}.txt").write_text(_words(2_500, seed=10 + i))
    with _tmpfs(tmp_path / "disk", 1_500_000) as mount:
        index = mount / "index"
        cmd = [sys.executable, "-m", "rag.cli", "index", str(corpus), "--index-dir", str(index), "--json"]
        full = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
        assert full.returncode == 2, (full.returncode, full.stderr[-2000:])
        assert "error: no room to write the index in" in full.stderr and "Traceback" not in full.stderr
        kept = check_index(index)  # what was committed before the disk filled is whole
        assert stale_files(index, kept["generation"], kept["base"]) == []
        subprocess.run(["mount", "-o", "remount,size=64m", str(mount)], check=True)
        again = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
        assert again.returncode == 0, again.stderr[-2000:]
        final = check_index(index)
        assert final["documents"] == 3 and final["chunks"] == final["vectors"]
    record("disk_full_rag_index", kept_documents=kept["documents"], final_documents=final["documents"])
