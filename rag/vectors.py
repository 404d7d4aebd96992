"""Vector search behind a small protocol, so another backend can replace FAISS later."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Protocol

import faiss
import numpy as np


class VectorIndex(Protocol):
    """What the store needs from a vector backend; ids are chunk row ids."""

    @property
    def ntotal(self) -> int: ...
    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None: ...
    def remove(self, ids: np.ndarray) -> None: ...
    def search(self, queries: np.ndarray, k: int, allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]: ...
    def copy(self) -> "VectorIndex": ...
    def save(self, path: Path) -> None: ...


class FaissIndex:
    """Exact inner-product search over unit vectors (cosine), keyed by int64 ids."""

    def __init__(self, dim: int, index: faiss.Index | None = None) -> None:
        self.dim = dim
        self.index = index if index is not None else faiss.IndexIDMap2(faiss.IndexFlatIP(dim))

    @property
    def ntotal(self) -> int:
        return int(self.index.ntotal)

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        if len(ids):
            self.index.add_with_ids(np.ascontiguousarray(vectors, dtype="float32"), np.asarray(ids, dtype="int64"))

    def remove(self, ids: np.ndarray) -> None:
        if len(ids):
            self.index.remove_ids(np.asarray(ids, dtype="int64"))

    def search(self, queries: np.ndarray, k: int, allowed: np.ndarray | None = None):
        """Top-k (scores, ids) per query; ``allowed`` restricts the ids searched."""
        k = max(1, min(k, self.ntotal))
        if self.ntotal == 0:
            n = len(queries)
            return np.zeros((n, 0), dtype="float32"), np.zeros((n, 0), dtype="int64")
        params = None
        if allowed is not None:
            params = faiss.SearchParameters(sel=faiss.IDSelectorBatch(np.asarray(allowed, dtype="int64")))
        scores, ids = self.index.search(np.ascontiguousarray(queries, dtype="float32"), k, params=params)
        return scores, ids

    def copy(self) -> "FaissIndex":
        return FaissIndex(self.dim, faiss.clone_index(self.index))

    def save(self, path: Path) -> None:
        """Write beside the target and swap in, so readers never see half a file."""
        tmp = path.with_name(path.name + ".tmp")
        faiss.write_index(self.index, str(tmp))
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: Path, dim: int) -> "FaissIndex":
        return cls(dim, faiss.read_index(str(path)))
