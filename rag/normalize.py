"""Repair PDF-extraction artifacts while keeping, for every output character, its source offset."""

from __future__ import annotations

import re
from array import array
from bisect import bisect_right
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import overload

SUPERSCRIPTS = "¹²³⁴⁵⁶⁷⁸⁹⁰"


@dataclass
class Normalized:
    """Normalized text; ``origin[i]`` is the offset in the source text of character ``i`` (an array of
    8-byte ints: with a list, reading and chunking 10 M characters peaked at +484 MB, with the array +176 MB);
    ``headings`` are (start, end) spans of paragraphs that are section headings; ``marked`` those of them the
    source marks as such (markdown '#', a PDF's fonts, a web page's or Word document's tags and styles), not
    only found by their look."""

    text: str
    origin: Sequence[int]
    headings: list[tuple[int, int]]
    marked: list[tuple[int, int]] = field(default_factory=list)


Repl = str | Callable[[re.Match], str | None]  # None: leave the match as it is


def _rewrite(text: str, origin: array, pattern: re.Pattern, repl: Repl, group: int = 0) -> tuple[str, array]:
    """Replace ``group`` of each match; new characters inherit the origin of the replaced span."""
    out: list[str] = []
    org = array("q")
    pos = 0
    for m in pattern.finditer(text):
        s, e = m.span(group)
        if s < pos:
            continue
        r = repl if isinstance(repl, str) else repl(m)
        if r is None:
            continue
        out.append(text[pos:s])
        org.extend(origin[pos:s])
        anchor = origin[s] if s < len(origin) else (origin[-1] if origin else 0)
        out.append(r)
        org.extend(array("q", [anchor]) * len(r))
        pos = e
    if pos == 0 and not out:
        return text, origin
    out.append(text[pos:])
    org.extend(origin[pos:])
    return "".join(out), org


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f\u200b-\u200f\u202a-\u202e\u2060-\u2064\ufeff]")
_FORMFEED = re.compile(r"\f")
_HEADING_LINE = re.compile(r"(?m)^[ \t]*#{1,6}[ \t]+[^\n]*?(\n)(?=[ \t]*\S)")
_HEADING_MARK = re.compile(r"(?m)^[ \t]*#{1,6}[ \t]+")
_STARS = re.compile(r"\*+")
_SUPERSCRIPT = re.compile(rf"(?<=\S)[{SUPERSCRIPTS}]+")
# A footnote number glued to the end of a word or to closing punctuation: "(DTOs)1 and", "state.”2".
_FOOTNOTE = re.compile(
    r"(?:(?<=[a-z]{2})|(?<=[A-Za-z][.,;:)”\"’])|(?<=[A-Za-z][.!?][”\"’]))\d{1,3}"
    r"(?=[ \t]*\n|[ \t]*$|[ \t]+[A-Za-z(“\"])"
)
_HYPHEN_LOWER = re.compile(r"(?<=[A-Za-z])-[ \t]*\n\s*(?=[a-z])")
_HYPHEN_KEEP = re.compile(r"(?<=\S-)[ \t]*\n[ \t]*(?=[A-Z0-9])")
_EDGE_SPACES = re.compile(r"[ \t]+(?=\n)|(?<=\n)[ \t]+")
_PARA_BREAK = re.compile(r"\n{2,}")
_LINE_BREAK = re.compile(r"(?<!\n)\n(?!\n)")
_SPACES = re.compile(r"[ \t\u00a0\u2000-\u200a\u3000]{2,}|[\t\u00a0\u2000-\u200a\u3000]")


_WORD_BEFORE = re.compile(r"[A-Za-z]+[.,;:)”\"’]*$")


def footnote_marks(text: str) -> Callable[[re.Match], str | None]:
    """For ``_FOOTNOTE`` matches: remove a footnote mark, keep the digits of a name that ends in them
    ("libtasn1", "ASN.1", "mp3"), known by occurring twice or more in ``text`` (a note number occurs once)."""
    seen = Counter(_glued(text, m) for m in _FOOTNOTE.finditer(text))
    return lambda m: None if seen[_glued(text, m)] > 1 else ""


def _glued(text: str, m: re.Match) -> str:
    word = _WORD_BEFORE.search(text, max(0, m.start() - 40), m.start())
    return f"{word.group(0) if word else ''}{m.group(0)}".lower()


def normalize(source: str, headings: list[tuple[int, int]] | None = None) -> Normalized:
    """Join hyphenated and hard-wrapped lines, drop markdown and footnote marks, keep paragraphs.
    ``headings``: (start, end) source spans of the headings of a text that is not markdown (a PDF's, a web
    page's), where '#' and '*' are the text's own; None reads the source as markdown."""
    text, origin = source, array("q", range(len(source)))
    markdown = headings is None
    marked = _markdown_headings(source) if headings is None else sorted(headings)
    # A step's replacement is a string, or made from the text as that step sees it (footnote marks).
    markup: list[tuple[re.Pattern, str | Callable[[str], Repl], int]] = [
        (_HEADING_LINE, "\n\n", 1),
        (_HEADING_MARK, "", 0),
        (_STARS, "", 0),
    ]
    steps: list[tuple[re.Pattern, str | Callable[[str], Repl], int]] = [
        (_CONTROL, "", 0),
        (_FORMFEED, "\n\n", 0),
        *(markup if markdown else []),
        (_SUPERSCRIPT, "", 0),
        (_FOOTNOTE, footnote_marks, 0),
        (_HYPHEN_LOWER, "", 0),
        (_HYPHEN_KEEP, "", 0),
        (_EDGE_SPACES, "", 0),
        (_PARA_BREAK, "\n\n", 0),
        (_LINE_BREAK, " ", 0),
        (_SPACES, " ", 0),
    ]
    for pattern, repl, group in steps:
        text, origin = _rewrite(text, origin, pattern, repl if isinstance(repl, str) else repl(text), group)
    text, origin = _strip(text, origin)
    found, explicit = _find_headings(text, origin, source, marked)
    return Normalized(text=text, origin=origin, headings=found, marked=explicit)


def _markdown_headings(source: str) -> list[tuple[int, int]]:
    """Source spans of markdown heading lines ('#' marks included)."""
    return [(m.start(), _line_end(source, m.start())) for m in _HEADING_MARK.finditer(source)]


def _line_end(source: str, pos: int) -> int:
    end = source.find("\n", pos)
    return len(source) if end < 0 else end


def _strip(text: str, origin: array) -> tuple[str, array]:
    """Trim spaces at paragraph edges and at both ends."""
    text, origin = _rewrite(text, origin, re.compile(r" +(?=\n)|(?<=\n) +"), "")
    start = len(text) - len(text.lstrip())
    end = len(text.rstrip())
    return text[start:end], origin[start:end]


def paragraphs(text: str) -> list[tuple[int, int]]:
    """(start, end) spans of the paragraphs of a normalized text."""
    spans, pos = [], 0
    for m in re.finditer(r"\n\n", text):
        if m.start() > pos:
            spans.append((pos, m.start()))
        pos = m.end()
    if pos < len(text):
        spans.append((pos, len(text)))
    return spans


def _find_headings(
    text: str, origin: Sequence[int], source: str, marked: list[tuple[int, int]]
) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """Paragraphs that begin inside a ``marked`` source span, or look like a heading by themselves; and the
    first kind alone."""
    found, explicit = [], []
    for s, e in paragraphs(text):
        i = bisect_right(marked, (origin[s], len(source))) - 1
        if i >= 0 and origin[s] < marked[i][1]:
            explicit.append((s, e))
            found.append((s, e))
        elif _looks_like_heading(text[s:e], source, origin, s, e):
            found.append((s, e))
    return found, explicit


_SMALL = {"a", "an", "and", "the", "of", "in", "on", "for", "to", "at", "by", "with", "or", "vs", "de", "la", "y"}


def _looks_like_heading(para: str, source: str, origin: Sequence[int], s: int, e: int) -> bool:
    """A short, single source line, capitalized like a title, not ending like a sentence."""
    if len(para) > 90 or "\n" in source[origin[s] : origin[e - 1]]:
        return False
    words = para.split()
    if not words or len(words) > 12 or not para[0].isupper() or para[-1] in '.,;:!)"”’':
        return False
    if re.search(r"\d{4}|https?://|@|,", para):
        return False
    if para.endswith("?"):
        return True
    big = [w for w in words if w.lower() not in _SMALL]
    return bool(big) and sum(w[0].isupper() for w in big) >= 0.75 * len(big)


@overload
def point_lookup(points: list[tuple[int, int]], offset: int, default: int) -> int: ...
@overload
def point_lookup(points: list[tuple[int, int]], offset: int, default: None = None) -> int | None: ...
def point_lookup(points: list[tuple[int, int]], offset: int, default: int | None = None) -> int | None:
    """Value of the last (offset, value) point at or before ``offset``."""
    i = bisect_right(points, (offset, float("inf"))) - 1
    return points[i][1] if i >= 0 else default


def origin_points(origin: Sequence[int], value_of: Callable[[int], int]) -> list[tuple[int, int]]:
    """Compress a per-character origin map into (normalized offset, value) change points."""
    points: list[tuple[int, int]] = []
    last = None
    for i, off in enumerate(origin):
        value = value_of(off)
        if value != last:
            points.append((i, value))
            last = value
    return points


def line_points(source: str, origin: Sequence[int], source_lines: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """(normalized offset, 1-based source line) change points."""
    if source_lines:
        return origin_points(origin, lambda off: point_lookup(source_lines, off, 1))
    starts = [0] + [m.end() for m in re.finditer("\n", source)]
    return origin_points(origin, lambda off: bisect_right(starts, off))
