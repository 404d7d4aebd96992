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
    return Embedder.from_settings(s)


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


STORES = ["faiss", "qdrant"]


@pytest.fixture(params=STORES)
def any_store(request, monkeypatch) -> str:
    """Runs a test once per store: engines made from the environment's settings use it. Tests of the
    FAISS store's own files (marked ``faiss_files``) run once."""
    if request.param != "faiss" and request.node.get_closest_marker("faiss_files"):
        pytest.skip("tests the FAISS store's vector files")
    monkeypatch.setenv("RAG_STORE", request.param)
    return request.param


@pytest.fixture(scope="session", params=STORES)
def store_seed_index(request, tmp_path_factory, embedder, seed_index) -> tuple[Engine, Path]:
    """``seed_index`` once per store (the same corpus copy)."""
    if request.param == "faiss":
        return seed_index
    _, corpus = seed_index
    engine = Engine(Settings(index_dir=tmp_path_factory.mktemp(request.param) / "index", store=request.param), embedder=embedder)
    report = engine.sync([corpus])
    assert report.added == 5 and not report.errors
    return engine, corpus
