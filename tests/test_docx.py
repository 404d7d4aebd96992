"""Word documents: paragraphs and tables in order, headings by style as sections, paragraph numbers as lines,
and files that are not Word documents or unpack too far refused with a reason."""

from __future__ import annotations

import io
import zipfile

import docx
import pytest

from rag.chunking import ChunkLimits
from rag.ingest import prepare
from rag.loaders import LoadError, load_bytes
from rag.normalize import point_lookup


def _report() -> bytes:
    d = docx.Document()
    d.core_properties.title = "Okapi Field Report"
    d.add_heading("Okapi Field Report", 0)
    d.add_paragraph("Rangers walked the northern trails at dawn.")
    d.add_paragraph("")  # empty paragraphs are not lines
    d.add_heading("2. Counts", level=1)
    p = d.add_paragraph("Rangers counted 41 okapis in 2031, ")
    p.add_run("twice the count of 2029").bold = True
    table = d.add_table(rows=2, cols=3)
    for cell, text in zip(table.rows[0].cells, ["Year", "Okapis", "Notes # and *"]):
        cell.text = text
    merged = table.cell(1, 1).merge(table.cell(1, 2))
    table.cell(1, 0).text = "2031"
    merged.text = "41"
    d.add_paragraph("The river crossing happened in March.", style="List Bullet")
    out = io.BytesIO()
    d.save(out)
    return out.getvalue()


def test_a_word_document_reads_in_order_with_headings_as_sections_and_paragraphs_as_lines():
    ex = load_bytes(_report(), "report.docx")
    assert ex.title == "Okapi Field Report"
    assert ex.text.split("\n\n") == [
        "Okapi Field Report",
        "Rangers walked the northern trails at dawn.",
        "2. Counts",
        "Rangers counted 41 okapis in 2031, twice the count of 2029",
        "Year | Okapis | Notes # and *",
        "2031 | 41",  # a merged cell once
        "The river crossing happened in March.",
    ]
    assert [ex.text[s:e] for s, e in (ex.headings or [])] == ["Okapi Field Report", "2. Counts"]
    assert point_lookup(ex.line_points, ex.text.index("2031 | 41")) == 6
    p = prepare("report", ex, source="report.docx", sha256="0", limits=ChunkLimits(max_tokens=30, overlap_tokens=0), embed_title=False)
    counted = next(c for c in p.chunks if "twice the count" in c.text)
    assert counted.section == "2. Counts" and "Notes # and *" in p.document.text  # '#' and '*' are text here
    assert (counted.page, counted.line_start) == (None, 3)  # the passage opens with its heading, paragraph 3


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"PK\x03\x04 not really a zip", "not a Word document"),
        (b"plain text saved as docx", "not a Word document"),
    ],
)
def test_files_that_are_not_word_documents_are_refused_with_the_reason(data, reason):
    with pytest.raises(LoadError, match=reason):
        load_bytes(data, "x.docx")


@pytest.mark.parametrize("part", ["word/document.xml", "customXml/item1.xml"])
def test_a_word_document_that_would_unpack_past_the_limit_is_refused_before_it_is_parsed(part):
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        if part != "word/document.xml":
            z.writestr("word/document.xml", b"<w:document/>")
        z.writestr(part, b"<x>" + b" " * 5_000_000 + b"</x>")  # 5 MB, a few KB zipped
    assert len(out.getvalue()) < 50_000
    with pytest.raises(LoadError, match=r"would unpack to 5,000,\d+ bytes.*RAG_MAX_DOCUMENT_CHARS"):
        load_bytes(out.getvalue(), "bomb.docx", max_chars=100_000)


def test_a_word_document_without_text_is_refused():
    out = io.BytesIO()
    docx.Document().save(out)
    with pytest.raises(LoadError, match="no text"):
        load_bytes(out.getvalue(), "empty.docx")
