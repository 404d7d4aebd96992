"""Incremental sync on a real folder with the real model (once per store)."""

import shutil

import pytest

from tests.helpers import CORPUS, engine_at, make_pdf

pytestmark = pytest.mark.usefixtures("any_store")


def test_add_rerun_edit_delete(tmp_path, embedder):
    corpus = tmp_path / "c"
    corpus.mkdir()
    for name in ("001_e0cea56afaaf3c59.txt", "002_1fb43c4be05de09d.txt"):
        shutil.copy(CORPUS / name, corpus / name)
    e = engine_at(tmp_path / "ix", embedder)
    r1 = e.sync([corpus])
    assert (r1.added, r1.updated, r1.removed) == (2, 0, 0) and r1.chunks_embedded > 10
    r2 = e.sync([corpus])
    assert (r2.unchanged, r2.chunks_embedded) == (2, 0)
    with open(corpus / "001_e0cea56afaaf3c59.txt", "a") as f:
        f.write("\n\nAddendum. A working group on border technology met in Monterrey.\n")
    r3 = e.sync([corpus])
    assert r3.updated == 1 and 0 < r3.chunks_embedded <= 2
    (corpus / "002_1fb43c4be05de09d.txt").unlink()
    r4 = e.sync([corpus])
    assert r4.removed == 1
    stats = e.stats()
    assert stats["documents"] == 1 and stats["chunks"] == stats["vectors"]
    assert all(h.chunk.doc_id != "002_1fb43c4be05de09d" for h in e.search("Jordi Diez Robarts", top_k=20).hits)


def test_other_roots_untouched_and_bad_files_reported(tmp_path, embedder):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir(), b.mkdir()
    (a / "one.md").write_text("# One\n\nThe first document mentions the Merida Initiative.")
    (b / "two.txt").write_text("The second document mentions NAFTA.")
    (b / "broken.pdf").write_bytes(b"%PDF-1.4 not really")
    (b / "junk.txt").write_bytes(bytes(range(256)) * 8)
    (b / "image.png").write_bytes(b"\x89PNG")
    (b / "paper.pdf").write_bytes(make_pdf(["A PDF page about border security."]))
    e = engine_at(tmp_path / "ix", embedder)
    assert e.sync([a]).added == 1
    r = e.sync([b])
    assert r.added == 2 and r.removed == 0
    assert {x["file"].split("/")[-1] for x in r.errors} == {"broken.pdf", "junk.txt"}
    assert [s.split("/")[-1] for s in r.skipped] == ["image.png"]
    hit = e.search("PDF page border security", top_k=1).hits[0]
    assert hit.chunk.doc_id == "paper" and hit.chunk.page == 1
    assert e.stats()["documents"] == 3


def test_manifest_metadata_and_titles(seed_index):
    engine, _ = seed_index
    docs = {d.doc_id: d for d in engine.documents()}
    assert docs["004_674826c9e0c05e74"].metadata["year"] == 2009
    assert docs["002_1fb43c4be05de09d"].title == "Mexico and North American Security"


def test_files_that_want_the_same_id_each_get_one(tmp_path, embedder):
    corpus = tmp_path / "c"
    corpus.mkdir()
    (corpus / "a.txt").write_text("Border talks in Monterrey about trade.")
    (corpus / "a.md").write_text("# Note\nCustoms officers met in Laredo.\n")
    e = engine_at(tmp_path / "ix", embedder)
    report = e.sync([corpus])
    assert report.added == 2 and not report.errors
    assert len({d.doc_id for d in e.documents()}) == 2
    assert e.search("Laredo customs", top_k=1).hits[0].source == "a.md"
    assert e.sync([corpus]).unchanged == 2


def test_a_file_longer_than_the_text_limit_is_reported_and_the_rest_indexed(tmp_path, embedder):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "long.txt").write_text("The border agencies met again. " * 200)
    (tmp_path / "docs" / "short.txt").write_text("The short note mentions the Merida Initiative.")
    e = engine_at(tmp_path / "ix", embedder, max_document_chars=2000)
    r = e.sync([tmp_path / "docs"])
    assert r.added == 1 and [x["file"].split("/")[-1] for x in r.errors] == ["long.txt"]
    assert "longer than 2,000 characters" in r.errors[0]["error"]
