"""The facade: one object that indexes, searches and answers; the CLI and the API call only this."""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import logging
import time
from collections.abc import AsyncIterator, Callable, Collection, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, TypeVar

import numpy as np
from tqdm.auto import tqdm

from .answer import Answer, ContextBlock, candidate_sentences, compose, pack_context, question_years, rank_sentences
from .batching import MicroBatcher
from .chunking import ChunkLimits
from .config import Settings
from .diskspace import full_disk_reported, is_disk_full
from .embedding import Embedder, embed_key
from .errors import BadInputError, ConflictError, TimedOutError
from .file_reader import FileReader
from .filters import Filters, check_fields, known_fields, parse_filters
from .generate import Event, Generator, Policy, extractive_events
from .ingest import Prepared, doc_id_for, prepare, sha256_bytes
from .late import LateScorer
from .llm import LLM, LLMError, Message, Sampling
from .loaders import Extracted, LoadError, check_length, load_bytes
from .locking import IndexLock
from .models import ChunkView, Document, DocumentInfo, Hit, SyncReport
from .prompt import rewrite_messages, standalone_from_turns
from .retrieval import Mode, RetrievalParams, Retriever, check_mode
from .shapes import SearchResponse
from .store import DocumentWrite, IndexSpec, Store, open_store
from .sync import Outcome, Pipeline, Planned, scan

if TYPE_CHECKING:
    from .rescore import Rescorer

log = logging.getLogger(__name__)
UPLOADS = "uploads"  # folder inside the index that keeps uploaded files


@dataclass
class SearchResult:
    """Hits for one query, and how long the search took."""

    query: str
    hits: list[Hit]
    took_ms: float
    mode: str = "hybrid"

    def to_dict(self) -> SearchResponse:
        return {"query": self.query, "mode": self.mode, "took_ms": round(self.took_ms, 2), "results": [h.to_dict() for h in self.hits]}


@dataclass
class NewDocument:
    """A document given as text (API upload, evaluation corpus) rather than as a file path."""

    title: str
    text: str
    metadata: dict[str, Any] = field(default_factory=dict)
    doc_id: str | None = None
    source: str | None = None


T = TypeVar("T")
P = ParamSpec("P")


def _full_disk_reported(write: Callable[Concatenate[Engine, P], T]) -> Callable[Concatenate[Engine, P], T]:
    """A write of the engine whose full-disk failure is a StorageFullError (API: 507) naming the index's folder."""

    @functools.wraps(write)
    def reported(self: Engine, *args: P.args, **kwargs: P.kwargs) -> T:
        with full_disk_reported(self.store.dir):
            return write(self, *args, **kwargs)

    return reported


def _reclaim_room(store: Store, late: LateScorer | None) -> None:
    """After a write failed for want of room: empty SQLite's write-ahead log, then drop the token matrices the
    write stored before it failed, so the next, smaller write can fit (best effort: the disk may be too full
    even to delete)."""
    steps = [store.catalog.truncate_log] + ([late.prune, store.catalog.truncate_log] if late is not None else [])
    for step in steps:
        try:
            step()
        except Exception as e:
            log.warning("could not reclaim the room of a failed write (%s): %s", getattr(step, "__name__", step), e)
            return


class Engine:
    """Index a collection and search it. Writes are serialized, across processes too; reads may
    run concurrently and see what other processes (server workers) wrote."""

    def __init__(self, settings: Settings | None = None, embedder: Embedder | None = None) -> None:
        self.settings = settings or Settings()
        s = self.settings
        self.embedder = embedder or Embedder.from_settings(s)
        spec = IndexSpec(s.model, s.chunk_tokens, s.chunk_overlap, s.embed_title)
        if s.store == "qdrant" and s.bm25_idf != "smoothed":
            raise BadInputError("RAG_BM25_IDF=fts5 needs the faiss store: the Qdrant store's BM25 always uses Qdrant's (smoothed) idf")
        self.store = open_store(s.index_dir, spec, s.store, s.qdrant_url, s.qdrant_api_key)
        self.rescorer = self._make_rescorer()
        self.late = LateScorer(self.embedder, self.store, s.embed_title, s.late_compression) if s.late_interaction else None
        self.retriever = Retriever(self.store, self.embed_queries, RetrievalParams.from_settings(s), self.rescorer, self.late)
        self._write_lock = IndexLock(self.store.dir / "write.lock")
        self._batcher: MicroBatcher | None = None
        self._reader: FileReader | None = None
        self._docs_cache: tuple[int, list[dict[str, Any]], set[str]] | None = None
        self._generator: tuple[asyncio.AbstractEventLoop, Generator] | None = None
        self.answer_observers: list[Callable[[Answer], None]] = []  # e.g. the server's metrics

    def _make_rescorer(self) -> Rescorer | None:
        s = self.settings
        if not s.rescore_model:
            return None
        from .rescore import Rescorer

        strong = Embedder(s.rescore_model, s.device, s.batch_size, s.backend, s.model_cache, s.threads)
        return Rescorer(strong, self.store, s.embed_title)

    # -- embedding
    def _encode_queries(self, queries: list[str]) -> np.ndarray:
        """One model pass per batch of queries (with late interaction it also yields their token rows)."""
        if self.late is None:
            return self.embedder.encode(queries)
        return self.late.remember_queries(queries, self.embedder.encode_tokens(queries))

    def embed_queries(self, queries: list[str]) -> np.ndarray:
        """Query vectors; through the micro-batcher when the server enabled it (bounded wait)."""
        if not self._batcher:
            return self._encode_queries(queries)
        fut = self._batcher.submit(queries)
        try:
            return fut.result(timeout=self.settings.request_timeout_s)
        except concurrent.futures.TimeoutError:
            fut.cancel()
            raise TimedOutError(f"the model did not embed the query within {self.settings.request_timeout_s:g} s") from None

    def _start_embedding(self, queries: list[str]) -> asyncio.Future:
        """Start embedding ``queries`` at once (awaiting holds no thread); resolves to their vectors.
        Cancelling the returned future withdraws the texts before the model reaches them."""
        if self._batcher:
            return asyncio.wrap_future(self._batcher.submit(queries))
        return asyncio.get_running_loop().run_in_executor(None, self._encode_queries, queries)

    async def _await_embedding(self, pending: asyncio.Future) -> np.ndarray:
        """The vectors, or TimedOutError after ``request_timeout_s`` (the queued texts are withdrawn).
        A timer instead of ``asyncio.wait_for``: no extra task wake-up on the hot path."""
        expired: list[bool] = []

        def expire() -> None:
            expired.append(True)
            pending.cancel()

        timer = asyncio.get_running_loop().call_later(self.settings.request_timeout_s, expire)
        try:
            return await pending
        except asyncio.CancelledError:
            if expired:
                raise TimedOutError(f"the model did not embed the query within {self.settings.request_timeout_s:g} s") from None
            raise
        finally:
            timer.cancel()
            if not pending.done():
                pending.cancel()  # the caller left or failed: the model skips these texts

    def enable_batching(self, max_batch: int = 64, max_wait_ms: float = 0.0) -> None:
        """Let concurrent queries share model calls (the server turns this on)."""
        self._batcher = MicroBatcher(self._encode_queries, max_batch, max_wait_ms, self.settings.max_pending_texts)

    def read_uploads_apart(self) -> None:
        """Read uploaded files in processes of their own, within ``parse_timeout_s``, waiting for a turn as long
        as for the write lock (the server turns this on: a PDF read in a thread slows the worker's searches, and
        a thread cannot be stopped)."""
        self._reader = FileReader(self.settings.parse_timeout_s, wait_s=self.settings.write_timeout_s)

    def health(self) -> str | None:
        """Why this engine cannot serve searches now (None when it can)."""
        b = self._batcher
        if b is not None and not b.alive:
            return "the embedding thread has stopped"
        if b is not None and b.stuck_for() > self.settings.request_timeout_s:
            return f"the model has been busy with one batch for {b.stuck_for():.0f} s"
        return None

    def _limits(self) -> ChunkLimits:
        e = self.embedder
        return ChunkLimits(self.settings.chunk_tokens, self.settings.chunk_overlap, e.count_model_tokens, e.max_seq_length)

    # -- writes
    @_full_disk_reported
    def sync(self, paths: Iterable[Path | str], progress: bool = False, pipeline: Pipeline | None = None) -> SyncReport:
        """Make the index match the files under ``paths``: add new, re-chunk changed, drop deleted.
        ``pipeline`` parses, chunks and embeds elsewhere (e.g. ``rag.ray_ingest.RayPipeline``)."""
        with self._write_lock:
            report = self._sync(paths, progress, pipeline)
        self.warm_rescorer(progress)
        self.warm_late(progress)
        for second_stage in (self.rescorer, self.late):
            if second_stage is not None:
                with self._write_lock:  # short: hashing the chunks' texts; the slow warm-up ran outside
                    second_stage.prune()
        return report

    def warm_rescorer(self, progress: bool = False) -> int:
        """With ``RAG_RESCORE_MODEL``: cache the stronger model's vectors of every chunk (0 without it)."""
        return self.rescorer.warm(progress) if self.rescorer is not None else 0

    def warm_late(self, progress: bool = False) -> int:
        """With late interaction: store the token vectors of every chunk that lacks them (an index built
        before it, a write that died before them); returns how many chunk texts were encoded."""
        return self.late.warm(progress) if self.late is not None else 0

    @_full_disk_reported
    def index_if_empty(self, paths: Iterable[Path | str], progress: bool = False) -> SyncReport | None:
        """Index ``paths`` on first start: if nothing was ever written to the index (an index emptied
        by deletes stays empty). One server worker does it, the others wait."""
        with self._write_lock:
            self.store.refresh()
            return self._sync(paths, progress, None) if self.store.generation == 0 else None

    def _sync(self, paths: Iterable[Path | str], progress: bool, pipeline: Pipeline | None) -> SyncReport:
        report, todo, removed = self._plan(paths, keep_data=pipeline is None)
        if removed:
            self.store.apply(removed, [], {})
        report.removed = len(removed)
        outcomes = pipeline.run(todo, self.settings) if pipeline is not None else self._prepare_locally(todo)
        report.chunks_embedded = self._write_outcomes(outcomes, len(todo), report, progress)
        return report

    def _plan(self, paths: Iterable[Path | str], keep_data: bool) -> tuple[SyncReport, list[Planned], list[str]]:
        """What a sync must do: the files to (re)read with their ids, and the documents to remove.
        Unchanged files (same hash and metadata) are skipped, so a killed run resumes where it was."""
        found = scan([Path(p) for p in paths])
        report = SyncReport(skipped=found.skipped, errors=list(found.errors))
        existing = self.store.documents_by_path()
        taken: set[str] = set()  # ids given to new files in this run (a.txt and a.md both want "a")
        seen: set[str] = set()
        todo: list[Planned] = []
        for f in found.files:
            key = str(f.path)
            seen.add(key)
            try:
                data = f.path.read_bytes()
            except OSError as e:
                report.errors.append({"file": key, "error": f"cannot read: {e.strerror or e}"})
                continue
            sha = sha256_bytes(data)
            old = existing.get(key)
            if old and old[1] == sha and old[2] == f.metadata:
                report.unchanged += 1
                continue
            doc_id = old[0] if old else self._new_doc_id(doc_id_for(f.relative), key, taken)
            taken.add(doc_id)
            todo.append(Planned(f, doc_id, sha, updated=old is not None, data=data if keep_data else None))
        removed = [doc_id for path, (doc_id, _, _) in existing.items() if path not in seen and found.covers(path)]
        return report, todo, removed

    def _prepare_locally(self, todo: list[Planned]) -> Iterator[Outcome]:
        limits = None
        for item in todo:
            try:
                extracted = load_bytes(item.data or b"", item.file.path.name, self.settings.max_document_chars)
            except LoadError as e:
                yield Outcome(item, error=str(e))
                continue
            limits = limits or self._limits()
            yield Outcome(item, item.prepare(extracted, limits, self.settings.embed_title))

    def _write_outcomes(self, outcomes: Iterable[Outcome], files: int, report: SyncReport, progress: bool) -> int:
        """Write prepared documents as they come, committing every ``commit_chunks`` chunks, so a
        killed run keeps what it finished and a re-run embeds only the rest."""
        embedded, size = 0, 0
        batch: list[Prepared] = []
        vectors: dict[str, np.ndarray] = {}
        tokens: dict[str, np.ndarray] = {}  # by chunk text, when the pipeline computed them
        with tqdm(total=files, unit="file", desc="indexing", disable=not progress or not files) as bar:
            for o in outcomes:
                if o.prepared is None:
                    report.errors.append({"file": str(o.planned.file.path), "error": o.error or "unreadable"})
                    bar.update(1)
                    continue
                report.updated += o.planned.updated
                report.added += not o.planned.updated
                batch.append(o.prepared)
                size += len(o.prepared.chunks)
                if o.vectors is not None:
                    vectors.update(zip((embed_key(self.settings.model, t) for t in o.prepared.embed_texts), o.vectors))
                if o.tokens is not None:
                    tokens.update(zip(o.prepared.embed_texts, o.tokens))
                if size >= self.settings.commit_chunks:
                    embedded += self._write(batch, [], False, vectors, tokens)
                    bar.update(len(batch))
                    batch, vectors, tokens, size = [], {}, {}, 0
            if batch:
                embedded += self._write(batch, [], False, vectors, tokens)
                bar.update(len(batch))
        return embedded

    def _new_doc_id(self, wanted: str, seed: str, taken: Collection[str] = frozenset()) -> str:
        """``wanted``, or a variant of it (suffixed by a hash of ``seed``: the path or the text) that
        neither the index nor this batch (``taken``) uses."""
        candidates = [wanted, f"{wanted}-{sha256_bytes(seed.encode())[:8]}"]
        candidates += (f"{candidates[1]}-{n}" for n in range(2, 10_000))
        return next(c for c in candidates if c not in taken and not self.store.id_taken(c))

    @_full_disk_reported
    def add_documents(self, docs: list[NewDocument], progress: bool = False) -> list[Document]:
        """Add documents given as text (one with a given ``doc_id`` replaces it); returns them as stored.
        Raises ConflictError if one call gives the same ``doc_id`` twice."""
        given = [d.doc_id for d in docs if d.doc_id]
        if len(given) != len(set(given)):
            raise ConflictError(f"doc_id given twice: {sorted({i for i in given if given.count(i) > 1})}")
        with self._write_lock.hold(self.settings.write_timeout_s):
            limits = self._limits()
            prepared = []
            taken = set(given)
            for d in docs:
                check_length(len(d.text), self.settings.max_document_chars)
                text = d.text.replace("\r\n", "\n")
                doc_id = d.doc_id or self._new_doc_id(doc_id_for(d.source or d.title or "document"), text, taken)
                taken.add(doc_id)
                prepared.append(
                    prepare(
                        doc_id,
                        Extracted(text=text, title=d.title),
                        source=d.source or doc_id,
                        sha256=sha256_bytes(text.encode()),
                        limits=limits,
                        embed_title=self.settings.embed_title,
                        title=d.title,
                        metadata=d.metadata,
                    )
                )
            self._write(prepared, [], progress)
        return [p.document for p in prepared]

    @_full_disk_reported
    def add_file_bytes(self, data: bytes, filename: str, metadata: dict[str, Any] | None = None) -> Document:
        """Keep an uploaded file in the index's uploads folder and index it; raises LoadError if
        unreadable. Deleting the document removes the file."""
        dest_dir = self.uploads_dir
        read = self._reader.load if self._reader is not None else load_bytes
        extracted = read(data, filename, self.settings.max_document_chars)  # parse before writing anything
        with self._write_lock.hold(self.settings.write_timeout_s):
            doc_id = self._new_doc_id(doc_id_for(filename), filename)
            dest_dir.mkdir(parents=True, exist_ok=True)
            dest = dest_dir / f"{doc_id}{Path(filename).suffix.lower()}"
            prepared = prepare(
                doc_id,
                extracted,
                source=f"{UPLOADS}/{dest.name}",
                sha256=sha256_bytes(data),
                limits=self._limits(),
                embed_title=self.settings.embed_title,
                title=(metadata or {}).get("title"),
                metadata=metadata,
                path=None,
            )
            tmp = dest.with_name(dest.name + ".tmp")
            try:
                tmp.write_bytes(data)
                tmp.replace(dest)
                self._write([prepared], [], False)
            except BaseException:
                tmp.unlink(missing_ok=True)  # a full disk leaves part of it: give the room back now
                dest.unlink(missing_ok=True)
                raise
        return prepared.document

    @_full_disk_reported
    def delete_document(self, doc_id: str) -> bool:
        """Remove a document, its chunks and its uploaded file; False if there was no such document."""
        with self._write_lock.hold(self.settings.write_timeout_s):
            doc = self.store.document_info(doc_id)
            if doc is None:
                return False
            self.store.apply([doc_id], [], {})
            if doc["path"] is None and doc["source"].startswith(UPLOADS + "/"):
                (self.uploads_dir / doc["source"][len(UPLOADS) + 1 :]).unlink(missing_ok=True)
        return True

    @property
    def uploads_dir(self) -> Path:
        return self.store.dir / UPLOADS

    def clean_up(self) -> list[Path]:
        """Remove what an interrupted write left behind: uploaded files no document refers to,
        half-written files and vector files of old generations. Returns what was removed."""
        with self._write_lock:
            removed = self.store.remove_stale_files()
            if self.uploads_dir.is_dir():
                known = {s[len(UPLOADS) + 1 :] for s in self.store.sources() if s.startswith(UPLOADS + "/")}
                orphans = [p for p in self.uploads_dir.iterdir() if p.is_file() and p.name not in known]
                for p in orphans:
                    p.unlink(missing_ok=True)
                removed += orphans
        if removed:
            log.info("cleaned up %d stale files: %s", len(removed), ", ".join(p.name for p in removed[:10]))
        return removed

    def _write(
        self,
        prepared: list[Prepared],
        removed: list[str],
        progress: bool,
        given: dict[str, np.ndarray] | None = None,
        given_tokens: dict[str, np.ndarray] | None = None,
    ) -> int:
        """Embed what the cache (and ``given``: vectors a pipeline computed; ``given_tokens``: token rows by
        text) lacks, then write everything in one transaction. Returns how many chunks were embedded."""
        try:
            return self._embed_and_apply(prepared, removed, progress, given, given_tokens)
        except Exception as e:
            if is_disk_full(e):
                _reclaim_room(self.store, self.late)
            raise

    def _embed_and_apply(
        self,
        prepared: list[Prepared],
        removed: list[str],
        progress: bool,
        given: dict[str, np.ndarray] | None,
        given_tokens: dict[str, np.ndarray] | None,
    ) -> int:
        keys = [[embed_key(self.settings.model, t) for t in p.embed_texts] for p in prepared]
        flat = dict(zip((k for ks in keys for k in ks), (t for p in prepared for t in p.embed_texts)))
        cached = self.store.cached_embeddings(list(flat))
        missing = [k for k in flat if k not in cached]
        new_vectors: dict[str, np.ndarray] = {k: given[k] for k in missing if given and k in given}
        # Token matrices before the chunks become visible (a search never computes them for a fresh
        # write); the same model pass gives the sentence vectors of the texts it encodes.
        pooled = self.late.fill(list(flat.values()), progress, given_tokens) if self.late is not None else {}
        new_vectors.update({k: pooled[flat[k]] for k in missing if k not in new_vectors and flat[k] in pooled})
        rest = [k for k in missing if k not in new_vectors]
        if rest:
            new_vectors.update(zip(rest, self.embedder.encode([flat[k] for k in rest], progress=progress)))
        writes = [DocumentWrite(p.document, p.chunks, ks) for p, ks in zip(prepared, keys)]
        self.store.apply(removed, writes, new_vectors)
        return len(missing)

    # -- reads
    def search(
        self, query: str, top_k: int = 5, mode: Mode = "hybrid", filters: Filters | dict[str, Any] | None = None, highlights: bool = True
    ) -> SearchResult:
        """Ranked passages for ``query``; raises BadInputError (FilterError) on bad input."""
        t0 = time.perf_counter()
        _check_query(query, self.settings.max_query_chars)
        check_mode(mode)
        allowed = self._allowed(self.parse_filters(filters))
        hits = self.retriever.search(query, top_k, mode, allowed, highlights)
        return SearchResult(query, hits, (time.perf_counter() - t0) * 1000, mode)

    async def asearch(
        self, query: str, top_k: int = 5, mode: Mode = "hybrid", filters: Filters | dict[str, Any] | None = None, highlights: bool = True
    ) -> SearchResult:
        """``search`` for an event loop: the BM25 search runs while the model embeds the query.
        Everything that depends only on the request is checked before any work is queued."""
        t0 = time.perf_counter()
        _check_query(query, self.settings.max_query_chars)
        check_mode(mode)
        spec = self.parse_filters(filters)
        pending = self._start_embedding([query]) if mode in ("dense", "hybrid") else None
        try:
            if spec is None:
                allowed = self._allowed(None)
            else:  # matching reads every document's metadata: keep it off the event loop
                allowed = await asyncio.get_running_loop().run_in_executor(None, self._allowed, spec)
            # In-memory BM25 runs while the model embeds; a remote store's runs with its dense search, off the loop.
            lexical_now = mode != "dense" and self.store.in_memory
            lexical = self.retriever.lexical_candidates(query, top_k, allowed) if lexical_now else None
            vector = (await self._await_embedding(pending))[0] if pending is not None else None
        finally:
            if pending is not None and not pending.done():
                pending.cancel()  # matching or BM25 failed before the await: the model skips this query
        # A remote store's round trip, or a second stage's model call, must not hold up the event loop.
        if not self.store.in_memory or ((self.rescorer is not None or self.late is not None) and mode == "hybrid"):
            search = functools.partial(self.retriever.search, query, top_k, mode, allowed, highlights, vector, lexical)
            hits = await asyncio.get_running_loop().run_in_executor(None, search)
        else:
            hits = self.retriever.search(query, top_k, mode, allowed, highlights, vector, lexical)
        return SearchResult(query, hits, (time.perf_counter() - t0) * 1000, mode)

    def parse_filters(self, filters: Filters | dict[str, Any] | None) -> Filters | None:
        """Typed filters checked against the fields the index knows; raises FilterError."""
        if not filters:
            return None
        spec = filters if isinstance(filters, Filters) else parse_filters(filters)
        check_fields(spec, self._catalog()[1])
        return spec

    def _catalog(self) -> tuple[list[dict[str, Any]], set[str]]:
        """All documents' metadata and the filter fields they have, cached per index generation
        (filters read them on every query)."""
        self.store.refresh()
        cached = self._docs_cache
        if cached is None or cached[0] != self.store.generation:
            docs = self.store.documents()
            cached = self._docs_cache = (self.store.generation, docs, known_fields(docs))
        return cached[1], cached[2]

    def _allowed(self, spec: Filters | None) -> set[str] | None:
        """Catch up with other processes' writes, then the doc ids the filters admit (None: all)."""
        if spec is None:
            self.store.refresh()
            return None
        return {d["doc_id"] for d in self._catalog()[0] if spec.admits(d)}

    def ask(self, question: str, top_k: int = 5, filters: Filters | dict[str, Any] | None = None, generate: bool = True) -> Answer:
        """An answer with [n] citations, or grounded=False when the sources lack one: extractive, or
        written by the configured LLM and verified (``generate``)."""
        if generate and self.settings.llm_base_url:
            return asyncio.run(self.aask(question, top_k, filters))
        evidence = self.search(question, top_k=self._evidence_k(top_k), filters=filters, highlights=True).hits
        hits = evidence[:top_k]
        sents = candidate_sentences(hits)
        texts = [question] + [x.text for x in sents]
        vecs = self._embed_sentences(texts) if sents else None
        rows = self._token_rows(texts) if sents else None
        return self._compose(question, hits, rank_sentences(sents, vecs, rows), evidence, self.unknown_years(question, filters))

    async def aask(
        self,
        question: str,
        top_k: int = 5,
        filters: Filters | dict[str, Any] | None = None,
        generate: bool = True,
        history: list[Message] | None = None,
        sampling: Sampling | None = None,
    ) -> Answer:
        """``ask`` for an event loop: no thread is held while the model works. With an LLM configured
        (and ``generate``), the answer is written by it (within ``sampling``'s limits) and verified
        sentence by sentence. With the conversation's earlier turns in ``history``, the question is
        first made standalone."""
        question = await self._standalone(question, history)
        extractive = await self._aextractive(question, top_k, filters)
        gen = self.generator if generate else None
        answer = await gen.answer(question, extractive, sampling) if gen else extractive
        self._observe(answer)
        return answer

    def _observe(self, answer: Answer) -> None:
        for observe in self.answer_observers:
            observe(answer)

    async def astream_ask(
        self,
        question: str,
        top_k: int = 5,
        filters: Filters | dict[str, Any] | None = None,
        generate: bool = True,
        history: list[Message] | None = None,
        sampling: Sampling | None = None,
    ) -> AsyncIterator[Event]:
        """``aask`` as events: the passages first, then the answer's text as it is written, then the
        verified claims and a final event with the whole response."""
        question = await self._standalone(question, history)
        extractive = await self._aextractive(question, top_k, filters)
        gen = self.generator if generate else None
        if gen:
            async for e in gen.stream(question, extractive, sampling):
                if e.kind == "done" and e.answer is not None:
                    self._observe(e.answer)
                yield e
            return
        self._observe(extractive)
        async for e in extractive_events(extractive):
            yield e

    async def _standalone(self, question: str, history: list[Message] | None) -> str:
        if not history:
            return question
        _check_query(question, self.settings.max_query_chars)
        return await self.rewrite_question([*history, {"role": "user", "content": question}])

    async def _aextractive(self, question: str, top_k: int, filters: Filters | dict[str, Any] | None) -> Answer:
        evidence = (await self.asearch(question, top_k=self._evidence_k(top_k), filters=filters, highlights=True)).hits
        hits = evidence[:top_k]
        sents = candidate_sentences(hits)
        texts = [question] + [x.text for x in sents]
        vecs = await self._aembed_sentences(texts) if sents else None
        rows = await asyncio.to_thread(self._token_rows, texts) if sents and self.late else None
        unknown = await asyncio.to_thread(self.unknown_years, question, filters) if question_years(question) else []
        return self._compose(question, hits, rank_sentences(sents, vecs, rows), evidence, unknown)

    def _embed_sentences(self, texts: list[str]) -> np.ndarray:
        """Vectors of a question and the sentences an answer may quote; sentences remembered from earlier
        answers with their token rows skip the model (over the dev questions, 55 % of them recur)."""
        known, missing = self._remembered(texts)
        if missing:
            known.update(zip(missing, self.embed_queries(missing)))
        return np.stack([known[t] for t in texts])

    async def _aembed_sentences(self, texts: list[str]) -> np.ndarray:
        """``_embed_sentences`` for an event loop."""
        known, missing = self._remembered(texts)
        if missing:
            known.update(zip(missing, await self.aembed(missing)))
        return np.stack([known[t] for t in texts])

    def _remembered(self, texts: list[str]) -> tuple[dict[str, np.ndarray], list[str]]:
        """The vectors of ``texts`` still remembered, and the other texts (once each)."""
        known = self.late.remembered(texts) if self.late else {}
        return known, list(dict.fromkeys(t for t in texts if t not in known))

    def _token_rows(self, texts: list[str]) -> list[np.ndarray] | None:
        """Content token rows of texts just embedded (the model pass remembered them), to choose the
        sentences an answer quotes by maxsim; None without late interaction."""
        return self.late.rows_of(texts) if self.late else None

    async def aembed(self, texts: list[str]) -> np.ndarray:
        """Unit vectors of ``texts`` without holding a thread, bounded by ``request_timeout_s``."""
        return await self._await_embedding(self._start_embedding(texts))

    @property
    def generator(self) -> Generator | None:
        """The LLM answer writer, when ``RAG_LLM_BASE_URL`` is set. Its async HTTP client belongs to
        the event loop that made it, so each loop (each ``asyncio.run`` of a sync caller) gets its own."""
        if not self.settings.llm_base_url:
            return None
        loop = asyncio.get_running_loop()
        if self._generator is None or self._generator[0] is not loop:
            llm = LLM.from_settings(self.settings)
            assert llm is not None
            self._generator = (loop, Generator(llm, Policy.from_settings(self.settings), self.aembed, self.store.source_points))
        return self._generator[1]

    async def rewrite_question(self, history: list[Message]) -> str:
        """A standalone retrieval query for a conversation's last question: written by the LLM when one
        is configured and there is history to resolve, else taken from the recent user turns."""
        fallback = standalone_from_turns(history, self.settings.max_query_chars)
        gen = self.generator
        if gen is None or sum(m["role"] == "user" for m in history) < 2:
            return fallback
        try:
            async with gen.slots:
                text = (await gen.llm.complete(rewrite_messages(history), Sampling(max_tokens=96))).text.strip()
        except LLMError as e:
            log.warning("%s; using the recent user turns as the query", e)
            return fallback
        return text[: self.settings.max_query_chars] or fallback

    def _evidence_k(self, top_k: int) -> int:
        return max(top_k, self.settings.ask_evidence_passages)

    def unknown_years(self, question: str, filters: Filters | dict[str, Any] | None = None) -> list[str]:
        """The years the question names that no chunk of the index (of the documents ``filters`` admit)
        mentions: nothing here can answer a question about them."""
        weights = self.retriever.params.bm25_weights
        docs = self._allowed(self.parse_filters(filters)) if filters else None
        allowed = None if docs is None else self.store.chunk_rowids(sorted(docs))
        return [y for y in question_years(question) if not self.store.lexical(f'"{y}"', 1, weights, allowed)]

    def _compose(self, question: str, hits: list[Hit], ranked, evidence: list[Hit], unknown_years: list[str]) -> Answer:
        s = self.settings
        return compose(
            question, hits, ranked, s.ask_threshold, self.store.source_points, s.ask_min_coverage, evidence=evidence, unknown_years=unknown_years
        )

    def context(self, query: str, max_tokens: int = 1000, top_k: int = 8, filters: Filters | dict[str, Any] | None = None) -> ContextBlock:
        """Numbered passages for an LLM prompt, fitted within ``max_tokens`` cl100k tokens."""
        return pack_context(self.search(query, top_k=top_k, filters=filters).hits, max_tokens)

    async def acontext(self, query: str, max_tokens: int = 1000, top_k: int = 8, filters: Filters | dict[str, Any] | None = None) -> ContextBlock:
        """``context`` for an event loop."""
        return pack_context((await self.asearch(query, top_k=top_k, filters=filters)).hits, max_tokens)

    def search_many(
        self, queries: list[str], top_k: int = 5, mode: Mode = "hybrid", filters: Filters | dict[str, Any] | None = None, highlights: bool = False
    ) -> list[list[Hit]]:
        """Hits for many queries at once, their embeddings computed in batches (evaluation, benchmarks)."""
        for q in queries:
            _check_query(q, self.settings.max_query_chars)
        check_mode(mode)
        allowed = self._allowed(self.parse_filters(filters))
        return self.retriever.search_many(queries, top_k, mode, allowed, highlights)

    def candidates(
        self, queries: list[str], depth: int = 100, bm25_weights: tuple[float, float, float] | None = None
    ) -> tuple[list[list[int]], list[list[int]]]:
        """Raw dense and lexical chunk-rowid lists per query, before fusion (bench/tune_fusion.py)."""
        self.store.refresh()
        return self.retriever.candidates(queries, depth, bm25_weights)

    def lexical_candidates(self, query: str, top_k: int = 5) -> list[tuple[int, float]]:
        """The BM25 (rowid, score) list a search of ``query`` would fuse."""
        return self.retriever.lexical_candidates(query, top_k)

    def doc_ids_of(self, rowids: list[int]) -> list[str]:
        """The document of each chunk rowid, in order (unknown rowids are skipped)."""
        rows = self.store.chunks_by_rowid(rowids)
        return [rows[r][0].doc_id for r in rowids if r in rows]

    def documents(self) -> list[DocumentInfo]:
        """Every document, by doc_id."""
        return [DocumentInfo(**d) for d in self._catalog()[0]]

    def document(self, doc_id: str) -> Document | None:
        return self.store.document(doc_id)

    def chunk(self, chunk_id: str) -> ChunkView | None:
        found = self.store.chunk(chunk_id)
        return ChunkView(*found) if found else None

    def chunks(self) -> Iterator[ChunkView]:
        """Every chunk in the order it was stored."""
        for found in self.store.all_chunks():
            yield ChunkView(*found)

    def stats(self) -> dict[str, Any]:
        self.store.refresh()
        return self.store.stats()

    @property
    def generation(self) -> int:
        """How many writes the index has committed (grows by one per write)."""
        self.store.refresh()
        return self.store.generation

    @property
    def model_calls(self) -> int:
        """Model calls the query micro-batcher made (0 without batching)."""
        return self._batcher.batches if self._batcher else 0

    def close(self) -> None:
        """Stop the batcher thread and close this thread's database connection."""
        if self._batcher is not None:
            self._batcher.close()
            self._batcher = None
        self.store.close()

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _check_query(query: str, limit: int) -> None:
    if not query or not query.strip():
        raise BadInputError("the query is empty")
    if len(query) > limit:
        raise BadInputError(f"the query is longer than {limit} characters (RAG_MAX_QUERY_CHARS)")
