"""A second vector backend in one module (exact search in NumPy, one .npz file per generation):
the test that the store's seam is real. Registered by the tests, not shipped."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np


class NumpyIndex:
    def __init__(self, dim: int, ids: np.ndarray | None = None, vectors: np.ndarray | None = None) -> None:
        self.dim = dim
        self.ids = np.zeros(0, dtype="int64") if ids is None else ids
        self.vectors = np.zeros((0, dim), dtype="float32") if vectors is None else vectors

    @property
    def ntotal(self) -> int:
        return len(self.ids)

    @property
    def kind(self) -> str:
        return "numpy"

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        if len(ids):
            self.ids = np.concatenate([self.ids, np.asarray(ids, dtype="int64")])
            self.vectors = np.vstack([self.vectors, np.asarray(vectors, dtype="float32")])

    def remove(self, ids: np.ndarray) -> None:
        keep = ~np.isin(self.ids, ids)
        self.ids, self.vectors = self.ids[keep], self.vectors[keep]

    def search(self, queries: np.ndarray, k: int, allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        mask = np.ones(len(self.ids), bool) if allowed is None else np.isin(self.ids, allowed)
        ids, vecs = self.ids[mask], self.vectors[mask]
        scores = np.asarray(queries, dtype="float32") @ vecs.T
        order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
        return np.take_along_axis(scores, order, 1), ids[order]

    def upgraded(self) -> NumpyIndex:
        return self

    def save(self, path: Path) -> None:
        tmp = path.with_name(path.name + ".tmp")
        with open(tmp, "wb") as f:
            np.savez(f, ids=self.ids, vectors=self.vectors)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)


class NumpyBackend:
    name = "numpy"
    suffix = ".npz"

    def create(self, dim: int) -> NumpyIndex:
        return NumpyIndex(dim)

    def load(self, path: Path, dim: int) -> NumpyIndex:
        with np.load(path) as data:  # raises OSError when the file is gone
            return NumpyIndex(dim, data["ids"], data["vectors"])
