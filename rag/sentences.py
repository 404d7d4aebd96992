"""Sentence spans in normalized text, aware of common abbreviations and initials."""

from __future__ import annotations

import re

from .normalize import paragraphs

_ABBREV = {
    "mr",
    "mrs",
    "ms",
    "dr",
    "prof",
    "sr",
    "jr",
    "st",
    "no",
    "vol",
    "pp",
    "p",
    "fig",
    "figs",
    "eq",
    "e.g",
    "i.e",
    "etc",
    "vs",
    "cf",
    "al",
    "inc",
    "ltd",
    "co",
    "corp",
    "gen",
    "col",
    "lt",
    "sgt",
    "adm",
    "gov",
    "sen",
    "rep",
    "u.s",
    "u.n",
    "u.k",
    "jan",
    "feb",
    "mar",
    "apr",
    "jun",
    "jul",
    "aug",
    "sep",
    "sept",
    "oct",
    "nov",
    "dec",
    "approx",
    "dept",
    "est",
    "ed",
    "eds",
    "rev",
    "op",
    "ca",
}
_BOUNDARY = re.compile(r"[.!?]+[\"”’')\]]*\s+(?=[\"“‘(\[¿¡■•A-Z0-9])")


def _is_abbreviation(text: str, dot: int) -> bool:
    start = dot
    while start > 0 and not text[start - 1].isspace() and text[start - 1] not in '("“':
        start -= 1
    word = text[start:dot].lower().rstrip(".")
    return word in _ABBREV or (len(word) == 1 and word.isalpha())


def sentence_spans(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """(start, end) spans of sentences in ``text[start:end]``; paragraphs always break."""
    end = len(text) if end is None else end
    spans: list[tuple[int, int]] = []
    for ps, pe in paragraphs(text[start:end]):
        ps, pe = ps + start, pe + start
        pos = ps
        for m in _BOUNDARY.finditer(text, ps, pe):
            if text[m.start()] == "." and _is_abbreviation(text, m.start()):
                continue
            stop = m.end() - (len(m.group()) - len(m.group().rstrip()))
            if stop > pos:
                spans.append((pos, stop))
            pos = m.end()
        if pe > pos:
            spans.append((pos, pe))
    return spans
