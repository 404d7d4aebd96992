"""The lines of PDF pages with their font size and weight, and the text they make: headings (set larger than
the body, or bold and numbered) and the notes at a page's foot (set smaller) become paragraphs of their own."""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass
from typing import Any

from .extracted import Extracted

HEADING_RATIO = 1.15  # a line set this much larger than the body text is a heading
NOTE_RATIO = 0.9  # lines at a page's foot set this much smaller are its notes
MAX_HEADING_WORDS = 20

_BOLD = re.compile(r"bold|black|heavy|demi|cmbx|[-,]bd\b", re.I)
_LEADER = re.compile(r"(?:\.\s?){4,}")  # a table of contents' dot leaders
_NUMBERED = re.compile(r"(?:\d+(?:\.\d+)*\.?|[IVX]+\.|[A-Z]\.)\s+[A-Z]")
# A note's number or sign, then its words: "12 See", "³Ibid.", "* Corresponding" (not "55:text/x-diff").
_NOTE_MARK = re.compile(r"\s*(?:\d{1,3}|[¹²³⁴⁵⁶⁷⁸⁹⁰]+|[*†‡§])[.)]?\s*[(\"“]?[^\W\d_]")


@dataclass(frozen=True)
class PdfLine:
    """One line of a page as pypdf extracts it; ``size`` is the size most of its characters are set in (points,
    0 when unknown) and ``bold`` says that all of them are in a bold face."""

    text: str
    size: float = 0.0
    bold: bool = False


class TooMuchText(Exception):
    """A page drew more characters than it was allowed (``read_lines``'s ``budget``)."""


def read_lines(page: Any, budget: float = math.inf) -> list[PdfLine]:
    """A pypdf page's text lines with their fonts. Lines without sizes when the fonts cannot be matched to the
    text (pypdf's text is then not the concatenation of what it drew). Raises TooMuchText as soon as the page has
    drawn more than ``budget`` characters: a few kilobytes of PDF can draw millions (a form drawn over and over),
    and reading them all first would take minutes."""
    lines: list[list[tuple[str, float, bool]]] = [[]]
    drawn = 0

    def visit(text: str, cm: list[float], tm: list[float], font: dict | None, size: float) -> None:
        nonlocal drawn
        drawn += len(text)
        if drawn > budget:
            raise TooMuchText(f"more than {budget:,.0f} characters")
        scaled = size * _vertical_scale(tm, cm)
        bold = bool(_BOLD.search(str((font or {}).get("/BaseFont", ""))))
        for i, part in enumerate(_lines_of(text).split("\n")):
            if i:
                lines.append([])
            lines[-1].append((part, scaled, bold))

    text = _lines_of(page.extract_text(visitor_text=visit) or "")
    if drawn > budget:  # raised inside a form, which pypdf catches and logs
        raise TooMuchText(f"more than {budget:,.0f} characters")
    if "\n".join("".join(p for p, _, _ in line) for line in lines) != text:
        return [PdfLine(x) for x in text.split("\n")]
    return [_line(parts) for parts in lines]


def _lines_of(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _vertical_scale(tm: list[float], cm: list[float]) -> float:
    """How much the text and page matrices stretch a font's height."""
    c = tm[2] * cm[0] + tm[3] * cm[2]
    d = tm[2] * cm[1] + tm[3] * cm[3]
    return math.hypot(c, d) or 1.0


def _line(parts: list[tuple[str, float, bool]]) -> PdfLine:
    sizes: Counter[float] = Counter()
    for text, size, _ in parts:
        sizes[round(size, 1)] += len(text.strip())
    shown = [bold for text, _, bold in parts if text.strip()]
    size = sizes.most_common(1)[0][0] if sizes and sizes.most_common(1)[0][1] else 0.0
    return PdfLine("".join(p for p, _, _ in parts), size, bool(shown) and all(shown))


def body_size(pages: list[list[PdfLine]]) -> float:
    """The size most of the document's characters are set in (0 when no line has a size)."""
    sizes: Counter[float] = Counter()
    for page in pages:
        for line in page:
            if line.size:
                sizes[line.size] += len(line.text.strip())
    return sizes.most_common(1)[0][0] if sizes else 0.0


def is_heading(line: PdfLine, body: float) -> bool:
    """Set larger than the body, or bold at its size and numbered ("2.1 Naming"); short, with words, not a
    table of contents' entry."""
    text = line.text.strip()
    if not body or not line.size or not re.search(r"[^\W\d_]{2}", text) or len(text.split()) > MAX_HEADING_WORDS:
        return False
    if _LEADER.search(text) or text[-1] in ",;":
        return False
    larger = line.size >= HEADING_RATIO * body
    return larger or (line.bold and abs(line.size - body) < 0.5 and bool(_NUMBERED.match(text)))


def compose(pages: list[list[PdfLine]]) -> Extracted:
    """The document's text: pages apart, headings and page-foot notes as paragraphs of their own. Lines are
    numbered as in the pages' plain text joined by blank lines, whatever paragraph breaks are added."""
    body = body_size(pages)
    parts: list[str] = []
    lines: list[tuple[int, int]] = []
    page_points: list[tuple[int, int]] = []
    headings: list[tuple[int, int]] = []
    pos, number = 0, 1
    for page_no, page in enumerate(pages, start=1):
        page_points.append((pos, page_no))
        for block, heading in _blocks(page, body):
            if parts and not parts[-1].endswith("\n\n"):
                parts.append("\n\n")
                pos += 2
            start = pos
            for i, (k, line) in enumerate(block):
                piece = ("" if i == 0 else " " if heading else "\n") + line.text
                lines.append((pos + (1 if i and not heading else 0), number + k))
                parts.append(piece)
                pos += len(piece)
            if heading:
                headings.append((start, pos))
        number += len(page) + 1
        parts.append("\n\n")
        pos += 2
    text = "".join(parts)[:-2] if parts else ""
    return Extracted(text, line_points=lines, page_points=page_points, headings=headings)


def _blocks(page: list[PdfLine], body: float) -> list[tuple[list[tuple[int, PdfLine]], bool]]:
    """The page's lines grouped into (lines, is_heading) blocks: each heading (its lines set alike), each note,
    and the body text between them."""
    notes_from = _notes_start(page, body)
    blocks: list[tuple[list[tuple[int, PdfLine]], bool]] = []
    for k, line in enumerate(page):
        heading = k < notes_from and is_heading(line, body)
        note = k >= notes_from and bool(_NOTE_MARK.match(line.text))
        last = blocks[-1] if blocks else None
        same_heading = last is not None and heading and last[1] and abs(last[0][-1][1].size - line.size) < 0.25
        if last is not None and (same_heading or not (heading or last[1] or note)):
            last[0].append((k, line))
        else:
            blocks.append(([(k, line)], heading))
    return blocks


def _notes_start(page: list[PdfLine], body: float) -> int:
    """Index of the first line of the page's foot notes: the trailing lines set smaller than the body, the first
    of them starting with a note mark; ``len(page)`` when there are none."""
    k = len(page)
    while k > 0 and (not page[k - 1].text.strip() or (page[k - 1].size and page[k - 1].size <= NOTE_RATIO * body)):
        k -= 1
    while k < len(page) and not _NOTE_MARK.match(page[k].text):
        k += 1
    return k if body else len(page)
