"""The citation verifier on hand-built passages: sentence splitting, markers, hand-computed coverage,
wrong names, numbers and dates, and the supporting span."""

from __future__ import annotations

import numpy as np
import pytest

from rag.models import Chunk, Hit, SourcePoints
from rag.verify import Verifier, content_words, key_terms, split_claims

P1 = "The Merida Initiative began in 2008. It funded helicopters for the Mexican army."
P2 = "Trade between Canada and Mexico grew by 40 percent after NAFTA."


def hits() -> list[Hit]:
    a = Chunk("a:0", "a", 0, P1, 100, 100 + len(P1), 10, 11, "Funding", 20, page=3)  # a PDF's: its second sentence is on page 4
    b = Chunk("b:0", "b", 0, P2, 0, len(P2), 1, 1, "", 15)
    return [Hit(a, "Security", "a.txt", 1, 1.0), Hit(b, "Trade", "b.txt", 2, 0.5)]


def points(doc_id: str) -> SourcePoints:
    return SourcePoints([(0, 1)]) if doc_id == "b" else SourcePoints([(0, 1), (100, 10), (136, 11)], [(0, 3), (137, 4)])


def judge(answer: str, embed) -> list[dict]:
    v = Verifier(answer, hits(), threshold=0.55, points_of=points)
    texts = v.texts()
    return list(v.judge(embed(texts)))


@pytest.fixture(scope="module")
def embed(embedder):
    return embedder.encode


def test_split_claims_moves_leading_markers_to_the_sentence_before():
    claims = split_claims("It began in 2008. [1] Trade grew by 40 percent [2]. [1]")
    assert [(c.text, c.markers) for c in claims] == [("It began in 2008.", [1]), ("Trade grew by 40 percent.", [2, 1])]


def test_split_claims_reads_lists_of_markers_and_drops_marker_only_text():
    claims = split_claims("[1] Both papers say so [1, 2].")
    assert [(c.text, c.markers) for c in claims] == [("Both papers say so.", [1, 2])]


def test_key_terms_are_names_numbers_and_dates_not_opening_stopwords():
    assert key_terms("The Merida Initiative began in 2008 with 40 helicopters.") == ["Merida", "Initiative", "2008", "40"]
    assert content_words("The helicopters of the army") == {"helicopter", "army"}


def test_exact_quote_is_supported_with_full_coverage_and_its_span(embed):
    [c] = judge("The Merida Initiative began in 2008. [1]", embed)
    assert c["supported"] and c["coverage"] == 1.0 and c["similarity"] > 0.99
    src = c["source"]
    assert src is not None
    assert (src["doc_id"], src["char_start"], src["char_end"]) == ("a", 100, 136)
    assert src["text"] == "The Merida Initiative began in 2008."
    assert (src["line_start"], src["line_end"], src["page"], src["section"]) == (10, 10, 3, "Funding")


def test_the_supporting_sentence_has_its_own_page_and_lines(embed):
    [c] = judge("It funded helicopters for the Mexican army. [1]", embed)
    src = c["source"]
    assert src is not None and src["text"] == "It funded helicopters for the Mexican army."
    assert (src["line_start"], src["line_end"], src["page"]) == (11, 11, 4)  # the passage starts on page 3
    [c] = judge("Trade between Canada and Mexico grew by 40 percent after NAFTA. [2]", embed)
    assert c["source"] is not None and c["source"]["page"] is None and c["source"]["section"] == ""  # not a PDF


def test_wrong_year_is_unsupported_whatever_the_score(embed):
    [c] = judge("The Merida Initiative began in 2011. [1]", embed)
    assert not c["supported"]
    assert c["unsupported_terms"] == ["2011"]
    # content words: merida, initiative, began→"began", 2011; three of four are in passage 1
    assert c["coverage"] == 0.75


def test_invented_name_is_unsupported(embed):
    [c] = judge("Kowalczyk funded helicopters for the Mexican army. [1]", embed)
    assert not c["supported"] and c["unsupported_terms"] == ["Kowalczyk"]


def test_a_fact_from_another_passage_than_the_cited_one_is_unsupported(embed):
    [c] = judge("Trade between Canada and Mexico grew by 40 percent. [1]", embed)
    assert not c["supported"] and "Canada" in c["unsupported_terms"] and "40" in c["unsupported_terms"]
    [c] = judge("Trade between Canada and Mexico grew by 40 percent. [2]", embed)
    assert c["supported"] and c["source"]["doc_id"] == "b"


def test_uncited_sentence_is_checked_against_all_passages(embed):
    [c] = judge("Trade between Canada and Mexico grew by 40 percent after NAFTA.", embed)
    assert c["markers"] == [] and c["supported"] and c["source"]["doc_id"] == "b"


def test_markers_naming_no_passage_are_dropped(embed):
    [c] = judge("The Merida Initiative began in 2008. [7]", embed)
    assert c["markers"] == [] and c["supported"]


def test_off_topic_sentence_scores_below_threshold(embed):
    [c] = judge("Penguins enjoy swimming in cold water. [1]", embed)
    assert not c["supported"] and c["score"] < 0.55 and c["unsupported_terms"] == ["Penguins"]


def test_no_vectors_means_similarity_zero():
    v = Verifier("The Merida Initiative began in 2008. [1]", hits(), 0.55, points)
    [c] = v.judge(np.zeros((len(v.texts()), 4), dtype=np.float32))
    assert c["similarity"] == 0.0 and c["score"] == 0.5 and not c["supported"]
