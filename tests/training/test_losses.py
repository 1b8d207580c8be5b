"""The IDF-aware FLOPS regularizer, the corpus IDF and the distillation targets agree with hand computations."""

from __future__ import annotations

import math

import pytest
import torch

from spladeforge.config import TrainConfig
from spladeforge.mining.teacher import teacher_logits
from spladeforge.models.architectures import corpus_idf, idf_from_document_frequency
from spladeforge.training.data import with_labels
from spladeforge.training.losses import IDF_SCALE_RANGE, IdfFlopsLoss, idf_penalty_scale, ranking_loss


def test_idf_flops_matches_hand_computation():
    # two documents over a 4-token vocabulary; idf 2 (rare), 1, 0.5 (common), 0 (special token)
    emb = torch.tensor([[1.0, 0.0, 2.0, 1.0], [3.0, 4.0, 0.0, 1.0]])
    idf = torch.tensor([2.0, 1.0, 0.5, 0.0])
    # scale = clip(c / idf, 0.5, 4) with mean 1 over the three regular tokens: c / 2 = 5/12 clips
    # to 0.5, so 0.5 + c + 2c = 3, c = 5/6: scale [0.5, 5/6, 5/3, 1 (special: plain FLOPS)].
    # mean over documents: [2, 2, 1, 1]; scaled: [1, 5/3, 5/3, 1]; sum of squares: 2 + 50/9
    assert idf_penalty_scale(idf).tolist() == pytest.approx([0.5, 5 / 6, 5 / 3, 1.0], rel=1e-5)
    loss = IdfFlopsLoss(model=None, idf=idf).compute_loss_from_embeddings(emb)
    assert loss.item() == pytest.approx(2 + 50 / 9, rel=1e-5)
    plain = torch.sum(emb.mean(dim=0) ** 2).item()  # FlopsLoss: 4 + 4 + 1 + 1
    assert plain == pytest.approx(10.0)


def test_idf_flops_penalises_common_tokens_more_than_informative_ones():
    """arXiv 2411.04403's aim: suppress low-IDF tokens, keep the model's focus on informative terms."""
    idf = torch.tensor([4.0, 0.5])  # token 0 rare, token 1 common
    emb = torch.tensor([[1.0, 1.0], [1.0, 1.0]], requires_grad=True)
    IdfFlopsLoss(None, idf).compute_loss_from_embeddings(emb).backward()
    rare, common = emb.grad[0].tolist()
    # scale [0.5 (clipped from 0.375), 1.5]: the gradient ratio is the squared scale ratio
    assert common == pytest.approx(9 * rare), "the penalty's gradient scales with the squared scale"


def zipf_idf(num_chunks: int = 100_000, vocab: int = 30522, special=(0, 100, 101, 102, 103)) -> torch.Tensor:
    """A synthetic IDF table of a 100k-chunk corpus: document frequency ~ Zipf(1.1) over the
    vocabulary, the top token (e.g. '.') in every chunk, the tail seen once or never."""
    ranks = torch.arange(1, vocab + 1, dtype=torch.float64)
    df = torch.floor(num_chunks / ranks ** 1.1).clamp(max=num_chunks)
    df[torch.randperm(vocab, generator=torch.Generator().manual_seed(0))[:3000]] = 0  # unseen tokens
    df[0] = num_chunks
    return idf_from_document_frequency(df, num_chunks, special)


def test_idf_flops_stays_within_a_stated_factor_of_plain_flops_at_100k_chunks():
    """The scale has mean 1 over the non-special vocabulary and lies in IDF_SCALE_RANGE, so the
    penalty is within [low^2, high^2] = [0.25, 16] x plain FLOPS; unbounded it reached ~1e12."""
    low, high = IDF_SCALE_RANGE
    idf = zipf_idf()
    scale = idf_penalty_scale(idf)
    regular = idf > 0
    assert scale[regular].double().mean().item() == pytest.approx(1.0, abs=1e-6)
    assert low <= scale.min().item() and scale.max().item() <= high
    assert torch.all(scale[~regular] == 1.0), "special tokens keep plain FLOPS"
    assert 0.8 <= scale[regular].median().item() <= 1.2, "most tokens are rare and keep about plain FLOPS"
    order = torch.argsort(idf.masked_fill(~regular, torch.inf))  # most common first
    generator = torch.Generator().manual_seed(1)
    active = torch.rand(64, idf.numel(), generator=generator) < 0.01
    docs = {
        "random": torch.rand(64, idf.numel(), generator=generator) * active,
        "common tokens only": torch.zeros(64, idf.numel()).index_fill(1, order[:200], 2.0),
        "rare tokens only": torch.zeros(64, idf.numel()).index_fill(1, order[-200:], 2.0),
    }
    loss = IdfFlopsLoss(None, idf)
    for name, emb in docs.items():
        ratio = loss.compute_loss_from_embeddings(emb).item() / torch.sum(emb.mean(dim=0) ** 2).item()
        assert low**2 - 1e-6 <= ratio <= high**2 + 1e-6, (name, ratio)
    common = loss.compute_loss_from_embeddings(docs["common tokens only"]).item()
    rare = loss.compute_loss_from_embeddings(docs["rare tokens only"]).item()
    assert common > 4 * rare, "common tokens are still penalised more than rare ones"


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


def _kl_targets(labels: torch.Tensor) -> torch.Tensor:
    """The teacher distribution SparseDistillKLDivLoss trains towards: softmax(labels / teacher_temperature)."""
    loss = ranking_loss(TrainConfig(), None, "kl-div")
    return torch.softmax(labels / loss.teacher_temperature, dim=1)


def test_kl_targets_are_not_flat_for_a_realistic_cosine_spread():
    """Dense-teacher cosines 0.2-0.7 become logits whose softmax at the loss's temperature ranks
    clearly (raw cosines at temperature 2 were within ~15% of uniform)."""
    cosines = [[0.70, 0.55, 0.45, 0.30, 0.20], [0.62, 0.58, 0.41, 0.35, 0.22]]
    targets = _kl_targets(torch.tensor([teacher_logits(row, "dense") for row in cosines]))
    n = targets.shape[1]
    entropy = -(targets * targets.log()).sum(dim=1)
    assert torch.all(entropy < 0.8 * math.log(n)), entropy
    assert torch.all(targets.max(dim=1).values > 2 / n), targets
    assert torch.all(targets.min(dim=1).values > 1e-4), "nor collapsed to one-hot"
    raw = _kl_targets(torch.tensor(cosines))  # what distillation trained towards before: 0.18-0.23
    assert torch.all(raw.max(dim=1).values < 2 / n), "the check above would have caught flat targets"


def test_teacher_rule_puts_dense_and_cross_encoder_margins_on_one_scale():
    """MarginMSE labels are logit margins of a few units for either teacher, like the student's."""
    dense = with_labels({"scores": [teacher_logits([0.62, 0.48], "dense")]}, "margin-mse")["label"][0]
    assert dense == pytest.approx(2.8)
    assert teacher_logits([7.5, 1.2], "cross-encoder") == [7.5, 1.2]  # raw logits, no sigmoid
    with pytest.raises(ValueError, match="accepted: dense, cross-encoder"):
        teacher_logits([0.1], "bm25")


def test_auto_teacher_scale_gives_the_teacher_margins_the_students_initial_spread(base_model):
    """Normalized ensemble margins (~1 unit) would flatten a student whose margins span several."""
    from spladeforge.training.losses import auto_teacher_scale, teacher_scale

    topics = ["gzip compression of files", "tcp socket connections", "sqlite database tables",
              "random number generation", "date and time arithmetic", "regular expression matching"]
    columns = {"anchor": [f"how to use {t}" for t in topics],
               "positive": [f"This module handles {t} for programs." for t in topics],
               "negative_1": [f"This module handles {t} for programs." for t in topics[1:] + topics[:1]],
               "scores": [[1.0 + 0.3 * i, -0.5 + 0.1 * i] for i in range(len(topics))]}
    scale = auto_teacher_scale(base_model, columns)
    q = base_model.encode_query(columns["anchor"], convert_to_tensor=True, convert_to_sparse_tensor=False)
    p = base_model.encode_document(columns["positive"], convert_to_tensor=True, convert_to_sparse_tensor=False)
    n = base_model.encode_document(columns["negative_1"], convert_to_tensor=True, convert_to_sparse_tensor=False)
    student = ((q * p).sum(1) - (q * n).sum(1)).double()
    labels = torch.tensor(with_labels(columns, "margin-mse", scale)["label"], dtype=torch.float64)
    assert labels.std(unbiased=False).item() == pytest.approx(student.std(unbiased=False).item(), rel=1e-3)
    assert scale > 1.0, "the student's margins span more than the ensemble's"
    assert teacher_scale(TrainConfig(teacher_scale=2.5), base_model, columns, "margin-mse") == 2.5
    assert teacher_scale(TrainConfig(), base_model, columns, None) is None
    with pytest.raises(ValueError, match="teacher_scale"):
        TrainConfig(teacher_scale=0)
