"""Sentences a page break cut are read whole: hand-made pages and the seed paper that has them."""

from __future__ import annotations

import pytest

from rag.sentences import reading_sentences, sentence_spans

BODY = "For example, the strategy, unveiled in April 2004, allows"
REST = "for the inclusion of civil-society groups in policy. Then it ended."


@pytest.mark.parametrize(
    ("between", "joined"),
    [
        ("\n\n", True),  # a bare page break
        ("\n\n⁶ This refers to statements made on April 17, 2002 (Reforma, April 18, 2002).\n\n", True),  # a footnote
        ("\n\n2 Strategic Forum No. 243, July 2009\n\n", True),  # a running footer with its page number
        ("\n\n12\n\n", True),  # a page number alone
        ("\n\n¹ One.\n\n² Two.\n\n³ Three.\n\n⁴ Four.\n\n", False),  # more than three notes: not a page's foot
        ("\n\nA paragraph of body text in between.\n\n", False),  # not a note: the sentence ends there
        (" ", False),  # no paragraph break: sentence_spans already decides
    ],
)
def test_a_sentence_cut_by_a_page_break_is_one_sentence_with_its_exact_span(between, joined):
    text = f"Intro sentence here. {BODY}{between}{REST}"
    found = reading_sentences(text)
    whole = [(s, e, r) for s, e, r in found if r.startswith(BODY)]
    assert len(whole) == 1
    s, e, reading = whole[0]
    if joined:
        assert reading == f"{BODY} for the inclusion of civil-society groups in policy."
        assert text[s:e] == f"{BODY}{between}for the inclusion of civil-society groups in policy."  # notes kept in the span
    else:
        assert text[s:e] == reading
    assert found[-1][2] == "Then it ended."


@pytest.mark.parametrize(
    "text",
    [
        "A whole sentence ends here.\n\nfor lower case after it, nothing joins.",
        "Mexico’s Defense Policy\n\nsedena image caption and then text.",  # a heading, not a cut sentence
        "a. REPORT unclassified\n\nb. ABSTRACT unclassified",  # form fields
        "It goes on and on\n\nThen a capital starts the next one.",
    ],
)
def test_whole_sentences_headings_and_capitalized_paragraphs_are_not_joined(text):
    assert [(s, e) for s, e, _ in reading_sentences(text)] == sentence_spans(text)


def test_the_answer_quotes_the_whole_sentence_and_cites_its_exact_span(seed_index):
    """corpus/002 has a sentence cut by a page's footnote; the answer quoted its first half alone."""
    engine, _ = seed_index
    answer = engine.ask("Does Canada's National Security Strategy let civil-society groups help make security policy?", generate=False)
    assert answer.grounded
    assert "unveiled in April 2004, allows for the inclusion of civil-society groups" in answer.answer
    [c] = [c for c in answer.citations if "April 2004" in c["text"]]
    doc = engine.document(c["doc_id"])
    assert doc is not None and doc.text[c["char_start"] : c["char_end"]] == c["text"]
    assert "⁶ This refers to statements" in c["text"] and c["line_end"] > c["line_start"]
    [claim] = [x for x in answer.claims if "April 2004" in x["text"]]
    assert "⁶" not in claim["text"] and "allows for the inclusion" in claim["text"]
