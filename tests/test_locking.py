import multiprocessing
import threading
import time

from rag.locking import IndexLock


def _hold(lock_path, log_path, tag: str) -> None:
    _hold_with(IndexLock(lock_path), log_path, tag)


def _assert_not_interleaved(log_path, n: int) -> None:
    lines = log_path.read_text().split()
    assert len(lines) == 2 * n
    assert all(a[:-1] == b[:-1] and a.endswith("+") and b.endswith("-") for a, b in zip(lines[::2], lines[1::2]))


def test_lock_excludes_other_processes(tmp_path):
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_hold, args=(tmp_path / "write.lock", tmp_path / "log", f"p{i}")) for i in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(30)
        assert p.exitcode == 0
    _assert_not_interleaved(tmp_path / "log", 3)


def test_lock_excludes_other_threads_and_is_reusable(tmp_path):
    lock = IndexLock(tmp_path / "write.lock")
    threads = [threading.Thread(target=lambda i=i: _hold_with(lock, tmp_path / "log", f"t{i}")) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    _assert_not_interleaved(tmp_path / "log", 3)


def _hold_with(lock: IndexLock, log_path, tag: str) -> None:
    with lock, open(log_path, "a") as f:
        f.write(f"{tag}+\n")
        f.flush()
        time.sleep(0.1)
        f.write(f"{tag}-\n")
