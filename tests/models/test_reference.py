"""The gate's first reference is the untrained model of the same architecture, rebuilt exactly."""

from __future__ import annotations

import json

import pytest
import torch

from spladeforge.errors import InputError
from spladeforge.models.saved import REFERENCE_WEIGHTS, SIDECAR, load_base_model, read_sidecar
from tests.architecture_models import CORPUS, save_untrained

pytestmark = pytest.mark.slow


def _trained(architecture: str, folder):
    """An untrained model folder whose weights then move, as training moves them."""
    from sentence_transformers.sparse_encoder import SparseEncoder

    save_untrained(architecture, folder)
    model = SparseEncoder(str(folder), device="cpu")
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(0.01 * torch.randn_like(parameter))
    model.save(str(folder))
    return model


def test_inference_free_reference_is_the_idf_router_over_the_base_document_model(tmp_path):
    from spladeforge.models.architectures import corpus_idf
    from spladeforge.models.build import load_sparse_encoder

    trained = _trained("inference-free", tmp_path / "model")
    reference = load_base_model(tmp_path / "model", read_sidecar(tmp_path / "model"))
    router = reference[0]
    assert type(router).__name__ == "Router"
    static = router.sub_modules["query"][0]
    torch.testing.assert_close(static.weight.detach(), corpus_idf(static.tokenizer, CORPUS))
    assert not torch.equal(static.weight, trained[0].sub_modules["query"][0].weight)
    base = load_sparse_encoder("builtin:splade-tiny", max_seq_length=64)
    text = ["The gzip module compresses files."]
    torch.testing.assert_close(reference.encode_document(text, convert_to_sparse_tensor=False),
                               base.encode_document(text, convert_to_sparse_tensor=False))


def test_csr_reference_is_the_base_dense_model_with_the_autoencoder_as_initialised(tmp_path):
    from safetensors.torch import load_file

    trained = _trained("csr", tmp_path / "model")
    reference = load_base_model(tmp_path / "model", read_sidecar(tmp_path / "model"))
    initial = load_file(str(tmp_path / "model" / REFERENCE_WEIGHTS))
    torch.testing.assert_close(reference[-1].encoder.weight, initial["autoencoder.encoder.weight"])
    assert not torch.equal(reference[-1].encoder.weight, trained[-1].encoder.weight)
    text = ["The gzip module compresses files."]
    assert reference.encode_document(text).coalesce().values().numel() == 16


def test_a_reference_that_cannot_be_rebuilt_is_named(tmp_path):
    folder = save_untrained("csr", tmp_path / "model")
    (folder / REFERENCE_WEIGHTS).unlink()
    with pytest.raises(InputError, match="initial_weights.safetensors: not found"):
        load_base_model(folder, read_sidecar(folder))
    meta = json.loads((folder / SIDECAR).read_text())
    del meta["train"]
    with pytest.raises(InputError, match="needs its `train` section"):
        load_base_model(folder, meta)
