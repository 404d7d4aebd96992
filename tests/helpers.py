"""Helpers shared by the tests: paths, a hand-built PDF, an engine on a given index folder."""

from __future__ import annotations

import zlib
from pathlib import Path

from rag import Engine, Settings
from rag.embedding import Embedder

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "corpus"
FIXTURES = Path(__file__).resolve().parent / "fixtures"


Line = str | tuple[str, float] | tuple[str, float, bool]  # text, or (text, font size[, bold])


def make_pdf(pages: list[str] | list[list[Line]]) -> bytes:
    """A minimal valid PDF (Helvetica, 12 pt), built by hand: one text line per page, or each page's lines, a
    line given as its text or as (text, size[, bold])."""
    objs = [
        "<< /Type /Catalog /Pages 2 0 R >>",
        None,
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica-Bold >>",
    ]
    kids = []
    for page in pages:
        lines = [page] if isinstance(page, str) else page
        # Each line one leading (1.25 times the larger size of it and the line above, at least 14) below the last.
        sizes = [_size(x) for x in lines]
        shown = " ".join(f"0 {-max(14, 1.25 * max(sizes[max(0, i - 1) : i + 1])):g} Td {_shown(x)}" for i, x in enumerate(lines))
        stream = f"BT 72 734 Td {shown} ET"
        objs.append(f"<< /Length {len(stream)} >>\nstream\n{stream}\nendstream")
        content = len(objs)
        fonts = "<< /F1 3 0 R /F2 4 0 R >>"
        objs.append(f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents {content} 0 R /Resources << /Font {fonts} >> >>")
        kids.append(f"{len(objs)} 0 R")
    objs[1] = f"<< /Type /Pages /Kids [{' '.join(kids)}] /Count {len(kids)} >>"
    out = b"%PDF-1.4\n"
    offsets = []
    for i, body in enumerate(objs, start=1):
        offsets.append(len(out))
        out += f"{i} 0 obj\n{body}\nendobj\n".encode("latin-1")
    xref = len(out)
    out += f"xref\n0 {len(objs) + 1}\n0000000000 65535 f \n".encode()
    out += "".join(f"{o:010d} 00000 n \n" for o in offsets).encode()
    out += f"trailer\n<< /Size {len(objs) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return out


def _size(line: Line) -> float:
    return 12.0 if isinstance(line, str) else line[1]


def _shown(line: Line) -> str:
    text, bold = (line, False) if isinstance(line, str) else (line[0], len(line) > 2 and bool(line[2]))
    return f"/F{2 if bold else 1} {_size(line):g} Tf ({_pdf_escape(text)}) Tj"


def make_expanding_pdf(pages: int, chars_per_page: int) -> bytes:
    """A small PDF whose pages all show one compressed content stream: its text is ``pages`` times larger."""
    lines = " 0 -1 Td ".join(f"({'A' * 100}) Tj" for _ in range(chars_per_page // 100))
    stream = zlib.compress(f"BT /F1 1 Tf 0 700 Td {lines} ET".encode(), 9)
    objs: list[bytes] = [b"<< /Type /Catalog /Pages 2 0 R >>", b"", b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
    objs.append(_stream(stream))
    page = b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << /Font << /F1 3 0 R >> >> >>"
    objs += [page] * pages
    objs[1] = b"<< /Type /Pages /Kids [%s] /Count %d >>" % (b" ".join(b"%d 0 R" % (5 + i) for i in range(pages)), pages)
    return _pdf_file(objs)


def make_form_pdf(draws: int, chars: int) -> bytes:
    """A one-page PDF of a few kilobytes that draws one form of ``chars`` characters ``draws`` times."""
    form = zlib.compress(f"BT /F1 1 Tf 0 0 Td ({'A' * chars}) Tj ET".encode(), 9)
    page = zlib.compress(b"q /X0 Do Q\n" * draws, 9)
    objs: list[bytes] = [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [6 0 R] /Count 1 >>"]
    objs.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    objs.append(_stream(form, b"/Type /XObject /Subtype /Form /BBox [0 0 612 792] /Resources << /Font << /F1 3 0 R >> >> "))
    objs.append(_stream(page))
    objs.append(b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 5 0 R /Resources << /XObject << /X0 4 0 R >> >> >>")
    return _pdf_file(objs)


def _stream(data: bytes, entries: bytes = b"") -> bytes:
    """A compressed stream object (``data`` already deflated) with its dictionary's other ``entries``."""
    return b"<< %s/Length %d /Filter /FlateDecode >>\nstream\n" % (entries, len(data)) + data + b"\nendstream"


def _pdf_file(objs: list[bytes]) -> bytes:
    """A PDF of ``objs`` numbered from 1 (the catalog first), with its cross-reference table."""
    out, offsets = b"%PDF-1.4\n", []
    for i, body in enumerate(objs, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % i + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1) + b"".join(b"%010d 00000 n \n" % o for o in offsets)
    return out + b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objs) + 1, xref)


def _pdf_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def engine_at(path: Path, embedder: Embedder, **kw) -> Engine:
    return Engine(Settings(index_dir=path, **kw), embedder=embedder)
