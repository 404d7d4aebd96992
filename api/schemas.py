"""Request and response models of the HTTP API."""
from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from rag.filters import MAX_FIELDS, MAX_STRING, MAX_VALUES

MAX_QUERY_CHARS = 2000
# The schema says what the validator enforces, so generated clients (and schemathesis) agree with it.
Query = Annotated[str, Field(min_length=1, max_length=MAX_QUERY_CHARS, pattern=r"\S",
                             description="Natural-language question or keywords (not blank).")]
FilterScalar = Annotated[str, Field(max_length=MAX_STRING)] | float | bool


class FilterOps(BaseModel):
    """A range (``gte``, ``gt``, ``lte``, ``lt``) and/or a case-insensitive substring (``contains``)."""

    model_config = ConfigDict(extra="forbid")
    gte: float | None = None
    gt: float | None = None
    lte: float | None = None
    lt: float | None = None
    contains: str | None = Field(None, min_length=1, max_length=MAX_STRING)


FilterValue = FilterScalar | Annotated[list[FilterScalar], Field(max_length=MAX_VALUES)] | FilterOps
Filters = Annotated[dict[str, FilterValue], Field(
    max_length=MAX_FIELDS, description='Field -> value (equality), list (any of), or operators; '
    'e.g. {"year": {"gte": 2009}, "doc_id": ["a", "b"], "title": {"contains": "security"}}')]


class _Filtered(BaseModel):
    filters: Filters | None = None

    def filter_dict(self) -> dict[str, Any] | None:
        """The filters as plain JSON values, for the engine's own validation."""
        if not self.filters:
            return None
        return {k: v.model_dump(exclude_none=True) if isinstance(v, FilterOps) else v for k, v in self.filters.items()}


class SearchRequest(_Filtered):
    query: Query
    top_k: int = Field(5, ge=1, le=100)
    mode: Literal["dense", "lexical", "hybrid"] = "hybrid"


class AskRequest(_Filtered):
    question: Query
    top_k: int = Field(5, ge=1, le=20)


class ContextRequest(_Filtered):
    query: Query
    max_tokens: int = Field(1000, ge=16, le=100_000)
    top_k: int = Field(8, ge=1, le=100)


class DocumentIn(BaseModel):
    title: str = Field(min_length=1, max_length=500)
    text: str = Field(min_length=1)
    metadata: dict[str, Any] = Field(default_factory=dict)

    @field_validator("text")
    @classmethod
    def _not_blank(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("must not be blank")
        return v


class Passage(BaseModel):
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
    dense_score: float | None = None
    dense_rank: int | None = None
    lexical_score: float | None = None
    lexical_rank: int | None = None
    highlights: list[dict[str, Any]] = []


class SearchResponse(BaseModel):
    query: str
    mode: str
    took_ms: float
    results: list[Passage]


class Citation(BaseModel):
    marker: int
    chunk_id: str
    doc_id: str
    title: str
    source: str
    text: str
    char_start: int
    char_end: int
    line_start: int
    line_end: int
    score: float


class AskResponse(BaseModel):
    question: str
    answer: str
    grounded: bool
    score: float
    citations: list[Citation]
    passages: list[Passage]


class ContextResponse(BaseModel):
    context: str
    passages: list[Passage]
    tokens: int
