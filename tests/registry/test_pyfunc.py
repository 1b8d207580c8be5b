"""The registered pyfunc serves every architecture: both sides of an inference-free model, CSR latents."""

from __future__ import annotations

import pytest

from spladeforge.config import RegisterConfig
from spladeforge.registry.tracking import use_tracking_uri
from spladeforge.stages import register
from tests.architecture_models import save_untrained
from tests.conftest import write_gate_inputs

pytestmark = pytest.mark.slow


def _served(tmp_path, tiny_beir_dir, architecture: str):
    """Register an untrained model of `architecture` (it beats a base figure of 0 on every query) and load
    the champion."""
    import mlflow

    model_dir = save_untrained(architecture, tmp_path / architecture)
    metrics, eval_dir = write_gate_inputs(tmp_path, tiny_beir_dir, 0.5, 0.0)
    cfg = RegisterConfig(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}", model_name=f"served-{architecture}")
    decision = register.run(cfg, model_dir, metrics, tmp_path / "decision.json", eval_dir, tiny_beir_dir)
    assert decision["promoted"]
    with use_tracking_uri(cfg.tracking_uri):
        return mlflow.pyfunc.load_model(f"models:/{cfg.model_name}@champion"), model_dir


def test_inference_free_model_serves_queries_from_its_weight_table_and_documents_from_its_encoder(
        tmp_path, tiny_beir_dir):
    from sentence_transformers.sparse_encoder import SparseEncoder

    served, model_dir = _served(tmp_path, tiny_beir_dir, "inference-free")
    model = SparseEncoder(str(model_dir), device="cpu")
    query = served.predict(["decode json json text"], params={"input_type": "query"})[0]
    # A query is its own tokens, each with its table weight: no expansion, a repeated token once.
    assert query and set(query) <= set(model.tokenizer.tokenize("decode json json text"))
    expected = dict(model.decode(model.encode_query(["decode json json text"])[0]))
    assert query == pytest.approx(expected)
    document = served.predict(["decode json json text"], params={"input_type": "document"})[0]
    assert len(document) > len(query), "documents go through the masked-LM and expand"
    assert document == pytest.approx(dict(model.decode(model.encode_document(["decode json json text"])[0])))


def test_csr_model_serves_latent_dimensions_not_vocabulary_tokens(tmp_path, tiny_beir_dir):
    served, _ = _served(tmp_path, tiny_beir_dir, "csr")
    for side in ("query", "document"):
        weights = served.predict(["compress a file with gzip"], params={"input_type": side, "top_k": 0})[0]
        assert len(weights) == 16, "k = 16 active latents"
        assert all(key.isdigit() and 0 <= int(key) < 2 * 384 for key in weights)
        assert all(value > 0 for value in weights.values())
    top = served.predict(["compress a file with gzip"], params={"top_k": 3})[0]
    assert len(top) == 3 and list(top.values()) == sorted(top.values(), reverse=True)
