"""The FAISS vector backend: exact inner-product search while small, IVF once large; one file per
index generation."""

from __future__ import annotations

import os
from pathlib import Path

import faiss
import numpy as np

# Below this many vectors exact search is fast enough (about 1 ms per 20k on 2 cores); above it an
# IVF index is built. Parameters measured in bench/scale.py (docs/BENCHMARKS.md).
APPROX_THRESHOLD = 200_000
SMALL_SEARCH = 100_000
_CORES = os.cpu_count() or 1


def ivf_params(n: int) -> tuple[int, list[int]]:
    """nlist for ``n`` vectors and the nprobe values worth measuring (the first is the default)."""
    nlist = int(min(65536, max(256, 4 * np.sqrt(n))))
    return nlist, [32, 16, 64, 128]


class FaissIndex:
    """Inner-product search over unit vectors (cosine), keyed by int64 ids: exact while small,
    IVF once large (``kind``)."""

    def __init__(self, dim: int, index: faiss.Index | None = None) -> None:
        self.dim = dim
        self.index = index if index is not None else faiss.IndexIDMap2(faiss.IndexFlatIP(dim))

    @property
    def kind(self) -> str:
        return "ivf" if self._ivf() is not None else "flat"

    @property
    def nprobe(self) -> int | None:
        ivf = self._ivf()
        return int(ivf.nprobe) if ivf is not None else None

    @nprobe.setter
    def nprobe(self, value: int) -> None:
        ivf = self._ivf()
        if ivf is not None:
            ivf.nprobe = int(value)

    def _ivf(self):
        try:
            return faiss.extract_index_ivf(self.index)
        except RuntimeError:
            return None

    @classmethod
    def ivf(cls, dim: int, vectors: np.ndarray, ids: np.ndarray, nlist: int | None = None) -> FaissIndex:
        """An IVF-Flat index trained on (a sample of) ``vectors``, holding all of them."""
        nlist = nlist or ivf_params(len(vectors))[0]
        quantizer = faiss.IndexFlatIP(dim)
        index = faiss.IndexIVFFlat(quantizer, dim, nlist, faiss.METRIC_INNER_PRODUCT)
        sample = vectors if len(vectors) <= 50 * nlist else vectors[np.random.default_rng(0).choice(len(vectors), 50 * nlist, replace=False)]
        index.train(np.ascontiguousarray(sample, dtype="float32"))
        index.nprobe = ivf_params(len(vectors))[1][0]
        out = cls(dim, index)
        out.add(ids, vectors)
        return out

    def upgraded(self, threshold: int = APPROX_THRESHOLD) -> FaissIndex:
        """This index, or an IVF copy of it once it holds more than ``threshold`` vectors."""
        if self._ivf() is not None or self.ntotal <= threshold:
            return self
        ids = faiss.vector_to_array(self.index.id_map).astype("int64")
        vectors = self.index.index.reconstruct_n(0, self.ntotal)
        return FaissIndex.ivf(self.dim, vectors, ids)

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
        # OpenMP start-up costs more than a small exact search itself; queries run in parallel anyway.
        faiss.omp_set_num_threads(1 if self.ntotal < SMALL_SEARCH else _CORES)
        params = None
        if allowed is not None:
            sel = faiss.IDSelectorBatch(np.asarray(allowed, dtype="int64"))
            ivf = self._ivf()
            params = faiss.SearchParametersIVF(sel=sel, nprobe=ivf.nprobe) if ivf is not None else faiss.SearchParameters(sel=sel)
        scores, ids = self.index.search(np.ascontiguousarray(queries, dtype="float32"), k, params=params)
        return scores, ids

    def save(self, path: Path) -> None:
        """Write beside the target and swap in, so readers never see half a file."""
        tmp = path.with_name(path.name + ".tmp")
        faiss.write_index(self.index, str(tmp))
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: Path, dim: int) -> FaissIndex:
        return cls(dim, faiss.read_index(str(path)))


class FaissBackend:
    """Creates and loads FaissIndex files (``vectors-<generation>.faiss``)."""

    name = "faiss"
    suffix = ".faiss"

    def create(self, dim: int) -> FaissIndex:
        return FaissIndex(dim)

    def load(self, path: Path, dim: int) -> FaissIndex:
        """Raises OSError if the file is missing or unreadable."""
        if not path.exists():
            raise FileNotFoundError(path)
        try:
            return FaissIndex.load(path, dim)
        except RuntimeError as e:  # faiss reports I/O problems as RuntimeError
            raise OSError(f"cannot read {path}: {e}") from e
