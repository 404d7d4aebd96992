"""Property tests on arbitrary Unicode (bidi controls, NUL, combining marks, emoji, huge words):
normalization keeps a true map to the source, sentences and chunks are exact spans, every chunk
knows its source lines, ids are safe file names, filters parse or fail cleanly."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rag.chunking import ChunkLimits
from rag.filters import FilterError, parse_filters
from rag.ingest import MAX_ID_BYTES, doc_id_for, prepare
from rag.loaders import Extracted
from rag.normalize import normalize, point_lookup
from rag.pdf_layout import PdfLine, compose
from rag.sentences import reading_sentences, sentence_spans
from rag.tokens import count_tokens
from tests.reliability.conftest import scale

EXAMPLES = settings(max_examples=scale(60, 1500), deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

SPECIAL = [
    "\x00",
    "\u202e",
    "\u202d",
    "\u2066",
    "\u200b",
    "\ufeff",
    "\u0301",
    "\u0338",
    "🚀",
    "👩‍👩‍👧",
    "\U0001f1f2\U0001f1fd",
    "\f",
    "\r\n",
    "\n",
    "\n\n",
    "-\n",
    "**",
    "# ",
    "¹",
    "  ",
    "\t",
    ". ",
    "? ",
    "Dr. ",
    "U.S. ",
    "1998",
    "ﬁ",
    "İ",
    "ß",
    "\u00a0",
    "\u3000",
    "漢字",
    "مرحبا",
    "שלום",
]
WORD = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=12)
HUGE = st.integers(200, 3000).map(lambda n: "x" * n)
PIECES = st.one_of(st.sampled_from(SPECIAL), WORD, st.just(" "), st.just("The Army said so. "), HUGE)
TEXT = st.lists(PIECES, min_size=0, max_size=120).map("".join)


@EXAMPLES
@given(TEXT)
def test_normalization_keeps_an_exact_map_to_the_source(source):
    norm = normalize(source)
    assert len(norm.origin) == len(norm.text)
    assert all(a <= b for a, b in zip(norm.origin, norm.origin[1:]))
    assert all(0 <= o < len(source) for o in norm.origin)
    # Every character is the source's own, or whitespace the repairs put in.
    assert all(c == source[o] or c.isspace() for c, o in zip(norm.text, norm.origin))
    assert "\x00" not in norm.text and "\u202e" not in norm.text
    for s, e in norm.headings:
        assert 0 <= s < e <= len(norm.text)


@EXAMPLES
@given(TEXT)
def test_sentences_are_ordered_exact_spans(text):
    spans = sentence_spans(text)
    assert all(0 <= s < e <= len(text) for s, e in spans)
    assert all(e1 <= s2 for (_, e1), (s2, _) in zip(spans, spans[1:]))


# Page breaks with notes between a sentence's halves, among the other pieces.
CUT = st.sampled_from(["so it goes on\n\n", "\n\n⁶ A note (Reforma, 2002).\n\n", "\n\n12\n\n", "and then\n\nthe rest. "])


@EXAMPLES
@given(st.lists(st.one_of(PIECES, CUT), min_size=0, max_size=120).map("".join))
def test_reading_sentences_are_ordered_exact_spans_read_in_order(text):
    found = reading_sentences(text)
    assert all(0 <= s < e <= len(text) for s, e, _ in found)
    assert all(e1 <= s2 for (_, e1, _), (s2, _, _) in zip(found, found[1:]))
    for s, e, reading in found:
        # The reading text is the span's own words in order, notes left out: never a word the span lacks.
        words, pos = text[s:e].split(), 0
        for w in reading.split():
            pos = words.index(w, pos) + 1


@settings(
    max_examples=scale(40, 800),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture],
)
@given(TEXT)
def test_every_chunk_is_its_slice_and_knows_its_source_lines(embedder, source):
    limits = ChunkLimits(64, 16, embedder.count_model_tokens, embedder.max_seq_length)
    p = prepare("d", Extracted(text=source), source="d.txt", sha256="0", limits=limits, embed_title=True)
    doc, n_lines = p.document, source.count("\n") + 1
    covered = 0
    for c in p.chunks:
        assert doc.text[c.char_start : c.char_end] == c.text and c.text.strip()
        assert 1 <= c.line_start <= c.line_end <= n_lines
        assert c.n_tokens == count_tokens(c.text)
        assert embedder.count_model_tokens(p.embed_texts[c.ordinal]) <= embedder.max_seq_length
        covered = max(covered, c.char_end)
    # No text is dropped: everything after the last chunk is whitespace.
    assert not doc.text[covered:].strip()
    if doc.text.strip():
        assert p.chunks


@EXAMPLES
@given(st.one_of(st.text(), TEXT, st.lists(st.sampled_from([".", "..", "/", "\\", "a", "é", "🚀", " "])).map("".join)))
def test_doc_ids_are_safe_file_names(name):
    doc_id = doc_id_for(name)
    assert doc_id and not doc_id.startswith(".") and "/" not in doc_id and "\\" not in doc_id
    assert len(doc_id.encode()) <= MAX_ID_BYTES and doc_id not in (".", "..")
    assert all(ch.isalnum() or ch in "_.-" for ch in doc_id)


JSON = st.recursive(
    st.none() | st.booleans() | st.floats(allow_nan=False) | st.integers() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=8), inner, max_size=5),
    max_leaves=30,
)


@EXAMPLES
@given(JSON)
def test_filters_parse_or_fail_with_a_filter_error(raw):
    try:
        spec = parse_filters(raw)
    except FilterError as e:
        assert str(e)
        return
    doc = {"doc_id": "a", "title": "t", "source": "s", "metadata": json.loads(json.dumps({"year": 2009}))}
    assert spec.admits(doc) in (True, False)


# PDF lines as pypdf gives them: any text, sizes around a 10 pt body (headings, notes), bold or not.
PDF_LINE = st.builds(
    PdfLine,
    st.one_of(TEXT.map(lambda t: t.replace("\n", " ")[:200]), st.sampled_from(["2.1 Methods", "1 See the annex.", "", "¹ Ibid."])),
    st.sampled_from([0.0, 7.0, 9.0, 10.0, 12.0, 14.3]),
    st.booleans(),
)


@EXAMPLES
@given(st.lists(st.lists(PDF_LINE, max_size=12), min_size=1, max_size=5))
def test_pdf_text_keeps_every_line_with_its_number_page_and_headings(pages):
    out = compose(pages)
    # The lines in order, only paragraph breaks added: each line's text starts where its point says.
    number, pos = 1, 0
    for page in pages:
        for k, line in enumerate(page):
            at = out.text.index(line.text, pos) if line.text else pos
            assert not out.text[pos:at].strip()  # nothing but separators between one line and the next
            if line.text:
                assert point_lookup(out.line_points, at) == number + k
            pos = at + len(line.text)
        number += len(page) + 1
    assert not out.text[pos:].strip()
    assert [p for _, p in out.page_points] == list(range(1, len(pages) + 1))
    assert all(a <= b for (a, _), (b, _) in zip(out.page_points, out.page_points[1:]))
    norm = normalize(out.text, out.headings)
    for s, e in out.headings:
        assert 0 <= s <= e <= len(out.text) and out.text[s:e].strip()
    assert all(0 <= s < e <= len(norm.text) for s, e in norm.headings)
