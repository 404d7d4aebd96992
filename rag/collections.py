"""Collections: the unit of isolation. Each has its own folder (documents, index, uploads), its own
settings (model, chunking, vector store) and optionally its own API key. The index folder itself is
the ``default`` collection, so indexes made before collections existed keep working."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import secrets
import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from .config import Settings
from .diskspace import full_disk_reported
from .errors import BadInputError, ConflictError, NotFoundError
from .store import STORES, destroy_index

if TYPE_CHECKING:
    from .embedding import Embedder
    from .engine import Engine

DEFAULT = "default"
FOLDER = "collections"  # inside the index folder
CONFIG = "collection.json"
NAME_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,62}$"
_NAME = re.compile(NAME_PATTERN)


class CollectionConfig(BaseModel):
    """What a collection was created with; stored as collection.json in its folder."""

    name: str
    model: str
    chunk_tokens: int
    chunk_overlap: int
    store: str
    created: float = Field(default_factory=time.time)
    key_sha256: str | None = Field(default=None, description="SHA-256 of the collection's own API key (the key itself is never stored).")

    def public(self) -> dict[str, Any]:
        """The description clients see (the key's hash stays private)."""
        out = self.model_dump(exclude={"key_sha256"})
        out["protected"] = self.key_sha256 is not None
        return out


def check_name(name: str) -> None:
    """Raise BadInputError unless ``name`` is a valid collection name."""
    if not _NAME.match(name or ""):
        raise BadInputError(f"invalid collection name {name!r}: use 1-63 of a-z, 0-9, '-' and '_', starting with a letter or digit")


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class Collections:
    """Create, list, describe and delete collections, and open one engine per collection (shared
    across requests; engines with the same model share one embedder)."""

    def __init__(self, settings: Settings, on_open: Callable[[Engine], None] | None = None) -> None:
        """``on_open`` prepares each engine this opens (the server turns on batching and metrics)."""
        self.settings = settings
        self.on_open = on_open
        self.root = Path(settings.index_dir) / FOLDER
        self._engines: dict[str, Engine] = {}
        self._embedders: dict[str, Embedder] = {}
        self._lock = threading.Lock()

    # -- configuration
    def _dir(self, name: str) -> Path:
        return Path(self.settings.index_dir) if name == DEFAULT else self.root / name

    def _default_config(self) -> CollectionConfig:
        s = self.settings
        return CollectionConfig(name=DEFAULT, model=s.model, chunk_tokens=s.chunk_tokens, chunk_overlap=s.chunk_overlap, store=s.store, created=0)

    def config(self, name: str) -> CollectionConfig:
        """The collection's configuration; raises NotFoundError for an unknown one."""
        check_name(name)
        if name == DEFAULT:
            return self._default_config()
        path = self._dir(name) / CONFIG
        try:
            return CollectionConfig.model_validate_json(path.read_text())
        except FileNotFoundError:
            raise NotFoundError(f"no collection {name!r}; create it with `rag collections create {name}` or POST /collections") from None
        except (OSError, ValueError) as e:
            raise ConflictError(f"collection {name!r} has an unreadable {path}: {e}") from e

    def exists(self, name: str) -> bool:
        return name == DEFAULT or (self._dir(name) / CONFIG).is_file()

    def names(self) -> list[str]:
        """``default`` first, then the others by name (a collection being deleted, renamed to
        ``.deleted-…`` first, is not one)."""
        found = sorted(p.parent.name for p in self.root.glob(f"*/{CONFIG}")) if self.root.is_dir() else []
        return [DEFAULT, *(n for n in found if _NAME.fullmatch(n))]

    def one_process_only(self) -> list[str]:
        """Collections whose store admits one process (Qdrant's embedded mode locks its folder)."""
        if self.settings.qdrant_url:
            return []
        return [n for n in self.names() if self._store_of(n) == "qdrant"]

    def _store_of(self, name: str) -> str | None:
        try:
            return self.config(name).store
        except (NotFoundError, ConflictError):  # deleted or unreadable meanwhile: no store to open
            return None

    def create(
        self,
        name: str,
        model: str | None = None,
        chunk_tokens: int | None = None,
        chunk_overlap: int | None = None,
        store: str | None = None,
        with_key: bool = False,
        processes: int = 1,
    ) -> tuple[CollectionConfig, str | None]:
        """Make a new collection (settings default to the service's); returns it and, with
        ``with_key``, its API key, shown this once. Raises ConflictError if it exists.
        ``processes``: how many processes will open it (a server's workers)."""
        check_name(name)
        if self.exists(name):
            raise ConflictError(f"collection {name!r} already exists")
        s = self.settings
        store = store or s.store
        if store not in STORES:
            raise BadInputError(f"unknown store {store!r}; known: {sorted(STORES)}")
        if store == "qdrant" and not s.qdrant_url and processes > 1:
            raise BadInputError(
                f"the embedded Qdrant store admits one process and this service runs {processes}: set RAG_QDRANT_URL to a Qdrant"
                " server, or create the collection with `rag collections create` and restart `rag serve` (it then runs one worker)"
            )
        key = secrets.token_urlsafe(24) if with_key else None
        cfg = CollectionConfig(
            name=name,
            model=model or s.model,
            chunk_tokens=chunk_tokens or s.chunk_tokens,
            chunk_overlap=s.chunk_overlap if chunk_overlap is None else chunk_overlap,
            store=store,
            key_sha256=_hash(key) if key else None,
        )
        if cfg.chunk_overlap >= cfg.chunk_tokens:
            raise BadInputError("chunk_overlap must be smaller than chunk_tokens")
        folder = self._dir(name)
        tmp = folder / (CONFIG + ".tmp")
        with full_disk_reported(folder.parent):
            try:
                folder.mkdir(parents=True, exist_ok=True)
                tmp.write_text(json.dumps(cfg.model_dump(), indent=2))
                os.replace(tmp, folder / CONFIG)  # the collection exists once its config does
            except BaseException:
                tmp.unlink(missing_ok=True)
                raise
        return cfg, key

    def ensure(self, name: str) -> CollectionConfig:
        """The collection, created with the service's settings if it does not exist yet."""
        try:
            return self.config(name)
        except NotFoundError:
            try:
                return self.create(name)[0]
            except ConflictError:  # another process created it meanwhile
                return self.config(name)

    def describe(self, name: str) -> dict[str, Any]:
        """Configuration plus the index's counts."""
        cfg = self.config(name)
        stats = self.engine(name).stats()
        return {**cfg.public(), "documents": stats["documents"], "chunks": stats["chunks"], "generation": stats["generation"]}

    def delete(self, name: str) -> None:
        """Remove a collection and everything in it; the default one cannot be deleted."""
        if name == DEFAULT:
            raise BadInputError("the default collection cannot be deleted (delete its documents instead)")
        settings = self.settings_for(name)
        with self._lock:
            engine = self._engines.pop(name, None)
        if engine is not None:
            engine.close()
        # Renamed first, so the collection disappears at once even if removing its files takes a while;
        # what its store keeps outside the folder (a Qdrant server's collection) goes with it.
        doomed = settings.index_dir.with_name(f".deleted-{name}-{secrets.token_hex(4)}")
        settings.index_dir.rename(doomed)
        try:
            if settings.store != "qdrant" or settings.qdrant_url:
                # Qdrant's embedded mode keeps its files in the folder (which another worker may hold open).
                destroy_index(doomed, settings.store, settings.qdrant_url, settings.qdrant_api_key)
        finally:  # the folder goes even if the store's own cleanup failed
            shutil.rmtree(doomed, ignore_errors=True)

    # -- keys
    def key_matches(self, name: str, token: str) -> bool:
        """Whether ``token`` is this collection's own key (constant-time)."""
        digest = self.config(name).key_sha256
        return digest is not None and hmac.compare_digest(_hash(token), digest)

    def protected(self, name: str) -> bool:
        return self.config(name).key_sha256 is not None

    # -- engines
    def settings_for(self, name: str) -> Settings:
        """The service's settings with this collection's folder, model, chunking and store."""
        cfg = self.config(name)
        if name == DEFAULT:
            return self.settings
        return self.settings.model_copy(
            update={
                "index_dir": self._dir(name),
                "model": cfg.model,
                "chunk_tokens": cfg.chunk_tokens,
                "chunk_overlap": cfg.chunk_overlap,
                "store": cfg.store,
            }
        )

    def engine(self, name: str) -> Engine:
        """The collection's engine, opened on first use; raises NotFoundError for an unknown one
        (also when another process deleted it since)."""
        from .engine import Engine

        try:
            settings = self.settings_for(name)
        except NotFoundError:
            with self._lock:
                gone = self._engines.pop(name, None)
            if gone is not None:
                gone.close()
            raise
        with self._lock:
            engine = self._engines.get(name)
            if engine is not None:
                return engine
            embedder = self._embedders.get(settings.model)
            engine = Engine(settings, embedder)
            if self.on_open is not None:
                self.on_open(engine)
            self._embedders.setdefault(settings.model, engine.embedder)
            self._engines[name] = engine
            return engine

    def adopt(self, name: str, engine: Engine) -> None:
        """Register an engine opened elsewhere (the server's default one)."""
        with self._lock:
            self._engines[name] = engine
            self._embedders.setdefault(engine.settings.model, engine.embedder)

    def close(self) -> None:
        with self._lock:
            engines, self._engines = list(self._engines.values()), {}
        for e in engines:
            e.close()
