import pytest

from rag.filters import MAX_VALUES, FilterError, matching_documents, parse_filters

DOCS = [
    {"doc_id": "a", "title": "Mexico Security", "source": "a.txt", "metadata": {"year": 2009, "authors": ["Jordi Díez"]}},
    {"doc_id": "b", "title": "Defense", "source": "b.txt", "metadata": {"year": 2017, "authors": []}},
    {"doc_id": "note", "title": "Note", "source": "note.txt", "metadata": {"year": "2017", "flag": True}},
    {"doc_id": "Field_note", "title": "Field note", "source": "f.txt", "metadata": {"flag": 1}},
]


def test_equality_lists_ranges_and_authors():
    assert matching_documents({"doc_id": ["a", "x"]}, DOCS) == {"a"}
    assert matching_documents({"year": 2017}, DOCS) == {"b", "note"}  # "2017" equals 2017
    assert matching_documents({"year": {"gte": 2000, "lt": 2010}}, DOCS) == {"a"}
    assert matching_documents({"authors": "jordi díez"}, DOCS) == {"a"}  # any member, case-insensitive


def test_equality_is_exact_and_substrings_need_contains():
    assert matching_documents({"doc_id": "note"}, DOCS) == {"note"}
    assert matching_documents({"authors": "díez"}, DOCS) == set()
    assert matching_documents({"authors": {"contains": "DÍEZ"}}, DOCS) == {"a"}
    assert matching_documents({"doc_id": {"contains": "note"}}, DOCS) == {"note", "Field_note"}
    assert matching_documents({"flag": True}, DOCS) == {"note"}  # True is not 1


def test_unknown_field_and_operator_are_errors():
    with pytest.raises(FilterError, match="unknown filter field"):
        matching_documents({"colour": "red"}, DOCS)
    with pytest.raises(FilterError, match="unknown operator"):
        matching_documents({"year": {"between": 1}}, DOCS)


@pytest.mark.parametrize(
    "bad",
    [
        [1, 2],
        "year",
        {"year": {"gte": "soon"}},
        {"year": [[2009]]},
        {"year": {"gte": {"gte": 1}}},
        {"year": list(range(MAX_VALUES + 1))},
        {f"f{i}": 1 for i in range(40)},
        {"year": {}},
        {"title": {"contains": ""}},
        {"title": None},
        {"title": "x" * 5000},
    ],
)
def test_malformed_filters_fail_before_matching(bad):
    with pytest.raises(FilterError):
        parse_filters(bad)


def test_deep_nesting_is_a_clear_error_not_recursion():
    deep: object = 1
    for _ in range(5000):
        deep = {"gte": deep}
    with pytest.raises(FilterError):
        parse_filters({"year": deep})


def test_filters_restrict_search(store_seed_index):
    engine, _ = store_seed_index
    hits = engine.search("Mexico security cooperation", top_k=10, filters={"year": {"gte": 2010}}).hits
    assert hits and {h.chunk.doc_id for h in hits} <= {"003_a38ecee51900cf6b", "001_e0cea56afaaf3c59"}
    assert engine.search("Mexico", filters={"doc_id": "nope"}).hits == []
