"""A full disk under the index, told apart from other write failures and reported as StorageFullError."""

from __future__ import annotations

import errno
import shutil
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .errors import StorageFullError

# No space, quota exceeded, or a file size limit (RLIMIT_FSIZE with SIGXFSZ ignored).
FULL = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}


def is_disk_full(exc: BaseException) -> bool:
    """Whether ``exc`` (or what it was raised from) says there is no room to write."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, OSError) and seen.errno in FULL:
            return True
        if isinstance(seen, sqlite3.OperationalError) and "disk is full" in str(seen):  # SQLITE_FULL
            return True
        seen = seen.__cause__ or seen.__context__
    return False


@contextmanager
def full_disk_reported(directory: Path) -> Iterator[None]:
    """Turn a full-disk failure of the block into StorageFullError, saying how much room is left."""
    try:
        yield
    except StorageFullError:
        raise
    except Exception as e:
        if not is_disk_full(e):
            raise
        raise StorageFullError(f"no room to write the index in {directory} ({_free_mb(directory)} free): {e}; nothing of this write was kept") from e


def _free_mb(directory: Path) -> str:
    try:
        return f"{shutil.disk_usage(directory).free / 1e6:.1f} MB"
    except OSError:
        return "unknown space"
