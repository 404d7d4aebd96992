"""All settings in one place: environment variables prefixed ``RAG_``, overridable in code."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

BUNDLED_MODEL = "all-MiniLM-L6-v2"
# Defaults shared by Settings and by the parts that can be built without it (RetrievalParams,
# ChunkLimits, Embedder): one value each, here.
BATCH_SIZE = 16  # beat 64 by ~15 % on 2 cores (docs/BENCHMARKS.md)
BACKEND: Literal["onnx", "torch"] = "onnx"
CHUNK_TOKENS = 160
CHUNK_OVERLAP = 32
CANDIDATES = 100
FUSION: Literal["zscore", "rrf"] = "zscore"  # tuned on SciFact train (bench/tune_fusion.py, docs/EVALUATION.md)
RRF_K = 60
BM25_WEIGHTS = (1.0, 0.5, 1.0)  # title, section, text
BM25_IDF: Literal["smoothed", "fts5"] = "smoothed"  # paraphrase dev MRR@10 0.734 vs 0.687 (docs/EVALUATION.md)
DENSE_WEIGHT = 0.6
LEXICAL_WEIGHT = 0.4
MAX_QUERY_CHARS = 2000
# ~3,000 pages; reading and chunking a text of this length peaks at ~+180 MB before it is embedded.
MAX_DOCUMENT_CHARS = 10_000_000
RESCORE_WEIGHTS = (0.2, 0.3, 0.2, 0.3)  # chosen on seed_qa_paraphrase_dev (bench/levers_round2.py)
RESCORE_LATE_SHARE = 0.4  # token maxsim beside re-scoring: paraphrase dev MRR 0.831 -> 0.841 (bench/tune_rescore_late.py)
LATE_WEIGHTS = (0.2, 0.2, 0.6)  # dense, BM25, token maxsim: paraphrase dev and SciFact train together (docs/EVALUATION.md)
LATE_DEPTH = 30


def bundled_corpus() -> Path:
    """The five seed papers shipped with the package (``rag_corpus``, built from ``corpus/``), or
    ./corpus when the package was not installed."""
    spec = importlib.util.find_spec("rag_corpus")
    for location in (spec.submodule_search_locations or []) if spec else []:
        if Path(location).is_dir():
            return Path(location)
    return Path("corpus")


class Settings(BaseSettings):
    """Runtime configuration; every field can be set as ``RAG_<NAME>`` in the environment."""

    model_config = SettingsConfigDict(env_prefix="RAG_", extra="ignore")

    index_dir: Path = Field(default=Path("index"), description="Where the index lives (relative to the working directory).")
    corpus_dir: Path = Field(default_factory=bundled_corpus, description="Default corpus to index: the bundled seed papers.")
    store: str = Field(
        default="faiss", description="Where vectors and BM25 live: faiss (index folder), qdrant, or a backend in rag.vectors.BACKENDS."
    )
    qdrant_url: str | None = Field(default=None, description="Qdrant server (http://host:6333); unset = embedded mode in the index folder.")
    qdrant_api_key: str | None = Field(default=None, description="API key of the Qdrant server.")
    model: str = Field(default=BUNDLED_MODEL, description="sentence-transformers model name or path.")
    device: str = "cpu"
    backend: Literal["onnx", "torch"] = Field(default=BACKEND, description="Inference runtime; ONNX is exported once from the model, offline.")
    model_cache: Path = Field(default=Path.home() / ".cache" / "grounded-rag", description="Where exported ONNX copies of models are kept.")
    batch_size: int = Field(default=BATCH_SIZE, ge=1, description="Texts per model call; 16 beat 64 by ~15 % (docs/BENCHMARKS.md).")
    chunk_tokens: int = Field(default=CHUNK_TOKENS, ge=16, description="Chunk budget in cl100k tokens.")
    chunk_overlap: int = Field(default=CHUNK_OVERLAP, ge=0, description="Overlap between chunks in cl100k tokens.")
    max_document_chars: int = Field(
        default=MAX_DOCUMENT_CHARS,
        ge=1000,
        description="Longest text one document may have (a file, an upload, or what a PDF expands to); longer ones are refused.",
    )
    commit_chunks: int = Field(default=512, ge=1, description="`rag index` commits every this many chunks (a killed run resumes).")
    embed_title: bool = Field(default=True, description="Prefix the document title when embedding a chunk.")
    # Hybrid fusion
    fusion: Literal["zscore", "rrf"] = FUSION
    rrf_k: int = Field(default=RRF_K, ge=1)
    dense_weight: float = DENSE_WEIGHT
    lexical_weight: float = LEXICAL_WEIGHT
    bm25_idf: Literal["smoothed", "fts5"] = Field(
        default=BM25_IDF, description="BM25's idf: smoothed ln(1 + (N-n+.5)/(n+.5)), as Lucene and Qdrant; or fts5, SQLite's own."
    )
    candidates: int = Field(default=CANDIDATES, ge=1, description="Per-retriever depth before fusion.")
    # Late interaction: token-level maxsim of the first stage's best candidates (docs/EVALUATION.md, round 2)
    late_interaction: bool = Field(
        default=True, description="Re-score hybrid candidates by token-level maxsim with the fast model's token vectors (kept in the index)."
    )
    late_compression: bool = Field(
        default=True,  # learning the codebook takes 1-2 s once per index (docs/EVALUATION.md)
        description="Keep token vectors as 96-byte product-quantization codes once the index holds 20,000 (a quarter of int8's 384 bytes).",
    )
    late_depth: int = Field(default=LATE_DEPTH, ge=1, description="First-stage hybrid candidates that late interaction re-scores.")
    late_weights: tuple[float, float, float] = Field(
        default=LATE_WEIGHTS, description="Fusion weights with late interaction: dense, BM25, token maxsim."
    )
    # Re-scoring with a stronger model (an option: ~5x the query cost; docs/EVALUATION.md, round 2)
    rescore_model: str | None = Field(default=None, description="A stronger sentence-transformers model that re-scores hybrid candidates.")
    rescore_depth: int = Field(default=50, ge=1, description="First-stage hybrid candidates the stronger model re-scores.")
    rescore_weights: tuple[float, float, float, float] = Field(
        default=RESCORE_WEIGHTS, description="Fusion weights: fast dense, BM25, strong model on the chunk, strong model on its best sentence."
    )
    rescore_late_share: float = Field(
        default=RESCORE_LATE_SHARE,
        ge=0,
        le=1,
        description="With late interaction on, token maxsim's share of the re-scoring fusion (the four weights share the rest); 0 leaves it out.",
    )
    # Answers
    # Calibrated with bench/calibrate_ask.py (docs/EVALUATION.md): answerable dev questions vs near-topic ones.
    ask_threshold: float = Field(default=0.45, description="Min sentence similarity to call an answer grounded.")
    ask_min_coverage: float = Field(default=0.75, description="Min share of the question's names/years in the evidence passages.")
    ask_evidence_passages: int = Field(
        default=10, ge=1, description="Top passages whose text the refusal checks read (the answer quotes only the top_k)."
    )
    # Generation (any OpenAI-compatible server; unset base URL = extractive answers only)
    llm_base_url: str | None = Field(default=None, description="OpenAI-compatible API base (http://host:port/v1); unset = extractive.")
    llm_model: str = Field(default="default", description="Model name sent to the LLM server.")
    llm_api_key: str | None = Field(default=None, description="Key for the LLM server (many local servers need none).")
    llm_timeout_s: float = Field(default=60.0, gt=0, description="Longest one LLM call may take (then the extractive answer is given).")
    llm_max_tokens: int = Field(default=400, ge=1, description="Most tokens the LLM may write per answer.")
    llm_temperature: float = Field(default=0.0, ge=0, le=2)
    llm_max_concurrency: int = Field(default=4, ge=1, description="LLM calls in flight per server process; more wait their turn.")
    llm_context_tokens: int = Field(default=1500, ge=64, description="Token budget (cl100k) of the numbered passages in the prompt.")
    # Citation verification of generated answers (calibrated in bench/verifier_eval.py, docs/EVALUATION.md)
    verify_threshold: float = Field(default=0.50, ge=0, le=1, description="Min support score for a generated sentence to count as supported.")
    verify_mode: Literal["drop", "refuse"] = Field(
        default="drop", description="drop: unsupported sentences leave the answer (kept in claims); refuse: any unsupported sentence refuses it."
    )
    llm_fallback: Literal["extractive", "abstain"] = Field(
        default="extractive", description="What to answer when no generated sentence is supported (or the LLM fails)."
    )
    # Service
    host: str = "127.0.0.1"
    port: int = 8000
    api_key: str | None = None
    public_url: str | None = Field(
        default=None, description="This service's address as clients see it (links in MCP results); default http://host:port."
    )
    protect_reads: bool = False
    cors_origins: list[str] = Field(default_factory=list)
    max_upload_mb: float = Field(default=20.0, gt=0, description="Largest upload accepted (413 beyond).")
    max_request_kb: int = Field(default=512, ge=1, description="Largest JSON request body (413 beyond).")
    max_query_chars: int = Field(default=MAX_QUERY_CHARS, ge=1, description="Longest query or question accepted.")
    # Reliability bounds (docs/RELIABILITY.md)
    request_timeout_s: float = Field(default=10.0, gt=0, description="Longest a request waits for the model (then 504).")
    write_timeout_s: float = Field(default=30.0, gt=0, description="Longest an API write waits for the index lock (then 503).")
    parse_timeout_s: float = Field(
        default=120.0,
        gt=0,
        description="Longest the service may take to read an uploaded file (in a process of its own, then 422).",
    )
    max_pending_texts: int = Field(default=2048, ge=1, description="Texts queued for the model before new searches get 503.")
    max_concurrency: int = Field(default=256, ge=1, description="Open requests per worker before new ones get 503.")
    backlog: int = Field(
        default=128,
        ge=16,
        description="Connections waiting to be accepted; bounds the work left over from clients that gave up (docs/RELIABILITY.md).",
    )
    shutdown_timeout_s: float = Field(default=5.0, ge=0, description="Graceful shutdown bound: in-flight requests are cut after it.")
    auth_max_failures: int = Field(default=20, ge=1, description="Failed API-key attempts per client per minute before 429.")
    shared_dir: Path | None = Field(
        default=None,
        description="A folder all worker processes of one server share for counts they must agree on (failed API keys); "
        "`rag serve` makes one per run.",
    )
    log_level: str = "INFO"
    threads: int = Field(default=0, ge=0, description="Model threads per process; 0 = all cores (`rag serve`: cores ÷ workers).")
    workers: int = Field(default=0, ge=0, description="Server processes; 0 = one per core, at most 4.")

    def service_problem(self) -> str | None:
        """Why the HTTP service must refuse to start with these settings (None: it may start)."""
        if self.protect_reads and not self.api_key:
            return "RAG_PROTECT_READS=true needs RAG_API_KEY: without a key every route would stay open"
        if self.shared_dir is not None and not _can_create_in(self.shared_dir):
            return f"RAG_SHARED_DIR={self.shared_dir} is not a folder this process can write in"
        return None

    def base_url(self) -> str:
        """The address clients reach this service at."""
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")

    def server_workers(self) -> int:
        """Worker processes for `rag serve`: each has its own interpreter lock, so they use every core.
        Qdrant's embedded mode admits one process: one worker (a Qdrant server admits any number)."""
        if self.store == "qdrant" and not self.qdrant_url:
            return 1
        return self.workers or max(1, min(4, os.cpu_count() or 1))


def _can_create_in(folder: Path) -> bool:
    """``folder`` is, or could be made as, a folder this process can write in."""
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    return existing.is_dir() and os.access(existing, os.W_OK | os.X_OK)
