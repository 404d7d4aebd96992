import pytest

from rag import NewDocument
from rag.store import IndexMismatchError
from tests.conftest import engine_at


def test_mismatched_settings_fail_with_rebuild_hint(tmp_path, embedder):
    e = engine_at(tmp_path, embedder)
    e.add_documents([NewDocument(title="T", text="Some text about borders.")])
    with pytest.raises(IndexMismatchError, match="rebuild"):
        engine_at(tmp_path, embedder, chunk_tokens=99)
    with pytest.raises(IndexMismatchError, match="model"):
        engine_at(tmp_path, embedder, model="some/other-model")


def test_generation_and_vector_files_swap(tmp_path, embedder):
    e = engine_at(tmp_path, embedder)
    e.add_documents([NewDocument(title="A", text="Alpha text about the Merida Initiative.")])
    g1 = e.stats()["generation"]
    e.add_documents([NewDocument(title="B", text="Beta text about NAFTA trade.")])
    assert e.stats()["generation"] == g1 + 1
    assert [p.name for p in tmp_path.glob("vectors-*.faiss")] == [f"vectors-{g1 + 1}.faiss"]
    assert not list(tmp_path.glob("*.tmp"))


def test_lost_vector_file_is_rebuilt_from_sqlite(tmp_path, embedder):
    e = engine_at(tmp_path, embedder)
    e.add_documents([NewDocument(title="A", text="Alpha text about the Merida Initiative.")])
    before = e.search("Merida", mode="dense").hits[0].chunk.chunk_id
    for p in tmp_path.glob("vectors-*.faiss"):
        p.unlink()
    again = engine_at(tmp_path, embedder)
    assert again.stats()["vectors"] == again.stats()["chunks"]
    assert again.search("Merida", mode="dense").hits[0].chunk.chunk_id == before


def test_failed_write_leaves_index_unchanged(tmp_path, embedder, monkeypatch):
    e = engine_at(tmp_path, embedder)
    e.add_documents([NewDocument(title="A", text="Alpha text about the Merida Initiative.")])
    before = e.stats()

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr("rag.vectors.FaissIndex.save", boom)
    with pytest.raises(OSError):
        e.add_documents([NewDocument(title="B", text="Beta text.")])
    assert e.stats() == before
    assert engine_at(tmp_path, embedder).stats() == before
