"""Shared fixtures: the real bundled model, a temporary copy of the seed corpus, a built index."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from rag import Engine, Settings
from rag.embedding import Embedder
from tests.helpers import CORPUS


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    s = Settings()
    return Embedder(backend=s.backend, cache_dir=s.model_cache)


@pytest.fixture(scope="session")
def seed_index(tmp_path_factory, embedder) -> tuple[Engine, Path]:
    """An engine over a temporary copy of the bundled corpus, indexed once per test session."""
    base = tmp_path_factory.mktemp("seed")
    corpus = base / "corpus"
    shutil.copytree(CORPUS, corpus)
    engine = Engine(Settings(index_dir=base / "index"), embedder=embedder)
    report = engine.sync([corpus])
    assert report.added == 5 and not report.errors
    return engine, corpus
