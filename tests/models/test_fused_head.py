"""The fused SPLADE head is the same function as fill-mask Transformer + SpladePooling(max), faster."""

from __future__ import annotations

import copy
import json
import warnings

import pytest
import torch
from sentence_transformers.sparse_encoder import SparseEncoder, losses
from sentence_transformers.sparse_encoder.modules import Router, SparseStaticEmbedding, SpladePooling

from spladeforge.models import fused_head
from spladeforge.models.fused_head import (
    disable_fused_head,
    enable_fused_head,
    is_fused,
    splade_max_head,
)

TEXTS = [
    "The json module decodes JSON text into dictionaries and lists.",
    "gzip",
    " ".join(["The sqlite3 module stores a whole SQL database in a single file on disk."] * 20),
    "What does the socket module give access to?",
]


def _plain_head(hidden, mask, weight, bias, activation="relu"):
    pooling = SpladePooling("max", activation_function=activation).train()
    logits = torch.nn.functional.linear(hidden, weight, bias)
    return pooling({"token_embeddings": logits, "attention_mask": mask})["sentence_embedding"]


def _outputs_and_grads(model, features, seed=3):
    model.zero_grad()
    torch.manual_seed(seed)  # same dropout masks on both sides
    out = model(copy.copy(features))["sentence_embedding"]
    weights = torch.randn(out.shape, generator=torch.Generator().manual_seed(1))
    (out * weights).sum().backward()
    return out.detach(), {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


@pytest.fixture()
def model(base_model):
    return copy.deepcopy(base_model)


@pytest.mark.parametrize("activation", ["relu", "log1p_relu"])
def test_head_matches_splade_pooling_on_random_inputs(activation, monkeypatch):
    """Values to 1e-5 and gradients wrt hidden, weight and bias to 1e-4, padding included."""
    monkeypatch.setattr(fused_head, "VOCAB_BLOCK", 64)  # several token chunks and vocabulary tiles
    gen = torch.Generator().manual_seed(0)
    hidden = torch.randn(3, 9, 16, generator=gen)
    weight, bias = torch.randn(300, 16, generator=gen) * 0.3, torch.randn(300, generator=gen)
    mask = torch.ones(3, 9, dtype=torch.long)
    mask[1, 4:] = 0
    mask[2, 1:] = 0
    grad = torch.randn(3, 300, generator=gen)
    results = []
    for head, chunk in ((_plain_head, None), (splade_max_head, 5)):
        h, w, b = (t.clone().requires_grad_() for t in (hidden, weight, bias))
        kwargs = {"chunk": chunk} if chunk else {}
        out = head(h, mask, w, b, activation, **kwargs)
        (out * grad).sum().backward()
        results.append((out.detach(), h.grad, w.grad, b.grad))
    assert (results[0][0] > 0).any() and (results[0][0] == 0).any()
    torch.testing.assert_close(results[1][0], results[0][0], atol=1e-5, rtol=0)
    for fused, plain in zip(results[1][1:], results[0][1:], strict=True):
        torch.testing.assert_close(fused, plain, atol=1e-4, rtol=0)


def test_real_batch_forward_and_gradients_match(model):
    """On a padded batch of real text, in training mode: every parameter's gradient agrees."""
    features = model.preprocess(TEXTS)
    assert (features["attention_mask"] == 0).any()
    model.train()
    plain_out, plain_grads = _outputs_and_grads(model, features)
    assert enable_fused_head(model)
    fused_out, fused_grads = _outputs_and_grads(model, features)
    torch.testing.assert_close(fused_out, plain_out, atol=1e-5, rtol=0)
    assert plain_grads.keys() == fused_grads.keys()
    for name, grad in plain_grads.items():
        torch.testing.assert_close(fused_grads[name], grad, atol=1e-4, rtol=1e-5, msg=name)


def test_encode_matches_and_switch_restores_the_modules(model):
    """enable/disable only swap forwards: encodings are equal and the class forwards come back."""
    plain = model.encode_document(TEXTS, batch_size=3, convert_to_sparse_tensor=False)
    assert enable_fused_head(model) and is_fused(model)
    fused = model.encode_document(TEXTS, batch_size=3, convert_to_sparse_tensor=False)
    fused_copy = copy.deepcopy(model)
    assert is_fused(fused_copy)
    torch.testing.assert_close(fused, plain, atol=1e-5, rtol=0)
    torch.testing.assert_close(fused_copy.encode_document(TEXTS, convert_to_sparse_tensor=False), plain,
                               atol=1e-5, rtol=0)
    disable_fused_head(model)
    assert not is_fused(model) and all("forward" not in vars(m) for m in model)


def test_unsupported_models_are_left_untouched(model, monkeypatch):
    """Sum pooling is refused with a warning; a model with no SPLADE head has nothing to fuse, silently."""
    monkeypatch.setattr(fused_head, "_WARNED", set())
    summed = SparseEncoder(modules=[model[0], SpladePooling("sum")], device="cpu")
    with pytest.warns(RuntimeWarning, match="SpladePooling\\('sum'"):
        assert not enable_fused_head(summed)
    assert all("forward" not in vars(m) for m in summed)
    static = SparseEncoder(modules=[SparseStaticEmbedding(tokenizer=model.tokenizer)], device="cpu")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing to fuse is not a fallback: no warning
        assert not enable_fused_head(static)


def test_saved_folder_is_a_plain_sentence_transformers_folder(model, tmp_path):
    """A model saved while fused loads with plain SparseEncoder and encodes identically."""
    assert enable_fused_head(model)
    fused = model.encode_document(TEXTS, convert_to_sparse_tensor=False)
    model.save(str(tmp_path))
    configs = [p for p in tmp_path.rglob("*.json") if not p.name.startswith(("tokenizer", "vocab"))]
    assert configs and not any("spladeforge" in p.read_text() for p in configs)
    modules = json.loads((tmp_path / "modules.json").read_text())
    assert [m["type"].rsplit(".", 1)[1] for m in modules] == ["Transformer", "SpladePooling"]
    loaded = SparseEncoder(str(tmp_path), device="cpu", local_files_only=True)
    assert not is_fused(loaded)
    torch.testing.assert_close(loaded.encode_document(TEXTS, convert_to_sparse_tensor=False), fused,
                               atol=1e-5, rtol=0)


def test_inference_free_router_document_side_is_fused(model):
    """The Router's document route (Transformer + SpladePooling) is fused, its query side untouched."""
    static = SparseStaticEmbedding(tokenizer=model.tokenizer, frozen=False)
    router = Router.for_query_document(query_modules=[static], document_modules=list(model))
    inference_free = SparseEncoder(modules=[router], device="cpu", similarity_fn_name="dot")
    plain_docs = inference_free.encode_document(TEXTS, convert_to_sparse_tensor=False)
    plain_queries = inference_free.encode_query(TEXTS[:2], convert_to_sparse_tensor=False)
    assert enable_fused_head(inference_free)
    torch.testing.assert_close(inference_free.encode_document(TEXTS, convert_to_sparse_tensor=False),
                               plain_docs, atol=1e-5, rtol=0)
    torch.testing.assert_close(inference_free.encode_query(TEXTS[:2], convert_to_sparse_tensor=False),
                               plain_queries, atol=0, rtol=0)


@pytest.mark.slow
def test_short_training_gives_the_same_losses(base_model):
    """Two SpladeLoss + AdamW steps from the same seed: the loss curves agree, fused or not."""
    texts = [t[:200] for t in TEXTS]
    triplets = [(f"query about {t[:20]}", t, texts[(i + 1) % len(texts)]) for i, t in enumerate(texts)]
    curves = []
    for fused in (False, True):
        model = copy.deepcopy(base_model).train()
        model.max_seq_length = 64  # keeps the plain side's [batch, length, vocab] backward quick
        if fused:
            assert enable_fused_head(model)
        loss = losses.SpladeLoss(model, losses.SparseMultipleNegativesRankingLoss(model),
                                 document_regularizer_weight=3e-3, query_regularizer_weight=5e-4)
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
        torch.manual_seed(7)
        curve = []
        for _ in range(2):
            features = [model.preprocess(list(column)) for column in zip(*triplets, strict=True)]
            total = sum(loss(features, None).values())
            total.backward()
            optimizer.step()
            optimizer.zero_grad()
            curve.append(total.item())
        curves.append(curve)
    assert curves[0] == pytest.approx(curves[1], abs=1e-4)
    assert curves[0][0] != curves[0][-1]  # the steps did change the model
