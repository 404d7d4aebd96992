"""What reading a file gives: its text with where each part came from, or LoadError saying why it cannot be read."""

from __future__ import annotations

from dataclasses import dataclass, field

from .errors import BadInputError


class LoadError(BadInputError):
    """A file that exists but cannot be read as text; the message says why."""


@dataclass
class Extracted:
    """Text of a file. ``line_points``/``page_points`` map text offsets to source lines/pages
    as ascending (offset, number) pairs; empty line_points means the text's own lines. ``headings`` are the
    (start, end) spans of the headings a PDF's fonts, a web page's tags or a Word document's styles show; None
    for text files, whose markdown marks them."""

    text: str
    title: str | None = None
    line_points: list[tuple[int, int]] = field(default_factory=list)
    page_points: list[tuple[int, int]] = field(default_factory=list)
    headings: list[tuple[int, int]] | None = None
