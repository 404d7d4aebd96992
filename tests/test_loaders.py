import pytest

from rag.loaders import LoadError, load_bytes
from rag.normalize import line_points, normalize, point_lookup
from tests.helpers import make_pdf


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
        (b"text", "file.docx", "unsupported"),
    ],
)
def test_unreadable_files_raise_with_reason(data, name, reason):
    with pytest.raises(LoadError, match=reason):
        load_bytes(data, name)
