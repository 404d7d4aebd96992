"""The public JSON shapes, defined once: the library builds them (``to_dict``), the HTTP API
declares them as its response models (so /openapi.json is generated from these), mypy checks both."""

from __future__ import annotations

from typing import Any

from typing_extensions import TypedDict  # pydantic needs this one below Python 3.12


class DocumentSummary(TypedDict):
    """A document's identity and metadata, without its text."""

    doc_id: str
    title: str
    source: str
    metadata: dict[str, Any]
    sha256: str
    n_chunks: int


class ChunkOut(TypedDict):
    """A stored chunk with provenance and its document's title and source."""

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
    page: int | None
    title: str
    source: str


class Highlight(TypedDict):
    """A sentence span inside a passage's text that matches the query; score relative to the best."""

    start: int
    end: int
    text: str
    score: float


class Passage(TypedDict):
    """A ranked passage: an exact slice of a document with its provenance and each retriever's view."""

    rank: int
    score: float
    chunk_id: str
    doc_id: str
    title: str
    source: str
    section: str
    text: str
    char_start: int
    char_end: int
    line_start: int
    line_end: int
    page: int | None
    dense_score: float | None
    dense_rank: int | None
    lexical_score: float | None
    lexical_rank: int | None
    highlights: list[Highlight]


class SearchResponse(TypedDict):
    query: str
    mode: str
    took_ms: float
    results: list[Passage]


class Citation(TypedDict):
    """The source sentence behind an answer's [marker]: document, section, page (PDFs), lines and character span."""

    marker: int
    chunk_id: str
    doc_id: str
    title: str
    source: str
    text: str
    char_start: int
    char_end: int
    section: str
    page: int | None
    line_start: int
    line_end: int
    score: float


class Claim(TypedDict):
    """One sentence of an answer and its check against the passages it cites: ``supported`` when its
    support score reaches the threshold and every name, number and date in it occurs in those passages."""

    text: str
    markers: list[int]
    supported: bool
    score: float
    coverage: float
    similarity: float
    unsupported_terms: list[str]
    source: Citation | None


class AskResponse(TypedDict):
    question: str
    answer: str
    grounded: bool
    score: float
    mode: str
    model: str | None
    citations: list[Citation]
    claims: list[Claim]
    passages: list[Passage]


class ContextResponse(TypedDict):
    context: str
    passages: list[Passage]
    tokens: int
