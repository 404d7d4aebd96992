"""Request and response models of the HTTP API. The search shapes are the library's own
(rag/shapes.py), re-exported here."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from rag.collections import NAME_PATTERN
from rag.config import MAX_QUERY_CHARS
from rag.filters import MAX_FIELDS, MAX_STRING, MAX_VALUES
from rag.llm import Sampling
from rag.shapes import AskResponse, ChunkOut, Citation, ContextResponse, DocumentSummary, Highlight, Passage, SearchResponse

# The schema says what the validator enforces, so generated clients (and schemathesis) agree with it.
Query = Annotated[
    str, Field(min_length=1, max_length=MAX_QUERY_CHARS, pattern=r"\S", description="Natural-language question or keywords (not blank).")
]
# The LLM sampling fields /ask, the chat endpoint and the MCP ask tool share.
Temperature = Annotated[float | None, Field(ge=0, le=2, strict=True, description="Passed to the LLM; unset = RAG_LLM_TEMPERATURE.")]
MaxTokens = Annotated[int | None, Field(ge=1, strict=True, description="Most tokens the LLM may write; at most RAG_LLM_MAX_TOKENS.")]
FilterScalar = Annotated[str, Field(max_length=MAX_STRING)] | float | bool


class FilterOps(BaseModel):
    """A range (``gte``, ``gt``, ``lte``, ``lt``) and/or a case-insensitive substring (``contains``);
    at least one of them."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"minProperties": 1})
    # Not nullable: an operator is either given with a value or left out.
    gte: float = None  # type: ignore[assignment]
    gt: float = None  # type: ignore[assignment]
    lte: float = None  # type: ignore[assignment]
    lt: float = None  # type: ignore[assignment]
    contains: Annotated[str, Field(min_length=1, max_length=MAX_STRING)] = None  # type: ignore[assignment]

    @model_validator(mode="after")
    def _one_operator(self) -> FilterOps:
        if not self.model_fields_set:
            raise ValueError("give at least one of gte, gt, lte, lt, contains")
        return self


FilterValue = FilterScalar | Annotated[list[FilterScalar], Field(max_length=MAX_VALUES)] | FilterOps
Filters = Annotated[
    dict[str, FilterValue],
    Field(
        max_length=MAX_FIELDS,
        description="Field -> value (equality), list (any of), or operators; "
        'e.g. {"year": {"gte": 2009}, "doc_id": ["a", "b"], "title": {"contains": "security"}}',
    ),
]


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


class Turn(BaseModel):
    role: Literal["user", "assistant"]
    content: str = Field(max_length=20_000)


class AskRequest(_Filtered):
    question: Query
    history: list[Turn] = Field(
        default_factory=list, max_length=50, description="Earlier turns of the conversation: the question is made standalone from them."
    )
    top_k: int = Field(5, ge=1, le=20)
    stream: bool = Field(False, strict=True, description="Answer as Server-Sent Events: passages, token…, claims, done.")
    generate: bool = Field(True, strict=True, description="Let the configured LLM write the answer (false: extractive even when one is set).")
    temperature: Temperature = None
    max_tokens: MaxTokens = None

    def turns(self) -> list[dict[str, str]]:
        return [{"role": t.role, "content": t.content} for t in self.history]

    def sampling(self) -> Sampling:
        """The request's own LLM limits (extractive answers ignore them)."""
        return Sampling(self.max_tokens, self.temperature)


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


class Health(BaseModel):
    status: Literal["ok"]
    ready: bool
    error: str | None
    worker_pid: int


class Ready(BaseModel):
    ready: bool
    worker_pid: int
    error: str | None = None


class Stats(BaseModel):
    documents: int
    chunks: int
    vectors: int
    vector_index: Literal["flat", "ivf", "qdrant"] | None
    model: str
    dim: int | None
    generation: int
    index_dir: str


class DocumentList(BaseModel):
    documents: list[DocumentSummary]
    count: int


class DocumentOut(BaseModel):
    doc_id: str
    title: str
    source: str
    metadata: dict[str, Any]
    sha256: str
    text: str


class Uploaded(BaseModel):
    doc_id: str
    title: str
    source: str
    metadata: dict[str, Any]


class Deleted(BaseModel):
    deleted: str


CollectionName = Annotated[str, Field(pattern=NAME_PATTERN, description="1-63 of a-z 0-9 - _, starting with a letter or digit.")]


class CollectionIn(BaseModel):
    """A new collection; unset settings are the service's."""

    model_config = ConfigDict(extra="forbid")
    name: CollectionName
    model: Annotated[str, Field(min_length=1, max_length=500)] | None = None
    chunk_tokens: Annotated[int, Field(ge=16, le=8192)] | None = None
    chunk_overlap: Annotated[int, Field(ge=0, le=8191)] | None = None
    store: Literal["faiss", "qdrant"] | None = None
    with_key: bool = Field(default=False, description="Give the collection its own API key (returned once, in this response).")


class CollectionInfo(BaseModel):
    name: str
    model: str
    chunk_tokens: int
    chunk_overlap: int
    store: str
    created: float
    protected: bool = Field(description="Whether the collection has its own API key.")
    documents: int | None = None
    chunks: int | None = None
    generation: int | None = None


class CollectionCreated(CollectionInfo):
    api_key: str | None = Field(description="The collection's own key when asked for (shown this once), else null.")


class CollectionList(BaseModel):
    collections: list[CollectionInfo]
    count: int


UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/DocumentIn"}},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {"type": "string", "format": "binary", "description": "A .txt, .md, .html, .pdf or .docx file; a plain name."},
                        "metadata": {"type": "string", "description": 'A JSON object, e.g. {"year": 2024}.'},
                    },
                }
            },
        },
    }
}


class ErrorResponse(BaseModel):
    """Every 4xx/5xx body: a message, or for 422 the list of validation problems."""

    detail: str | list[dict[str, Any]]


_ERROR_TEXT = {
    400: "Bad input (e.g. an unknown filter field).",
    401: "Missing or wrong API key.",
    404: "No such collection, document or chunk.",
    409: "Conflicts with the index's state.",
    413: "Request body over the limit.",
    415: "Unsupported media or file type.",
    422: "Request does not match the schema.",
    429: "Too many failed API-key attempts; see Retry-After.",
    503: "Loading, overloaded or the index is busy; see Retry-After.",
    504: "The model did not answer within the request timeout.",
    507: "No room on the index's disk for this write; nothing of it was kept.",
}


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` entries documenting the error statuses a route can give."""
    return {code: {"model": ErrorResponse, "description": _ERROR_TEXT[code]} for code in codes}


__all__ = ["AskResponse", "ChunkOut", "Citation", "ContextResponse", "DocumentSummary", "Highlight", "Passage", "SearchResponse"]
