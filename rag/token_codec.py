"""Product quantization of token vectors (faiss's ``ProductQuantizer``): a 384-dimensional unit vector is
cut into ``m`` sub-vectors of 4 components, each stored as the byte naming its nearest of 256 centroids
learnt from the index's own vectors. 96 bytes instead of int8's 384; on the dev sets and SciFact the
late-interaction ranking stays within noise of int8 (docs/EVALUATION.md)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np

SUB_DIMS = 4  # components per sub-vector: m = dim / 4 bytes per vector (8 lost 0.005 nDCG@10 on SciFact train)
MIN_TRAIN = 20_000  # vectors before a codebook is learnt: k-means wants ~40 points per centroid, and more is better
KMEANS_ITERATIONS = 10  # faiss's default 25 gave held-out reconstructions only 0.0004 closer (cosine), at 2.5x the time
_BLAS_LOCK = threading.Lock()


@contextmanager
def _blas_distances() -> Iterator[None]:
    """Make faiss use BLAS for k-means' nearest-centroid search. faiss 1.15 only does so when a batch holds
    more than 128,000 floats; below that (a 4-dimensional sub-space of < 32,000 vectors) its loop was
    10x slower and learning a codebook took 14-35 s instead of 1-2 s. The setting is process-wide, so
    another search meanwhile may also use BLAS: the same neighbours, up to float rounding."""
    import faiss

    with _BLAS_LOCK:
        before = faiss.cvar.distance_compute_blas_threshold
        faiss.cvar.distance_compute_blas_threshold = 20
        try:
            yield
        finally:
            faiss.cvar.distance_compute_blas_threshold = before


def sub_quantizers(dim: int) -> int | None:
    """How many sub-vectors a ``dim``-dimensional vector is cut into (None when SUB_DIMS does not divide it)."""
    return dim // SUB_DIMS if dim % SUB_DIMS == 0 and dim >= SUB_DIMS else None


class ProductCodec:
    """Encodes (n, dim) float32 token matrices as n * m bytes and back to unit rows."""

    def __init__(self, dim: int, m: int, centroids: np.ndarray) -> None:
        import faiss

        self.dim, self.m = dim, m
        self.pq = faiss.ProductQuantizer(dim, m, 8)
        faiss.copy_array_to_vector(np.ascontiguousarray(centroids, dtype="float32").ravel(), self.pq.centroids)

    @classmethod
    def train(cls, sample: np.ndarray) -> ProductCodec:
        """A codebook learnt (``KMEANS_ITERATIONS`` of k-means per sub-vector, faiss's fixed seed) from
        ``sample`` (n, dim) unit rows."""
        import faiss

        sample = np.ascontiguousarray(sample, dtype="float32")
        dim = sample.shape[1]
        m = sub_quantizers(dim)
        if m is None:
            raise ValueError(f"product quantization needs a dimension divisible by {SUB_DIMS}, not {dim}")
        pq = faiss.ProductQuantizer(dim, m, 8)
        pq.cp.niter = KMEANS_ITERATIONS
        with _blas_distances():
            pq.train(sample)
        return cls(dim, m, faiss.vector_to_array(pq.centroids))

    def centroids(self) -> np.ndarray:
        """The codebook as (256 * dim,) float32: what ``ProductCodec(dim, m, centroids)`` restores."""
        import faiss

        return faiss.vector_to_array(self.pq.centroids)

    def encode(self, rows: np.ndarray) -> bytes:
        """The codes of (n, dim) rows, n * m bytes."""
        rows = np.ascontiguousarray(rows, dtype="float32").reshape(-1, self.dim)
        return self.pq.compute_codes(rows).tobytes() if len(rows) else b""

    def decode(self, blob: bytes) -> np.ndarray:
        """The (n, dim) unit rows ``encode`` stored (each reconstruction scaled back to length 1)."""
        codes = np.frombuffer(blob, dtype="uint8").reshape(-1, self.m)
        if not len(codes):
            return np.zeros((0, self.dim), dtype="float32")
        rows = self.pq.decode(np.ascontiguousarray(codes))
        return rows / np.clip(np.linalg.norm(rows, axis=1, keepdims=True), 1e-12, None)
