"""Pack sentences into chunks under a token budget, with overlap, never over the model's limit."""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Callable, Collection
from dataclasses import dataclass

from .config import CHUNK_OVERLAP, CHUNK_TOKENS
from .sentences import sentence_spans
from .tokens import count_tokens


@dataclass(frozen=True)
class ChunkSpan:
    """A chunk as a span of the normalized text, with its section heading and cl100k size."""

    start: int
    end: int
    section: str
    n_tokens: int


@dataclass(frozen=True)
class ChunkLimits:
    """Budget in cl100k tokens and an optional hard limit measured with the model's tokenizer."""

    max_tokens: int = CHUNK_TOKENS
    overlap_tokens: int = CHUNK_OVERLAP
    model_len: Callable[[str], int] | None = None
    model_max: int | None = None
    prefix: str = ""


@dataclass
class _Unit:
    start: int
    end: int
    tokens: int
    heading: bool


def chunk_text(text: str, headings: list[tuple[int, int]], limits: ChunkLimits, marked: Collection[tuple[int, int]] = ()) -> list[ChunkSpan]:
    """Split normalized text into sentence-aligned chunks; each knows its section (``_Sections``; ``marked``:
    the headings the source marks as such, not only found by their look)."""
    units = _units(text, headings, limits.max_tokens)
    spans: list[ChunkSpan] = []
    sections = _Sections(text, headings, set(marked))
    for group in _pack(units, limits):
        for s, e in _fit_model(text, group, limits):
            spans.append(ChunkSpan(s, e, sections.of(s, e), count_tokens(text[s:e])))
    return spans


def _units(text: str, headings: list[tuple[int, int]], max_tokens: int) -> list[_Unit]:
    heading_set = set(headings)
    units: list[_Unit] = []
    for s, e in _sentences_and_headings(text, headings):
        n = count_tokens(text[s:e])
        is_heading = (s, e) in heading_set
        if n <= max_tokens:
            units.append(_Unit(s, e, n, is_heading))
        else:
            units.extend(_Unit(a, b, count_tokens(text[a:b]), False) for a, b in _word_windows(text, s, e, max_tokens))
    return units


def _sentences_and_headings(text: str, headings: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Sentence spans, each heading one span however its words split ("1. Introduction", not "1." and "Introduction")."""
    ends = dict(headings)
    spans: list[tuple[int, int]] = []
    for s, e in sentence_spans(text):
        if spans and s < spans[-1][1]:
            continue
        spans.append((s, ends.get(s, e)))
    return spans


def _word_windows(text: str, start: int, end: int, max_tokens: int) -> list[tuple[int, int]]:
    """Break an over-long sentence at word boundaries."""
    words = [(m.start(), m.end()) for m in re.finditer(r"\S+", text[start:end])]
    out: list[tuple[int, int]] = []
    cur_s: int | None = None
    cur_n, last_e = 0, 0
    for ws, we in words:
        n = count_tokens(text[start + ws : start + we]) + 1
        if cur_s is not None and cur_n + n > max_tokens:
            out.append((start + cur_s, start + last_e))
            cur_s, cur_n = None, 0
        if cur_s is None:
            cur_s = ws
        cur_n += n
        last_e = we
    if cur_s is not None:
        out.append((start + cur_s, start + last_e))
    return out


def _pack(units: list[_Unit], limits: ChunkLimits) -> list[list[_Unit]]:
    groups: list[list[_Unit]] = []
    cur: list[_Unit] = []
    cur_n = 0
    for u in units:
        if cur and u.heading and not all(x.heading for x in cur):
            groups.append(cur)
            cur, cur_n = [], 0
        elif cur and cur_n + u.tokens > limits.max_tokens:
            groups.append(cur)
            cur = _overlap_tail(cur, limits.overlap_tokens, limits.max_tokens - u.tokens)
            cur_n = sum(x.tokens for x in cur)
        cur.append(u)
        cur_n += u.tokens
    if cur:
        groups.append(cur)
    return groups


def _overlap_tail(group: list[_Unit], overlap: int, room: int) -> list[_Unit]:
    tail: list[_Unit] = []
    n = 0
    for u in reversed(group[1:]):
        if n + u.tokens > min(overlap, room) or u.heading:
            break
        tail.insert(0, u)
        n += u.tokens
    return tail


def _fit_model(text: str, group: list[_Unit], limits: ChunkLimits) -> list[tuple[int, int]]:
    """Halve a group until the model's own tokenizer says it fits (it truncates silently)."""
    s, e = group[0].start, group[-1].end
    if limits.model_len is None or limits.model_max is None:
        return [(s, e)]
    if limits.model_len(limits.prefix + text[s:e]) <= limits.model_max:
        return [(s, e)]
    if len(group) == 1:
        words = _word_windows(text, s, e, max(8, group[0].tokens // 2))
        units = [_Unit(a, b, count_tokens(text[a:b]), False) for a, b in words]
        if len(units) == 1:
            return [(s, e)]
        return [span for u in units for span in _fit_model(text, [u], limits)]
    mid = len(group) // 2
    return _fit_model(text, group[:mid], limits) + _fit_model(text, group[mid:], limits)


class _Sections:
    """The section of a span of the text: the heading nearest before it; for a span that opens with a heading
    the source marks followed by more marked headings ("Okapi Report", then "2. Counts"), the last of them, the
    one its text is under. Headings found only by their look (a paper's title block: title, author,
    affiliation) are not passed over."""

    def __init__(self, text: str, headings: list[tuple[int, int]], marked: set[tuple[int, int]]) -> None:
        self.text, self.headings, self.marked = text, headings, marked
        self.starts = [s for s, _ in headings]

    def of(self, start: int, end: int) -> str:
        i = bisect_right(self.starts, start) - 1
        while i >= 0 and self.headings[i][0] >= start and self._next_marked_within(i, end):
            i += 1
        return self.text[self.headings[i][0] : self.headings[i][1]] if i >= 0 else ""

    def _next_marked_within(self, i: int, end: int) -> bool:
        """Whether heading ``i + 1`` is marked, starts before ``end`` and only whitespace separates the two."""
        if i + 1 >= len(self.headings) or self.headings[i + 1] not in self.marked or self.starts[i + 1] >= end:
            return False
        return not self.text[self.headings[i][1] : self.starts[i + 1]].strip()
