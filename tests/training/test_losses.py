"""The IDF-aware FLOPS regularizer and the corpus IDF agree with hand computations."""

from __future__ import annotations

import math

import pytest
import torch

from spladeforge.config import TrainConfig
from spladeforge.models.architectures import corpus_idf
from spladeforge.training.data import with_labels
from spladeforge.training.losses import IdfFlopsLoss


def test_idf_flops_matches_hand_computation():
    # two documents over a 4-token vocabulary; idf 2 (rare), 1, 0.5 (common), 0 (special token)
    emb = torch.tensor([[1.0, 0.0, 2.0, 1.0], [3.0, 4.0, 0.0, 1.0]])
    idf = torch.tensor([2.0, 1.0, 0.5, 0.0])
    # scale = idf_max / max(idf, idf_min) = [1, 2, 4, 4]; mean over documents: [2, 2, 1, 1]
    # scaled: [2, 4, 4, 4]; sum of squares: 4 + 16 + 16 + 16
    loss = IdfFlopsLoss(model=None, idf=idf).compute_loss_from_embeddings(emb)
    assert loss.item() == pytest.approx(52.0)
    plain = torch.sum(emb.mean(dim=0) ** 2).item()  # FlopsLoss: 4 + 4 + 1 + 1
    assert plain == pytest.approx(10.0)


def test_idf_flops_penalises_common_tokens_more_than_informative_ones():
    """arXiv 2411.04403's aim: suppress low-IDF tokens, keep the model's focus on informative terms."""
    idf = torch.tensor([4.0, 0.5])  # token 0 rare, token 1 common
    emb = torch.tensor([[1.0, 1.0], [1.0, 1.0]], requires_grad=True)
    IdfFlopsLoss(None, idf).compute_loss_from_embeddings(emb).backward()
    rare, common = emb.grad[0].tolist()
    assert common == pytest.approx(64 * rare), "the penalty's gradient scales with (idf_max / idf)^2"
    assert rare == pytest.approx(torch.autograd.grad(torch.sum(emb.mean(0) ** 2), emb)[0][0, 0].item()), \
        "the rarest token keeps plain FLOPS"


def test_idf_flops_threshold_masks_sparse_documents():
    emb = torch.tensor([[1.0, 0.0, 0.0], [3.0, 4.0, 2.0]])
    idf = torch.ones(3)
    # threshold 1: the first document (1 active dim) is masked out; mean = [1.5, 2, 1]
    loss = IdfFlopsLoss(None, idf, threshold=1).compute_loss_from_embeddings(emb)
    assert loss.item() == pytest.approx(1.5**2 + 2**2 + 1**2)


def test_idf_flops_needs_a_positive_idf():
    with pytest.raises(ValueError, match="positive corpus IDF"):
        IdfFlopsLoss(None, torch.zeros(3))


def test_corpus_idf_is_bm25_style_and_zero_for_special_tokens(base_model):
    tokenizer = base_model.tokenizer
    texts = ["apple orange", "apple banana", "cherry"]
    idf = corpus_idf(tokenizer, texts)
    (apple,) = tokenizer("apple", add_special_tokens=False)["input_ids"]
    (cherry,) = tokenizer("cherry", add_special_tokens=False)["input_ids"]
    assert idf[apple].item() == pytest.approx(math.log1p((3 - 2 + 0.5) / 2.5), rel=1e-5)
    assert idf[cherry].item() == pytest.approx(math.log1p((3 - 1 + 0.5) / 1.5), rel=1e-5)
    assert idf[apple] < idf[cherry], "a rarer token must weigh more"
    for special in tokenizer.all_special_ids:
        assert idf[special] == 0


def test_distillation_labels():
    columns = {"anchor": ["q"], "positive": ["p"], "negative_1": ["n"], "scores": [[5.0, 2.0]]}
    assert with_labels(columns, "margin-mse")["label"] == [3.0]
    assert with_labels(columns, "kl-div")["label"] == [[5.0, 2.0]]
    assert "scores" not in with_labels(columns, None) and "label" not in with_labels(columns, None)


def test_inference_free_rejects_a_query_regularizer():
    with pytest.raises(ValueError, match="query_regularizer_weight: 0"):
        TrainConfig(architecture="inference-free", query_regularizer_weight=1e-4)
