"""Inference-free and CSR models export to ONNX like SPLADE: the graph reproduces torch, an
inference-free model's queries come from its token-weight table, CSR's dimensions are latents."""

from __future__ import annotations

import json

import pytest
import torch

from spladeforge.models.int8 import _difference, max_abs_difference
from spladeforge.models.onnx_encoder import OnnxSparseEncoder
from spladeforge.models.onnx_export import FP32_FILE, SIDECAR, export_onnx
from spladeforge.models.saved import load_saved_model
from spladeforge.models.static_query import QUERY_WEIGHTS_FILE, read_query_weights
from tests.architecture_models import CORPUS, save_untrained
from tests.conftest import TINY_QUERIES

QUERIES = [text for text, _ in TINY_QUERIES.values()] + ["decode json json text", "Ünïcode & punctuation?!"]


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """architecture -> (torch model as quantize loads it, fp32 ONNX folder)."""
    out = {}
    for architecture in ("inference-free", "csr"):
        root = tmp_path_factory.mktemp(architecture)
        model, _ = load_saved_model(save_untrained(architecture, root / "model"))
        export_onnx(model, root / "onnx")
        out[architecture] = model, root / "onnx"
    return out


@pytest.mark.slow
def test_inference_free_documents_run_the_graph_and_queries_the_table(exported, monkeypatch):
    model, folder = exported["inference-free"]
    meta = json.loads((folder / SIDECAR).read_text())
    assert meta["architecture"] == "inference-free" and meta["query_weights"] == QUERY_WEIGHTS_FILE
    assert meta["output"] == "vocabulary" and meta["vocab_size"] == 30522 and meta["max_seq_length"] == 64
    onnx = OnnxSparseEncoder(folder, FP32_FILE)
    torch.testing.assert_close(onnx.encode_document(CORPUS, convert_to_sparse_tensor=False),
                               model.encode_document(CORPUS, convert_to_sparse_tensor=False), atol=1e-4, rtol=0)
    monkeypatch.setattr(onnx.session, "run", lambda *a, **k: pytest.fail("a query ran the ONNX graph"))
    torch.testing.assert_close(onnx.encode_query(QUERIES, convert_to_sparse_tensor=False),
                               model.encode_query(QUERIES, convert_to_sparse_tensor=False), atol=1e-6, rtol=0)
    single = onnx.encode_query("gzip")
    assert single.is_sparse and single.shape == (30522,)


@pytest.mark.slow
def test_query_table_lists_the_whole_vocabulary_with_the_trained_weights(exported):
    model, folder = exported["inference-free"]
    static = model[0].sub_modules["query"][0]
    table = json.loads((folder / QUERY_WEIGHTS_FILE).read_text())
    assert len(table) == 30522 and table["[CLS]"] == 0.0
    weights = read_query_weights(folder / QUERY_WEIGHTS_FILE, static.tokenizer)
    torch.testing.assert_close(torch.from_numpy(weights), static.weight.detach(), atol=5e-7, rtol=0)


@pytest.mark.slow
def test_csr_exports_encoder_and_autoencoder_and_decodes_latent_indices(exported):
    model, folder = exported["csr"]
    meta = json.loads((folder / SIDECAR).read_text())
    assert meta["architecture"] == "csr" and meta["output"] == "latent"
    assert meta["vocab_size"] == 2 * 384 and meta["top_k"] == 16
    onnx = OnnxSparseEncoder(folder, FP32_FILE)
    assert max_abs_difference(model, onnx, CORPUS + QUERIES) < 1e-4
    documents = onnx.encode_document(CORPUS).coalesce()
    assert documents.shape == (len(CORPUS), 768) and documents.values().numel() == 16 * len(CORPUS)
    decoded = onnx.decode(documents[0], top_k=3)
    assert len(decoded) == 3 and all(key.isdigit() for key, _ in decoded)


@pytest.mark.slow
def test_csr_export_keeps_the_base_models_modules_and_prompts(tmp_path):
    """MiniLM's own mean pooling and Normalize run in the graph (a bare mean pooling would differ)."""
    model, _ = load_saved_model(save_untrained("csr", tmp_path / "model"))
    assert [type(m).__name__ for m in model] == ["Transformer", "Pooling", "Normalize", "SparseAutoEncoder"]


def test_a_topk_boundary_swap_is_not_an_export_error():
    """Two latents tied at the k-th place may swap between torch and onnxruntime; a real difference still counts."""
    reference = torch.tensor([[0.9, 0.5, 0.30000, 0.0], [0.8, 0.0, 0.4, 0.2]])
    swapped = torch.tensor([[0.9, 0.5, 0.0, 0.29999], [0.8, 0.0, 0.4, 0.2]])
    assert _difference(reference, swapped, top_k=True) < 1e-4
    assert _difference(reference, swapped, top_k=False) == pytest.approx(0.3)
    wrong = torch.tensor([[0.9, 0.0, 0.3, 0.5], [0.8, 0.0, 0.4, 0.2]])
    assert _difference(reference, wrong, top_k=True) == pytest.approx(0.5)
