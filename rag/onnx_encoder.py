"""Sentence embeddings straight through ONNX Runtime and the fast tokenizer: no torch at run time.

Reproduces a sentence-transformers Transformer -> mean Pooling -> Normalize stack exactly
(checked against the PyTorch model in tests/test_embedding.py)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np


class OnnxEncoder:
    """Mean-pooled, L2-normalized embeddings from an exported ``onnx/model.onnx``."""

    def __init__(self, folder: Path, threads: int = 0, max_seq_length: int | None = None, file_name: str = "model.onnx", spin: bool = True) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        folder = Path(folder)
        config = _read_json(folder / "sentence_bert_config.json")
        self.max_seq_length = int(max_seq_length or config.get("max_seq_length", 256))
        pooling = _read_json(folder / "1_Pooling" / "config.json")
        if pooling and not pooling.get("pooling_mode_mean_tokens", pooling.get("pooling_mode", "mean") == "mean"):
            raise ValueError("only mean pooling is supported by the direct ONNX encoder")
        self._counter = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self._counter.no_truncation()
        self._counter.no_padding()
        self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self.tokenizer.enable_truncation(self.max_seq_length)
        self.tokenizer.no_padding()
        options = ort.SessionOptions()
        if not spin:  # idle worker threads sleep at once instead of busy-waiting for the next run
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        if threads:
            options.intra_op_num_threads = threads
        self.session = ort.InferenceSession(str(folder / "onnx" / file_name), options, providers=["CPUExecutionProvider"])
        self._inputs = {i.name for i in self.session.get_inputs()}
        outputs = [o.name for o in self.session.get_outputs()]
        self._output = "last_hidden_state" if "last_hidden_state" in outputs else outputs[0]
        self.dim = int(self.encode(["dimension probe"]).shape[1])

    def count_tokens(self, text: str) -> int:
        """Word pieces with [CLS]/[SEP], untruncated."""
        return len(self._counter.encode(text).ids)

    def encode(self, texts: list[str], batch_size: int = 64, progress: bool = False) -> np.ndarray:
        order = np.argsort([-len(t) for t in texts], kind="stable")
        out: np.ndarray | None = None
        starts = range(0, len(texts), batch_size)
        if progress:
            from tqdm import tqdm

            starts = tqdm(starts, desc="embedding", unit="batch")
        for start in starts:
            idx = order[start : start + batch_size]
            vecs = self._batch([texts[i] for i in idx])
            if out is None:
                out = np.empty((len(texts), vecs.shape[1]), dtype="float32")
            out[idx] = vecs
        return out if out is not None else np.zeros((0, 0), dtype="float32")

    def encode_tokens(self, texts: list[str], batch_size: int = 64) -> list[tuple[list[str], np.ndarray]]:
        """Each text's word pieces and their contextual vectors (the model's output before pooling)."""
        order = np.argsort([-len(t) for t in texts], kind="stable")
        out: list[tuple[list[str], np.ndarray]] = [([], np.zeros((0, 0), dtype="float32"))] * len(texts)
        for start in range(0, len(texts), batch_size):
            idx = order[start : start + batch_size]
            encs = self.tokenizer.encode_batch([texts[i] for i in idx])
            hidden, _ = self._hidden(encs)
            for j, (i, e) in enumerate(zip(idx, encs)):
                out[i] = (list(e.tokens), hidden[j, : len(e.ids)].astype("float32"))
        return out

    def _batch(self, texts: list[str]) -> np.ndarray:
        hidden, mask = self._hidden(self.tokenizer.encode_batch(texts))
        m = mask[..., None].astype("float32")
        pooled = (hidden * m).sum(axis=1) / np.clip(m.sum(axis=1), 1e-9, None)
        return (pooled / np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)).astype("float32")

    def _hidden(self, encs) -> tuple[np.ndarray, np.ndarray]:
        """The model's last hidden states of a batch of encodings, and its attention mask."""
        length = max(len(e.ids) for e in encs)
        ids = np.zeros((len(encs), length), dtype="int64")
        mask = np.zeros((len(encs), length), dtype="int64")
        for j, e in enumerate(encs):
            ids[j, : len(e.ids)] = e.ids
            mask[j, : len(e.ids)] = 1
        feeds = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self._inputs:
            feeds["token_type_ids"] = np.zeros_like(ids)
        return self.session.run([self._output], feeds)[0], mask


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
