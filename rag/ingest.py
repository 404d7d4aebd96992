"""Turn extracted text into a Document and its Chunks with exact provenance."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .chunking import ChunkLimits, chunk_text
from .loaders import Extracted
from .models import Chunk, Document
from .normalize import line_points, normalize, origin_points, point_lookup


@dataclass
class Prepared:
    """A document ready to store: its chunks and the exact texts to embed for them."""

    document: Document
    chunks: list[Chunk]
    embed_texts: list[str]


MAX_ID_BYTES = 120  # leaves room for a suffix and an extension within a 255-byte file name


def doc_id_for(relative: str) -> str:
    """A stable id from a file's path under its root: extension dropped, separators made URL-safe,
    no leading dots (never "." or ".."), long names cut and suffixed with a hash of the whole."""
    path = Path(relative)
    stem = str(path.with_suffix("")) if path.name not in ("", ".", "..") else relative
    safe = re.sub(r"[^\w.\-]+", "_", stem.replace("/", "__").replace("\\", "__")).strip("_.") or "document"
    if len(safe.encode()) > MAX_ID_BYTES:
        cut = safe.encode()[: MAX_ID_BYTES - 9].decode(errors="ignore").rstrip("_.-")
        safe = f"{cut}-{sha256_bytes(relative.encode())[:8]}"
    return safe


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def embed_text(title: str, chunk: str, with_title: bool) -> str:
    """What the model sees for a chunk: the title gives short passages their context."""
    return f"{title}\n{chunk}" if with_title and title else chunk


def prepare(
    doc_id: str,
    extracted: Extracted,
    *,
    source: str,
    sha256: str,
    limits: ChunkLimits,
    embed_title: bool,
    title: str | None = None,
    metadata: dict[str, Any] | None = None,
    path: str | None = None,
) -> Prepared:
    """Normalize, chunk and map every chunk back to its source lines and page."""
    norm = normalize(extracted.text, extracted.headings)
    title = (title or extracted.title or doc_id).strip()
    lines = line_points(extracted.text, norm.origin, extracted.line_points)
    pages = _page_points(norm.origin, extracted.page_points)
    doc = Document(
        doc_id=doc_id,
        title=title,
        source=source,
        text=norm.text,
        sha256=sha256,
        metadata=dict(metadata or {}),
        path=path,
        line_points=lines,
        page_points=pages,
    )
    prefix = embed_text(title, "", embed_title)
    limits = ChunkLimits(limits.max_tokens, limits.overlap_tokens, limits.model_len, limits.model_max, prefix)
    spans = chunk_text(norm.text, norm.headings, limits, norm.marked)
    chunks = [
        Chunk(
            chunk_id=f"{doc_id}:{i}",
            doc_id=doc_id,
            ordinal=i,
            text=norm.text[s.start : s.end],
            char_start=s.start,
            char_end=s.end,
            line_start=point_lookup(lines, s.start, 1),
            line_end=point_lookup(lines, s.end - 1, 1),
            section=s.section,
            n_tokens=s.n_tokens,
            page=point_lookup(pages, s.start) if pages else None,
        )
        for i, s in enumerate(spans)
    ]
    return Prepared(doc, chunks, [embed_text(title, c.text, embed_title) for c in chunks])


def _page_points(origin: Sequence[int], source_pages: list[tuple[int, int]]) -> list[tuple[int, int]]:
    if not source_pages:
        return []
    return origin_points(origin, lambda off: point_lookup(source_pages, off, 1))
