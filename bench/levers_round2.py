"""Retrieval levers for questions in the user's own words, measured on the seed dev files before any
is built into the product (docs/EVALUATION.md, "Retrieval quality, round 2"). Each lever replaces
the hybrid ranking of the engine's retriever for the run and is scored with the project's own
evidence evaluation:

- ``prf``: dense pseudo-relevance feedback (Rocchio): the query vector plus beta x the mean vector
  of the first pass's top m fused hits, searched again;
- ``sentences``: every sentence of every chunk embedded too, the best sentence per chunk (maxsim)
  fused as a third list beside the chunk vectors and BM25;
- ``rm3``: BM25 pseudo-relevance feedback: the top m BM25 chunks' terms, weighted by tf x idf and by the
  chunk's BM25 score, the best n added to the query (FTS5 has no per-term weights: they are OR-ed in);
- ``bm25``: BM25 recomputed in numpy from FTS5's own tokens (``rag.bm25_sparse``), to find why the Qdrant
  store's sparse BM25 fuses better than FTS5's ``bm25()``: IDF as FTS5 computes it or as Qdrant's IDF
  modifier does (ln(1 + (N - n + 0.5) / (n + 0.5)), never near zero), average length measured or fixed;
- ``mpnet``: all-mpnet-base-v2 chunk vectors (``make install-mpnet``) fused as a third list beside
  MiniLM and BM25 (the "re-score with a stronger model" option);
- ``neighbours``: embedding-neighbour expansion on the BM25 side: every word of the corpus embedded once by
  the fast model; each query word adds its nearest corpus words (cosine >= tau) as extra BM25 terms weighted
  gamma x cosine (per-term weights through ``rag.lexical._smoothed_search``);
- ``decompose``: a two-part question ("..., and when did ...?") also searched as its parts, whose dense and
  BM25 lists are fused beside the whole question's at beta x its weights;
- ``windows``: windows of w consecutive sentences (stride 1) embedded, the best window per chunk (maxsim)
  fused as a third list: small-to-big with more context than one sentence;
- ``citations``: a prior against reference-list chunks (bibliography, footnotes, front matter): the fused
  score minus lambda x the share of the chunk's sentences that look like references (a year in parentheses or
  after a comma, "Ibid.", a URL, a leading note number, quoted titles).

- ``mapped``: mpnet's view at MiniLM's query cost: a ridge-regression map from MiniLM vectors to mpnet vectors,
  fitted on the corpus's own sentences and chunks (no question is used), turns the MiniLM query vector into an
  approximate mpnet one, scored against real mpnet vectors of the chunks (and, maxsim, of their sentences).

- ``adjacent``: a chunk's fused score raised by beta x the better fused score of its two neighbours in the
  document (evidence of a two-part question often runs over a chunk boundary);
- ``tokens``: late interaction without a trained late-interaction model: the fast model's contextual token
  vectors of the query and of each of the first stage's top 30 chunks, sum over query tokens of the best
  chunk token (ColBERT's maxsim), fused as a third list.

    python bench/levers_round2.py prf|rm3|bm25|sentences|mpnet|decompose|neighbours|windows|citations|mapped|adjacent|tokens [--index-dir index]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rag import Engine, Settings  # noqa: E402
from rag.evaluation import eval_beir, eval_evidence  # noqa: E402
from rag.fusion import zscore_fusion  # noqa: E402
from rag.ingest import embed_text  # noqa: E402
from rag.retrieval import _Cand  # noqa: E402
from rag.sentences import sentence_spans  # noqa: E402

FILES = (ROOT / "examples/eval/seed_qa_paraphrase_dev.jsonl", ROOT / "examples/eval/seed_qa_dev.jsonl")


BEIR: tuple[Path, str] | None = None  # --beir FOLDER --split S: score on that instead of the seed files


def score(engine: Engine) -> str:
    if BEIR:
        m = eval_beir(engine, BEIR[0], BEIR[1], ["hybrid"]).modes["hybrid"]
        return f"{BEIR[0].name} {BEIR[1]}: nDCG@10 {m['ndcg@10']:.4f} R@10 {m['recall@10']:.4f}"
    out = []
    for f in FILES:
        m = eval_evidence(engine, f, ["hybrid"]).modes["hybrid"]
        out.append(f"{f.stem}: R@5 {m['recall@5']:.3f} MRR@10 {m['mrr@10']:.3f}")
    return " | ".join(out)


def fused_search(engine: Engine, extra: Callable[[str, np.ndarray, int], list[tuple[int, float]]], weights: tuple[float, float, float]):
    """A search_many that fuses MiniLM dense, BM25 and ``extra`` (query, query vector, depth) with z-scores."""
    r = engine.retriever
    orig = r.search_many

    def many(queries, top_k=5, mode="hybrid", allowed_docs=None, with_highlights=True, vectors=None, lexical_lists=None):
        if mode != "hybrid":
            return orig(queries, top_k, mode, allowed_docs, with_highlights, vectors, lexical_lists)
        q = engine.embed_queries(queries)
        depth = r._depth(top_k)
        out = []
        for text, qv, dense in zip(queries, q, r._dense(q, depth, None)):
            lex = r._lexical(text, depth, None)
            lists = [dense, lex, extra(text, qv, depth)] if weights[2] else [dense, lex]
            fused = zscore_fusion(lists, list(weights[: len(lists)]), top_k * 4)
            d = {rid: (s, k) for k, (rid, s) in enumerate(dense, 1)}
            lx = {rid: (s, k) for k, (rid, s) in enumerate(lex, 1)}
            out.append(r._hits(text, [_Cand(rid, float(s), d.get(rid), lx.get(rid)) for rid, s in fused], top_k, with_highlights))
        return out

    return many


def chunk_rows(engine: Engine) -> list[tuple[int, str, str]]:
    sql = "SELECT c.id, c.text, d.title FROM chunks c JOIN documents d ON d.doc_id = c.doc_id"
    return engine.store.catalog.conn().execute(sql).fetchall()


def lever_prf(engine: Engine) -> None:
    r = engine.retriever
    orig = r.search_many
    index = engine.store.vectors.index  # faiss IndexIDMap2: reconstruct(rowid)

    for beta, m in ((0.0, 3), (0.3, 3), (0.5, 3), (0.5, 5), (1.0, 3)):

        def many(queries, top_k=5, mode="hybrid", allowed_docs=None, with_highlights=True, vectors=None, lexical_lists=None, beta=beta, m=m):
            q = engine.embed_queries(queries)
            depth = r._depth(top_k)
            new = []
            for text, qv, dense in zip(queries, q, r._dense(q, depth, None)):
                top = [c.rowid for c in r._combine(dense, r._lexical(text, depth, None), "hybrid", m)]
                v = qv + beta * np.stack([index.reconstruct(int(t)) for t in top]).mean(0) if top else qv
                new.append(v / np.linalg.norm(v))
            return orig(queries, top_k, mode, allowed_docs, with_highlights, np.asarray(new, dtype="float32"), lexical_lists)

        r.search_many = many
        print(f"prf beta={beta} m={m} | {score(engine)}", flush=True)
    r.search_many = orig


def lever_rm3(engine: Engine) -> None:
    import math
    from collections import Counter

    from rag.lexical import fts_query, terms

    rows = chunk_rows(engine)
    texts = {rid: text for rid, text, _ in rows}
    df = Counter(t for text in texts.values() for t in set(terms(text)))
    n = len(texts)
    r = engine.retriever
    orig_lexical = r._lexical

    for m, k in ((3, 5), (3, 10), (5, 10), (10, 10)):

        def expanded(query: str, depth: int, allowed, m=m, k=k):
            first = orig_lexical(query, m, allowed)
            if not first:
                return first
            top = max(s for _, s in first) or 1.0
            weight: Counter[str] = Counter()
            for rid, s in first:
                tf = Counter(terms(texts.get(rid, "")))
                total = sum(tf.values()) or 1
                for t, c in tf.items():
                    weight[t] += (s / top) * (c / total) * math.log(n / (1 + df[t]))
            have = set(terms(query))
            extra = [t for t, _ in weight.most_common() if t not in have][:k]
            match = fts_query(query + " " + " ".join(extra))
            return engine.store.lexical(match, depth, r.params.bm25_weights, allowed) if match else []

        r._lexical = expanded
        print(f"rm3 top {m} chunks, {k} terms | {score(engine)}", flush=True)
    r._lexical = orig_lexical


def lever_bm25(engine: Engine) -> None:
    import math
    from collections import defaultdict

    from rag import bm25_sparse
    from rag.config import BM25_WEIGHTS

    conn = engine.store.catalog.conn()
    rows = [tuple(r) for r in conn.execute("SELECT c.id, d.title, c.section, c.text FROM chunks c JOIN documents d USING(doc_id)")]
    measured = bm25_sparse.mean_length(rows)
    n = len(rows)
    r = engine.retriever
    orig_lexical = r._lexical

    for idf_kind in ("fts5", "qdrant"):
        for avgdl in (measured, 2 * measured, measured / 2):
            postings: dict[int, list[tuple[int, float]]] = defaultdict(list)
            for rid, vec in bm25_sparse.document_vectors(rows, BM25_WEIGHTS, avgdl).items():
                for t, w in zip(vec.indices, vec.values):
                    postings[t].append((rid, w))

            def idf(df: int, kind: str = idf_kind) -> float:
                x = (n - df + 0.5) / (df + 0.5)
                return math.log(1 + x) if kind == "qdrant" else max(1e-6, math.log(x))

            def sparse(query: str, depth: int, allowed, postings=postings, idf=idf):
                q = bm25_sparse.query_vector(query)
                scores: dict[int, float] = defaultdict(float)
                for t in q.indices if q else []:
                    plist = postings.get(t, [])
                    for rid, w in plist:
                        scores[rid] += idf(len(plist)) * w
                return sorted(scores.items(), key=lambda kv: -kv[1])[:depth]

            r._lexical = sparse
            print(f"bm25 idf {idf_kind} avgdl {avgdl:.0f} (measured {measured:.0f}) | {score(engine)}", flush=True)
    r._lexical = orig_lexical


def lever_sentences(engine: Engine) -> None:
    owner, texts = [], []
    for rid, text, _ in chunk_rows(engine):
        for s, e in sentence_spans(text):
            if e - s >= 20:
                owner.append(rid)
                texts.append(text[s:e])
    t0 = time.perf_counter()
    vecs = engine.embedder.encode(texts)
    print(f"{len(texts)} sentences embedded in {time.perf_counter() - t0:.1f} s")
    owners = np.array(owner)

    def maxsim(text: str, qv: np.ndarray, depth: int) -> list[tuple[int, float]]:
        sims = vecs @ qv
        best: dict[int, float] = {}
        for rid, s in zip(owners.tolist(), sims.tolist()):
            best[rid] = max(s, best.get(rid, -9.0))
        return sorted(best.items(), key=lambda t: -t[1])[:depth]

    orig = engine.retriever.search_many
    for w in ((0.6, 0.4, 0.0), (0.3, 0.4, 0.3), (0.2, 0.3, 0.5), (0.3, 0.3, 0.4)):
        engine.retriever.search_many = fused_search(engine, maxsim, w)
        print(f"sentences chunk {w[0]} bm25 {w[1]} sentence {w[2]} | {score(engine)}", flush=True)
    engine.retriever.search_many = orig


def lever_mpnet(engine: Engine) -> None:
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(ROOT / "models/all-mpnet-base-v2"), device="cpu")
    rows = chunk_rows(engine)
    t0 = time.perf_counter()
    vecs = model.encode([embed_text(t, x, True) for _, x, t in rows], batch_size=16, normalize_embeddings=True)
    print(f"mpnet: {len(rows)} chunks in {time.perf_counter() - t0:.1f} s")
    ids = np.array([rid for rid, _, _ in rows])

    def rescored(text: str, qv: np.ndarray, depth: int) -> list[tuple[int, float]]:
        s = vecs @ model.encode([text], normalize_embeddings=True)[0]
        order = np.argsort(-s)[:depth]
        return [(int(ids[i]), float(s[i])) for i in order]

    orig = engine.retriever.search_many
    for w in ((0.0, 0.4, 0.6), (0.2, 0.4, 0.4), (0.2, 0.3, 0.5), (0.1, 0.3, 0.6), (0.3, 0.3, 0.4)):
        engine.retriever.search_many = fused_search(engine, rescored, w)
        print(f"mpnet minilm {w[0]} bm25 {w[1]} mpnet {w[2]} | {score(engine)}", flush=True)
    engine.retriever.search_many = orig


_SECOND_PART = re.compile(r",?\s+and\s+(?=(?:what|which|who|whom|whose|when|where|why|how|on what|in what)\b)", re.I)


def lever_decompose(engine: Engine) -> None:
    r = engine.retriever
    orig = r.search_many

    def make(beta: float):
        def many(queries, top_k=5, mode="hybrid", allowed_docs=None, with_highlights=True, vectors=None, lexical_lists=None):
            depth, out = r._depth(top_k), []
            for text in queries:
                parts = [p.strip(" ?,") for p in _SECOND_PART.split(text)]
                texts = [text] + (parts if len(parts) > 1 else [])
                lists, weights = [], []
                for i, (t, dense) in enumerate(zip(texts, r._dense(engine.embed_queries(texts), depth, None))):
                    lex = r._lexical(t, depth, None)
                    lists += [dense, lex]
                    weights += [0.6 * (beta if i else 1.0), 0.4 * (beta if i else 1.0)]
                fused = zscore_fusion(lists, weights, top_k * 4)
                out.append(r._hits(text, [_Cand(rid, float(s)) for rid, s in fused], top_k, with_highlights))
            return out

        return many

    for beta in (0.25, 0.5, 1.0):
        r.search_many = make(beta)
        print(f"decompose beta {beta} | {score(engine)}", flush=True)
    r.search_many = orig


def lever_neighbours(engine: Engine) -> None:
    from rag import lexical
    from rag.lexical import STOPWORDS, terms

    words = sorted({w for _, text, _ in chunk_rows(engine) for w in re.findall(r"[a-z][a-z-]{2,}", text.lower()) if w not in STOPWORDS})
    t0 = time.perf_counter()
    vocab = engine.embed_queries(words)
    print(f"{len(words)} corpus words embedded in {time.perf_counter() - t0:.1f} s", flush=True)
    r = engine.retriever
    orig_lexical = r._lexical
    w = r.params.bm25_weights
    rank = f"bm25(chunks_fts, {w[0]}, {w[1]}, {w[2]})"

    for tau, m, gamma in ((0.6, 2, 0.5), (0.6, 3, 1.0), (0.5, 3, 0.5), (0.7, 2, 1.0), (0.5, 5, 0.3)):

        def expanded(query: str, depth: int, allowed, tau=tau, m=m, gamma=gamma):
            own = [t for t in terms(query) if not t.isdigit()]
            phrases, boosts = [f'"{t}"' for t in terms(query)], [1.0] * len(terms(query))
            if own:
                sims = engine.embed_queries(own) @ vocab.T
                for row, word in zip(sims, own):
                    for j in np.argsort(-row)[: m + 1]:
                        if row[j] >= tau and words[j] != word and words[j][:5] != word[:5]:
                            phrases.append(f'"{words[j]}"')
                            boosts.append(gamma * float(row[j]))
            restrict = "" if allowed is None else f" AND rowid IN ({','.join(str(int(i)) for i in allowed) or 'NULL'})"
            return lexical._smoothed_search(engine.store.catalog.conn(), phrases, depth, rank, restrict, boosts)

        r._lexical = expanded
        print(f"neighbours tau {tau} m {m} gamma {gamma} | {score(engine)}", flush=True)
    r._lexical = orig_lexical


def lever_windows(engine: Engine) -> None:
    orig = engine.retriever.search_many
    rows = chunk_rows(engine)
    for size in (2, 3):
        owner, texts = [], []
        for rid, text, _ in rows:
            spans = [text[a:b] for a, b in sentence_spans(text) if b - a >= 20]
            for i in range(max(1, len(spans) - size + 1)):
                owner.append(rid)
                texts.append(" ".join(spans[i : i + size]) or text)
        t0 = time.perf_counter()
        vecs = engine.embedder.encode(texts)
        print(f"{len(texts)} windows of {size} embedded in {time.perf_counter() - t0:.1f} s")
        owners = owner

        def maxsim(text: str, qv: np.ndarray, depth: int, vecs=vecs, owners=owners) -> list[tuple[int, float]]:
            best: dict[int, float] = {}
            for rid, sim in zip(owners, (vecs @ qv).tolist()):
                best[rid] = max(sim, best.get(rid, -9.0))
            return sorted(best.items(), key=lambda t: -t[1])[:depth]

        for w in ((0.3, 0.4, 0.3), (0.2, 0.4, 0.4), (0.0, 0.4, 0.6)):
            engine.retriever.search_many = fused_search(engine, maxsim, w)
            print(f"windows {size} chunk {w[0]} bm25 {w[1]} window {w[2]} | {score(engine)}", flush=True)
    engine.retriever.search_many = orig


_REFERENCE = re.compile(
    r"""\((?:[^()]*?,\s*)?(?:1[89]\d\d|20\d\d)[a-z]?\)|,\s*(?:1[89]\d\d|20\d\d)[.,]|\bIbid\b|https?://|www\.|^\s*\d{1,3}\.\s|[“"][^”"]{10,}[”"]"""
)


def reference_share(text: str) -> float:
    spans = [text[a:b] for a, b in sentence_spans(text)]
    return sum(bool(_REFERENCE.search(x)) for x in spans) / len(spans) if spans else 0.0


def lever_citations(engine: Engine) -> None:
    share = {rid: reference_share(text) for rid, text, _ in chunk_rows(engine)}
    print("chunks mostly references (share >= 0.5):", sum(v >= 0.5 for v in share.values()), "of", len(share))
    r = engine.retriever
    orig = r.search_many

    def make(lam: float):
        def many(queries, top_k=5, mode="hybrid", allowed_docs=None, with_highlights=True, vectors=None, lexical_lists=None):
            q = engine.embed_queries(queries)
            depth, out = r._depth(top_k), []
            for text, dense in zip(queries, r._dense(q, depth, None)):
                fused = zscore_fusion([dense, r._lexical(text, depth, None)], [0.6, 0.4], depth)
                ranked = sorted(((rid, s - lam * share.get(rid, 0.0)) for rid, s in fused), key=lambda t: -t[1])
                out.append(r._hits(text, [_Cand(rid, float(s)) for rid, s in ranked], top_k, with_highlights))
            return out

        return many

    for lam in (0.0, 0.25, 0.5, 1.0):
        r.search_many = make(lam)
        print(f"citations lambda {lam} | {score(engine)}", flush=True)
    r.search_many = orig


def lever_mapped(engine: Engine) -> None:
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(ROOT / "models/all-mpnet-base-v2"), device="cpu")
    rows = chunk_rows(engine)
    chunk_texts = [embed_text(t, x, True) for _, x, t in rows]
    owner, sents = [], []
    for rid, text, _ in rows:
        for a, b in sentence_spans(text):
            if b - a >= 20:
                owner.append(rid)
                sents.append(text[a:b])
    t0 = time.perf_counter()
    texts = chunk_texts + sents
    small = engine.embedder.encode(texts)
    big = model.encode(texts, batch_size=16, normalize_embeddings=True)
    print(f"{len(texts)} texts embedded by both models in {time.perf_counter() - t0:.1f} s")
    ids = np.array([rid for rid, _, _ in rows])
    big_chunks, big_sents = big[: len(rows)], big[len(rows) :]
    # The real mpnet query vectors, for how close the map gets (cosine to the mapped one).
    questions = [json.loads(line)["question"] for f in FILES for line in f.open()]
    true_q = model.encode(questions, normalize_embeddings=True)
    fits = [(f"corpus, ridge lambda {lam}", small, big, lam) for lam in (0.1, 1.0, 10.0)]
    scifact = ROOT.parent / "shared/data/scifact"
    if scifact.is_dir():  # more, query-like text to fit on: SciFact's train claims (text only, never test)
        train = {line.split("\t")[0] for line in (scifact / "qrels/train.tsv").read_text().splitlines()[1:]}
        claims = [q["text"] for q in map(json.loads, (scifact / "queries.jsonl").open()) if q["_id"] in train]
        small_q, big_q = engine.embedder.encode(claims), model.encode(claims, batch_size=32, normalize_embeddings=True)
        x, y = np.vstack([small, small_q]), np.vstack([big, big_q])
        fits += [(f"corpus + {len(claims)} SciFact train claims, lambda {lam}", x, y, lam) for lam in (0.1, 1.0)]
    for name, x, y, lam in fits:
        w = np.linalg.solve(x.T @ x + lam * np.eye(x.shape[1]), x.T @ y)
        mapped_q = engine.embedder.encode(questions) @ w
        mapped_q /= np.linalg.norm(mapped_q, axis=1, keepdims=True)
        print(f"{name}: mean cosine(mapped, real mpnet query) {float((mapped_q * true_q).sum(1).mean()):.3f}")

        def third(text: str, qv: np.ndarray, depth: int, w=w) -> list[tuple[int, float]]:
            m = qv @ w
            m /= np.linalg.norm(m)
            best = {int(r): float(x) for r, x in zip(ids, big_chunks @ m)}
            for rid, x in zip(owner, (big_sents @ m).tolist()):
                best[rid] = max(best[rid], x)
            return sorted(best.items(), key=lambda t: -t[1])[:depth]

        orig = engine.retriever.search_many
        for wts in ((0.3, 0.4, 0.3), (0.2, 0.3, 0.5)):
            engine.retriever.search_many = fused_search(engine, third, wts)
            print(f"mapped ({name}) minilm {wts[0]} bm25 {wts[1]} mapped-mpnet {wts[2]} | {score(engine)}", flush=True)
        engine.retriever.search_many = orig


def lever_adjacent(engine: Engine) -> None:
    sql = "SELECT id, doc_id, ordinal FROM chunks ORDER BY doc_id, ordinal"
    rows = engine.store.catalog.conn().execute(sql).fetchall()
    neighbours: dict[int, list[int]] = {}
    for (a, da, _), (b, db, _) in zip(rows, rows[1:]):
        if da == db:
            neighbours.setdefault(a, []).append(b)
            neighbours.setdefault(b, []).append(a)
    r = engine.retriever
    orig = r.search_many

    def make(beta: float):
        def many(queries, top_k=5, mode="hybrid", allowed_docs=None, with_highlights=True, vectors=None, lexical_lists=None):
            q = engine.embed_queries(queries)
            depth, out = r._depth(top_k), []
            for text, dense in zip(queries, r._dense(q, depth, None)):
                fused = dict(zscore_fusion([dense, r._lexical(text, depth, None)], [0.6, 0.4], depth * 4))
                floor = min(fused.values()) if fused else 0.0
                boosted = {
                    rid: s + beta * max((fused.get(n, floor) - floor for n in neighbours.get(rid, [])), default=0.0) for rid, s in fused.items()
                }
                ranked = sorted(boosted.items(), key=lambda t: -t[1])
                out.append(r._hits(text, [_Cand(rid, float(s)) for rid, s in ranked], top_k, with_highlights))
            return out

        return many

    for beta in (0.0, 0.1, 0.2, 0.3, 0.5):
        r.search_many = make(beta)
        print(f"adjacent beta {beta} | {score(engine)}", flush=True)
    r.search_many = orig


def lever_tokens(engine: Engine) -> None:
    from sentence_transformers import SentenceTransformer

    from rag.embedding import resolve_model_path

    model = SentenceTransformer(resolve_model_path(engine.embedder.model_name), device="cpu")  # the fast model, in torch
    texts = {rid: embed_text(t, x, True) for rid, x, t in chunk_rows(engine)}
    tok: dict[int, np.ndarray] = {}  # filled lazily: only candidates are ever encoded

    def unit_tokens(batch: list[str]) -> list[np.ndarray]:
        out = model.encode(batch, output_value="token_embeddings", batch_size=32)
        return [(v / v.norm(dim=1, keepdim=True)).numpy().astype("float32") for v in out]

    def third(text: str, qv: np.ndarray, depth: int) -> list[tuple[int, float]]:
        qt = unit_tokens([text])[0][1:-1]  # no [CLS]/[SEP]
        r = engine.retriever
        pool = [c.rowid for c in r._combine(r._dense(qv[None, :], depth, None)[0], r._lexical(text, depth, None), "hybrid", 30)]
        todo = [rid for rid in pool if rid not in tok]
        tok.update(zip(todo, unit_tokens([texts[rid] for rid in todo]) if todo else []))
        return sorted(((rid, float((qt @ tok[rid].T).max(1).mean())) for rid in pool), key=lambda t: -t[1])

    orig = engine.retriever.search_many
    for wts in ((0.6, 0.4, 0.0), (0.4, 0.3, 0.3), (0.3, 0.3, 0.4), (0.2, 0.2, 0.6)):
        engine.retriever.search_many = fused_search(engine, third, wts)
        print(f"tokens minilm {wts[0]} bm25 {wts[1]} maxsim {wts[2]} | {score(engine)}", flush=True)
    engine.retriever.search_many = orig


_PUNCT = re.compile(r"^\W+$")


def lever_tokens_compress(engine: Engine) -> None:
    """How much of the token-vector gain survives smaller storage (0.2 / 0.2 / 0.6 and 0.3 / 0.3 / 0.4)."""
    from sentence_transformers import SentenceTransformer

    from rag.embedding import resolve_model_path

    model = SentenceTransformer(resolve_model_path(engine.embedder.model_name), device="cpu")
    rows = chunk_rows(engine)
    ids = [rid for rid, _, _ in rows]
    texts = [embed_text(t, x, True) for _, x, t in rows]
    raw = [v.numpy() for v in model.encode(texts, output_value="token_embeddings", batch_size=32)]
    pieces = [model.tokenizer.convert_ids_to_tokens(model.tokenizer(t, truncation=True, max_length=model.max_seq_length)["input_ids"]) for t in texts]
    unit = [v / np.linalg.norm(v, axis=1, keepdims=True) for v in raw]
    stack = np.vstack(unit)
    mean = stack.mean(0)
    _, _, vt = np.linalg.svd(stack - mean, full_matrices=False)

    def int8(v: np.ndarray) -> np.ndarray:
        return np.round(v * 127).astype("int8").astype("float32") / 127

    def pca(k: int):
        def f(v: np.ndarray) -> np.ndarray:
            p = (v - mean) @ vt[:k].T
            return p / np.linalg.norm(p, axis=1, keepdims=True)

        return f

    variants: dict[str, Callable[[np.ndarray, list[str]], np.ndarray]] = {
        "float32": lambda v, p: v,
        "float16": lambda v, p: v.astype("float16").astype("float32"),
        "int8": lambda v, p: int8(v),
        "int8, no punctuation or [CLS]/[SEP]": lambda v, p: int8(
            v[[i for i, w in enumerate(p) if not _PUNCT.match(w) and w not in ("[CLS]", "[SEP]")]]
        ),
        "pca 128": lambda v, p: pca(128)(v),
        "pca 64": lambda v, p: pca(64)(v),
    }
    for name, f in variants.items():
        proj = pca(128) if name == "pca 128" else pca(64) if name == "pca 64" else None
        tok = {rid: f(v, p) for rid, v, p in zip(ids, unit, pieces)}
        print(f"{name}: {sum(len(v) for v in tok.values())} token vectors")

        def third(text: str, qv: np.ndarray, depth: int, tok=tok, proj=proj) -> list[tuple[int, float]]:
            qt = model.encode([text], output_value="token_embeddings")[0].numpy()[1:-1]
            qt /= np.linalg.norm(qt, axis=1, keepdims=True)
            if proj is not None:
                qt = proj(qt)
            r = engine.retriever
            pool = [c.rowid for c in r._combine(r._dense(qv[None, :], depth, None)[0], r._lexical(text, depth, None), "hybrid", 30)]
            return sorted(((rid, float((qt @ tok[rid].T).max(1).mean())) for rid in pool), key=lambda t: -t[1])

        orig = engine.retriever.search_many
        for wts in ((0.3, 0.3, 0.4), (0.2, 0.2, 0.6)):
            engine.retriever.search_many = fused_search(engine, third, wts)
            print(f"  {name} minilm {wts[0]} bm25 {wts[1]} maxsim {wts[2]} | {score(engine)}", flush=True)
        engine.retriever.search_many = orig


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "lever",
        choices=[
            "prf",
            "rm3",
            "bm25",
            "sentences",
            "mpnet",
            "decompose",
            "neighbours",
            "windows",
            "citations",
            "mapped",
            "adjacent",
            "tokens",
            "tokens-compress",
        ],
    )
    ap.add_argument("--index-dir", default=str(ROOT / "index"))
    ap.add_argument("--beir", type=Path, help="score on this BEIR folder (an index of it in --index-dir) instead of the seed files")
    ap.add_argument("--split", default="train")
    args = ap.parse_args()
    global BEIR
    BEIR = (args.beir, args.split) if args.beir else None
    engine = Engine(Settings(index_dir=Path(args.index_dir)))
    print(f"baseline | {score(engine)}")
    levers = {
        "prf": lever_prf,
        "rm3": lever_rm3,
        "bm25": lever_bm25,
        "sentences": lever_sentences,
        "mpnet": lever_mpnet,
        "decompose": lever_decompose,
        "neighbours": lever_neighbours,
        "windows": lever_windows,
        "citations": lever_citations,
        "mapped": lever_mapped,
        "adjacent": lever_adjacent,
        "tokens": lever_tokens,
        "tokens-compress": lever_tokens_compress,
    }
    levers[args.lever](engine)


if __name__ == "__main__":
    main()
