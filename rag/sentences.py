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


# A sentence cut by a page break ends its paragraph without final punctuation; the page's notes, running
# footer or page number may sit between its halves ("…unveiled in April 2004, allows" / "⁶ This refers to…" /
# "for the inclusion of…").
_FINAL = re.compile(r"[.!?:;][\"”’')\]]*\s*$")
_NOTE = re.compile(r"[⁰¹²³⁴⁵⁶⁷⁸⁹]|\d{1,3}(?:[\s.]|$)")
_MAX_NOTES, _MAX_NOTE_CHARS = 3, 1500


def reading_sentences(text: str) -> list[tuple[int, int, str]]:
    """Sentences as (start, end, reading text): ``sentence_spans``, except that a sentence a page break cut
    (its paragraph ends mid-sentence, the next paragraph after at most three notes or running footers
    starts in lower case) is one sentence. ``text[start:end]`` is its exact span, notes included; the
    reading text leaves the notes out."""
    spans = sentence_spans(text)
    out: list[tuple[int, int, str]] = []
    i = 0
    while i < len(spans):
        start, end = spans[i]
        reading = text[start:end]
        while (k := _continued_at(text, spans, i, reading)) is not None:
            i, end = k, spans[k][1]
            reading = f"{reading} {text[spans[k][0] : end]}"
        out.append((start, end, reading))
        i += 1
    return out


def _continued_at(text: str, spans: list[tuple[int, int]], i: int, sentence: str) -> int | None:
    """The index of the span that continues sentence ``i``, or None: it stops mid-sentence at a paragraph
    break, and after notes only the next paragraph starts in lower case."""
    end = spans[i][1]
    if _FINAL.search(sentence) or sum(w[:1].islower() and len(w) > 2 for w in sentence.split()) < 2:
        return None  # a whole sentence, or a heading ("Mexico’s Defense Policy")
    for k in range(i + 1, len(spans)):
        between = text[end : spans[k][0]]
        notes = [p.strip() for p in between.split("\n\n") if p.strip()]
        if "\n\n" not in between or len(notes) > _MAX_NOTES or sum(map(len, notes)) > _MAX_NOTE_CHARS:
            return None
        if not all(_NOTE.match(p) for p in notes):
            return None
        if text[spans[k][0] - 2 : spans[k][0]] == "\n\n" and text[spans[k][0]].islower():
            return k
    return None
