"""Grounded retrieval: index documents, search them with provenance, answer with citations."""

from .config import Settings
from .engine import Engine, NewDocument, SearchResult
from .models import Chunk, Document, Hit, SyncReport
from .store import IndexMismatchError

__all__ = ["Engine", "Settings", "NewDocument", "SearchResult", "Chunk", "Document", "Hit", "SyncReport", "IndexMismatchError"]
__version__ = "0.1.0"
