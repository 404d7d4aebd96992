"""Vector search behind a small protocol: the store and retrieval see only ``VectorIndex`` and
``VectorBackend``; a backend is one module, registered by name in ``BACKENDS``."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Protocol

import numpy as np

from .errors import BadInputError


class VectorIndex(Protocol):
    """An in-memory set of unit vectors keyed by chunk row id."""

    @property
    def ntotal(self) -> int: ...
    @property
    def kind(self) -> str: ...
    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None: ...
    def remove(self, ids: np.ndarray) -> None: ...
    def search(self, queries: np.ndarray, k: int, allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]: ...
    def upgraded(self) -> VectorIndex: ...
    def save(self, path: Path) -> None: ...


class VectorBackend(Protocol):
    """Makes and reads one kind of VectorIndex; ``suffix`` names its files."""

    name: str
    suffix: str

    def create(self, dim: int) -> VectorIndex: ...
    def load(self, path: Path, dim: int) -> VectorIndex: ...


# name -> "module:class"; imported on first use so an unused backend's packages need not be installed.
BACKENDS = {"faiss": "rag.faiss_index:FaissBackend"}


def get_backend(name: str = "faiss") -> VectorBackend:
    """The registered backend called ``name``; raises BadInputError for an unknown one."""
    if name not in BACKENDS:
        raise BadInputError(f"unknown vector backend {name!r}; known: {sorted(BACKENDS)}")
    module, cls = BACKENDS[name].split(":")
    backend: VectorBackend = getattr(importlib.import_module(module), cls)()
    return backend
