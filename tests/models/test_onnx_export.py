"""The exported SPLADE graph reproduces the torch model, and the ONNX encoder behaves like a SparseEncoder."""

from __future__ import annotations

import json

import pytest
import torch

from spladeforge.errors import InputError
from spladeforge.models.onnx_encoder import OnnxSparseEncoder
from spladeforge.models.onnx_export import (
    FP32_FILE,
    INT8_FILE,
    SIDECAR,
    SpladeGraph,
    export_onnx,
    quantize_int8,
)
from tests.conftest import TINY_CORPUS, TINY_QUERIES

PASSAGES = [f"{title} {text}" for title, text in TINY_CORPUS.values()]
# Longer than max_seq_length (128): truncation must match sentence-transformers'.
PASSAGES.append(" ".join(["the sqlite3 module stores data in a single file on disk"] * 40))
QUERIES = [text for text, _ in TINY_QUERIES.values()]


@pytest.fixture(scope="module")
def onnx_dir(tmp_path_factory, base_model):
    folder = tmp_path_factory.mktemp("onnx")
    export_onnx(base_model, folder, opset=17)
    quantize_int8(folder, per_channel=True)
    return folder


@pytest.mark.slow
def test_fp32_onnx_reproduces_torch_weights_and_scores(onnx_dir, base_model):
    """Same weights to ~1e-5 and the same query-passage scores to ~1e-4, whatever the batch split."""
    onnx = OnnxSparseEncoder(onnx_dir, FP32_FILE)
    torch_docs = base_model.encode_document(PASSAGES, batch_size=3, convert_to_sparse_tensor=False)
    onnx_docs = onnx.encode_document(PASSAGES, batch_size=3, convert_to_sparse_tensor=False)
    torch.testing.assert_close(onnx_docs, torch_docs, atol=1e-4, rtol=0)
    torch_scores = base_model.similarity(base_model.encode_query(QUERIES),
                                         base_model.encode_document(PASSAGES))
    onnx_scores = onnx.similarity(onnx.encode_query(QUERIES), onnx.encode_document(PASSAGES, batch_size=2))
    torch.testing.assert_close(onnx_scores, torch_scores, atol=1e-4, rtol=1e-5)


@pytest.mark.slow
def test_int8_encoder_returns_sparse_tensors_like_a_sparse_encoder(onnx_dir, base_model):
    int8 = OnnxSparseEncoder(onnx_dir)
    assert int8.path.name == INT8_FILE
    embeddings = int8.encode_document(PASSAGES)
    assert embeddings.is_sparse and embeddings.shape == (len(PASSAGES), 30522)
    assert int8.encode_query("gzip").shape == (30522,)
    # Quantization moves weights a little, not the ranking of an obvious match.
    scores = int8.similarity(int8.encode_query(QUERIES), int8.encode_document(PASSAGES[: len(TINY_CORPUS)]))
    assert scores.argmax(dim=1).tolist() == [0, 1, 2, 3]


@pytest.mark.slow
def test_folder_holds_tokenizer_and_sidecar(onnx_dir):
    meta = json.loads((onnx_dir / SIDECAR).read_text())
    assert meta["model_file"] == INT8_FILE and meta["vocab_size"] == 30522 and meta["max_seq_length"] == 128
    assert (onnx_dir / "tokenizer_config.json").is_file()
    assert (onnx_dir / INT8_FILE).stat().st_size < (onnx_dir / FP32_FILE).stat().st_size / 2


def test_non_splade_model_is_refused():
    with pytest.raises(InputError, match="fill-mask Transformer and SpladePooling"):
        SpladeGraph.from_sparse_encoder([torch.nn.Identity()])
