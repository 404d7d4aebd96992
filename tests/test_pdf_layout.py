"""PDF headings and page-foot notes told by their fonts; '#' and '*' of PDFs and web pages kept as text."""

import pytest

from rag.chunking import ChunkLimits
from rag.ingest import prepare
from rag.loaders import load_bytes
from rag.normalize import normalize, point_lookup
from rag.pdf_layout import PdfLine, compose, is_heading
from rag.sentences import reading_sentences
from tests.helpers import make_pdf

REPORT = [
    [
        ("Border Security Review", 20),
        "A review of the plan and its funding.",
        ("1. Introduction", 14),
        "The border plan was drafted in 2004 and it was",
        ("1 See the annex for the full text of the plan.", 9),
    ],
    [
        "approved by both houses in May. Funding followed.",
        ("2.1 Methods", 12, True),
        "We read the plan's # comments and a * b in the code.",
        ("A bold line that is a sentence.", 12, True),
        "More text here.",
    ],
]


def _prepared(data: bytes, name: str):
    return prepare(name, load_bytes(data, name), source=name, sha256="0", limits=ChunkLimits(max_tokens=40, overlap_tokens=0), embed_title=False)


def test_pdf_headings_by_font_are_the_sections_of_its_passages():
    p = _prepared(make_pdf(REPORT), "review.pdf")

    def section_of(words: str) -> str:
        return next(c.section for c in p.chunks if words in c.text)

    assert section_of("The border plan was drafted") == "1. Introduction"
    assert section_of("a * b in the code") == "2.1 Methods"  # bold and numbered
    ex = load_bytes(make_pdf(REPORT), "review.pdf")
    assert [ex.text[s:e] for s, e in ex.headings] == ["Border Security Review", "1. Introduction", "2.1 Methods"]


def test_pdf_lines_keep_their_numbers_and_pages_when_paragraphs_are_added():
    ex = load_bytes(make_pdf(REPORT), "review.pdf")
    plain = "\n\n".join("\n".join(x if isinstance(x, str) else x[0] for x in page) for page in REPORT).split("\n")
    norm = normalize(ex.text, ex.headings)
    for line in ("1. Introduction", "1 See the annex", "approved by both", "More text here."):
        assert point_lookup(ex.line_points, ex.text.index(line)) == next(i for i, x in enumerate(plain, 1) if x.startswith(line))
    assert point_lookup(ex.page_points, norm.origin[norm.text.index("approved")]) == 2


def test_a_sentence_over_a_page_break_is_read_whole_past_the_page_foot_note():
    ex = load_bytes(make_pdf(REPORT), "review.pdf")
    norm = normalize(ex.text, ex.headings)
    assert "1 See the annex for the full text of the plan." in norm.text.split("\n\n")  # the note is a paragraph
    sentences = [r for _, _, r in reading_sentences(norm.text)]
    assert "The border plan was drafted in 2004 and it was approved by both houses in May." in sentences


def test_hash_and_star_in_pdf_and_web_page_text_are_kept():
    pdf = load_bytes(make_pdf([["Setup", "# This file is generated. Do not edit!", "Multiply a * b * c here."]]), "c.pdf")
    html = load_bytes(b"<h1>Setup</h1><pre># This file is generated.\n</pre><p>Multiply a * b * c here.</p>", "c.html")
    for ex in (pdf, html):
        norm = normalize(ex.text, ex.headings)
        assert "# This file is generated." in norm.text and "a * b * c" in norm.text
        assert all(not norm.text[s:e].startswith(("#", "This file")) for s, e in norm.headings)
    assert [normalize(html.text, html.headings).text[s:e] for s, e in normalize(html.text, html.headings).headings] == ["Setup"]


@pytest.mark.parametrize(
    ("line", "heading"),
    [
        (PdfLine("2. Unified system", 17.2), True),
        (PdfLine("Results", 13.0), True),
        (PdfLine("3.1 Invoking asn1Parser", 10.0, bold=True), True),
        (PdfLine("Results of the survey", 10.0, bold=True), False),  # bold at body size, not numbered
        (PdfLine("1 Introduction . . . . . . . . . . . . 1", 14.3), False),  # a table of contents' entry
        (PdfLine("[Function]int asn1_parser2tree (const char * file,", 12.0), False),  # 1.1 times the body
        (PdfLine("2024", 20.0), False),  # no words
        (PdfLine("Results", 0.0), False),  # size unknown
    ],
)
def test_what_is_a_heading(line, heading):
    assert is_heading(line, body=10.0) is heading


def test_without_font_sizes_pages_read_as_plain_lines():
    pages = [[PdfLine("Results"), PdfLine("1 See note.")], [PdfLine("next page")]]
    out = compose(pages)
    assert out.text == "Results\n1 See note.\n\nnext page" and out.headings == []
    assert out.page_points == [(0, 1), (21, 2)]
