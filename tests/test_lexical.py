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
