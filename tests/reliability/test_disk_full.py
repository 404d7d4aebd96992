"""A full disk under a real two-worker `rag serve`: writes that do not fit are refused with 507 and leave nothing
behind, reads go on, the writes acknowledged before stay, and once there is room again writes work. The index
lives on a small tmpfs, so mounting one must be allowed (root); elsewhere the test is skipped."""

from __future__ import annotations

import random
import shutil
import sqlite3
import string
import subprocess
from contextlib import closing
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
    mount = tmp_path / "disk"
    mount.mkdir()
    size = sum(p.stat().st_size for p in index_copy.rglob("*") if p.is_file()) + HEADROOM
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mount)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {done.stderr.strip()}")
    try:
        shutil.copytree(index_copy, mount / "index")
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
