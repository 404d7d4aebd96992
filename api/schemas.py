"""Request and response models of the HTTP API."""
from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator

MAX_QUERY_CHARS = 2000


def _clean_query(v: str) -> str:
    if not v or not v.strip():
        raise ValueError("must not be empty or whitespace")
    if len(v) > MAX_QUERY_CHARS:
        raise ValueError(f"must be at most {MAX_QUERY_CHARS} characters")
    return v


class SearchRequest(BaseModel):
    query: str = Field(description="Natural-language question or keywords.")
    top_k: int = Field(5, ge=1, le=100)
    mode: Literal["dense", "lexical", "hybrid"] = "hybrid"
    filters: dict[str, Any] | None = Field(None, description='e.g. {"year": {"gte": 2009}, "doc_id": ["a"]}')

    _q = field_validator("query")(_clean_query)


class AskRequest(BaseModel):
    question: str
    top_k: int = Field(5, ge=1, le=20)
    filters: dict[str, Any] | None = None

    _q = field_validator("question")(_clean_query)


class ContextRequest(BaseModel):
    query: str
    max_tokens: int = Field(1000, ge=16, le=100_000)
    top_k: int = Field(8, ge=1, le=100)
    filters: dict[str, Any] | None = None

    _q = field_validator("query")(_clean_query)


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
