import numpy as np
import pytest

from rag.embedding import Embedder, _TorchEncoder, embed_key
from rag.onnx_encoder import OnnxEncoder

TEXTS = ["When did Tillerson travel to Mexico City?", "border security " * 200, "é ñ 🚀", "a"]


@pytest.fixture(scope="module")
def torch_embedder():
    return Embedder(backend="torch")


@pytest.mark.slow  # loads PyTorch beside ONNX
def test_onnx_matches_pytorch(embedder, torch_embedder):
    a, b = embedder.encode(TEXTS), torch_embedder.encode(TEXTS)
    # After loading: a failed ONNX export falls back to PyTorch, which would compare torch with torch.
    assert isinstance(embedder.impl, OnnxEncoder) and embedder.backend == "onnx"
    assert isinstance(torch_embedder.impl, _TorchEncoder)
    assert a.shape == b.shape == (4, 384)
    assert np.allclose(np.linalg.norm(a, axis=1), 1, atol=1e-5)
    assert (a * b).sum(axis=1).min() > 0.9999
    assert embedder.max_seq_length == torch_embedder.max_seq_length == 256
    for t in TEXTS:
        assert embedder.count_model_tokens(t) == torch_embedder.count_model_tokens(t)
    # Token vectors (late interaction): the same word pieces, the same contextual vectors.
    for (pa, va), (pb, vb) in zip(embedder.encode_tokens(TEXTS), torch_embedder.encode_tokens(TEXTS)):
        assert pa == pb and va.shape == vb.shape == (len(pa), 384)
        ua, ub = (v / np.linalg.norm(v, axis=1, keepdims=True) for v in (va, vb))
        assert (ua * ub).sum(axis=1).min() > 0.999


def test_embed_key_depends_on_model_and_text():
    keys = [embed_key("m", "x"), embed_key("m2", "x"), embed_key("m", "y"), embed_key("m2", "y")]
    assert len(set(keys)) == 4
    assert embed_key("m", "x") == keys[0]
