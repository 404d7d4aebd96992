"""Vector index files, one per committed generation (``vectors-<n><suffix>``): a write saves the
next generation before the SQLite commit that points at it, so readers and crashes see old or new."""

from __future__ import annotations

from pathlib import Path

from .vectors import VectorBackend, VectorIndex


class VectorFiles:
    def __init__(self, index_dir: Path, backend: VectorBackend) -> None:
        self.dir = Path(index_dir)
        self.backend = backend

    def path(self, generation: int) -> Path:
        return self.dir / f"vectors-{generation}{self.backend.suffix}"

    def load(self, generation: int, dim: int) -> VectorIndex:
        """Raises OSError if the generation's file is gone (a writer removed it: read the generation again)."""
        return self.backend.load(self.path(generation), dim)

    def save(self, index: VectorIndex, generation: int) -> None:
        index.save(self.path(generation))

    def remove_stale(self, current: int) -> list[Path]:
        """Delete other generations' files and half-written ones; call under the write lock."""
        keep = self.path(current).name
        stale = [p for p in self.dir.glob("vectors-*") if p.name.endswith(".tmp") or p.name != keep]
        for p in stale:
            p.unlink(missing_ok=True)
        return stale

    def all(self) -> list[Path]:
        return list(self.dir.glob("vectors-*"))
