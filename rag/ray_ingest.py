"""Bulk ingestion on Ray: parse → normalize and chunk → embed as Ray Data stages across a cluster (a
local one, started for the run, by default). The driver plans (which files changed, their ids) and
writes: results stream back and are committed in batches, so a killed run resumes by hash."""

from __future__ import annotations

import logging
import os
import pickle
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from .config import MAX_DOCUMENT_CHARS, Settings
from .errors import BadInputError
from .ingest import sha256_bytes
from .loaders import Extracted, LoadError, load_bytes
from .sync import Outcome, Planned

log = logging.getLogger(__name__)


def _rows(batch: dict[str, np.ndarray]) -> list[Any]:
    return [pickle.loads(b) for b in batch["item"]]


def _batch(items: list[Any]) -> dict[str, np.ndarray]:
    out = np.empty(len(items), dtype=object)
    out[:] = [pickle.dumps(i) for i in items]
    return {"item": out}


def parse(batch: dict[str, np.ndarray], max_chars: int = MAX_DOCUMENT_CHARS) -> dict[str, np.ndarray]:
    """Stage 1 (tasks): read each file where it is and extract its text (PDF, HTML, Markdown, text)."""
    out: list[tuple[Planned, Extracted | None, str | None, str | None]] = []
    for item in _rows(batch):
        planned: Planned = item
        try:
            data = planned.file.path.read_bytes()
            out.append((planned, load_bytes(data, planned.file.path.name, max_chars), sha256_bytes(data), None))
        except (OSError, LoadError) as e:
            out.append((planned, None, None, str(e)))
    return _batch(out)


class Chunker:
    """Stage 2 (actors): normalize and chunk with the model's tokenizer (loaded once per actor)."""

    def __init__(self, settings: Settings) -> None:
        from .chunking import ChunkLimits
        from .embedding import Embedder

        e = Embedder.from_settings(settings)
        self.limits = ChunkLimits(settings.chunk_tokens, settings.chunk_overlap, e.count_model_tokens, e.max_seq_length)
        self.embed_title = settings.embed_title

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        out = []
        for planned, extracted, sha, error in _rows(batch):
            if extracted is None:
                out.append(Outcome(planned, error=error))
            else:  # the hash of what was read here: the file may have changed since it was planned
                out.append(Outcome(planned, planned.prepare(extracted, self.limits, self.embed_title, sha)))
        return _batch(out)


class Embed:
    """Stage 3 (actors): embed every chunk with the model held by the actor (with late interaction, the
    same model pass also gives the chunks' token rows)."""

    def __init__(self, settings: Settings) -> None:
        from .embedding import Embedder

        self.embedder = Embedder.from_settings(settings)
        self.late = settings.late_interaction

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        from .late import content_rows, pooled

        outcomes: list[Outcome] = _rows(batch)
        texts = [t for o in outcomes if o.prepared for t in o.prepared.embed_texts]
        tokens: list[np.ndarray] = []
        if texts and self.late:
            pairs = self.embedder.encode_tokens(texts)
            vectors, tokens = np.stack([pooled(v) for _, v in pairs]), [content_rows(p, v) for p, v in pairs]
        else:
            vectors = self.embedder.encode(texts) if texts else np.zeros((0, 0), dtype="float32")
        at = 0
        for o in outcomes:
            if o.prepared:
                n = len(o.prepared.embed_texts)
                o.vectors, o.tokens, at = vectors[at : at + n], (tokens[at : at + n] if tokens else None), at + n
        return _batch(outcomes)


@dataclass
class RayPipeline:
    """Runs the stages on the Ray cluster at ``address`` (None: a local one started for the run).
    ``batch_size`` documents go through a stage at a time; ``concurrency`` actors embed."""

    address: str | None = None
    batch_size: int = 8
    concurrency: int = 2
    progress: bool = False

    def run(self, todo: list[Planned], settings: Settings) -> Iterator[Outcome]:
        if not todo:
            return
        try:
            import ray
        except ImportError:
            raise BadInputError("--engine ray needs Ray: pip install 'grounded-rag[ray]'") from None
        started = not ray.is_initialized()
        if started:
            cores = os.cpu_count() or 1
            num_cpus = None if self.address else max(cores, self.concurrency + 1)  # a cluster knows its own
            ray.init(address=self.address, num_cpus=num_cpus, include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING)
        try:
            yield from self._stream(ray, todo, settings)
        finally:
            if started:
                ray.shutdown()

    def _stream(self, ray: Any, todo: list[Planned], settings: Settings) -> Iterator[Outcome]:
        ctx = ray.data.DataContext.get_current()
        ctx.enable_progress_bars = self.progress
        if not log.isEnabledFor(logging.INFO):  # Ray Data's per-run chatter, unless -v
            logging.getLogger("ray.data").setLevel(logging.WARNING)
            warnings.filterwarnings("ignore", message=".*minimum number of concurrent actors.*")
        # Each actor's model gets its share of the cores instead of all of them (unless RAG_THREADS says).
        threads = settings.threads or max(1, (os.cpu_count() or 1) // self.concurrency)
        worker = settings.model_copy(update={"threads": threads})
        n = self.batch_size
        ds = ray.data.from_items([{"item": pickle.dumps(p)} for p in todo], override_num_blocks=max(1, min(len(todo), 4 * self.concurrency)))
        ds = ds.map_batches(parse, batch_size=n, batch_format="numpy", fn_kwargs={"max_chars": settings.max_document_chars})
        ds = ds.map_batches(Chunker, fn_constructor_args=(worker,), batch_size=n, batch_format="numpy", concurrency=max(1, self.concurrency // 2))
        ds = ds.map_batches(Embed, fn_constructor_args=(worker,), batch_size=n, batch_format="numpy", concurrency=self.concurrency, num_cpus=1)
        for batch in ds.iter_batches(batch_size=n, batch_format="numpy"):
            yield from _rows(batch)
