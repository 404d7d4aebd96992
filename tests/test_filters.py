import pytest

from rag.filters import FilterError, matching_documents

DOCS = [
    {"doc_id": "a", "title": "Mexico Security", "source": "a.txt", "metadata": {"year": 2009, "authors": ["Jordi Díez"]}},
    {"doc_id": "b", "title": "Defense", "source": "b.txt", "metadata": {"year": 2017, "authors": []}},
]


def test_equality_lists_ranges_and_authors():
    assert matching_documents({"doc_id": ["a", "x"]}, DOCS) == {"a"}
    assert matching_documents({"year": 2017}, DOCS) == {"b"}
    assert matching_documents({"year": {"gte": 2000, "lt": 2010}}, DOCS) == {"a"}
    assert matching_documents({"authors": "díez"}, DOCS) == {"a"}


def test_unknown_field_and_operator_are_errors():
    with pytest.raises(FilterError, match="unknown filter field"):
        matching_documents({"colour": "red"}, DOCS)
    with pytest.raises(FilterError, match="range operator"):
        matching_documents({"year": {"between": 1}}, DOCS)


def test_filters_restrict_search(seed_index):
    engine, _ = seed_index
    hits = engine.search("Mexico security cooperation", top_k=10, filters={"year": {"gte": 2010}}).hits
    assert hits and {h.chunk.doc_id for h in hits} <= {"003_a38ecee51900cf6b", "001_e0cea56afaaf3c59"}
    assert engine.search("Mexico", filters={"doc_id": "nope"}).hits == []
