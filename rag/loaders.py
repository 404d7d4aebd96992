"""Read supported files into plain text, keeping where each character came from (line, page)."""

from __future__ import annotations

import io
import re
from html.parser import HTMLParser
from pathlib import Path

from .config import MAX_DOCUMENT_CHARS
from .docx_text import read_docx
from .extracted import Extracted, LoadError
from .pdf_layout import PdfLine, TooMuchText, compose, read_lines
from .pdf_pages import running_bounds

__all__ = ["SUPPORTED", "Extracted", "LoadError", "check_length", "is_supported", "load_bytes", "load_file"]

SUPPORTED = {".txt", ".md", ".markdown", ".html", ".htm", ".pdf", ".docx"}


def is_supported(path: Path) -> bool:
    return path.suffix.lower() in SUPPORTED


def load_bytes(data: bytes, name: str, max_chars: int = MAX_DOCUMENT_CHARS) -> Extracted:
    """Extract text from a file's bytes; the extension of ``name`` picks the parser. Raises LoadError when
    the text is longer than ``max_chars`` (a PDF stops being read as soon as it is)."""
    ext = Path(name).suffix.lower()
    if ext == ".pdf":
        return _load_pdf(data, max_chars)
    if ext == ".docx":
        return _load_docx(data, max_chars)
    if ext not in (".html", ".htm", ".txt", ".md", ".markdown"):
        raise LoadError(f"unsupported file type {ext or '(none)'}")
    text = _decode(data)
    extracted = _load_html(text) if ext in (".html", ".htm") else Extracted(text=text, title=_first_line_title(text))
    check_length(len(extracted.text), max_chars)
    return extracted


def check_length(chars: int, max_chars: int, where: str = "") -> None:
    """Raise LoadError for a document text longer than ``max_chars``."""
    if chars > max_chars:
        raise LoadError(f"document text is longer than {max_chars:,} characters{where} (RAG_MAX_DOCUMENT_CHARS)")


def load_file(path: Path, max_chars: int = MAX_DOCUMENT_CHARS) -> Extracted:
    """Extract text from a file on disk."""
    try:
        data = path.read_bytes()
    except OSError as e:
        raise LoadError(f"cannot read file: {e.strerror or e}") from e
    return load_bytes(data, path.name, max_chars)


def _decode(data: bytes) -> str:
    if b"\x00" in data[:8192]:
        raise LoadError("binary content (NUL bytes), not a text file")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise LoadError(f"not valid UTF-8 text (byte {e.start})") from e
    ctrl = sum(1 for ch in text[:8192] if ord(ch) < 32 and ch not in "\t\n\r\f")
    if ctrl > 0.05 * max(1, min(len(text), 8192)):
        raise LoadError("binary content (control characters), not a text file")
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _first_line_title(text: str) -> str | None:
    for line in text.splitlines():
        line = re.sub(r"^#+\s*|\*+", "", line).strip()
        if line:
            return line[:200]
    return None


def _load_pdf(data: bytes, max_chars: int) -> Extracted:
    try:
        from pypdf import PdfReader

        reader = PdfReader(io.BytesIO(data))
        meta_title = (reader.metadata.title if reader.metadata else None) or None
        pages: list[list[PdfLine]] = []
        chars = 0
        for number, pdf_page in enumerate(reader.pages, start=1):
            # A small PDF can expand to gigabytes of text (one large content stream shared by many pages, or
            # drawn many times on one): each page may draw only what is left of the limit.
            where = f" by page {number} of {len(reader.pages)}"
            try:
                lines = read_lines(pdf_page, budget=max_chars - chars)
            except TooMuchText:
                lines, chars = [], max_chars  # past the limit: refused below
            chars += sum(len(line.text) + 1 for line in lines) + 1
            check_length(chars, max_chars, where)
            pages.append(lines)
    except LoadError:
        raise
    except Exception as e:  # pypdf raises many types for corrupt files
        raise LoadError(f"cannot parse PDF: {type(e).__name__}: {e}") from e
    bounds = running_bounds([[line.text for line in page] for page in pages])
    extracted = compose([page[a:b] for page, (a, b) in zip(pages, bounds, strict=True)])
    if not extracted.text.strip():
        raise LoadError("PDF has no extractable text (scanned image?)")
    extracted.title = meta_title or _first_line_title(extracted.text)
    return extracted


def _load_docx(data: bytes, max_chars: int) -> Extracted:
    extracted = read_docx(data, max_chars)
    check_length(len(extracted.text), max_chars)
    if not extracted.text.strip():
        raise LoadError("Word document has no text")
    extracted.title = extracted.title or _first_line_title(extracted.text)
    return extracted


_BLOCK = {
    "p",
    "div",
    "br",
    "li",
    "tr",
    "section",
    "article",
    "header",
    "footer",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "ul",
    "ol",
    "table",
    "blockquote",
    "pre",
    "hr",
    "title",
}
_SKIP = {"script", "style", "noscript", "template", "svg"}
_HEADING_TAG = re.compile(r"h[1-6]")


class _HTMLText(HTMLParser):
    """Collects visible text, blank lines between blocks, '#' before headings, source lines."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.points: list[tuple[int, int]] = []
        self.pos = 0
        self.skip = 0
        self.title: str | None = None
        self._in_title = False
        self.headings: list[tuple[int, int]] = []

    def _emit(self, s: str, line: int | None = None) -> None:
        self.points.append((self.pos, line or self.getpos()[0]))
        self.parts.append(s)
        self.pos += len(s)

    def handle_starttag(self, tag, attrs):
        if tag in _SKIP:
            self.skip += 1
        elif tag == "title":
            self._in_title = True
        elif tag in _BLOCK:
            self._emit("\n\n")
            if _HEADING_TAG.fullmatch(tag):
                self.headings.append((self.pos, self.pos))

    def handle_endtag(self, tag):
        if tag in _SKIP:
            self.skip = max(0, self.skip - 1)
        elif tag == "title":
            self._in_title = False
        elif tag in _BLOCK:
            if _HEADING_TAG.fullmatch(tag) and self.headings:
                self.headings[-1] = (self.headings[-1][0], self.pos)
            self._emit("\n\n")

    def handle_data(self, data):
        if self._in_title:
            self.title = (self.title or "") + data.strip()
        elif not self.skip and data:
            line = self.getpos()[0]
            for i, piece in enumerate(data.split("\n")):
                self._emit(("\n" if i else "") + piece, line + i)


def _load_html(text: str) -> Extracted:
    parser = _HTMLText()
    try:
        parser.feed(text)
        parser.close()
    except Exception as e:
        raise LoadError(f"cannot parse HTML: {e}") from e
    body = "".join(parser.parts)
    if not body.strip():
        raise LoadError("HTML has no visible text")
    return Extracted(text=body, title=parser.title or _first_line_title(body), line_points=parser.points, headings=parser.headings)
