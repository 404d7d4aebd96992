import threading

import pytest

from rag import NewDocument
from rag.store import IndexMismatchError
from tests.helpers import engine_at
from tests.invariants import check_index, stale_files

pytestmark = pytest.mark.usefixtures("any_store")


def test_mismatched_settings_fail_with_rebuild_hint(tmp_path, embedder):
    e = engine_at(tmp_path, embedder)
    e.add_documents([NewDocument(title="T", text="Some text about borders.")])
    with pytest.raises(IndexMismatchError, match="rebuild"):
        engine_at(tmp_path, embedder, chunk_tokens=99)
    with pytest.raises(IndexMismatchError, match="model"):
        engine_at(tmp_path, embedder, model="some/other-model")


@pytest.mark.faiss_files
def test_each_write_adds_one_small_delta(tmp_path, embedder):
    e = engine_at(tmp_path, embedder)
    e.add_documents([NewDocument(title="A", text="Alpha text about the Merida Initiative.")])
    g1 = e.stats()["generation"]
    e.add_documents([NewDocument(title="B", text="Beta text about NAFTA trade.")])
    assert e.stats()["generation"] == g1 + 1
    assert sorted(p.name for p in tmp_path.glob("delta-*.npz")) == [f"delta-{g1}.npz", f"delta-{g1 + 1}.npz"]
    assert (tmp_path / f"delta-{g1 + 1}.npz").stat().st_size < 4096  # one chunk's vector, not the index
    assert e.store.last_write == {"delta_bytes": (tmp_path / f"delta-{g1 + 1}.npz").stat().st_size, "snapshot_bytes": 0}
    assert not list(tmp_path.glob("*.tmp")) and stale_files(tmp_path, g1 + 1, 0) == []
    assert check_index(tmp_path)["vectors"] == 2


@pytest.mark.faiss_files
def test_lost_vector_file_is_rebuilt_from_sqlite(tmp_path, embedder):
    e = engine_at(tmp_path, embedder)
    e.add_documents([NewDocument(title="A", text="Alpha text about the Merida Initiative.")])
    before = e.search("Merida", mode="dense").hits[0].chunk.chunk_id
    for p in [*tmp_path.glob("vectors-*"), *tmp_path.glob("delta-*")]:
        p.unlink()
    again = engine_at(tmp_path, embedder)
    assert again.stats()["vectors"] == again.stats()["chunks"]
    assert again.search("Merida", mode="dense").hits[0].chunk.chunk_id == before


@pytest.mark.faiss_files
def test_failed_write_leaves_index_unchanged(tmp_path, embedder, monkeypatch):
    e = engine_at(tmp_path, embedder)
    e.add_documents([NewDocument(title="A", text="Alpha text about the Merida Initiative.")])
    before = e.stats()

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr("rag.vector_files.VectorFiles.write_delta", boom)
    with pytest.raises(OSError):
        e.add_documents([NewDocument(title="B", text="Beta text.")])
    assert e.stats() == before
    assert engine_at(tmp_path, embedder).stats() == before


def test_large_index_switches_to_ivf_with_high_recall():
    import numpy as np

    from rag.faiss_index import FaissIndex

    rng = np.random.default_rng(0)
    centres = rng.standard_normal((50, 32)).astype("float32")
    xb = centres[rng.integers(0, 50, 5000)] + 0.3 * rng.standard_normal((5000, 32)).astype("float32")
    xb /= np.linalg.norm(xb, axis=1, keepdims=True)
    flat = FaissIndex(32)
    flat.add(np.arange(5000) + 10, xb)
    assert flat.upgraded(threshold=10_000) is flat
    ivf = flat.upgraded(threshold=1000)
    assert ivf.kind == "ivf" and ivf.ntotal == 5000
    _, truth = flat.search(xb[:50], 10)
    _, found = ivf.search(xb[:50], 10)
    assert np.mean([len(set(a) & set(b)) / 10 for a, b in zip(found, truth)]) >= 0.95
    ivf.remove(np.array([10, 11]))
    assert ivf.ntotal == 4998


def test_ivf_search_with_allowed_ids():
    import numpy as np

    from rag.faiss_index import FaissIndex

    rng = np.random.default_rng(1)
    xb = rng.standard_normal((3000, 16)).astype("float32")
    xb /= np.linalg.norm(xb, axis=1, keepdims=True)
    ivf = FaissIndex.ivf(16, xb, np.arange(3000), nlist=32)
    ivf.nprobe = 32
    _, ids = ivf.search(xb[:3], 5, allowed=np.array([7, 8, 9]))
    assert set(ids.ravel()) - {-1} <= {7, 8, 9}


def test_another_engines_writes_are_seen_and_built_on(tmp_path, embedder):
    """Two engines on one index stand for two server workers."""
    a = engine_at(tmp_path, embedder)
    b = engine_at(tmp_path, embedder)  # opened before a writes: its vectors go stale
    a.add_documents([NewDocument(title="A", text="Alpha text about the Merida Initiative.")])
    doc_b = b.add_documents([NewDocument(title="B", text="Beta text about NAFTA trade.")])[0]
    for e in (a, b, engine_at(tmp_path, embedder)):
        s = e.stats()
        assert s["documents"] == 2 and s["vectors"] == s["chunks"] == 2
        assert e.search("Merida Initiative", mode="dense").hits[0].title == "A"
        assert e.search("NAFTA trade", mode="dense").hits[0].title == "B"
    a.delete_document(doc_b.doc_id)
    assert [h.title for h in b.search("NAFTA trade", mode="dense").hits] == ["A"]
    state = check_index(tmp_path)
    assert stale_files(tmp_path, state["generation"], state["base"]) == []


def test_same_title_twice_in_one_call_gets_two_documents(tmp_path, embedder):
    e = engine_at(tmp_path, embedder)
    docs = e.add_documents(
        [
            NewDocument(title="Note", text="Border talks in Monterrey."),
            NewDocument(title="Note", text="Border talks in Monterrey."),
            NewDocument(title="Note", text="Trade talks in Ottawa."),
        ]
    )
    assert len({d.doc_id for d in docs}) == 3 and e.stats()["documents"] == 3
    with pytest.raises(ValueError, match="given twice"):
        e.add_documents([NewDocument(title="X", text="a", doc_id="x"), NewDocument(title="Y", text="b", doc_id="x")])
    assert e.stats()["documents"] == 3


def test_deleted_ids_are_never_handed_out_again(tmp_path, embedder):
    engine = engine_at(tmp_path, embedder)
    first = engine.add_documents([NewDocument(title="Note", text="Tapirs crossed the river at dawn.")])[0].doc_id
    assert engine.delete_document(first)
    second = engine.add_documents([NewDocument(title="Note", text="Tapirs crossed the river at dawn.")])[0].doc_id
    assert second != first and not engine.delete_document(first)
    assert engine.document(second) is not None


@pytest.mark.faiss_files
def test_clean_up_removes_orphan_uploads_and_stale_vector_files(tmp_path, embedder):
    engine = engine_at(tmp_path, embedder)
    doc = engine.add_file_bytes(b"Okapis migrate through Chiapas in spring.", "okapi.txt")
    kept = engine.uploads_dir / f"{doc.doc_id}.txt"
    orphan = engine.uploads_dir / "crashed-upload.txt"  # what a kill -9 between file and commit leaves
    orphan.write_text("never committed")
    stale = tmp_path / "vectors-1.faiss.tmp"
    stale.write_bytes(b"half written")
    old = tmp_path / f"vectors-{engine.generation - 1}.faiss"
    old.write_bytes(b"old generation")
    removed = {p.name for p in engine.clean_up()}
    assert removed == {orphan.name, stale.name, old.name}
    assert kept.exists() and engine.search("okapi Chiapas", top_k=1).hits[0].chunk.doc_id == doc.doc_id


def test_first_start_indexes_the_corpus_but_an_emptied_index_stays_empty(tmp_path, embedder):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "a.txt").write_text("Jaguars were counted in the Lacandon forest.")
    engine = engine_at(tmp_path / "ix", embedder)
    assert engine.index_if_empty([corpus]).added == 1
    assert engine.delete_document("a")
    assert engine.index_if_empty([corpus]) is None and engine.stats()["documents"] == 0


def test_sync_commits_in_batches(tmp_path, embedder):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for i in range(5):
        (corpus / f"d{i}.txt").write_text(f"Document {i} talks about border crossing number {i}. " * 20)
    engine = engine_at(tmp_path / "ix", embedder, commit_chunks=1)
    generation = engine.generation
    report = engine.sync([corpus])
    assert report.added == 5 and engine.generation - generation == 5  # one commit per document


@pytest.mark.faiss_files
def test_a_second_vector_backend_is_one_module(tmp_path, embedder, seed_index, monkeypatch):
    from rag import vectors

    monkeypatch.setitem(vectors.BACKENDS, "numpy", "tests.numpy_backend:NumpyBackend")
    monkeypatch.setattr("rag.store.MIN_COMPACT_BYTES", 0)  # snapshot on every write: the backend's save and load run
    seed, corpus = seed_index
    other = engine_at(tmp_path, embedder, store="numpy")
    other.sync([corpus])
    assert other.stats()["vector_index"] == "numpy" and [p.suffix for p in tmp_path.glob("vectors-*")] == [".npz"]
    for q in ("Who declared the war on drug cartels?", "Merida Initiative funding"):
        for mode in ("dense", "hybrid"):
            want = [h.chunk.chunk_id for h in seed.search(q, top_k=5, mode=mode).hits]
            assert [h.chunk.chunk_id for h in other.search(q, top_k=5, mode=mode).hits] == want
    doc = other.add_documents([NewDocument(title="Tapirs", text="Tapirs crossed the Usumacinta river at dawn.")])[0]
    assert other.search("tapirs river", top_k=1, mode="dense").hits[0].chunk.doc_id == doc.doc_id
    assert other.delete_document(doc.doc_id)
    reopened = engine_at(tmp_path, embedder, store="numpy")  # loads the committed .npz generation
    assert reopened.stats()["vectors"] == seed.stats()["vectors"]


@pytest.mark.faiss_files
@pytest.mark.parametrize("compact", [False, True])
def test_other_engines_catch_up_through_deltas_or_a_new_snapshot(tmp_path, embedder, monkeypatch, compact):
    if compact:
        monkeypatch.setattr("rag.store.MIN_COMPACT_BYTES", 0)
    a, b = engine_at(tmp_path, embedder), engine_at(tmp_path, embedder)
    texts = ["Jaguars in the Lacandon forest.", "Tapirs crossed the Usumacinta.", "Okapis do not live in Chiapas."]
    ids = [a.add_documents([NewDocument(title=f"T{i}", text=t)])[0].doc_id for i, t in enumerate(texts)]
    vectors_before = b.store.vectors  # b's index object: updated in place unless a snapshot replaced it
    assert b.search("tapirs river", top_k=1, mode="dense").hits[0].chunk.doc_id == ids[1]
    assert (b.store.vectors is vectors_before) == (not compact) or vectors_before is None
    a.delete_document(ids[1])
    assert all(h.chunk.doc_id != ids[1] for h in b.search("tapirs river", top_k=3, mode="dense").hits)
    state = check_index(tmp_path)
    assert state["vectors"] == 2 and (state["base"] > 0) == compact  # snapshots only when compacting
    assert stale_files(tmp_path, state["generation"], state["base"]) == []


def test_readers_catching_up_never_apply_a_write_twice(tmp_path, embedder):
    e = engine_at(tmp_path, embedder)
    e.add_documents([NewDocument(title="Seed", text="Jaguars in the Lacandon forest.")])
    stop = threading.Event()

    def reader():
        while not stop.is_set():
            e.store.refresh()

    threads = [threading.Thread(target=reader) for _ in range(4)]
    for t in threads:
        t.start()
    for i in range(30):
        e.add_documents([NewDocument(title=f"N{i}", text=f"Tapir number {i} crossed the river.")])
    stop.set()
    for t in threads:
        t.join()
    assert e.store.vectors.ntotal == e.stats()["chunks"] == 31
