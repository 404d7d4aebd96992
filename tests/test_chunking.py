from rag.chunking import ChunkLimits, chunk_text
from rag.normalize import normalize
from rag.sentences import sentence_spans
from rag.tokens import count_tokens

TEXT = normalize(
    "# Intro\n\n"
    + " ".join(f"Sentence number {i} talks about the U.S. border and Dr. Smith." for i in range(40))
    + "\n\n# Second Part\n\nShort closing words here. And one more."
)


def test_sentences_respect_abbreviations():
    text = "Dr. Smith met U.S. officials. They agreed. Then J. Doe left!"
    spans = [text[s:e] for s, e in sentence_spans(text)]
    assert spans == ["Dr. Smith met U.S. officials.", "They agreed.", "Then J. Doe left!"]


def test_chunks_are_sentence_aligned_and_within_budget():
    chunks = chunk_text(TEXT.text, TEXT.headings, ChunkLimits(max_tokens=60, overlap_tokens=20))
    assert len(chunks) > 3
    for c in chunks:
        assert c.n_tokens == count_tokens(TEXT.text[c.start : c.end]) <= 60
        assert TEXT.text[c.end - 1] in ".!?" or TEXT.text[c.start : c.end] in ("Intro", "Second Part")


def test_overlap_repeats_trailing_sentences():
    chunks = chunk_text(TEXT.text, TEXT.headings, ChunkLimits(max_tokens=60, overlap_tokens=20))
    body = [c for c in chunks if c.section == "Intro"]
    assert any(b.start < a.end for a, b in zip(body, body[1:]))
    none = chunk_text(TEXT.text, TEXT.headings, ChunkLimits(max_tokens=60, overlap_tokens=0))
    assert all(b.start >= a.end for a, b in zip(none, none[1:]))


def test_sections_follow_headings():
    chunks = chunk_text(TEXT.text, TEXT.headings, ChunkLimits(max_tokens=60, overlap_tokens=0))
    assert chunks[0].section == "Intro"
    assert chunks[-1].section == "Second Part"
    assert TEXT.text[chunks[-1].start :].startswith("Second Part")


def test_model_limit_splits_chunks_the_budget_allows():
    words = lambda s: len(s.split()) + 2  # noqa: E731  (a word-count "tokenizer" with [CLS]/[SEP])
    chunks = chunk_text(TEXT.text, TEXT.headings, ChunkLimits(max_tokens=200, overlap_tokens=0, model_len=words, model_max=30, prefix="T\n"))
    assert all(words("T\n" + TEXT.text[c.start : c.end]) <= 30 for c in chunks)


def test_overlong_sentence_is_split_at_words():
    text = "word " * 500
    chunks = chunk_text(text.strip(), [], ChunkLimits(max_tokens=50, overlap_tokens=0))
    assert len(chunks) >= 10 and all(c.n_tokens <= 50 for c in chunks)


def test_a_passage_opening_with_marked_headings_is_under_the_last_of_them():
    marked = normalize("# Okapi Report\n\n## 2. Counts\n\nRangers counted 41 okapis in 2031.")
    [chunk] = chunk_text(marked.text, marked.headings, ChunkLimits(max_tokens=60, overlap_tokens=0), marked.marked)
    assert chunk.section == "2. Counts"
    # A title block found only by its look (title, author, affiliation): the passage keeps the title.
    looks = normalize("Okapi Field Report\n\nJane Doe\n\nRangers counted 41 okapis in 2031 near the river.")
    assert [looks.text[s:e] for s, e in looks.headings] == ["Okapi Field Report", "Jane Doe"] and looks.marked == []
    [chunk] = chunk_text(looks.text, looks.headings, ChunkLimits(max_tokens=60, overlap_tokens=0), looks.marked)
    assert chunk.section == "Okapi Field Report"
