"""The manifest beside an index: the settings it was built with, so opening it with others fails
with a clear message instead of mixing incompatible vectors."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from .errors import ConflictError

FORMAT_VERSION = 1
MANIFEST = "manifest.json"


class IndexMismatchError(ConflictError):
    """The index on disk was built with another model or other chunking settings."""


@dataclass(frozen=True)
class IndexSpec:
    """What must match between an index on disk and the settings that open it."""

    model: str
    chunk_tokens: int
    chunk_overlap: int
    embed_title: bool

    def differences(self, other: dict[str, Any]) -> list[str]:
        return [f"{k}: index has {other.get(k)!r}, settings ask for {v!r}" for k, v in asdict(self).items() if other.get(k) != v]


def check(index_dir: Path, spec: IndexSpec) -> None:
    """Raise IndexMismatchError if the manifest in ``index_dir`` disagrees with ``spec``."""
    path = index_dir / MANIFEST
    if not path.exists():
        return
    hint = f"rebuild it with `rag index --rebuild --index-dir {index_dir}`, or use another --index-dir"
    try:
        manifest = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise IndexMismatchError(f"index manifest {path} is unreadable ({e}); {hint}") from e
    diffs = spec.differences(manifest)
    if diffs:
        raise IndexMismatchError(f"the index in {index_dir} was built with different settings ({'; '.join(diffs)}); {hint}.")


def write(index_dir: Path, spec: IndexSpec, **facts: Any) -> None:
    """Write the manifest beside the index, atomically."""
    path = index_dir / MANIFEST
    tmp = path.with_name(MANIFEST + ".tmp")
    tmp.write_text(json.dumps({**asdict(spec), **facts, "format_version": FORMAT_VERSION}, indent=2))
    os.replace(tmp, path)
