"""Vector index files: a snapshot of some base generation (``vectors-<b><suffix>``) plus one small
delta per later generation (``delta-<g>.npz``: the ids added with their vectors, the ids removed).

A write saves only its delta, before the SQLite commit that points at it, so its cost follows the
size of the change, and readers and crashes see the old or the new generation. Now and then the
writer folds the deltas into a new snapshot (``compact``)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .vectors import VectorBackend, VectorIndex


@dataclass
class Delta:
    """What one generation changed."""

    add_ids: np.ndarray
    add_vectors: np.ndarray
    remove_ids: np.ndarray

    @property
    def size(self) -> int:
        return len(self.add_ids) + len(self.remove_ids)

    def apply(self, index: VectorIndex) -> None:
        index.remove(self.remove_ids)
        if len(self.add_ids):
            index.add(self.add_ids, self.add_vectors)


class VectorFiles:
    def __init__(self, index_dir: Path, backend: VectorBackend) -> None:
        self.dir = Path(index_dir)
        self.backend = backend

    def snapshot_path(self, generation: int) -> Path:
        return self.dir / f"vectors-{generation}{self.backend.suffix}"

    def delta_path(self, generation: int) -> Path:
        return self.dir / f"delta-{generation}.npz"

    # -- reading
    def load(self, base: int, generation: int, dim: int) -> VectorIndex:
        """The index at ``generation``: the base snapshot with the later deltas applied. Raises
        OSError if a file is gone (compacted meanwhile: read the generation again)."""
        index = self.backend.load(self.snapshot_path(base), dim) if base else self.backend.create(dim)
        for delta in self.read_deltas(base, generation):
            delta.apply(index)
        return index

    def read_deltas(self, have: int, want: int) -> list[Delta]:
        """The deltas after generation ``have`` up to ``want``, all read before anything is changed.
        Raises OSError if one is gone."""
        return [self.read_delta(g) for g in range(have + 1, want + 1)]

    def read_delta(self, generation: int) -> Delta:
        with np.load(self.delta_path(generation)) as d:
            return Delta(d["add_ids"], d["add_vectors"], d["remove_ids"])

    # -- writing (under the index's write lock)
    def write_delta(self, generation: int, delta: Delta) -> int:
        """Save a generation's delta beside the target, fsynced, then swap it in; returns its bytes."""
        path = self.delta_path(generation)
        tmp = path.with_name(path.name + ".tmp")
        with open(tmp, "wb") as f:
            np.savez(f, add_ids=delta.add_ids, add_vectors=delta.add_vectors, remove_ids=delta.remove_ids)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        return path.stat().st_size

    def save_snapshot(self, index: VectorIndex, generation: int) -> int:
        path = self.snapshot_path(generation)
        index.save(path)
        return path.stat().st_size

    def remove_stale(self, base: int, generation: int) -> list[Path]:
        """Delete what the committed (base, generation) does not need: other snapshots, folded or
        uncommitted deltas, half-written files."""
        keep = {self.delta_path(g).name for g in range(base + 1, generation + 1)}
        if base:  # base 0: no snapshot yet, only deltas
            keep.add(self.snapshot_path(base).name)
        stale = [p for p in self.all() if p.name not in keep]
        for p in stale:
            p.unlink(missing_ok=True)
        return stale

    def all(self) -> list[Path]:
        return list(self.dir.glob("vectors-*")) + list(self.dir.glob("delta-*"))

    def delta_bytes(self, base: int, generation: int) -> int:
        return sum(p.stat().st_size for g in range(base + 1, generation + 1) if (p := self.delta_path(g)).exists())
