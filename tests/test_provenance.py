"""Every chunk of every seed document is the slice it claims, within the lines it claims."""

import re

from tests.helpers import CORPUS


def _norm(text: str) -> str:
    text = re.sub(r"(\w)-\s*\n\s*(\w)", r"\1\2", text)
    text = re.sub(r"(?m)^\s*#+\s*", "", text).replace("*", "")
    return re.sub(r"\s+", " ", text).lower()


def _holds(lines: list[str], i: int, word: str, step: int) -> bool:
    """``word`` is on line ``i`` (or straddles it and its neighbour through a hyphenation)."""
    pair = [lines[i - 1], lines[i + step - 1]] if 1 <= i + step <= len(lines) else [lines[i - 1]]
    return word in _norm(lines[i - 1]) or (word in _norm("\n".join(pair[::step])) and "-" in "".join(pair))


def test_every_chunk_slice_and_lines(store_seed_index):
    engine, _ = store_seed_index
    checked = 0
    for d in engine.documents():
        doc = engine.document(d.doc_id)
        lines = (CORPUS / doc.source).read_text(encoding="utf-8").split("\n")
        for i in range(d.n_chunks):
            chunk = engine.chunk(f"{doc.doc_id}:{i}").chunk
            assert doc.text[chunk.char_start : chunk.char_end] == chunk.text
            assert 1 <= chunk.line_start <= chunk.line_end <= len(lines)
            span = _norm("\n".join(lines[chunk.line_start - 1 : chunk.line_end]))
            words = chunk.text.lower().split()
            assert words[0] in span and words[-1] in span, (chunk.chunk_id, words[0], words[-1])
            # the first word sits on the first claimed line, the last on the last
            assert _holds(lines, chunk.line_start, words[0], 1), (chunk.chunk_id, words[0])
            assert _holds(lines, chunk.line_end, words[-1], -1), (chunk.chunk_id, words[-1])
            checked += 1
    assert checked > 200


def test_chunks_fit_the_model(store_seed_index, embedder):
    engine, _ = store_seed_index
    for d in engine.documents():
        for i in range(d.n_chunks):
            view = engine.chunk(f"{d.doc_id}:{i}")
            chunk, title = view.chunk, view.title
            assert embedder.count_model_tokens(f"{title}\n{chunk.text}") <= embedder.max_seq_length


def test_tillerson_question_finds_the_2017_paper(store_seed_index):
    engine, _ = store_seed_index
    top = engine.search("When did Tillerson travel to Mexico City?").hits[0]
    assert top.chunk.doc_id == "001_e0cea56afaaf3c59"
    assert top.chunk.line_start <= 6 <= top.chunk.line_end
