"""Word documents (.docx) as text: body paragraphs and table rows in order, one a line, headings by their style."""

from __future__ import annotations

import io
import re
import zipfile
from typing import Any

from .extracted import Extracted, LoadError

# document.xml may hold this many bytes per character of the text limit (Word's markup is verbose; a zip of
# a few kilobytes can unpack to gigabytes, which the XML parser would hold in memory).
XML_BYTES_PER_CHAR = 20
_HEADING_STYLE = re.compile(r"(title|subtitle|heading \d)", re.I)


def read_docx(data: bytes, max_chars: int) -> Extracted:
    """A .docx file's body, one paragraph or table row a line (blank lines between; the line number is the
    paragraph's), headings by their style; LoadError for a file that is not one or would unpack past the limit."""
    _check_size(data, max_chars)
    try:
        import docx

        document = docx.Document(io.BytesIO(data))
        blocks = list(_blocks(document))
        title = (document.core_properties.title or "").strip() or None
    except Exception as e:  # python-docx and lxml raise many kinds for corrupt files
        raise LoadError(f"cannot read the Word document: {type(e).__name__}: {e}") from e
    parts: list[str] = []
    lines: list[tuple[int, int]] = []
    headings: list[tuple[int, int]] = []
    pos = 0
    for number, (text, heading) in enumerate(blocks, start=1):
        if parts:
            parts.append("\n\n")
            pos += 2
        lines.append((pos, number))
        if heading:
            headings.append((pos, pos + len(text)))
        parts.append(text)
        pos += len(text)
    return Extracted("".join(parts), title, line_points=lines, headings=headings)


def _check_size(data: bytes, max_chars: int) -> None:
    """Refuse a file that is not a zip with a body, or whose parts unpack to more than the text limit allows:
    python-docx reads every part (styles, custom XML) into memory, not only the body."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            z.getinfo("word/document.xml")
            body = sum(info.file_size for info in z.infolist())
    except (zipfile.BadZipFile, KeyError) as e:
        raise LoadError(f"not a Word document (.docx is a zip holding word/document.xml): {e}") from e
    if body > XML_BYTES_PER_CHAR * max_chars:
        raise LoadError(
            f"its text would unpack to {body:,} bytes of XML, more than a document of {max_chars:,} characters needs (RAG_MAX_DOCUMENT_CHARS)"
        )


def _blocks(document: Any):
    """(text, is_heading) of each non-empty body paragraph and table row, in the document's order."""
    for item in document.iter_inner_content():
        if hasattr(item, "rows"):
            for row in item.rows:
                text = _row_text(row)
                if text:
                    yield text, False
            continue
        text = " ".join(item.text.split())
        if text:
            style = item.style.name if item.style is not None else ""
            yield text, bool(_HEADING_STYLE.fullmatch(style or ""))


def _row_text(row: Any) -> str:
    """A table row's cells joined by " | " (a merged cell once)."""
    cells, seen = [], set()
    for cell in row.cells:
        if id(cell._tc) in seen:
            continue
        seen.add(id(cell._tc))
        text = " ".join(cell.text.split())
        if text:
            cells.append(text)
    return " | ".join(cells)
