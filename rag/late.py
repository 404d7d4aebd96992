"""Late interaction (ColBERT's maxsim) with the fast model's own token vectors: each first-stage
candidate gets the mean, over the query's word pieces, of the best cosine with any of the chunk's word
pieces, fused as a third list beside dense and BM25. It matches a question's words to a passage's other
words in context ("choppers" to "helicopters") where one pooled vector per chunk blurs them. No other
model is needed: a chunk's token matrix comes from the model pass that gives its sentence vector, is
kept int8 in the catalog (``warm`` fills an index built before), and what the catalog lacks at query
time is computed and kept in memory, never written from the read path."""

from __future__ import annotations

import logging
import re
import threading
from collections import OrderedDict

import numpy as np
from tqdm.auto import tqdm

from . import token_cache
from .embedding import Embedder, embed_key
from .ingest import embed_text
from .store import Store

log = logging.getLogger(__name__)
MEMORY_BYTES = 64 << 20  # int8 token matrices kept per process (a 160-token chunk: 61 KB; the seed corpus: 15 MB)
QUERY_MEMORY = 1024  # token rows of recent queries, between their embedding and their scoring
Scored = list[tuple[int, float]]
_SPECIAL = frozenset(["[CLS]", "[SEP]", "[PAD]", "[UNK]", "<s>", "</s>", "<pad>", "<unk>"])
_PUNCTUATION = re.compile(r"^(?:##|Ġ|▁)?[^\w]*$")


def content_rows(pieces: list[str], vectors: np.ndarray) -> np.ndarray:
    """Unit vectors of the word pieces that carry content: special tokens and bare punctuation dropped
    (they match everything alike; dropping them kept or improved every dev figure)."""
    keep = [i for i, p in enumerate(pieces) if p not in _SPECIAL and not _PUNCTUATION.match(p)]
    rows = vectors[keep] if keep else vectors[:0]
    return (rows / np.clip(np.linalg.norm(rows, axis=1, keepdims=True), 1e-12, None)).astype("float32")


def maxsim(query: np.ndarray, doc: np.ndarray) -> float:
    """Mean over query rows of the best cosine with any doc row (0 when either is empty)."""
    return maxsim_many(query, [doc])[0]


def maxsim_many(query: np.ndarray, docs: list[np.ndarray]) -> list[float]:
    """``maxsim`` of the query with each doc, in one matrix product (many small ones cost more)."""
    out = [0.0] * len(docs)
    full = [i for i, d in enumerate(docs) if len(d)]
    if not len(query) or not full:
        return out
    sims = query @ np.concatenate([docs[i] for i in full]).astype("float32").T
    starts = np.cumsum([0] + [len(docs[i]) for i in full[:-1]])
    for i, s in zip(full, np.maximum.reduceat(sims, starts, axis=1).mean(axis=0).tolist()):
        out[i] = s
    return out


def pooled(vectors: np.ndarray) -> np.ndarray:
    """The sentence vector of a text from all its token vectors: mean pooling, then unit length (what
    the model's own pooling computes, so one model pass serves both the dense search and maxsim)."""
    v = vectors.mean(axis=0)
    return (v / max(float(np.linalg.norm(v)), 1e-12)).astype("float32")


class LateScorer:
    """Token-level maxsim of candidates under ``embedder``'s (the fast) model."""

    def __init__(self, embedder: Embedder, store: Store, embed_title: bool = True, compress: bool = False) -> None:
        self.embedder = embedder
        self.store = store
        self.embed_title = embed_title
        self.compress = compress  # learn a product-quantization codebook once enough vectors are stored
        self._codecs: token_cache.Codecs = {}
        token_cache.migrate(store.catalog.conn())
        self._memory: OrderedDict[str, np.ndarray] = OrderedDict()  # int8 token matrices by key, least recent first
        self._memory_bytes = 0
        self._queries: OrderedDict[str, np.ndarray] = OrderedDict()  # token rows of recent queries
        self._vectors: dict[str, np.ndarray] = {}  # their vectors (evicted with their rows)
        self._lock = threading.Lock()

    def _key(self, text: str) -> str:
        """The chunk's own embedding key (same model, same text): its catalog row names its token matrix."""
        return embed_key(self.embedder.model_name, text)

    def tokens(self, texts: list[str]) -> list[np.ndarray]:
        """Content token vectors of each text, computed now."""
        return [content_rows(p, v) for p, v in self.embedder.encode_tokens(texts)]

    def remember_queries(self, texts: list[str], pairs: list[tuple[list[str], np.ndarray]]) -> np.ndarray:
        """Query vectors for the dense search from the model pass (``encode_tokens``) that also gives the
        queries' token rows, remembered for ``score`` with the vectors: late interaction costs no second pass
        over a query, and a sentence quoted again costs no pass at all (``remembered``)."""
        vectors = [pooled(v) for _, v in pairs]
        with self._lock:
            for t, (p, v), vector in zip(texts, pairs, vectors):
                self._queries[t] = content_rows(p, v)
                self._queries.move_to_end(t)
                self._vectors[t] = vector
            while len(self._queries) > QUERY_MEMORY:
                self._vectors.pop(self._queries.popitem(last=False)[0], None)
        if not pairs:
            return np.zeros((0, self.embedder.dim), dtype="float32")
        return np.stack(vectors)

    def remembered(self, texts: list[str]) -> dict[str, np.ndarray]:
        """The vectors of those ``texts`` whose vector and token rows are both still remembered."""
        with self._lock:
            found = {t: self._vectors[t] for t in texts if t in self._vectors and t in self._queries}
            for t in found:
                self._queries.move_to_end(t)
        return found

    def query_rows(self, query: str) -> np.ndarray:
        """The query's content token rows: remembered by ``remember_queries``, else computed now."""
        return self.rows_of([query])[0]

    def rows_of(self, texts: list[str]) -> list[np.ndarray]:
        """Content token rows of texts embedded as queries: the remembered ones, the rest (pushed out of
        memory meanwhile) in one model pass."""
        with self._lock:
            found = {t: self._queries[t] for t in texts if t in self._queries}
        missing = list(dict.fromkeys(t for t in texts if t not in found))
        if missing:
            found.update(zip(missing, self.tokens(missing)))
        return [found[t] for t in texts]

    def matrices(self, texts: list[str]) -> dict[str, np.ndarray]:
        """Token matrices (int8, ``token_cache.SCALE`` steps) by text: from this process's memory, from the
        catalog, or computed now; all remembered, within ``MEMORY_BYTES``."""
        keys = [self._key(t) for t in texts]
        with self._lock:
            found = {k: self._memory[k] for k in keys if k in self._memory}
        fetched = token_cache.get(self.store.catalog.conn(), [k for k in keys if k not in found], self._codecs)
        missing = list(dict.fromkeys(t for t, k in zip(texts, keys) if k not in found and k not in fetched))
        computed = {self._key(t): token_cache.to_int8(m) for t, m in zip(missing, self.tokens(missing))} if missing else {}
        new = fetched | computed
        found.update(new)
        with self._lock:
            for k in found:
                if k in self._memory:
                    self._memory.move_to_end(k)
            for k, m in new.items():
                old = self._memory.pop(k, None)  # another thread may have brought it meanwhile
                self._memory_bytes += m.nbytes - (old.nbytes if old is not None else 0)
                self._memory[k] = m
            while self._memory_bytes > MEMORY_BYTES and self._memory:
                self._memory_bytes -= self._memory.popitem(last=False)[1].nbytes
        return {t: found[k] for t, k in zip(texts, keys)}

    def score(self, query: str, rowids: list[int]) -> Scored:
        """Maxsim of each candidate chunk with the query, best first."""
        rows = self.store.chunks_by_rowid(rowids)
        texts = {rid: embed_text(title, chunk.text, self.embed_title) for rid, (chunk, title, _) in rows.items()}
        mats = self.matrices(list(texts.values()))
        # int8 rows times the query scaled down once: the same products as dequantizing every row first.
        scores = maxsim_many(self.query_rows(query) / token_cache.SCALE, [mats[t] for t in texts.values()])
        return sorted(zip(texts, scores), key=lambda x: -x[1])

    def prune(self) -> int:
        """Drop token matrices of texts no chunk holds any more; returns how many. Call it with the
        index's write lock held, so no writer's fresh matrices are in flight."""
        conn = self.store.catalog.conn()
        with conn:
            return token_cache.drop_orphans(conn)

    def warm(self, progress: bool = False) -> int:
        """Compute and store the token matrices of the chunks that lack them (one query when none does),
        and compress an index stored as int8 once it is large enough; returns how many texts were encoded."""
        rows = self.store.chunks_by_rowid(token_cache.chunks_without(self.store.catalog.conn()))
        n = len(self.fill(list(dict.fromkeys(embed_text(title, c.text, self.embed_title) for c, title, _ in rows.values())), progress))
        if self.compress:
            token_cache.compress(self.store.catalog.conn(), self._codecs)
        return n

    def _store(self, conn, matrices: dict[str, np.ndarray]) -> None:
        """Store token matrices with the index's codebook (int8 before it has one); once enough int8 ones
        are stored, learn the codebook, so a large write keeps only its first vectors as int8 for a while."""
        using = token_cache.codec(conn, self._codecs) if self.compress else (token_cache.INT8, None)
        with conn:
            token_cache.put(conn, matrices, using)
        if self.compress and using[1] is None:
            token_cache.compress(conn, self._codecs)

    def fill(self, texts: list[str], progress: bool = False, given: dict[str, np.ndarray] | None = None, batch: int = 128) -> dict[str, np.ndarray]:
        """Store the token matrices of those ``texts`` (chunks as embedded) not stored yet: ``given`` ones
        (a pipeline computed them) as they are, the rest computed now; returns the sentence vectors of the
        texts it encoded (the same pass gives them)."""
        conn = self.store.catalog.conn()
        have = token_cache.known(conn, [self._key(t) for t in texts])
        todo = list(dict.fromkeys(t for t in texts if self._key(t) not in have))
        ready = {self._key(t): given[t] for t in todo if given and t in given}
        if ready:
            self._store(conn, ready)
        todo = [t for t in todo if self._key(t) not in ready]
        if len(todo) >= 1000 and not progress:  # an index built before late interaction, at server start: say why it waits
            log.info("computing the token vectors of %d chunks for late interaction (once)", len(todo))
        vectors: dict[str, np.ndarray] = {}
        for i in tqdm(range(0, len(todo), batch), disable=not progress, desc="embedding", unit="batch"):
            part = todo[i : i + batch]
            pairs = self.embedder.encode_tokens(part)
            vectors.update((t, pooled(v)) for t, (_, v) in zip(part, pairs))
            # one short transaction per batch: a killed run keeps what it stored
            self._store(conn, {self._key(t): content_rows(p, v) for t, (p, v) in zip(part, pairs)})
        return vectors
