"""The fused SPLADE head on each masked-LM architecture it supports, and the warning for the others.

Every model is a tiny randomly initialised masked-LM (hidden size 32, two layers, a ~100-entry
WordPiece vocabulary) built from a transformers config and saved to a temporary folder, so
nothing is downloaded. The weights are redrawn larger than the transformers initialisation so
that logits spread over both signs: most vocabulary entries are active and the tolerances below
are tight compared with the values.
"""

from __future__ import annotations

import copy
import string
import warnings

import pytest
import torch
import transformers
from sentence_transformers.sparse_encoder import SparseEncoder
from sentence_transformers.sparse_encoder.modules import SpladePooling, Transformer

from spladeforge.models import fused_head
from spladeforge.models.fused_head import SUPPORTED_MASKED_LMS, enable_fused_head, is_fused

TEXTS = [
    "The json module decodes JSON text into dictionaries and lists.",
    "gzip",
    " ".join(["The sqlite3 module stores a whole SQL database in a single file on disk."] * 3),
    "What does the socket module give access to?",
]
VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *string.ascii_lowercase, *string.digits, *".,?!'-",
         *(f"##{c}" for c in string.ascii_lowercase + string.digits), "the", "module", "json", "text", "file"]
SIZES = {"num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 64, "hidden_size": 32}
SPECIAL = {"vocab_size": len(VOCAB), "pad_token_id": 0, "bos_token_id": 2, "eos_token_id": 3}
ROBERTA_STYLE = {**SIZES, **SPECIAL, "max_position_embeddings": 66}  # positions start after the pad id
CONFIGS = {
    "BertForMaskedLM": lambda: transformers.BertConfig(**SIZES, **SPECIAL, max_position_embeddings=64),
    "DistilBertForMaskedLM": lambda: transformers.DistilBertConfig(
        dim=32, n_layers=2, n_heads=2, hidden_dim=64, max_position_embeddings=64, **SPECIAL),
    "RobertaForMaskedLM": lambda: transformers.RobertaConfig(**ROBERTA_STYLE),
    "XLMRobertaForMaskedLM": lambda: transformers.XLMRobertaConfig(**ROBERTA_STYLE),
    "CamembertForMaskedLM": lambda: transformers.CamembertConfig(**ROBERTA_STYLE),
    "ModernBertForMaskedLM": lambda: transformers.ModernBertConfig(
        **SIZES, **SPECIAL, max_position_embeddings=64, local_attention=16, cls_token_id=2, sep_token_id=3),
}


def tiny_sparse_encoder(folder, config) -> SparseEncoder:
    """A fill-mask Transformer + SpladePooling(max) over a random masked-LM built from `config`."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.txt").write_text("\n".join(VOCAB) + "\n", encoding="utf-8")
    tokenizer = transformers.BertTokenizer(str(folder / "vocab.txt"))
    torch.manual_seed(0)
    mlm = transformers.AutoModelForMaskedLM.from_config(config)
    with torch.no_grad():
        for name, param in mlm.named_parameters():
            if param.dim() >= 2:
                param.normal_(0, 0.2)
            elif "norm" in name.lower() and name.endswith("weight"):
                param.normal_(1, 0.1)
            else:
                param.normal_(0, 0.3)
    mlm.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    transformer = Transformer(str(folder), transformer_task="fill-mask", max_seq_length=60)
    return SparseEncoder(modules=[transformer, SpladePooling("max")], device="cpu")


def _outputs_and_grads(model, features):
    model.zero_grad()
    torch.manual_seed(3)  # same dropout masks on both sides
    out = model(copy.copy(features))["sentence_embedding"]
    (out * torch.randn(out.shape, generator=torch.Generator().manual_seed(1))).sum().backward()
    return out.detach(), {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


def test_every_supported_architecture_is_tested():
    assert set(CONFIGS) == set(SUPPORTED_MASKED_LMS)


@pytest.mark.parametrize("architecture", sorted(CONFIGS))
def test_fused_head_matches_the_unfused_model(architecture, tmp_path, monkeypatch):
    """fp32, padded batch, training mode: outputs within 1e-5 and every parameter's gradient within 1e-4."""
    monkeypatch.setattr(fused_head, "VOCAB_BLOCK", 32)  # several vocabulary tiles ...
    monkeypatch.setattr(fused_head, "CHUNK_TOKENS", 7)  # ... and token chunks, texts spanning several
    model = tiny_sparse_encoder(tmp_path / architecture, CONFIGS[architecture]())
    assert type(model[0].model).__name__ == architecture
    features = model.preprocess(TEXTS)
    assert (features["attention_mask"] == 0).any()
    model.train()
    decoder = fused_head._mlm_parts(model[0].model)[2]
    projections = []
    decoder.register_forward_hook(lambda *_: projections.append(1))

    plain_out, plain_grads = _outputs_and_grads(model, features)
    calls = len(projections)
    assert calls > 0 and (plain_out > 0).float().mean() > 0.5
    assert enable_fused_head(model) and is_fused(model)
    fused_out, fused_grads = _outputs_and_grads(model, features)
    assert len(projections) == calls  # the fused path never ran the [batch, length, vocab] projection

    torch.testing.assert_close(fused_out, plain_out, atol=1e-5, rtol=0)
    assert plain_grads.keys() == fused_grads.keys() and len(plain_grads) > 10
    assert decoder.weight.grad is not None and decoder.weight.grad.abs().max() > 0
    for name, grad in plain_grads.items():
        torch.testing.assert_close(fused_grads[name], grad, atol=1e-4, rtol=0, msg=name)
    with torch.no_grad():  # the inference path (no autograd) gives the same values
        torch.manual_seed(3)
        torch.testing.assert_close(model(copy.copy(features))["sentence_embedding"], fused_out, atol=1e-5, rtol=0)


def test_unsupported_architecture_is_left_unfused_with_one_warning(tmp_path, monkeypatch):
    """ALBERT's masked-LM head is not mapped: the model stays unfused, one warning names it."""
    monkeypatch.setattr(fused_head, "_WARNED", set())
    config = transformers.AlbertConfig(embedding_size=16, **SIZES, **SPECIAL, max_position_embeddings=64)
    model = tiny_sparse_encoder(tmp_path / "albert", config)
    plain = model.encode_document(TEXTS, convert_to_sparse_tensor=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert not enable_fused_head(model)
        assert not enable_fused_head(copy.deepcopy(model))
    messages = [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)]
    assert len(messages) == 1 and "AlbertForMaskedLM" in messages[0], messages
    assert not is_fused(model) and all("forward" not in vars(m) for m in model)
    torch.testing.assert_close(model.encode_document(TEXTS, convert_to_sparse_tensor=False), plain, atol=0, rtol=0)
