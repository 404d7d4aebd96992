from rag.highlight import highlights
from rag.models import Chunk
from rag.retrieval import merge_chunks


def test_hybrid_results_carry_both_retrievers(store_seed_index):
    engine, _ = store_seed_index
    hits = engine.search("Who declared the war on drug cartels?", top_k=5).hits
    assert len(hits) == 5 and [h.rank for h in hits] == [1, 2, 3, 4, 5]
    assert any(h.dense_rank and h.lexical_rank for h in hits)
    assert all(h.score >= n.score for h, n in zip(hits, hits[1:]))


def test_no_overlapping_passages_in_results(store_seed_index):
    engine, _ = store_seed_index
    for q in ("Merida Initiative funding", "Mexican military human rights", "NAFTA security perimeter"):
        hits = engine.search(q, top_k=10).hits
        for i, a in enumerate(hits):
            doc = engine.document(a.chunk.doc_id)
            assert doc.text[a.chunk.char_start : a.chunk.char_end] == a.chunk.text
            for b in hits[i + 1 :]:
                if a.chunk.doc_id == b.chunk.doc_id:
                    assert a.chunk.char_end <= b.chunk.char_start or b.chunk.char_end <= a.chunk.char_start


def test_merge_chunks_is_the_union_slice():
    text = "0123456789abcdefghij"
    a = Chunk("d:0", "d", 0, text[0:8], 0, 8, 1, 2, "", 3)
    b = Chunk("d:1", "d", 1, text[5:14], 5, 14, 2, 3, "", 3)
    m = merge_chunks(b, a)
    assert (m.char_start, m.char_end, m.text) == (0, 14, text[0:14])
    assert (m.line_start, m.line_end, m.chunk_id) == (1, 3, "d:1")


def test_highlights_point_at_the_answering_sentence():
    text = "Mexico has many states. Tillerson will travel to Mexico City in February. The weather is mild."
    hl = highlights("When did Tillerson travel to Mexico City?", text)
    assert hl[0]["text"] == "Tillerson will travel to Mexico City in February."
    assert text[hl[0]["start"] : hl[0]["end"]] == hl[0]["text"]


def test_raw_candidates_are_what_search_fuses(store_seed_index):
    engine, _ = store_seed_index
    q = "Who declared the war on drug cartels?"
    dense, lexical = engine.candidates([q], depth=50)
    assert len(dense[0]) == 50 and lexical[0]
    top_dense = engine.search(q, top_k=1, mode="dense").hits[0].chunk.doc_id
    assert engine.doc_ids_of(dense[0][:1]) == [top_dense]
    assert [r for r, _ in engine.lexical_candidates(q, 5)][:10] == lexical[0][:10]
    assert engine.candidates([q], 50, (1.0, 0.0, 1.0))[1][0] != [] and engine.doc_ids_of([-5]) == []
