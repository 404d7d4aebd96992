"""Running headers, footers and page numbers of PDF pages: found by repetition and left out of the text."""

from __future__ import annotations

import re
from collections import Counter

# A line at the top or bottom of this many pages (its numbers aside) is the document's, not the page's.
MIN_PAGES = 3
EDGE_LINES = 2  # how many lines at each end of a page can be running lines (a title, then its page number)

_NUMBER = re.compile(r"\d+")
_ROMAN = re.compile(r"[ivxlc]+", re.I)  # front-matter page numbers, alone on their line
_PAGE_NO = re.compile(r"^\s*(\d{1,4})\b|\b(\d{1,4})\s*$")


def running_key(line: str) -> str:
    """A line with its numbers made alike: "Journal of X, vol. 3, p. 12" on every page is one running line."""
    line = " ".join(line.split()).lower()
    return "#" if _ROMAN.fullmatch(line) else _NUMBER.sub("#", line)


def running_bounds(lines: list[list[str]]) -> list[tuple[int, int]]:
    """For each page's lines, the (start, end) range left without its running lines: a line at the top or
    bottom of at least ``MIN_PAGES`` pages (numbers aside: "Shared MIME-info Database", bare page numbers), or
    one that begins or ends with the page's printed number ("Chapter 2: Setup 3" on the page printed 3). Glued
    to a page's first or last sentence they would be quoted as part of it. Documents of fewer pages keep all."""
    if len(lines) < MIN_PAGES:
        return [(0, len(page)) for page in lines]
    seen: Counter[str] = Counter()
    offsets: Counter[int] = Counter()  # printed page number minus page index, over the pages' edge lines
    for i, page in enumerate(lines):
        edges = [x for x in _edges(page) if x.strip()]
        seen.update({running_key(x) for x in edges})
        offsets.update({n - i for x in edges if (n := _page_number(x)) is not None})
    running = {k for k, n in seen.items() if n >= MIN_PAGES}
    offset = next((o for o, n in offsets.most_common(1) if n >= MIN_PAGES), None)
    # The first page's top stays: a title there is the document's title, not a running header.
    return [_trim(page, running, None if offset is None else i + offset, top=i > 0) for i, page in enumerate(lines)]


def _page_number(line: str) -> int | None:
    """The number a line begins or ends with, if it can be a printed page number (a year cannot)."""
    m = _PAGE_NO.search(line)
    n = int(m.group(1) or m.group(2)) if m else None
    return None if n is None or 1500 <= n <= 2100 else n


def _edges(page: list[str]) -> list[str]:
    text = [x for x in page if x.strip()]
    return text[:EDGE_LINES] + text[-EDGE_LINES:]


def _trim(page: list[str], running: set[str], printed: int | None, top: bool = True) -> tuple[int, int]:
    """The range of ``page`` without running lines among its first (``top``) and last ``EDGE_LINES`` non-empty lines."""
    start = _leading(page, running, printed) if top else 0
    return start, len(page) - _leading(page[start:][::-1], running, printed)


def _leading(lines: list[str], running: set[str], printed: int | None) -> int:
    """How many of ``lines`` to drop from the front: blank ones and running ones among the first ``EDGE_LINES``
    non-empty lines, at most one of them for carrying the ``printed`` page number."""
    n = 0
    for _ in range(EDGE_LINES):
        while n < len(lines) and not lines[n].strip():
            n += 1
        if n == len(lines) or not _is_running(lines[n], running, printed):
            break
        printed = None if _page_number(lines[n]) == printed else printed
        n += 1
    return n


def _is_running(line: str, running: set[str], printed: int | None) -> bool:
    return running_key(line) in running or (printed is not None and _page_number(line) == printed)
