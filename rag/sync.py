"""Find the files under the given paths and decide what the index must add, update or remove."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from .chunking import ChunkLimits
from .ingest import Prepared, prepare
from .loaders import Extracted, is_supported

if TYPE_CHECKING:
    from .config import Settings

log = logging.getLogger(__name__)
MANIFEST_NAMES = ("manifest.json",)


@dataclass
class SourceFile:
    """A supported file found under a root, with the metadata its root's manifest gives it."""

    path: Path
    relative: str
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass
class Scan:
    files: list[SourceFile] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    errors: list[dict[str, str]] = field(default_factory=list)
    roots: list[Path] = field(default_factory=list)

    def covers(self, path: str) -> bool:
        """Whether a stored document's path lies under one of the scanned roots."""
        p = Path(path)
        return any(p == r or r in p.parents for r in self.roots)


def scan(paths: list[Path]) -> Scan:
    """Walk files and folders; unsupported files are skipped, missing paths are errors."""
    out = Scan()
    for raw in paths:
        root = Path(raw).expanduser().resolve()
        if not root.exists():
            out.errors.append({"file": str(raw), "error": "no such file or directory"})
            continue
        out.roots.append(root)
        base = root if root.is_dir() else root.parent
        meta = _read_manifest(base, out)
        candidates = sorted(root.rglob("*")) if root.is_dir() else [root]
        for f in candidates:
            if not f.is_file() or any(part.startswith(".") for part in f.relative_to(base).parts):
                continue
            rel = f.relative_to(base).as_posix()
            if f.parent == base and f.name in MANIFEST_NAMES:
                continue
            if not is_supported(f):
                out.skipped.append(str(f))
                continue
            out.files.append(SourceFile(f, rel, dict(meta.get(rel, {}))))
    return out


def _read_manifest(base: Path, out: Scan) -> dict[str, dict[str, Any]]:
    """Per-file metadata (title, authors, year, publisher...) from ``manifest.json``, if present."""
    for name in MANIFEST_NAMES:
        p = base / name
        if p.is_file():
            try:
                data = json.loads(p.read_text(encoding="utf-8"))
                if isinstance(data, dict):
                    return {k: v for k, v in data.items() if isinstance(v, dict)}
                raise ValueError("expected an object keyed by file name")
            except (OSError, ValueError) as e:
                out.errors.append({"file": str(p), "error": f"bad manifest: {e}"})
    return {}


@dataclass
class Planned:
    """A file the index must (re)read: its id in the index and the hash it had when planned.
    ``data`` holds its bytes when the planner already read them (the local pipeline)."""

    file: SourceFile
    doc_id: str
    sha256: str
    updated: bool
    data: bytes | None = None

    def prepare(self, extracted: Extracted, limits: ChunkLimits, embed_title: bool, sha256: str | None = None) -> Prepared:
        """The document and its chunks, with the provenance `rag index` records for a file."""
        return prepare(
            self.doc_id,
            extracted,
            source=self.file.relative,
            sha256=sha256 or self.sha256,
            limits=limits,
            embed_title=embed_title,
            title=self.file.metadata.get("title"),
            metadata=self.file.metadata,
            path=str(self.file.path),
        )


@dataclass
class Outcome:
    """One planned file after preparation: its document (or why it failed) and, when the pipeline
    embedded them, its chunks' vectors in order (and, with late interaction, their token rows)."""

    planned: Planned
    prepared: Prepared | None = None
    error: str | None = None
    vectors: np.ndarray | None = None
    tokens: list[np.ndarray] | None = None


class Pipeline(Protocol):
    """Turns planned files into prepared (and possibly embedded) documents, in any order."""

    def run(self, todo: list[Planned], settings: Settings) -> Iterator[Outcome]: ...
