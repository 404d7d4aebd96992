"""Grounded retrieval: index documents, search them with provenance, answer with citations."""

from importlib.metadata import PackageNotFoundError, version

from .answer import Answer, ContextBlock
from .config import Settings
from .engine import Engine, NewDocument, SearchResult
from .errors import BadInputError, ConflictError, NotFoundError, RagError, TimedOutError, UnavailableError
from .filters import FilterError, Filters, parse_filters
from .loaders import LoadError
from .models import Chunk, ChunkView, Document, DocumentInfo, Hit, SyncReport
from .store import IndexMismatchError

try:
    __version__ = version("grounded-rag")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"

__all__ = [
    "Answer",
    "BadInputError",
    "Chunk",
    "ChunkView",
    "ConflictError",
    "ContextBlock",
    "Document",
    "DocumentInfo",
    "Engine",
    "FilterError",
    "Filters",
    "Hit",
    "IndexMismatchError",
    "LoadError",
    "NewDocument",
    "NotFoundError",
    "RagError",
    "SearchResult",
    "Settings",
    "SyncReport",
    "TimedOutError",
    "UnavailableError",
    "__version__",
    "parse_filters",
]
