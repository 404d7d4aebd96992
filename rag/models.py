"""Data model shared by every stage: documents, chunks, hits and reports."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .shapes import ChunkOut, DocumentSummary, Highlight, Passage


@dataclass(frozen=True)
class SourcePoints:
    """Where a document's text came from, as ascending (offset, number) change points: source lines and, for
    PDFs, pages (empty for other files)."""

    lines: list[tuple[int, int]] = field(default_factory=list)
    pages: list[tuple[int, int]] = field(default_factory=list)


@dataclass
class Document:
    """A normalized source document with a map back to its original lines and pages."""

    doc_id: str
    title: str
    source: str
    text: str
    sha256: str
    metadata: dict[str, Any] = field(default_factory=dict)
    path: str | None = None
    line_points: list[tuple[int, int]] = field(default_factory=list)
    page_points: list[tuple[int, int]] = field(default_factory=list)


@dataclass
class Chunk:
    """A passage of a document: an exact slice of its normalized text."""

    chunk_id: str
    doc_id: str
    ordinal: int
    text: str
    char_start: int
    char_end: int
    line_start: int
    line_end: int
    section: str
    n_tokens: int
    page: int | None = None


@dataclass
class Hit:
    """A retrieved chunk with its fused score and each retriever's own rank and score."""

    chunk: Chunk
    title: str
    source: str
    rank: int
    score: float
    dense_score: float | None = None
    dense_rank: int | None = None
    lexical_score: float | None = None
    lexical_rank: int | None = None
    highlights: list[Highlight] = field(default_factory=list)

    def to_dict(self) -> Passage:
        """The public result shape shared by the CLI's --json and the HTTP API."""
        c = self.chunk
        return {
            "rank": self.rank,
            "score": round(self.score, 6),
            "chunk_id": c.chunk_id,
            "doc_id": c.doc_id,
            "title": self.title,
            "source": self.source,
            "section": c.section,
            "text": c.text,
            "char_start": c.char_start,
            "char_end": c.char_end,
            "line_start": c.line_start,
            "line_end": c.line_end,
            "page": c.page,
            "dense_score": self.dense_score,
            "dense_rank": self.dense_rank,
            "lexical_score": self.lexical_score,
            "lexical_rank": self.lexical_rank,
            "highlights": self.highlights,
        }


@dataclass(frozen=True)
class DocumentInfo:
    """A document's identity and metadata, without its text."""

    doc_id: str
    title: str
    source: str
    metadata: dict[str, Any]
    sha256: str
    n_chunks: int
    path: str | None = None

    def to_dict(self) -> DocumentSummary:
        """The public shape (the local ``path`` of a file is not part of it)."""
        return {
            "doc_id": self.doc_id,
            "title": self.title,
            "source": self.source,
            "metadata": self.metadata,
            "sha256": self.sha256,
            "n_chunks": self.n_chunks,
        }


@dataclass(frozen=True)
class ChunkView:
    """A stored chunk with the title and source of its document."""

    chunk: Chunk
    title: str
    source: str

    def to_dict(self) -> ChunkOut:
        c = self.chunk
        return {
            "chunk_id": c.chunk_id,
            "doc_id": c.doc_id,
            "ordinal": c.ordinal,
            "text": c.text,
            "char_start": c.char_start,
            "char_end": c.char_end,
            "line_start": c.line_start,
            "line_end": c.line_end,
            "section": c.section,
            "n_tokens": c.n_tokens,
            "page": c.page,
            "title": self.title,
            "source": self.source,
        }


@dataclass
class SyncReport:
    """What one `rag index` run changed."""

    added: int = 0
    updated: int = 0
    removed: int = 0
    unchanged: int = 0
    chunks_embedded: int = 0
    skipped: list[str] = field(default_factory=list)
    errors: list[dict[str, str]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)
