"""Re-scoring the first stage's candidates with a stronger embedding model (an option, ``RAG_RESCORE_MODEL``):
each candidate chunk gets two more scores, the stronger model's similarity with the whole chunk and with
its best sentence (maxsim), fused with the fast dense and BM25 lists. Only candidates are scored, so the
cost follows the candidate depth, not the collection; vectors are kept in the embedding cache under the
stronger model's key, filled by `rag index` and at server start (``warm``); what they miss (a fresh
upload) is computed at query time and kept in memory, never written from the read path."""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Iterable

import numpy as np
from tqdm.auto import tqdm

from . import embedding_cache
from .embedding import Embedder, embed_key
from .ingest import embed_text
from .models import Chunk
from .sentences import sentence_spans
from .store import Store

log = logging.getLogger(__name__)
MIN_SENTENCE_CHARS = 20
MEMORY = 50_000  # query-time vectors kept per process
Scored = list[tuple[int, float]]


def units(chunk: Chunk, title: str, embed_title: bool) -> list[str]:
    """What the stronger model embeds for a chunk: the chunk (as the fast model sees it), then its sentences."""
    sents = [chunk.text[s:e] for s, e in sentence_spans(chunk.text) if e - s >= MIN_SENTENCE_CHARS]
    return [embed_text(title, chunk.text, embed_title), *sents]


class Rescorer:
    """Chunk and best-sentence scores of candidates under ``embedder``'s (stronger) model."""

    def __init__(self, embedder: Embedder, store: Store, embed_title: bool = True) -> None:
        self.embedder = embedder
        self.store = store
        self.embed_title = embed_title
        self._memory: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def _keys(self, texts: Iterable[str]) -> list[str]:
        return [embed_key(self.embedder.model_name, t) for t in texts]

    def vectors(self, texts: list[str]) -> dict[str, np.ndarray]:
        """Vectors by text: from the cache, from this process's memory, or computed now (and remembered)."""
        keys = self._keys(texts)
        found = self.store.cached_embeddings(keys)
        with self._lock:
            found.update({k: self._memory[k] for k in keys if k not in found and k in self._memory})
        missing = list(dict.fromkeys(t for t, k in zip(texts, keys) if k not in found))
        if missing:
            new = dict(zip(self._keys(missing), self.embedder.encode(missing)))
            found.update(new)
            with self._lock:
                self._memory.update(new)
                while len(self._memory) > MEMORY:
                    self._memory.popitem(last=False)
        return {t: found[k] for t, k in zip(texts, keys)}

    def score(self, query: str, rowids: list[int]) -> tuple[Scored, Scored]:
        """(chunk scores, best-sentence scores) of the candidates, best first."""
        rows = self.store.chunks_by_rowid(rowids)
        per_chunk = {rid: units(chunk, title, self.embed_title) for rid, (chunk, title, _) in rows.items()}
        vecs = self.vectors([t for us in per_chunk.values() for t in us])
        q = self.embedder.encode([query])[0]
        whole, best = [], []
        for rid, us in per_chunk.items():
            whole.append((rid, float(vecs[us[0]] @ q)))
            best.append((rid, max((float(vecs[t] @ q) for t in us[1:]), default=whole[-1][1])))
        return sorted(whole, key=lambda t: -t[1]), sorted(best, key=lambda t: -t[1])

    def _all_units(self) -> list[str]:
        return list(dict.fromkeys(t for chunk, title, _ in self.store.all_chunks() for t in units(chunk, title, self.embed_title)))

    def prune(self) -> int:
        """Drop cached vectors of texts no chunk holds any more (edited or deleted documents); returns how
        many. Call it with the index's write lock held, so no writer's fresh vectors are in flight."""
        conn = self.store.catalog.conn()
        with conn:
            return embedding_cache.keep_only(conn, self._keys(self._all_units()))

    def warm(self, progress: bool = False, batch: int = 256) -> int:
        """Compute and cache the vectors every chunk needs; returns how many texts were embedded."""
        texts = self._all_units()
        keys = self._keys(texts)
        known = self.store.cached_embeddings(keys)
        todo = [t for t, k in zip(texts, keys) if k not in known]
        conn = self.store.catalog.conn()
        for i in tqdm(range(0, len(todo), batch), disable=not progress, desc="rescore vectors", unit="batch"):
            part = todo[i : i + batch]
            vectors = dict(zip(self._keys(part), self.embedder.encode(part)))
            with conn:  # one short transaction per batch: a killed run keeps what it stored
                embedding_cache.put(conn, vectors)
        return len(todo)
