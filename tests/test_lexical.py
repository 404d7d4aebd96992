import numpy as np
import pytest

from rag import NewDocument
from rag.fusion import rrf
from rag.lexical import fts_query, terms
from tests.helpers import engine_at

HOSTILE = [
    '"',
    "'",
    "(",
    ")",
    "AND",
    "NEAR(a b)",
    "*",
    "-",
    ":",
    "a:b",
    '"unterminated',
    "NOT OR AND",
    "🚀",
    "?",
    "\x00",
    "\u202e",
    "title:foo",
    "col*umn",
    "^start",
    "{x}",
    "[]",
    "a - b",
    'NEAR("a" AND) OR * -:"',
]


def test_terms_drop_stopwords_unless_nothing_left():
    assert terms("What is the Merida Initiative?") == ["merida", "initiative"]
    assert terms("the and of") == ["the", "and", "of"]
    assert fts_query("?!") is None


@pytest.mark.parametrize("q", HOSTILE)
def test_hostile_queries_never_raise(q, tmp_path_factory, embedder):
    path = tmp_path_factory.getbasetemp() / "lexical-ix"
    e = engine_at(path, embedder)
    if e.stats()["documents"] == 0:
        e.add_documents([NewDocument(title="Merida", text="The Merida Initiative funds AND training (NEAR) border: posts.")])
    for mode in ("lexical", "hybrid", "dense"):
        e.search(q, mode=mode)


def test_rrf_hand_computed():
    fused = dict(rrf([["a", "b"], ["b", "c"]], k=60))
    assert fused["b"] == pytest.approx(1 / 62 + 1 / 61)
    assert fused["a"] == pytest.approx(1 / 61)
    assert list(dict(rrf([["a", "b"], ["b", "c"]], k=60)))[0] == "b"


def test_zscore_fusion_hand_computed():
    from rag.fusion import zscore_fusion

    fused = dict(zscore_fusion([[("a", 3.0), ("b", 1.0)], [("b", 10.0), ("c", 0.0)]], [0.5, 0.5]))
    # list 1 z-scores: a=+1, b=-1; list 2: b=+1, c=-1; missing items take the list's minimum (-1)
    assert fused == {"a": 0.0, "b": 0.0, "c": -1.0}
    assert zscore_fusion([[("x", 2.0)]])[0] == ("x", 0.0)


def test_zscore_fusion_limit_keeps_the_best_and_breaks_ties_by_id():
    from rag.fusion import zscore_fusion

    lists = [[("b", 1.0), ("a", 1.0), ("c", 0.0)], [("c", 5.0), ("d", 5.0)]]
    full = zscore_fusion(lists, [0.5, 0.5])
    # The second list has no spread (all z = 0): a/b tie and c/d tie; ties go by id.
    assert [i for i, _ in full] == ["a", "b", "c", "d"]
    assert zscore_fusion(lists, [0.5, 0.5], limit=2) == full[:2]
    assert zscore_fusion([[], []]) == []


def _fts(rows: list[tuple[int, str]]):
    import sqlite3

    from rag.lexical import FTS_SCHEMA, index_chunks

    conn = sqlite3.connect(":memory:")
    conn.executescript(FTS_SCHEMA)
    index_chunks(conn, [(rowid, "", "", text) for rowid, text in rows])
    return conn


def test_bm25_idf_choices_hand_computed():
    """N = 4 chunks, avgdl = 6 / 4 = 1.5, k1 = 1.2, b = 0.75, all field weights 1.
    tf part of one hit: 2.2 / (1 + 1.2 (0.25 + 0.5 D)) = 0.88 for D = 2, 2.2 / 1.9 for D = 1.
    apple (n = 3): fts5 idf ln(1.5 / 3.5) < 0, so 1e-6; smoothed ln(1 + 1.5 / 3.5) = ln(10 / 7).
    banana (n = 1): fts5 idf ln(3.5 / 1.5) = ln(7 / 3); smoothed ln(1 + 3.5 / 1.5) = ln(10 / 3)."""
    import math

    from rag.lexical import bm25_search

    conn = _fts([(1, "apple banana"), (2, "apple cherry"), (3, "apple"), (4, "durian")])
    match, w = fts_query("apple banana"), (1.0, 1.0, 1.0)
    smoothed = bm25_search(conn, match, 10, w)
    assert [r for r, _ in smoothed] == [1, 3, 2]
    expect = {1: (math.log(10 / 7) + math.log(10 / 3)) * 0.88, 3: math.log(10 / 7) * 2.2 / 1.9, 2: math.log(10 / 7) * 0.88}
    assert dict(smoothed) == pytest.approx(expect, rel=1e-6)
    fts5 = dict(bm25_search(conn, match, 10, w, idf="fts5"))
    assert fts5[1] == pytest.approx(1e-6 * 0.88 + math.log(7 / 3) * 0.88, rel=1e-6)
    assert fts5[3] == pytest.approx(1e-6 * 2.2 / 1.9, rel=1e-6)
    # A filter restricts the rows, not the statistics: idf still counts the whole index.
    filtered = bm25_search(conn, match, 10, w, np.array([2, 3]))
    assert [r for r, _ in filtered] == [3, 2] and dict(filtered) == pytest.approx({3: expect[3], 2: expect[2]}, rel=1e-6)
    assert bm25_search(conn, match, 1, w) == smoothed[:1]
    assert bm25_search(conn, fts_query("mango"), 10, w) == []
    # Per-term weights (for weighted query expansion): banana counted twice.
    from rag.lexical import _smoothed_search

    boosted = dict(_smoothed_search(conn, ['"apple"', '"banana"'], 10, "bm25(chunks_fts, 1.0, 1.0, 1.0)", "", [1.0, 2.0]))
    assert boosted[1] == pytest.approx((math.log(10 / 7) + 2 * math.log(10 / 3)) * 0.88, rel=1e-6)


def test_bm25_row_count_follows_deletes():
    from rag.lexical import _row_count, _varint, unindex_chunks

    conn = _fts([(i, f"word{i} common") for i in range(1, 201)])
    assert _row_count(conn) == 200
    unindex_chunks(conn, np.arange(1, 51))
    assert _row_count(conn) == 150
    assert _varint(bytes([0x81, 0x00])) == 128 and _varint(bytes([0x05, 0xFF])) == 5
