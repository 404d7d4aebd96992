import re
import tracemalloc

import pytest

from rag.loaders import LoadError, load_bytes
from rag.normalize import line_points, normalize, point_lookup
from rag.pdf_pages import running_bounds
from rag.sentences import reading_sentences
from tests.helpers import make_expanding_pdf, make_form_pdf, make_pdf


def test_txt_and_markdown_titles():
    assert load_bytes(b"\n\nFirst Line\nbody", "a.txt").title == "First Line"
    assert load_bytes(b"# **Big Title**\n\ntext", "a.md").title == "Big Title"


def test_html_visible_text_headings_and_source_lines():
    html = (
        "<html><head><title>Page T</title><style>p{}</style></head>\n<body>\n"
        "<h2>Section A</h2>\n<p>Alpha beta\ngamma.</p>\n<script>var x=1;</script>\n<p>Delta.</p></body></html>"
    )
    ex = load_bytes(html.encode(), "x.html")
    assert ex.title == "Page T"
    n = normalize(ex.text)
    assert "var x" not in n.text and "p{}" not in n.text
    assert [n.text[s:e] for s, e in n.headings] == ["Section A"]
    pts = line_points(ex.text, n.origin, ex.line_points)
    assert point_lookup(pts, n.text.index("Alpha")) == 4
    assert point_lookup(pts, n.text.index("gamma")) == 5
    assert point_lookup(pts, n.text.index("Delta")) == 7


def test_pdf_pages_are_kept():
    ex = load_bytes(make_pdf(["Page one text.", "Second page words."]), "doc.pdf")
    assert "Page one text." in ex.text and "Second page words." in ex.text
    assert [p for _, p in ex.page_points] == [1, 2]
    assert ex.text.index("Second") >= ex.page_points[1][0]


@pytest.mark.parametrize(
    "data,name,reason",
    [
        (b"%PDF-1.4 garbage that is not a pdf", "bad.pdf", "cannot parse PDF"),
        (bytes(range(256)) * 4, "junk.txt", "binary"),
        ("caf\u00e9".encode("latin-1") + b" more", "latin.txt", "UTF-8"),
        (b"text", "file.rtf", "unsupported"),
        (b"text", "file.docx", "not a Word document"),
    ],
)
def test_unreadable_files_raise_with_reason(data, name, reason):
    with pytest.raises(LoadError, match=reason):
        load_bytes(data, name)


def _journal_pages() -> list[list[str]]:
    """Four pages of a paper: a running header, page numbers printed from 11, a sentence over pages 2-3."""
    return [
        ["Security Cooperation in North America", "The first page opens the paper.", "11"],
        ["Journal of Hemispheric Security, Vol. 3", "The strategy, unveiled in April 2004, allows", "12"],
        ["Journal of Hemispheric Security, Vol. 3", "for the inclusion of civil-society groups in policy.", "13"],
        ["Journal of Hemispheric Security, Vol. 3", "Chapter 2: Oversight 14", "Oversight works. The last page ends here.", "14"],
    ]


def test_running_headers_and_page_numbers_of_a_pdf_are_left_out():
    ex = load_bytes(make_pdf(_journal_pages()), "paper.pdf")
    assert "Journal of Hemispheric Security" not in ex.text and "Chapter 2" not in ex.text  # repeated; carries the page number
    assert not re.search(r"\b1[1-4]\b", ex.text)  # page numbers
    assert ex.text.startswith("Security Cooperation in North America")  # the first page's title stays
    assert [p for _, p in ex.page_points] == [1, 2, 3, 4]
    for (start, number), line in zip(ex.page_points, ["Security", "The strategy", "for the", "Oversight"]):
        assert ex.text[start:].startswith(line), number
    # With the header gone, the sentence the page break cut is read whole.
    norm = normalize(ex.text)
    assert "The strategy, unveiled in April 2004, allows for the inclusion of civil-society groups in policy." in [
        r for _, _, r in reading_sentences(norm.text)
    ]


@pytest.mark.parametrize(
    "pages",
    [
        [["Title", "A line repeated on two pages only."], ["A line repeated on two pages only.", "body"], ["end", "text"]],
        [["One page", "12"], ["Two pages", "12"]],  # fewer than three pages: nothing is taken
        [["2008 began the plan.", "text"], ["2009 went on.", "text"], ["2010 ended it.", "more"]],  # years, not page numbers
    ],
)
def test_lines_that_do_not_run_through_the_pages_are_kept(pages):
    assert running_bounds(pages) == [(0, len(p)) for p in pages]


def test_a_small_pdf_that_expands_past_the_text_limit_is_refused_at_that_page():
    data = make_expanding_pdf(pages=300, chars_per_page=20_000)  # 47 KB that would read as 6 M characters
    with pytest.raises(LoadError, match=r"longer than 100,000 characters by page 5 of 300 \(RAG_MAX_DOCUMENT_CHARS\)"):
        load_bytes(data, "expanding.pdf", max_chars=100_000)
    assert len(load_bytes(data, "expanding.pdf", max_chars=10_000_000).text) > 100_000  # below the limit it is read


def test_a_page_that_draws_a_form_over_and_over_is_refused_as_soon_as_it_passes_the_limit():
    data = make_form_pdf(draws=2_000, chars=20_000)  # 1 KB that would read as 40 M characters
    import pypdf  # noqa: F401  (imported before measuring: only the reading counts)

    tracemalloc.start()
    try:
        with pytest.raises(LoadError, match=r"longer than 50,000 characters by page 1 of 1"):
            load_bytes(data, "forms.pdf", max_chars=50_000)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 20_000_000  # read whole, the page's text alone would take 40 MB


@pytest.mark.parametrize("name", ["long.txt", "long.md", "long.html"])
def test_text_files_longer_than_the_limit_are_refused(name):
    data = ("<p>" + "word " * 400 + "</p>").encode()
    with pytest.raises(LoadError, match="longer than 1,000 characters"):
        load_bytes(data, name, max_chars=1000)
    assert load_bytes(data, name, max_chars=5000).text
